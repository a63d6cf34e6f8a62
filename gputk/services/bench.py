"""``gputk bench``: CPU vs GPU over sizes, each figure a fraction of a hardware ceiling.

Sweeps element-wise add (1e3 .. 1e8 elements; --quick stops at 1e7) and float32 matmul (256 ..
8192; --quick stops at 2048) on the CPU and, when it can be used, the GPU, plus host<->device
transfers (pinned and pageable apart) and a device-to-device copy. The ceilings are hardware figures
(gputk.demos.ceilings): theoretical from the hardware's facts where they can be read (GPU memory bus x
clock, SMs x clock x per-SM rate, PCIe lanes x rate, CPU cores x clock x FMA width), else measured on
a path that can only be limited by the hardware (a copy of >= 1 GiB, far beyond every cache) - never
the best point of the sweep being judged. Points whose data fit in a cache, or whose launches take
longer to issue than to run, are labelled so, and any figure above its ceiling carries its reason.
The crossover is the smallest swept size from which the GPU is faster at every larger size, counting
the kernel alone and counting the host<->device copies too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gputk.host import Host
from gputk.models.demo import BenchPoint, BenchResult, Ceiling, GpuStatus, Timings

ProgressFn = Callable[[int, int, str], None]

ADD_SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
MATMUL_SIZES = (256, 512, 1024, 2048, 4096, 8192)
MIB, GIB = 2**20, 2**30


@dataclass(frozen=True)
class Plan:
    add_sizes: tuple[int, ...]
    mm_sizes: tuple[int, ...]
    cpu_copy_bytes: int  # per buffer: the copy moves twice this
    transfer_bytes: int
    d2d_bytes: int
    mm_ceiling_n: int


def plan(quick: bool) -> Plan:
    """Sizes for a full or a quick run (before memory limits)."""
    if quick:
        return Plan(ADD_SIZES[:5], MATMUL_SIZES[:4], 128 * MIB, 64 * MIB, GIB, 4096)
    return Plan(ADD_SIZES, MATMUL_SIZES, 512 * MIB, 256 * MIB, GIB, 8192)


def crossover(sizes: Sequence[int], cpu_ms: Sequence[float], gpu_ms: Sequence[float]) -> int | None:
    """Smallest size from which the GPU is faster at this and every larger size; None if never."""
    found: int | None = None
    for size, c, g in reversed(list(zip(sizes, cpu_ms, gpu_ms, strict=True))):
        if g < c:
            found = size
        else:
            break
    return found


def fit_plan(p: Plan, available: int) -> Plan:
    """Drop add sizes and shrink the CPU copy so everything fits in 60% of the memory available now."""
    from gputk.demos import vector_add as va

    adds = tuple(n for n in p.add_sizes if 5 * va.traffic_bytes(n) < 0.6 * available)
    copy = p.cpu_copy_bytes
    while copy > 32 * MIB and 3 * copy > 0.6 * available:
        copy //= 2
    return replace(p, add_sizes=adds, cpu_copy_bytes=copy)


class _Steps:
    def __init__(self, total: int, progress: ProgressFn | None) -> None:
        self.total, self.done, self._progress = total, 0, progress

    def start(self, label: str) -> None:
        """Say what runs next (so a long step shows from its first second)."""
        if self._progress is not None:
            self._progress(self.done + 1, self.total, label)

    def finish(self) -> None:
        self.done += 1


@dataclass
class _Sweep:
    """What the halves collect."""

    points: list[BenchPoint] = field(default_factory=list)
    ceilings: dict[str, Ceiling] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    add_ms: list[float] = field(default_factory=list)
    mm_ms: list[float] = field(default_factory=list)


def _fmt_bytes(n: float) -> str:
    if n >= GIB:
        return f"{n / GIB:.3g} GiB"
    return f"{n / MIB:.3g} MiB" if n >= MIB else f"{n / 1024:.3g} KiB"


def explain(point: BenchPoint) -> BenchPoint:
    """Attach the reason to any figure above its ceiling (cache, launch-bound, or measurement noise)."""
    frac = point.fraction
    if frac is None or frac <= 1.0 or point.note:
        return point
    if point.ceiling is not None and point.ceiling.kind == "measured":
        why = (
            f"above the measured {point.ceiling.name} by {frac - 1:.0%}: that ceiling is itself a measurement "
            f"(spread {point.spread:.0%} here), not a hardware limit"
        )
    else:
        why = "above the theoretical peak: the clock ran above the max NVML/cpufreq reports, or the count is off"
    return replace(point, note=why)


def _point(
    kind: str,
    device: Any,
    variant: str,
    size: int,
    t: Timings,
    value: float,
    unit: str,
    ceiling: Ceiling | None,
    regime: str = "",
    note: str | None = None,
) -> BenchPoint:
    p = BenchPoint(
        kind, device, variant, size, t.median_ms, value, unit, ceiling, regime, note, t.spread, t.launch_us
    )
    return explain(p)


# ---- CPU half -----------------------------------------------------------------------------------


def _cpu_copy_ceiling(p: Plan, llc: int | None, steps: _Steps) -> Ceiling:
    """The CPU's memory ceiling: the better of memcpy and a parallel streaming copy, far beyond the LLC."""
    from gputk.demos import bandwidth as bw

    steps.start(f"CPU memory copy ({_fmt_bytes(2 * p.cpu_copy_bytes)} moved per copy)")
    copies = bw.cpu_copy(p.cpu_copy_bytes, 5)
    best = max(bw.gbps(2 * p.cpu_copy_bytes, t.median_ms) for t in copies.values())
    steps.finish()
    return Ceiling(
        "CPU memory copy, measured",
        best,
        "GB/s",
        "measured",
        f"best of memcpy and a parallel streaming copy of {_fmt_bytes(p.cpu_copy_bytes)}"
        + (f" ({p.cpu_copy_bytes / llc:.0f}x the {_fmt_bytes(llc)} last-level cache)" if llc else "")
        + "; no theoretical DRAM figure (channels and speed need root)",
    )


