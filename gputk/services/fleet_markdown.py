"""The fleet view as Markdown: summary, root causes, outliers, unreadable snapshots, and the
full machines x checks table (one column per check)."""

from __future__ import annotations

from typing import Any

from gputk.services.fleet import FACT_TITLES, FleetReport

MARKS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "💥", None: " "}
STATUS_MARKS = {"ok": "✅", "warn": "⚠️", "fail": "❌", "unreadable": "🚫"}
LIST_AT_MOST = 10


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _names(names: list[str]) -> str:
    shown = ", ".join(f"`{_cell(n)}`" for n in names[:LIST_AT_MOST])
    more = len(names) - LIST_AT_MOST
    return shown + (f" and {more} more" if more > 0 else "")


def to_markdown(report: FleetReport, version: str) -> str:
    c = report.counts()
    total = len(report.readable)
    lines = [
        "## gputk fleet report",
        "",
        f"gputk {version}: {c['machines']} machines, {c['ok']} ok, {c['warn']} with warnings, "
        f"{c['fail']} failing, {c['unreadable']} unreadable",
        "",
    ]
    if report.root_causes:
        lines += ["### Problems by root cause", "", "| | machines | check | finding | fix |", "|---|---|---|---|---|"]
        for r in report.root_causes:
            lines.append(
                f"| {MARKS[r.status]} | {len(r.machines)} of {total} | `{r.check}` | {_cell(r.summary)} "
                f"| {_cell(r.fix or '')} |"
            )
        lines.append("")
        for r in report.root_causes:
            lines.append(f"- `{r.check}` ({len(r.machines)}): {_names(r.machines)}")
        lines.append("")
    lines += _outliers(report)
    if report.unreadable:
        lines += ["### Unreadable snapshots", "", "| snapshot | reason |", "|---|---|"]
        lines += [f"| `{_cell(m['path'])}` | {_cell(m['reason'])} |" for m in report.unreadable]
        lines.append("")
    lines += _matrix(report)
    return "\n".join(lines).rstrip() + "\n"


def _outliers(report: FleetReport) -> list[str]:
    if not (report.outliers or report.pcie):
        return []
    lines = ["### Outliers (differ from the fleet's most common value)", ""]
    lines += ["| fact | most common | machines that differ |", "|---|---|---|"]
    for o in report.outliers:
        differ = ", ".join(f"`{_cell(n)}` {_cell(v)}" for n, v in o.machines[:LIST_AT_MOST])
        if len(o.machines) > LIST_AT_MOST:
            differ += f" and {len(o.machines) - LIST_AT_MOST} more"
        title = FACT_TITLES.get(o.fact, o.fact)
        lines.append(f"| {title} | {_cell(o.majority)} ({o.majority_count}) | {differ} |")
    for p in report.pcie:
        lines.append(
            f"| PCIe link below max | x{p['max_width']} | `{_cell(p['name'])}` GPU {p['gpu']} "
            f"runs x{p['width']} |"
        )
    return [*lines, ""]


def _matrix(report: FleetReport) -> list[str]:
    ids = report.check_ids
    lines = ["### Machines x checks", "", "| machine | status | " + " | ".join(f"`{i}`" for i in ids) + " |"]
    lines.append("|---|---|" + "---|" * len(ids))
    for m in report.machines:
        checks: dict[str, Any] = m.get("checks") or {}
        cells = " | ".join(MARKS.get(checks.get(i)) or " " for i in ids)
        lines.append(f"| `{_cell(m['name'])}` | {STATUS_MARKS[m['status']]} | {cells} |")
    return [*lines, ""]
