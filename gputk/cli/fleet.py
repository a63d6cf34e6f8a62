"""``gputk fleet``: one view of many machines from their ``gputk report`` snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from gputk.cli.common import JsonOpt

if TYPE_CHECKING:
    from gputk.services.fleet import FleetReport

HELP = """One view of many machines, from the snapshots `gputk report` made on each.

Reads snapshot files (.tar.gz) and directories, or folders of them, in parallel worker
processes. Prints the problems grouped by root cause across machines, the machines whose
driver, CUDA, cuDNN, framework versions or GPUs differ from the fleet's majority, GPUs whose
PCIe link runs below its maximum width, and each machine's check outcomes. A snapshot that
cannot be read is listed with the reason and never stops the others.

Exit code 0 when every snapshot was read and no machine fails a check, 1 otherwise
(--strict: warnings and outliers count too).

Examples:

    srun -N64 --output='snaps/%N.tar.gz' gputk report -o -
    gputk fleet snaps/
    gputk fleet snaps/ --markdown > fleet.md
    gputk fleet snaps/*.tar.gz --json | jq '.root_causes[] | {check, count}'
"""

MARKS = {"pass": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "skip": ("-", "dim"), "error": ("E", "magenta")}
_WORST = ("error", "fail", "warn", "pass", "skip")
SHOW_ALL_UP_TO = 30
LIST_AT_MOST = 8


def _names(names: list[str]) -> str:
    more = len(names) - LIST_AT_MOST
    return ", ".join(names[:LIST_AT_MOST]) + (f" and {more} more" if more > 0 else "")


def _mark(status: str) -> tuple[str, str]:
    from gputk import ui

    char, colour = MARKS[status]
    return ui.symbol(char), colour


def _print_causes(report: FleetReport) -> None:
    from gputk import ui

    total = len(report.readable)
    if not report.root_causes:
        return
    ui.out().print()
    ui.line(("Problems by root cause", "bold"))
    for r in report.root_causes:
        head = ui.styled("  ", _mark(r.status), f" {len(r.machines)} of {total} machines: ", (r.check, "bold"), ": ")
        ui.wrapped(r.summary, prefix=head, indent=6)
        ui.wrapped(_names(r.machines), prefix="      ", style="dim")
        if r.fix:
            ui.wrapped(r.fix, prefix=ui.styled("      ", ("fix:", "bold"), " "), indent=11)


def _print_outliers(report: FleetReport) -> None:
    from gputk import ui
    from gputk.services.fleet import FACT_TITLES

    if not (report.outliers or report.pcie):
        return
    ui.out().print()
    ui.line(("Outliers", "bold"), " (differ from the fleet's most common value)")
    warn = ui.styled("  ", _mark("warn"), " ")
    for o in report.outliers:
        differ = _names([f"{n} {v}" for n, v in o.machines])
        title = FACT_TITLES.get(o.fact, o.fact)
        text = f"{title}: {o.majority} on {o.majority_count}; {len(o.machines)} differ: {differ}"
        ui.wrapped(text, prefix=warn, indent=6)
    for p in report.pcie:
        text = (
            f"PCIe link below max: {p['name']} GPU {p['gpu']} runs x{p['width']} of x{p['max_width']} "
            "(reseat the card or check the riser/slot)"
        )
        ui.wrapped(text, prefix=warn, indent=6)


def _category_marks(m: dict[str, Any], categories: list[str]) -> list[str]:
    from gputk import ui

    checks: dict[str, str] = m.get("checks") or {}
    cells = []
    for cat in categories:
        statuses = {s for cid, s in checks.items() if cid.split(".", 1)[0] == cat}
        worst = next((s for s in _WORST if s in statuses), None)
        cells.append(ui.symbol(MARKS[worst][0]) if worst else "")
    return cells


def _print_machines(report: FleetReport, show_all: bool) -> None:
    from gputk import ui

    categories = list(dict.fromkeys(cid.split(".", 1)[0] for cid in report.check_ids))
    everyone = show_all or len(report.machines) <= SHOW_ALL_UP_TO
    rows = [m for m in report.machines if everyone or m["status"] != "ok"]
    if rows:
        table = []
        for m in rows:
            facts = m.get("facts") or {}
            gpus = f"{facts.get('gpu_count')}x {facts.get('gpu_model')}" if facts.get("gpu_model") else None
            table.append([m["name"], m["status"], gpus, facts.get("driver"), *_category_marks(m, categories)])
        ui.out().print()
        ui.print_table(["machine", "status", "GPUs", "driver", *categories], table)
    hidden = len(report.machines) - len(rows)
    if hidden:
        ui.note(f"{hidden} machines with no problems not listed (--all lists them)")


def _print_text(report: FleetReport, show_all: bool) -> None:
    from gputk import ui

    c = report.counts()
    ui.line(
        ("gputk fleet", "bold"),
        f": {c['machines']} machines: {c['ok']} ok, {c['warn']} with warnings, "
        f"{c['fail']} failing, {c['unreadable']} unreadable",
    )
    _print_causes(report)
    _print_outliers(report)
    if report.unreadable:
        ui.out().print()
        ui.line(("Unreadable snapshots", "bold"))
        for m in report.unreadable:
            ui.wrapped(f"{m['path']}: {m['reason']}", prefix=ui.styled("  ", _mark("error"), " "), indent=4)
    _print_machines(report, show_all)
    if report.ignored:
        ui.note(f"ignored {len(report.ignored)} files that are not snapshots (e.g. {report.ignored[0]})")


def fleet(
    snapshots: Annotated[
        list[str],
        typer.Argument(help="Snapshot files or directories, or folders of them.", metavar="SNAPSHOT..."),
    ],
    json_out: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown report.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every machine, not only those with problems.")] = False,
    jobs: Annotated[
        Optional[int],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Option("--jobs", "-j", min=1, max=64, help="Worker processes (default: the usable CPU cores, at most 8)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Give up on one snapshot after this many seconds.")
    ] = 60.0,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings and outliers fail too (exit 1).")] = False,
) -> int:
    from gputk import __version__, ui
    from gputk.doctor.runner import check_ids
    from gputk.doctor.summary import summarize_snapshot
    from gputk.services.fleet import run_fleet

    with ui.StepProgress("reading snapshots") as progress:
        report = run_fleet(
            snapshots, summarize_snapshot, check_ids(), jobs=jobs, progress=progress, timeout_s=timeout
        )
    if json_out:
        ui.print_json("fleet", report.to_dict())
    elif markdown:
        from gputk.services.fleet_markdown import to_markdown

        ui.out().out(to_markdown(report, __version__), end="", highlight=False)
    else:
        _print_text(report, show_all)
    return report.exit_code(strict)


def register(app: typer.Typer) -> None:
    app.command("fleet", help=HELP)(fleet)