def _cpu_half(p: Plan, facts: dict[str, Any], threads: int, steps: _Steps) -> _Sweep:
    from gputk.demos import bandwidth as bw
    from gputk.demos import ceilings as cl
    from gputk.demos import vector_add as va

    sw = _Sweep()
    llc = facts.get("llc_bytes")
    sw.ceilings["cpu_memory"] = _cpu_copy_ceiling(p, llc, steps)
    for n in p.add_sizes:
        steps.start(f"CPU add {n:.0e}")
        t = bw.cpu_add(n)
        sw.add_ms.append(t.median_ms)
        moved = va.traffic_bytes(n)
        in_cache = llc is not None and moved <= llc
        note = (
            f"the {_fmt_bytes(moved)} fit in the {_fmt_bytes(llc)} last-level cache: cache bandwidth, not memory"
            if in_cache and llc
            else None
        )
        sw.points.append(
            _point(
                "add",
                "cpu",
                "numba",
                n,
                t,
                bw.gbps(moved, t.median_ms),
                "GB/s",
                sw.ceilings["cpu_memory"],
                "cache" if in_cache else "",
                note,
            )
        )
        steps.finish()
    peak = cl.cpu_compute_peak(facts, threads, "fp32")
    if peak is not None:
        sw.ceilings["cpu_fp32"] = peak
    else:
        sw.notes.append(
            "CPU FP32 peak unknown (no clock or FMA width readable): matmul shown without a ceiling"
        )
    for n in p.mm_sizes:
        steps.start(f"CPU matmul {n}")
        t = bw.cpu_matmul(n, 3)
        sw.mm_ms.append(t.median_ms)
        sw.points.append(
            _point("matmul", "cpu", "numpy float32", n, t, bw.tflops(n, t.median_ms), "TFLOP/s", peak)
        )
        steps.finish()
    return sw


# ---- GPU half -----------------------------------------------------------------------------------


def _gpu_ceilings(status: GpuStatus) -> tuple[dict[str, Ceiling], list[str]]:
    from gputk.demos import ceilings as cl

    hw, cc = status.hardware, status.compute_capability
    found: dict[str, Ceiling | None] = {
        "gpu_memory": cl.gpu_memory_peak(hw),
        "pcie": cl.pcie_peak(hw.get("pcie_gen"), hw.get("pcie_width")),
        "pcie_max": cl.pcie_peak(hw.get("pcie_gen_max"), hw.get("pcie_width_max"), "maximum"),
    }
    for prec in ("fp32", "tf32_tensor", "fp16_tensor", "fp64"):
        found[f"gpu_{prec}"] = cl.gpu_compute_peak(hw, cc, prec)
    notes = [n for n in (cl.pcie_note(hw),) if n]
    if found["gpu_memory"] is None:
        notes.append("GPU memory bus width or clock unknown (NVML): add is shown against the measured copy")
    return {k: v for k, v in found.items() if v is not None}, notes


