"""``gputk doctor``: check the machine layer by layer and say what is wrong and how to fix it."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gputk.cli.common import JsonOpt, SnapshotOpt, VerboseOpt, make_host

if TYPE_CHECKING:
    from gputk.host import Host
    from gputk.models.doctor import CheckResult, DoctorReport
    from gputk.services.redact import Redactor

HELP = """Check this machine (or a snapshot) layer by layer: platform, GPU, driver, CUDA, cuDNN,
environment, frameworks. One line per check; failures and warnings show the evidence and a fix.

A check whose root cause failed is skipped ("blocked by") instead of failing too.
Exit code 0 when nothing fails (warnings allowed; --strict makes them fail), 1 otherwise,
2 for a usage error (an unknown --check id, --json with --markdown).

Examples:

\b
    gputk doctor
    gputk doctor --check driver.nvml -v
    gputk doctor --no-frameworks --json | jq .status
    gputk doctor --markdown > doctor.md   # to paste
    gputk doctor --profile prolog --exit-codes nagios
    gputk doctor --profile quick --prometheus gputk.prom

Cluster recipes (Slurm, NHC, Node Problem Detector, Kubernetes): docs/cluster.md.
"""

MARKS = {
    "pass": ("✓", "green"),
    "warn": ("!", "yellow"),
    "fail": ("✗", "red"),
    "skip": ("-", "dim"),
    "error": ("E", "magenta"),
}
CheckOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option("--check", help="Run only this check (and what it depends on); repeatable.", metavar="ID"),
]



class ProfileName(str, enum.Enum):
    full = "full"
    quick = "quick"
    prolog = "prolog"


class ExitCodes(str, enum.Enum):
    default = "default"
    nagios = "nagios"


ProfileOpt = Annotated[
    ProfileName,
    typer.Option(
        "--profile",
        help="full: every check with the framework probes; quick: no framework probes, done within 30 s; "
        "prolog: the node's own layers only, done within 8 s even when a GPU tool hangs (Slurm prolog, "
        "HealthCheckProgram).",
    ),
]
ExitCodesOpt = Annotated[
    ExitCodes,
    typer.Option(
        "--exit-codes",
        help="nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, with one Nagios status line first "
        "(NHC and check runners); default: 0 no failures, 1 failures.",
    ),
]
PrometheusOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option(
        "--prometheus",
        help="Also write the results as node_exporter textfile metrics (replaced atomically).",
        metavar="FILE",
    ),
]


def _print_check(c: CheckResult, verbose: bool, width: int) -> None:
    from gputk import ui

    console = ui.out()
    mark, colour = MARKS[c.status]
    head = ui.styled("  ", (ui.symbol(mark), colour), " ", f"{c.id:<{width}}  ")
    dim = c.blocked_by is not None and c.status == "skip"
    ui.wrapped(c.summary, prefix=head, style="dim" if dim else "", console=console)
    if not (verbose or c.status in ("warn", "fail", "error")):
        return
    for e in c.evidence:
        ui.wrapped(e.value, prefix=ui.styled("      ", (f"{e.source}:", "dim"), " "), indent=8, console=console)
    if c.fix and c.status in ("warn", "fail", "error"):
        ui.wrapped(c.fix.text, prefix=ui.styled("      ", ("fix:", "bold"), " "), indent=11, console=console)
        for cmd in c.fix.commands:  # one line each, never wrapped: they are pasted into a shell
            ui.line("        ", (cmd, "cyan"), console=console)


def _print_text(report: DoctorReport, verbose: bool) -> None:
    from gputk import ui

    console = ui.out()
    ui.line(("gputk doctor", "bold"), f" ({report.host_label})", console=console)
    width = max((len(c.id) for c in report.checks), default=10)
    category = None
    for c in report.checks:
        if c.category != category:
            category = c.category
            console.print()
            ui.line((category, "bold"), console=console)
        _print_check(c, verbose, width)
    counts = report.counts()
    tally = ", ".join(
        f"{n} {label}"
        for label, n in (
            ("failed", counts["fail"] + counts["error"]),
            ("warnings", counts["warn"]),
            ("passed", counts["pass"]),
            ("skipped", counts["skip"]),
        )
        if n
    )
    verdict = {
        "ok": ("no problems found", "green"),
        "warn": ("warnings", "yellow"),
        "fail": ("problems found", "red"),
    }
    console.print()
    ui.line(verdict[report.verdict()], f": {tally}", console=console)


def _list_checks(json_out: bool) -> None:
    from gputk import ui
    from gputk.doctor.registry import REGISTRY

    if json_out:
        checks = [{"id": c.id, "title": c.title, "depends_on": list(c.depends_on)} for c in REGISTRY]
        ui.print_json("doctor", {"checks": checks})
        return
    ui.print_table(
        ["id", "title", "depends on"],
        [[c.id, c.title, ", ".join(c.depends_on) or "-"] for c in REGISTRY],
    )


def _redactor(host: Host) -> Redactor:
    from gputk.services.redact import Redactor

    env = host.env
    return Redactor(
        hostname=host.uname().get("node") or None,
        username=env.get("USER") or None,
        home=env.get("HOME") or None,
    )


def doctor(
    snapshot: SnapshotOpt = None,
    verbose: VerboseOpt = False,
    check: CheckOpt = None,
    list_checks: Annotated[
        bool, typer.Option("--list-checks", help="List the check ids and titles.")
    ] = False,
    json_out: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a redacted Markdown report.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 1).")] = False,
    no_frameworks: Annotated[
        bool, typer.Option("--no-frameworks", help="Skip the framework probes (the slow part).")
    ] = False,
    profile: ProfileOpt = ProfileName.full,
    exit_codes: ExitCodesOpt = ExitCodes.default,
    prometheus: PrometheusOpt = None,
) -> int:
    from gputk.errors import InputError, UsageError

    if json_out and markdown:
        raise UsageError("--json and --markdown cannot be used together", "pick one output format")
    if list_checks:
        _list_checks(json_out)
        return 0
    import dataclasses
    import time

    from gputk import __version__, ui
    from gputk.doctor.profiles import PROFILES, diagnose_profile
    from gputk.doctor.runner import select

    chosen = PROFILES[profile.value]
    if no_frameworks:
        chosen = dataclasses.replace(chosen, frameworks=False)
    try:
        select(check or (), chosen.frameworks)  # unknown ids fail before touching the machine
    except InputError as exc:
        raise UsageError(exc.message, exc.hint) from None
    if prometheus is not None:
        from gputk.services.health import check_metrics_path

        check_metrics_path(str(prometheus))
    host = make_host(snapshot)
    start = time.monotonic()
    report, facts = diagnose_profile(host, chosen, check or ())
    if prometheus is not None:
        from gputk.services.health import prometheus_text, write_prometheus

        text = prometheus_text(report, facts, profile.value, __version__, time.monotonic() - start)
        write_prometheus(str(prometheus), text)
    if exit_codes is ExitCodes.nagios:
        from gputk.services.health import nagios_code, nagios_lines

        if not (json_out or markdown):
            ui.out().out("\n".join(nagios_lines(report, profile.value)), highlight=False)
            return nagios_code(report)
    if json_out:
        ui.print_json("doctor", report.to_dict())
    elif markdown:
        from gputk.doctor.markdown import to_markdown

        ui.out().out(to_markdown(report, __version__, _redactor(host).text), end="", highlight=False)
    else:
        _print_text(report, verbose)
    if exit_codes is ExitCodes.nagios:
        from gputk.services.health import nagios_code

        return nagios_code(report)
    return report.exit_code(strict)


def register(app: typer.Typer) -> None:
    app.command("doctor", help=HELP)(doctor)
