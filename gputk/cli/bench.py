"""``gputk bench``: CPU vs GPU over sizes, each figure as a fraction of a hardware ceiling."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gputk.cli.common import JsonOpt

if TYPE_CHECKING:
    from gputk.models.demo import BenchPoint, BenchResult

LEGEND = (
    "of ceiling: the figure as a fraction of the hardware ceiling named in its row (theoretical: from the "
    "hardware's specifications; measured: a separate copy of >= 1 GiB or a large cuBLAS product)"
)
KIND_TITLES = {"add": "c = a + b (float64)", "copy": "memory copies", "matmul": "matrix product"}
CEILING_SHORT = {
    "cpu_memory": "CPU copy",
    "cpu_fp32": "CPU FP32 peak",
    "gpu_memory": "GPU memory peak",
    "gpu_copy": "GPU copy",
    "pcie": "PCIe peak",
    "gpu_fp32": "GPU FP32 peak",
    "gpu_tf32_tensor": "GPU TF32 peak",
    "gpu_fp16_tensor": "GPU FP16 peak",
}


def _size(kind: str, size: int) -> str:
    from gputk.cli import units

    if kind == "copy":
        return units.nbytes(size)
    return units.elements(size) if kind == "add" else f"n={size}"


def _ceiling_label(result: BenchResult, p: BenchPoint) -> str:
    if p.ceiling is None:
        return "-"
    key = next((k for k, c in result.ceilings.items() if c is p.ceiling or c == p.ceiling), "")
    return CEILING_SHORT.get(key, p.ceiling.name)


def _fraction(result: BenchResult, p: BenchPoint) -> str:
    frac = p.fraction
    text = "-" if frac is None else f"{frac:.0%}"
    marks = ("*" if p.note else "") + ("~" if p.spread > result.noisy_spread else "")
    return text + marks


def _kind_table(result: BenchResult, kind: str, footnotes: list[str]) -> None:
    from gputk import ui
    from gputk.cli import units

    pts = [p for p in result.points if p.kind == kind]
    if not pts:
        return
    t_unit, t_factor = units.time_unit([p.time_ms for p in pts])
    r_unit, r_factor = units.rate_unit(pts[0].unit, [p.value for p in pts])
    rows = []
    for p in pts:
        rows.append(
            [
                p.device.upper(),
                p.variant,
                _size(kind, p.size),
                units.num(p.time_ms * t_factor),
                units.num(p.value * r_factor),
                _fraction(result, p),
                _ceiling_label(result, p),
            ]
        )
        if p.note:
            footnotes.append(f"* {p.device.upper()} {p.variant} {_size(kind, p.size)}: {p.note}")
    columns = ["device", "variant", "size", f"time ({t_unit})", r_unit, "of ceiling", "ceiling"]
    ui.print_table(columns, rows, title=KIND_TITLES.get(kind, kind))


def _render_text(result: BenchResult) -> None:
    from gputk import ui
    from gputk.cli import units

    footnotes: list[str] = []
    for kind in ("add", "copy", "matmul"):
        _kind_table(result, kind, footnotes)
    out = ui.out()
    out.print(LEGEND, highlight=False)
    for line in footnotes:
        out.print(ui.escape(line), highlight=False)
    out.print("ceilings:", highlight=False)
    for c in result.ceilings.values():
        r_unit, factor = units.rate_unit(c.unit, [c.value])
        out.print(
            f"  {ui.escape(c.name)}: {units.num(c.value * factor)} {r_unit} ({ui.escape(c.source)})",
            highlight=False,
        )
    labels = {
        "add_kernel_only": "add (kernel only)",
        "add_with_transfers": "add (with transfers)",
        "matmul": "matmul",
    }
    for key, size in result.crossovers.items():
        where = "GPU never faster in this sweep" if size is None else f"GPU faster from {size:,}"
        out.print(f"crossover {labels.get(key, key)}: {where}", highlight=False)
    noisy = [p for p in result.points if p.spread > result.noisy_spread]
    if noisy:
        ui.warn(
            f"{len(noisy)} figure(s) marked ~ varied by more than {result.noisy_spread:.0%} between repeats "
            "(interquartile range / median): another program may be competing; re-run on an idle machine"
        )
    for note in result.notes:
        ui.warn(note)
    if result.gpu_skipped_reason:
        ui.warn(f"GPU half skipped: {result.gpu_skipped_reason}")
    if result.chart:
        ui.action("write", result.chart)


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sweeps (well under a minute).")] = False,
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Option(
            "--output", "-o", help="Write a PNG chart here (the name must end in .png).", metavar="PNG"
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> int:
    """Element-wise add 1e3..1e8 and matmul 256..8192 on CPU and GPU; transfers; crossovers; ceilings.

    Each figure is shown as a fraction of a hardware ceiling: theoretical from the hardware's facts
    (memory bus x clock, SMs x clock x rate, PCIe lanes, CPU cores x clock x FMA width) or measured on a
    path only the hardware limits (a copy of >= 1 GiB).

    Examples:

    \b
        gputk bench --quick
        gputk bench -o bench.png
        gputk bench --quick --json > bench.json
    """
    from gputk import ui
    from gputk.host import LiveHost
    from gputk.services.bench import run_bench
    from gputk.services.demo import check_png_path

    host = LiveHost()
    check_png_path(output)

    def progress(done: int, total: int, label: str) -> None:
        ui.note(f"[{done}/{total}] {label}")

    result = run_bench(host, quick, output, progress)  # progress goes to stderr, JSON to stdout
    if json_out:
        ui.print_json("bench", result.to_dict())
    else:
        _render_text(result)
    return 0


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
