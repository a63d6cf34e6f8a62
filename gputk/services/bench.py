"""``gputk bench``: CPU vs GPU over sizes, against ceilings measured on this machine.

Sweeps element-wise add (1e3 .. 1e8 elements; --quick stops at 1e7) and float32
matmul (256 .. 8192; --quick stops at 2048) on the CPU and, when it can be used,
the GPU, plus host<->device (pinned, pageable) and device-to-device copies.
Each figure is reported as a fraction of a ceiling measured in the same run:
add bandwidth against copy bandwidth (CPU: the better of memcpy and a parallel
copy; GPU: device-to-device copy), matmul against the best matmul rate measured
on that device, transfers against the pinned figure. The crossover is the
smallest swept size from which the GPU is faster at every larger size, counting
the kernel alone and counting the host<->device copies too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from gputk.models.demo import BenchPoint, BenchResult, GpuStatus

ProgressFn = Callable[[int, int, str], None]
StatusFn = Callable[[], GpuStatus]

ADD_SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
MATMUL_SIZES = (256, 512, 1024, 2048, 4096, 8192)


def plan(quick: bool) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(add sizes, matmul sizes, copy bytes) for a full or a quick run."""
    if quick:
        return ADD_SIZES[:5], MATMUL_SIZES[:4], 64 * 2**20
    return ADD_SIZES, MATMUL_SIZES, 512 * 2**20


def _fits(nbytes: float) -> bool:
    import psutil

    available: int = psutil.virtual_memory().available
    return nbytes < 0.6 * available


def crossover(sizes: Sequence[int], cpu_ms: Sequence[float], gpu_ms: Sequence[float]) -> int | None:
    """Smallest size from which the GPU is faster at this and every larger size; None if never."""
    found: int | None = None
    for size, c, g in reversed(list(zip(sizes, cpu_ms, gpu_ms, strict=True))):
        if g < c:
            found = size
        else:
            break
    return found


def _gpu_reason(status: GpuStatus, package: str) -> str | None:
    return status.why_not(package)


