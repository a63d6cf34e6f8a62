"""``gputk detect``: list the GPUs, from every source, and say which sources answered."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from gputk.cli.common import JsonOpt, SnapshotOpt

if TYPE_CHECKING:
    from gputk.services.detect import DetectResult

FromOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option(
        "--from",
        help="Read saved or pasted outputs instead of the machine (nvidia-smi, lspci, lshw, inxi, ...; recognised "
        "by content, prompts and code fences allowed). Repeat for several files.",
        metavar="FILE",
    ),
]
ProcessesOpt = Annotated[
    bool, typer.Option("--processes", "-v", "--verbose", help="Also list the processes holding GPU memory.")
]

HELP = """List the GPUs of this machine (or of a snapshot, or of pasted tool outputs).

Merges NVML, `nvidia-smi -q -x`, the PCI bus (sysfs, lspci) and lshw per GPU by PCI bus id, so GPUs
are listed even without a working driver; then says which sources answered and why the others did not.

Examples:

\b
    gputk detect
    gputk detect -v --json | jq '.gpus[].name'
    gputk detect --from smi.xml --from lspci.txt
"""


def _mem(mib: int | None) -> str | None:
    return f"{mib} MiB" if mib is not None else None


def _power(draw: float | None, limit: float | None) -> str | None:
    if draw is None:
        return None
    return f"{draw:.0f} W" + (f" / {limit:.0f} W" if limit is not None else "")


def _rows(result: DetectResult) -> list[list[Any]]:
    from gputk import ui

    rows: list[list[Any]] = []
    for g in result.gpus:
        r = g.record
        driver = r.driver_version or (f"({r.kernel_driver})" if r.kernel_driver else "(none)")
        name = (r.name or "unknown") + (" [LOST]" if r.lost else "")
        idx = r.index if r.index is not None else "-"
        rows.append(
            [
                idx,
                r.vendor or "other",
                name,
                r.pci_bus_id,
                _mem(r.memory_total_mib),
                driver,
                r.cuda_driver_version,
                r.compute_capability,
                r.architecture,
                f"{r.utilization_gpu_pct} %" if r.utilization_gpu_pct is not None else None,
                f"{r.temperature_c} C" if r.temperature_c is not None else None,
                _power(r.power_draw_w, r.power_limit_w),
            ]
        )
        for m in r.mig_devices:
            mig_idx = f"{r.index if r.index is not None else '-'}:{m.index if m.index is not None else '?'}"
            rows.append(
                [f"  {mig_idx}", "", f"  {ui.symbol('└')} MIG {m.profile or ''}".rstrip(), m.uuid, _mem(m.memory_total_mib)]
                + [None] * 7
            )
    return rows


def _render(result: DetectResult, processes: bool) -> None:
    from gputk import ui

    console = ui.out()
    if result.gpus:
        ui.print_table(
            [
                "#",
                "vendor",
                "name",
                "PCI bus id",
                "memory",
                "driver",
                "CUDA",
                "CC",
                "arch",
                "util",
                "temp",
                "power",
            ],
            _rows(result),
        )
    for msg in result.messages:
        console.print(msg)
    if processes:
        procs = [
            [g.record.index, p.pid, p.type, p.name, _mem(p.used_memory_mib)]
            for g in result.gpus
            for p in g.record.processes
        ]
        if procs:
            console.print()
            ui.print_table(["GPU", "PID", "type", "process", "GPU memory"], procs, title="Processes")
        elif result.gpus:
            console.print("No process holds GPU memory (or the source could not tell).")
    console.print()
    console.print(f"Sources ({result.origin}):")
    marks = {"ok": ("ok", "green"), "unavailable": ("--", "dim"), "error": ("!!", "red")}
    for name, st in result.sources.items():
        ui.line("  ", marks[st.status], f" {name}: {st.detail}", console=console)
    for w in result.warnings:
        ui.warn(w)


def detect_command(
    snapshot: SnapshotOpt = None,
    from_files: FromOpt = None,
    json_out: JsonOpt = False,
    processes: ProcessesOpt = False,
) -> int:
    from gputk import ui
    from gputk.errors import UsageError

    if snapshot is not None and from_files:
        raise UsageError("--snapshot and --from cannot be used together", "pick one source of facts")
    if from_files:
        from gputk.services.detect import detect_from_files

        result = detect_from_files(from_files)
    else:
        from gputk.cli.common import make_host
        from gputk.services.detect import detect

        result = detect(make_host(snapshot))
    if json_out:
        ui.print_json("detect", result.to_dict())
        for w in result.warnings:
            ui.warn(w)
        return 0
    _render(result, processes)
    return 0


def register(app: typer.Typer) -> None:
    app.command("detect", help=HELP)(detect_command)
