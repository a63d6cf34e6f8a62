"""The PNG chart of ``gputk bench`` (matplotlib with the Agg backend, imported only here).

Left: element-wise add, GB/s against elements, CPU and GPU (kernel alone, and with host<->device
copies), with the memory ceilings as labelled dashed lines. Right: matmul TFLOP/s against n, with the
compute ceilings as labelled dashed lines. The figure is rendered in memory and written atomically.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Any

from gputk.models.demo import BenchResult

ADD_CEILINGS = ("cpu_memory", "gpu_memory", "gpu_copy", "pcie")
MATMUL_CEILINGS = ("cpu_fp32", "gpu_fp32")


def _ceiling_lines(ax: Any, result: BenchResult, keys: tuple[str, ...]) -> None:
    for key in keys:
        c = result.ceilings.get(key)
        if c is None:
            continue
        ax.axhline(c.value, linestyle="--", linewidth=0.8, color="grey")
        ax.annotate(
            f"{c.name}: {c.value:.3g} {c.unit}",
            xy=(0.01, c.value),
            xycoords=("axes fraction", "data"),
            fontsize=7,
            color="dimgrey",
            va="bottom",
        )


def render_chart(result: BenchResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
    for p in result.points:
        if p.kind == "add" or (p.kind == "matmul" and not p.variant.startswith("cuBLAS")):
            series[(p.kind, p.device, p.variant)].append((p.size, p.value))
    fig, (ax_add, ax_mm) = plt.subplots(1, 2, figsize=(11, 4.4))
    for (kind, device, variant), pts in sorted(series.items()):
        xs, ys = zip(*sorted(pts), strict=True)
        ax = ax_add if kind == "add" else ax_mm
        ax.plot(xs, ys, marker="o", label=f"{device.upper()} {variant}")
    ax_add.set(xscale="log", yscale="log", xlabel="elements (float64)", ylabel="GB/s", title="c = a + b")
    ax_mm.set(yscale="log", xlabel="n (n x n, float32)", ylabel="TFLOP/s", title="matmul")
    ax_mm.set_xscale("log", base=2)
    _ceiling_lines(ax_add, result, ADD_CEILINGS)
    _ceiling_lines(ax_mm, result, MATMUL_CEILINGS)
    for ax in (ax_add, ax_mm):
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=8, loc="lower right")
    if result.gpu_skipped_reason:
        fig.suptitle(f"GPU skipped: {result.gpu_skipped_reason}", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_chart(result: BenchResult, path: Path) -> Path:
    from gputk.files import atomic_write_bytes

    atomic_write_bytes(str(path), render_chart(result))
    return path
