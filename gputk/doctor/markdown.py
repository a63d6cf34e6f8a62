"""The doctor report as Markdown to paste into an issue, passed through a redaction function
(the CLI gives ``gputk.services.redact.Redactor.text``: host name, user, home paths, UUIDs)."""

from __future__ import annotations

from collections.abc import Callable

from gputk.models.doctor import CheckResult, DoctorReport

MARKS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "💥"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _details(c: CheckResult, redact: Callable[[str], str]) -> list[str]:
    lines = [f"### {MARKS[c.status]} `{c.id}`: {c.title}", "", redact(c.summary), ""]
    if c.evidence:
        lines.append("Evidence:")
        lines += [f"- `{redact(e.source)}`: {redact(e.value)}" for e in c.evidence]
        lines.append("")
    if c.fix:
        lines += [f"Fix: {redact(c.fix.text)}", ""]
        if c.fix.commands:
            lines += ["```sh", *(redact(cmd) for cmd in c.fix.commands), "```", ""]
    return lines


def to_markdown(report: DoctorReport, version: str, redact: Callable[[str], str] = lambda s: s) -> str:
    counts = report.counts()
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [
        "## gputk doctor report",
        "",
        f"gputk {version} on {redact(report.host_label)}: **{report.verdict()}** ({tally})",
        "",
        "| | check | summary |",
        "|---|---|---|",
    ]
    for c in report.checks:
        blocked = f" (blocked by `{c.blocked_by}`)" if c.blocked_by else ""
        lines.append(f"| {MARKS[c.status]} | `{c.id}` | {_cell(redact(c.summary))}{blocked} |")
    lines.append("")
    for c in report.checks:
        if c.status in ("warn", "fail", "error"):
            lines += _details(c, redact)
    return "\n".join(lines).rstrip() + "\n"
