"""``gputk bench``: CPU vs GPU over sizes, as fractions of ceilings measured on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gputk.cli.common import JsonOpt, output_path

if TYPE_CHECKING:
    from gputk.models.demo import BenchResult


def _size(kind: str, size: int) -> str:
    if kind == "copy":
        return f"{size / 2**20:.0f} MiB"
    return f"{size:.0e}".replace("e+0", "e") if kind == "add" else str(size)


def _render_text(result: BenchResult) -> None:
    from gputk import ui

    rows = []
    for p in result.points:
        frac = p.fraction
        rows.append(
            [
                p.kind,
                p.device.upper(),
                p.variant,
                _size(p.kind, p.size),
                f"{p.time_ms:.4g}" if p.time_ms else "-",
                f"{p.value:.3g} {p.unit}",
                "-" if frac is None else f"{frac:.0%}",
            ]
        )
    ui.print_table(
        ["test", "device", "variant", "size", "ms", "rate", "of ceiling"], rows, title="gputk bench"
    )
    out = ui.out()
    out.print("ceilings measured here: " + ", ".join(f"{k} {v:.3g}" for k, v in result.ceilings.items()))
    labels = {
        "add_kernel_only": "add (kernel only)",
        "add_with_transfers": "add (with transfers)",
        "matmul": "matmul",
    }
    for key, size in result.crossovers.items():
        where = "GPU never faster in this sweep" if size is None else f"GPU faster from {size:,}"
        out.print(f"crossover {labels.get(key, key)}: {where}")
    if result.gpu_skipped_reason:
        ui.warn(f"GPU half skipped: {result.gpu_skipped_reason}")
    if result.chart:
        ui.action("write", result.chart)


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sweeps (well under a minute).")] = False,
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Option("--output", "-o", help="Write a PNG chart here.", metavar="PNG", callback=output_path),
    ] = None,
    json_out: JsonOpt = False,
) -> int:
    """Element-wise add 1e3..1e8 and matmul 256..8192 on CPU and GPU; transfers; crossovers; ceilings.

    Each figure is shown as a fraction of a ceiling measured in the same run (memory copy, peak matmul).

    Examples:

    \b
        gputk bench --quick
        gputk bench -o bench.png
        gputk bench --quick --json > bench.json
    """
    from gputk import ui
    from gputk.services.bench import run_bench

    def progress(done: int, total: int, label: str) -> None:
        ui.note(f"[{done}/{total}] {label}")

    result = run_bench(quick, output, None if json_out else progress)
    if json_out:
        ui.print_json("bench", result.as_json())
    else:
        _render_text(result)
    return 0


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