def run_bench(
    quick: bool,
    chart: Path | None = None,
    progress: ProgressFn | None = None,
    status_fn: StatusFn | None = None,
) -> BenchResult:
    import numba

    from gputk.demos import bandwidth as bw
    from gputk.demos import vector_add as va
    from gputk.demos.gpucheck import check_gpu
    from gputk.host import LiveHost

    add_sizes, mm_sizes, copy_bytes = plan(quick)
    add_sizes = tuple(n for n in add_sizes if _fits(5 * va.traffic_bytes(n)))
    status = status_fn() if status_fn else check_gpu(LiveHost())
    numba_why, cupy_why = _gpu_reason(status, "numba-cuda"), _gpu_reason(status, "cupy")
    gpu_add = numba_why is None or cupy_why is None
    steps = 1 + len(add_sizes) + len(mm_sizes)
    steps += (1 + len(add_sizes)) if gpu_add else 0
    steps += len(mm_sizes) if cupy_why is None else 0
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps, label)

    points: list[BenchPoint] = []
    ceilings = bw.cpu_copy(copy_bytes, 5)
    cpu_copy = max(ceilings.values())
    ceilings["cpu_copy_GBps"] = cpu_copy
    tick("CPU memory copy")
    cpu_add = []
    for n in add_sizes:
        ms = bw.cpu_add_ms(n)
        cpu_add.append(ms)
        points.append(
            BenchPoint("add", "cpu", "numba", n, ms, _gbps(va.traffic_bytes(n), ms), "GB/s", cpu_copy)
        )
        tick(f"CPU add {n:.0e}")
    cpu_mm = []
    for n in mm_sizes:
        ms = bw.cpu_matmul_ms(n, 3 if n <= 2048 else 1)
        cpu_mm.append(ms)
        tick(f"CPU matmul {n}")
    ceilings["cpu_matmul_peak_TFLOPs"] = max(_tflops(n, ms) for n, ms in zip(mm_sizes, cpu_mm, strict=True))
    for n, ms in zip(mm_sizes, cpu_mm, strict=True):
        points.append(
            BenchPoint(
                "matmul",
                "cpu",
                "numpy float32",
                n,
                ms,
                _tflops(n, ms),
                "TFLOP/s",
                ceilings["cpu_matmul_peak_TFLOPs"],
            )
        )
    crossovers: dict[str, int | None] = {}
    skipped = []
    if gpu_add:
        use_cupy = cupy_why is None
        if numba_why is None:
            copies = bw.gpu_copies(copy_bytes, 5)
            ceilings.update(copies)
            for name in ("h2d_pinned", "h2d_pageable", "d2h_pinned", "d2h_pageable", "d2d"):
                ceiling = copies[f"{name.split('_')[0]}_pinned_GBps"] if name != "d2d" else copies["d2d_GBps"]
                points.append(
                    BenchPoint("copy", "gpu", name, copy_bytes, 0.0, copies[f"{name}_GBps"], "GB/s", ceiling)
                )
        tick("GPU copies")
        gpu_kernel, gpu_full = [], []
        for n in add_sizes:
            k_ms, f_ms = bw.gpu_add_ms(n, use_cupy)
            gpu_kernel.append(k_ms)
            gpu_full.append(f_ms)
            d2d = ceilings.get("d2d_GBps")
            name = "cupy" if use_cupy else "numba-cuda"
            points.append(
                BenchPoint("add", "gpu", name, n, k_ms, _gbps(va.traffic_bytes(n), k_ms), "GB/s", d2d)
            )
            points.append(
                BenchPoint(
                    "add",
                    "gpu",
                    f"{name} + transfers",
                    n,
                    f_ms,
                    _gbps(va.traffic_bytes(n), f_ms),
                    "GB/s",
                    ceilings.get("h2d_pinned_GBps"),
                )
            )
            tick(f"GPU add {n:.0e}")
        crossovers["add_kernel_only"] = crossover(add_sizes, cpu_add, gpu_kernel)
        crossovers["add_with_transfers"] = crossover(add_sizes, cpu_add, gpu_full)
        if numba_why is not None:
            skipped.append(f"GPU copies: {numba_why}")
    else:
        skipped.append(f"GPU add and copies: {numba_why}")
    if cupy_why is None:
        gpu_mm = []
        for n in mm_sizes:
            gpu_mm.append(bw.gpu_matmul_ms(n, 10))
            tick(f"GPU matmul {n}")
        peak = max(_tflops(n, ms) for n, ms in zip(mm_sizes, gpu_mm, strict=True))
        ceilings["gpu_matmul_peak_TFLOPs"] = peak
        for n, ms in zip(mm_sizes, gpu_mm, strict=True):
            points.append(BenchPoint("matmul", "gpu", "cupy float32", n, ms, _tflops(n, ms), "TFLOP/s", peak))
        crossovers["matmul"] = crossover(mm_sizes, cpu_mm, gpu_mm)
    else:
        skipped.append(f"GPU matmul: {cupy_why}")
    result = BenchResult(
        quick=quick,
        points=tuple(points),
        ceilings=ceilings,
        crossovers=crossovers,
        gpu=status,
        gpu_skipped_reason="; ".join(skipped) or None,
        cpu_threads=numba.get_num_threads() or (os.cpu_count() or 1),
    )
    if chart is not None:
        from dataclasses import replace

        from gputk.demos.chart import write_chart

        result = replace(result, chart=str(write_chart(result, chart)))
    return result


def _gbps(nbytes: float, ms: float) -> float:
    return nbytes / (ms / 1e3) / 1e9 if ms > 0 else 0.0


def _tflops(n: int, ms: float) -> float:
    return 2.0 * n**3 / (ms / 1e3) / 1e12 if ms > 0 else 0.0