def _gpu_copies(p: Plan, status: GpuStatus, sw: _Sweep, steps: _Steps) -> None:
    from gputk.demos import bandwidth as bw

    steps.start(f"GPU transfers, pinned and pageable ({_fmt_bytes(p.transfer_bytes)})")
    pcie = sw.ceilings.get("pcie")
    for name, t in bw.gpu_transfers(p.transfer_bytes, 5).items():
        sw.points.append(
            _point(
                "copy", "gpu", name, p.transfer_bytes, t, bw.gbps(p.transfer_bytes, t.median_ms), "GB/s", pcie
            )
        )
    steps.finish()
    free = status.hardware.get("mem_free_bytes")
    d2d = p.d2d_bytes
    while free and d2d > 64 * MIB and 2 * d2d > 0.5 * free:
        d2d //= 2
    steps.start(f"GPU device-to-device copy ({_fmt_bytes(d2d)})")
    t = bw.gpu_d2d(d2d, 5)
    value = bw.gbps(2 * d2d, t.median_ms)
    sw.ceilings["gpu_copy"] = Ceiling(
        "GPU device-to-device copy, measured",
        value,
        "GB/s",
        "measured",
        f"copy of {_fmt_bytes(d2d)} (read + write counted), {t.batch} copies per timed interval",
    )
    sw.points.append(_point("copy", "gpu", "D2D", d2d, t, value, "GB/s", sw.ceilings.get("gpu_memory")))
    steps.finish()


def _gpu_adds(p: Plan, status: GpuStatus, sw: _Sweep, steps: _Steps, use_cupy: bool) -> list[float]:
    from gputk.demos import bandwidth as bw
    from gputk.demos import vector_add as va

    mem = sw.ceilings.get("gpu_memory") or sw.ceilings.get("gpu_copy")
    l2 = status.hardware.get("l2_bytes")
    name = "cupy" if use_cupy else "numba-cuda"
    full_ms = []
    for n in p.add_sizes:
        steps.start(f"GPU add {n:.0e}")
        kernel, full = bw.gpu_add(n, use_cupy)
        moved = va.traffic_bytes(n)
        regime, note = "", None
        if kernel.launch_bound:
            regime = "launch-bound"
            note = f"issuing a launch takes {kernel.launch_us:.1f} us, longer than the kernel: this is the launch rate"
        elif l2 and moved <= l2:
            regime, note = (
                "cache",
                f"the {_fmt_bytes(moved)} fit in the {_fmt_bytes(l2)} L2 cache: a cache figure",
            )
        sw.add_ms.append(kernel.median_ms)
        full_ms.append(full.median_ms)
        sw.points.append(
            _point("add", "gpu", name, n, kernel, bw.gbps(moved, kernel.median_ms), "GB/s", mem, regime, note)
        )
        sw.points.append(
            _point(
                "add",
                "gpu",
                f"{name} + pageable transfers",
                n,
                full,
                bw.gbps(moved, full.median_ms),
                "GB/s",
                sw.ceilings.get("pcie"),
            )
        )
        steps.finish()
    return full_ms


