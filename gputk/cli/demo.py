"""``gputk demo``: vector-add, mandelbrot, matmul, nn; each verified and timed on the CPU or the GPU."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gputk.cli.common import JsonOpt

if TYPE_CHECKING:
    from gputk.models.demo import DemoResult, DeviceChoice


class DeviceName(str, enum.Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


class Dtype(str, enum.Enum):
    float32 = "float32"
    tf32 = "tf32"
    float16 = "float16"


class MandelDtype(str, enum.Enum):
    float64 = "float64"
    float32 = "float32"


class MandelSize(str, enum.Enum):
    seeds = "seeds"
    hd = "hd"
    k4 = "4k"


MANDEL_SIZES = {"seeds": (1536, 1024), "hd": (1920, 1080), "4k": (3840, 2160)}


DeviceOpt = Annotated[
    DeviceName,
    typer.Option(
        "--device",
        help="auto: the GPU when it works, else the CPU (with a note why); gpu: fail if it cannot be used.",
    ),
]
RepeatsOpt = Annotated[
    int,
    typer.Option(
        "--repeats", help="Timed intervals after the warm-up (1..1000); each may batch several calls."
    ),
]
PngOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option(
        "--output",
        "-o",
        help="Write the picture to this PNG file (the name must end in .png).",
        metavar="PNG",
    ),
]

demo_app = typer.Typer(
    name="demo",
    help="Small computations that prove the GPU (or CPU) computes right, and how fast.",
    no_args_is_help=True,
)


def _device(value: DeviceName) -> DeviceChoice:
    choice: DeviceChoice = value.value
    return choice


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"


METRIC_LABELS = {
    "bandwidth_GBps": "GB/s",
    "bandwidth_with_transfers_GBps": "GB/s with transfers",
    "with_transfers_ms": "ms with transfers",
    "tflops": "TFLOP/s",
    "max_count_difference": "max count diff",
    "final_loss": "final loss",
    "final_accuracy": "accuracy",
}


def _render(result: DemoResult, json_out: bool) -> int:
    """Text or JSON on stdout; exit 0 when every backend matched its reference, else 1.

    Notes were already said on stderr while the demo ran (before any progress display).
    """
    from gputk import ui
    from gputk.cli import units

    if json_out:
        ui.print_json("demo", result.to_dict())
        return 0 if result.verified else 1
    metric_names = sorted({k for r in result.runs for k in r.metrics})
    t_unit, factor = units.time_unit([r.timings.median_ms for r in result.runs])
    rows = []
    for r in result.runs:
        t = r.timings
        rows.append(
            [
                r.backend,
                "PASS" if r.verified else "FAIL",
                f"{_fmt(r.max_error)} (tol {_fmt(r.tolerance)})",
                units.num(t.first_ms * factor),
                units.num(t.median_ms * factor),
                units.num(t.min_ms * factor),
            ]
            + [_fmt(r.metrics.get(m)) for m in metric_names]
        )
    params = ", ".join(f"{k}={v}" for k, v in result.params.items() if k not in ("region", "case"))
    labels = [METRIC_LABELS.get(m, m) for m in metric_names]
    columns = [
        "backend",
        "check",
        "max error",
        f"first ({t_unit})",
        f"median ({t_unit})",
        f"min ({t_unit})",
        *labels,
    ]
    ui.print_table(columns, rows, title=f"{result.demo} on {result.device.upper()} ({params})")
    out = ui.out()
    for r in result.runs:
        if r.note:
            out.print(f"  {r.backend}: {ui.escape(r.note)}", highlight=False)
    _render_extra(result)
    for kind, path in result.outputs.items():
        ui.action("write", f"{path} ({kind})")
    return _verdict(result)


def _render_extra(result: DemoResult) -> None:
    from gputk import ui
    from gputk.cli import units

    out = ui.out()
    case = result.params.get("case")
    if case:
        out.print(f"  {ui.escape(str(case))}", highlight=False)
    rates = result.extra.get("rates") or {}
    for backend, entry in rates.items():
        if not isinstance(entry, dict):
            continue
        line = f"  {backend}: {units.num(entry['iterations_per_s'] / 1e9)} G iterations/s"
        if "fraction_of_peak" in entry:
            peak = entry["peak"]
            line += f", {entry['fraction_of_peak']:.1%} of the {peak['name']} ({units.num(peak['value'])} TFLOP/s)"
        out.print(ui.escape(line), highlight=False)
    compare = result.extra.get("compare")
    if compare:
        w, h = compare["python_size"]
        speedups = ", ".join(f"{b} {s:,.0f}x" for b, s in compare["speedups"].items())
        out.print(
            f"speed-up over the plain-Python loop (timed at {w}x{h}, per pixel): {speedups}", highlight=False
        )


def _verdict(result: DemoResult) -> int:
    """PASS with the largest error, or FAIL naming each criterion that failed."""
    from gputk import ui

    if result.verified:
        worst = max(r.max_error for r in result.runs)
        ui.out().print(
            f"PASS: max error {_fmt(worst)} against {ui.escape(result.reference)}", highlight=False
        )
        return 0
    for r in result.runs:
        if not r.verified:
            why = (
                r.failed
                or f"max error {_fmt(r.max_error)} > tolerance {_fmt(r.tolerance)} against {result.reference}"
            )
            ui.out().print(f"FAIL: {r.backend}: {ui.escape(why)}", highlight=False)
    return 1


@demo_app.command("vector-add")
def vector_add(
    size: Annotated[int, typer.Option("--size", help="Elements (float64).")] = 50_000_000,
    device: DeviceOpt = DeviceName.auto,
    repeats: RepeatsOpt = 10,
    json_out: JsonOpt = False,
) -> int:
    """c = a + b: numba parallel kernel (CPU) or numba-cuda kernel and CuPy (GPU); GB/s with and without transfers.

    Examples:

    \b
        gputk demo vector-add
        gputk demo vector-add --size 100000000 --json
    """
    from gputk import ui
    from gputk.host import LiveHost
    from gputk.services import demo as svc

    return _render(svc.vector_add(LiveHost(), size, _device(device), repeats, ui.note), json_out)


@demo_app.command("mandelbrot")
def mandelbrot(
    width: Annotated[int, typer.Option("--width", help="Pixels across.")] = 1536,
    height: Annotated[int, typer.Option("--height", help="Pixels down.")] = 1024,
    size: Annotated[
        Optional[MandelSize],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Option(
            "--size", help="A preset image size (sets --width and --height): seeds 1536x1024, hd, 4k."
        ),
    ] = None,
    iters: Annotated[int, typer.Option("--iters", help="Iterations per pixel (1..100000).")] = 20,
    dtype: Annotated[
        MandelDtype, typer.Option("--dtype", help="Arithmetic: float64 (the seeds') or float32.")
    ] = MandelDtype.float64,
    output: PngOpt = None,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Also time the plain-Python loop (reduced size) and print speed-ups."),
    ] = False,
    device: DeviceOpt = DeviceName.auto,
    repeats: RepeatsOpt = 10,
    json_out: JsonOpt = False,
) -> int:
    """Escape counts over x in [-2, 1], y in [-1, 1]: numba CPU (rows in parallel) or numba-cuda.

    Examples:

    \b
        gputk demo mandelbrot -o mandelbrot.png
        gputk demo mandelbrot --device cpu --compare
        gputk demo mandelbrot --size 4k --iters 1000
    """
    from gputk import ui
    from gputk.host import LiveHost
    from gputk.services import demo as svc

    if size is not None:
        width, height = MANDEL_SIZES[size.value]
    result = svc.mandelbrot(
        LiveHost(), width, height, iters, _device(device), repeats, output, compare, dtype.value, ui.note
    )
    return _render(result, json_out)


@demo_app.command("matmul")
def matmul(
    size: Annotated[int, typer.Option("--size", help="n of the n x n matrices.")] = 4096,
    dtype: Annotated[Dtype, typer.Option("--dtype", help="Element type.")] = Dtype.float32,
    device: DeviceOpt = DeviceName.auto,
    repeats: RepeatsOpt = 3,
    json_out: JsonOpt = False,
) -> int:
    """C = A @ B with NumPy (CPU) or CuPy/cuBLAS (GPU); TFLOP/s; error against float64 on a sample.

    Examples:

    \b
        gputk demo matmul
        gputk demo matmul --size 8192 --dtype float16
        gputk demo matmul --dtype tf32 --device gpu
    """
    from gputk import ui
    from gputk.host import LiveHost
    from gputk.services import demo as svc

    return _render(svc.matmul(LiveHost(), size, dtype.value, _device(device), repeats, ui.note), json_out)


@demo_app.command("nn")
def nn(
    epochs: Annotated[int, typer.Option("--epochs", help="Full-batch gradient-descent steps.")] = 500,
    hidden: Annotated[int, typer.Option("--hidden", help="Hidden units.")] = 16,
    samples: Annotated[int, typer.Option("--samples", help="Points in the two-moons data set.")] = 1000,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 5.0,
    output: PngOpt = None,
    device: DeviceOpt = DeviceName.auto,
    json_out: JsonOpt = False,
) -> int:
    """A two-layer network from scratch (NumPy or CuPy): loss and accuracy per epoch, decision boundary PNG.

    Examples:

    \b
        gputk demo nn -o boundary.png
        gputk demo nn --epochs 2000 --device cpu --json
    """
    from gputk import ui
    from gputk.host import LiveHost
    from gputk.services import demo as svc

    progress = None if json_out else _EpochProgress()
    try:
        result = svc.nn(LiveHost(), epochs, hidden, samples, lr, _device(device), output, progress, ui.note)
    finally:
        if progress is not None:
            progress.close()
    return _render(result, json_out)


class _EpochProgress:
    """Loss and accuracy per epoch on stderr: a progress bar on a terminal, ~10 lines otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()

    def __call__(self, epoch: int, epochs: int, loss: float, acc: float) -> None:
        from gputk import ui

        line = f"epoch {epoch:>{len(str(epochs))}}/{epochs}  loss {loss:.4f}  accuracy {acc:.3f}"
        if self._tty:
            done = int(30 * epoch / epochs)
            sys.stderr.write(f"\r[{'#' * done}{'.' * (30 - done)}] {line}")
            sys.stderr.flush()
        elif epoch == 1 or epoch == epochs or epoch % max(1, epochs // 10) == 0:
            ui.note(line)

    def close(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
