"""Measured ceilings and sweep points for ``gputk bench``: memory copies and element-wise add.

Copy bandwidth is counted like the add's: bytes read plus bytes written (a copy
of B bytes moves 2B), so "add at 80% of copy" compares like with like. GPU
copies are timed with CUDA events after a warm-up copy; host<->device copies
are counted once (B bytes cross the bus), with host buffers either pinned
(``cuda.pinned_array``: page-locked, DMA straight from them) or pageable
(ordinary NumPy memory, staged by the driver through a pinned bounce buffer).
numba.cuda and cupy are imported inside the functions that need them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gputk.demos import vector_add as va
from gputk.demos.timing import CupyEvent, time_cpu, time_cuda_events, time_host_synced


def _gbps(nbytes: float, ms: float) -> float:
    return nbytes / (ms / 1e3) / 1e9 if ms > 0 else 0.0


def cpu_copy(nbytes: int, repeats: int) -> dict[str, float]:
    """Memory-copy bandwidth two ways: libc memcpy via ``np.copyto`` (one thread) and numba parallel."""
    n = max(1, nbytes // 8)
    src, _, dst = va.make_inputs(n)
    memcpy = time_cpu(lambda: np.copyto(dst, src), repeats)
    parallel = time_cpu(lambda: va.copy_into(src, dst), repeats)
    return {
        "memcpy_GBps": _gbps(2 * n * 8, memcpy.min_ms),
        "parallel_copy_GBps": _gbps(2 * n * 8, parallel.min_ms),
    }


def repeats_for(nbytes: float, budget_bytes: float = 2e9, lo: int = 3, hi: int = 200) -> int:
    """Enough repeats that small sizes are timed over many calls, large ones a few times."""
    return int(min(hi, max(lo, budget_bytes // max(nbytes, 1))))


def cpu_add_ms(n: int) -> float:
    a, b, c = va.make_inputs(n)
    return time_cpu(lambda: va.add_into(a, b, c), repeats_for(va.traffic_bytes(n))).min_ms


def gpu_add_ms(n: int, use_cupy: bool) -> tuple[float, float]:
    """(kernel ms by events, ms with H2D of a and b and D2H of c, host-synced) for one size."""
    a, b, _ = va.make_inputs(n)
    reps = repeats_for(va.traffic_bytes(n))
    if use_cupy:
        import cupy as cp

        da, db = cp.asarray(a), cp.asarray(b)
        dc = cp.empty_like(da)
        sync = cp.cuda.Device().synchronize
        kernel = time_cuda_events(lambda: cp.add(da, db, out=dc), reps, lambda: CupyEvent(cp), sync)
        full = time_host_synced(lambda: cp.asnumpy(cp.asarray(a) + cp.asarray(b)), min(reps, 20), sync)
        return kernel.min_ms, full.min_ms
    from numba import cuda

    k = va.cuda_kernel()
    grid = va.blocks_for(n)
    da, db, dc = cuda.to_device(a), cuda.to_device(b), cuda.device_array(n)
    kernel = time_cuda_events(lambda: k[grid, va.BLOCK](da, db, dc), reps, cuda.event, cuda.synchronize)

    def with_transfers() -> None:
        hc = cuda.device_array(n)
        k[grid, va.BLOCK](cuda.to_device(a), cuda.to_device(b), hc)
        hc.copy_to_host()

    full = time_host_synced(with_transfers, min(reps, 20), cuda.synchronize)
    return kernel.min_ms, full.min_ms


def gpu_copies(nbytes: int, repeats: int) -> dict[str, float]:
    """GB/s of H2D and D2H (pinned, pageable) and D2D (read + write counted) with numba-cuda."""
    from numba import cuda

    n = max(1, nbytes // 8)
    pageable = np.ones(n)
    pinned = cuda.pinned_array(n, dtype=np.float64)
    pinned[:] = 1.0
    d_a, d_b = cuda.device_array(n), cuda.device_array(n)

    def ev(fn: Any) -> float:
        return time_cuda_events(fn, repeats, cuda.event, cuda.synchronize).min_ms

    return {
        "h2d_pinned_GBps": _gbps(n * 8, ev(lambda: d_a.copy_to_device(pinned))),
        "h2d_pageable_GBps": _gbps(n * 8, ev(lambda: d_a.copy_to_device(pageable))),
        "d2h_pinned_GBps": _gbps(n * 8, ev(lambda: d_a.copy_to_host(pinned))),
        "d2h_pageable_GBps": _gbps(n * 8, ev(lambda: d_a.copy_to_host(pageable))),
        "d2d_GBps": _gbps(2 * n * 8, ev(lambda: d_b.copy_to_device(d_a))),
    }


def gpu_matmul_ms(n: int, repeats: int) -> float:
    """Float32 cuBLAS product time (events) via CuPy."""
    import cupy as cp

    rng = cp.random.default_rng(0)
    a = rng.random((n, n), dtype=cp.float32)
    b = rng.random((n, n), dtype=cp.float32)
    c = cp.empty_like(a)
    sync = cp.cuda.Device().synchronize
    return time_cuda_events(lambda: cp.matmul(a, b, out=c), repeats, lambda: CupyEvent(cp), sync).min_ms


def cpu_matmul_ms(n: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty_like(a)
    return time_cpu(lambda: np.matmul(a, b, out=c), repeats).min_ms