def _gpu_matmuls(p: Plan, status: GpuStatus, sw: _Sweep, steps: _Steps) -> None:
    from gputk.demos import bandwidth as bw

    peak = sw.ceilings.get("gpu_fp32")
    for n in p.mm_sizes:
        steps.start(f"GPU matmul {n}")
        t = bw.gpu_matmul(n, "fp32", 10)
        sw.mm_ms.append(t.median_ms)
        sw.points.append(
            _point("matmul", "gpu", "cupy float32", n, t, bw.tflops(n, t.median_ms), "TFLOP/s", peak)
        )
        steps.finish()
    cc = float(status.compute_capability or 0)
    for prec in ("fp32", "tf32", "fp16"):
        if prec == "tf32" and cc < 8.0:
            continue
        steps.start(f"GPU cuBLAS {prec} at n={p.mm_ceiling_n} (measured ceiling)")
        t = bw.gpu_matmul(p.mm_ceiling_n, prec, 5)
        value = bw.tflops(p.mm_ceiling_n, t.median_ms)
        sw.ceilings[f"cublas_{prec}"] = Ceiling(
            f"cuBLAS {prec.upper()} at n={p.mm_ceiling_n}, measured",
            value,
            "TFLOP/s",
            "measured",
            f"CuPy matmul {p.mm_ceiling_n}x{p.mm_ceiling_n}, median of 5 batched intervals",
        )
        key = {"fp32": "gpu_fp32", "tf32": "gpu_tf32_tensor", "fp16": "gpu_fp16_tensor"}[prec]
        sw.points.append(
            _point(
                "matmul", "gpu", f"cuBLAS {prec}", p.mm_ceiling_n, t, value, "TFLOP/s", sw.ceilings.get(key)
            )
        )
        steps.finish()


def _gpu_steps(p: Plan, numba_ok: bool, cupy_ok: bool, cc: float) -> int:
    steps = 0
    if numba_ok:
        steps += 2
    if numba_ok or cupy_ok:
        steps += len(p.add_sizes)
    if cupy_ok:
        steps += len(p.mm_sizes) + (3 if cc >= 8.0 else 2)
    return steps


def _gpu_reasons(status: GpuStatus) -> tuple[str | None, str | None]:
    if status.simulator:
        why = "the numba CUDA simulator runs kernels on the host: nothing to measure"
        return why, why
    return status.why_not("numba-cuda"), status.why_not("cupy")


def run_bench(
    host: Host, quick: bool, chart: Path | None = None, progress: ProgressFn | None = None
) -> BenchResult:
    """Measure on ``host`` (a live host: bench needs this machine), optionally draw the chart."""
    import numba
    import psutil

    from gputk.demos import ceilings as cl
    from gputk.demos.gpucheck import check_gpu
    from gputk.demos.timing import NOISY_SPREAD

    p = fit_plan(plan(quick), int(psutil.virtual_memory().available))
    status = check_gpu(host)
    numba_why, cupy_why = _gpu_reasons(status)
    cc = float(status.compute_capability or 0)
    steps = _Steps(
        1 + len(p.add_sizes) + len(p.mm_sizes) + _gpu_steps(p, numba_why is None, cupy_why is None, cc),
        progress,
    )
    threads = numba.get_num_threads() or (os.cpu_count() or 1)
    cpu = _cpu_half(p, cl.cpu_facts(host), threads, steps)
    gpu, skipped, crossovers = _Sweep(), [], {}
    if numba_why is None or cupy_why is None:
        gpu.ceilings, gpu.notes = _gpu_ceilings(status)
        if numba_why is None:
            _gpu_copies(p, status, gpu, steps)
        else:
            skipped.append(f"GPU copies: {numba_why}")
        full_ms = _gpu_adds(p, status, gpu, steps, use_cupy=cupy_why is None)
        crossovers["add_kernel_only"] = crossover(p.add_sizes, cpu.add_ms, gpu.add_ms)
        crossovers["add_with_transfers"] = crossover(p.add_sizes, cpu.add_ms, full_ms)
    else:
        skipped.append(f"GPU add and copies: {numba_why}")
    if cupy_why is None:
        _gpu_matmuls(p, status, gpu, steps)
        crossovers["matmul"] = crossover(p.mm_sizes, cpu.mm_ms, gpu.mm_ms[: len(p.mm_sizes)])
    else:
        skipped.append(f"GPU matmul: {cupy_why}")
    result = BenchResult(
        quick=quick,
        points=tuple(cpu.points + gpu.points),
        ceilings={**cpu.ceilings, **gpu.ceilings},
        crossovers=crossovers,
        gpu=status,
        gpu_skipped_reason="; ".join(skipped) or None,
        cpu_threads=threads,
        notes=tuple(cpu.notes + gpu.notes),
        noisy_spread=NOISY_SPREAD,
    )
    if chart is not None:
        from gputk.demos.chart import write_chart

        result = replace(result, chart=str(write_chart(result, chart)))
    return result
