"""The PNG chart of ``gputk bench`` (matplotlib with the Agg backend, imported only here).

Left: element-wise add, time per call against elements, CPU and GPU (kernel
alone, and with host<->device copies). Right: matmul TFLOP/s against n. Both
axes logarithmic, the measured ceilings drawn as dashed lines.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from gputk.models.demo import BenchResult


def write_chart(result: BenchResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
    for p in result.points:
        if p.kind in ("add", "matmul"):
            y = p.time_ms if p.kind == "add" else p.value
            series[(p.kind, p.device, p.variant)].append((p.size, y))
    fig, (ax_add, ax_mm) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (kind, device, variant), pts in sorted(series.items()):
        xs, ys = zip(*sorted(pts), strict=True)
        ax = ax_add if kind == "add" else ax_mm
        ax.plot(xs, ys, marker="o", label=f"{device.upper()} {variant}")
    ax_add.set(
        xscale="log", yscale="log", xlabel="elements (float64)", ylabel="ms per add", title="c = a + b"
    )
    ax_mm.set(xscale="log", xlabel="n (n x n, float32)", ylabel="TFLOP/s", title="matmul")
    ax_mm.set_xscale("log", base=2)
    for key, ax in (("cpu_matmul_peak_TFLOPs", ax_mm), ("gpu_matmul_peak_TFLOPs", ax_mm)):
        if key in result.ceilings:
            ax.axhline(result.ceilings[key], linestyle="--", linewidth=0.8, color="grey")
    for ax in (ax_add, ax_mm):
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=8)
    if result.gpu_skipped_reason:
        fig.suptitle(f"GPU skipped: {result.gpu_skipped_reason}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
