"""Measurements of ``gputk bench``: copies (the measured memory ceilings), element-wise add, matmul.

Every figure is timed with :func:`gputk.demos.timing.measure` (warm-up, batches of calls per timed
interval, median over repeats). Copy bandwidth is counted like the add's: bytes read plus bytes
written (a copy of B bytes moves 2B), so "add at 80% of copy" compares like with like; host<->device
copies are counted once (B bytes cross the bus).

Allocation policy, the same on every backend: device buffers and host buffers are allocated once,
before timing; a timed call only copies or computes. Host memory for transfers is either pinned
(page-locked, DMA straight from it) or pageable (ordinary NumPy memory, staged by the driver through
a pinned bounce buffer); the two are measured and labelled apart. numba.cuda and cupy are imported
inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gputk.demos import vector_add as va
from gputk.demos.timing import CupyEvent, time_cpu, time_cuda_events, time_host_synced
from gputk.models.demo import Timings

GIB = 2**30


def gbps(nbytes: float, ms: float) -> float:
    return nbytes / (ms / 1e3) / 1e9 if ms > 0 else 0.0


def tflops(n: int, ms: float) -> float:
    return 2.0 * n**3 / (ms / 1e3) / 1e12 if ms > 0 else 0.0


def repeats_for(nbytes: float, budget_bytes: float = 2e9, lo: int = 5, hi: int = 15) -> int:
    """Timed intervals per point: each is already a batch of calls, so a handful suffices."""
    return int(min(hi, max(lo, budget_bytes // max(nbytes, 1))))


# ---- CPU --------------------------------------------------------------------------------------


def cpu_copy(nbytes: int, repeats: int) -> dict[str, Timings]:
    """Copy of ``nbytes`` two ways: libc memcpy via ``np.copyto`` (one thread) and numba parallel."""
    n = max(1, nbytes // 8)
    src, _, dst = va.make_inputs(n)
    return {
        "memcpy": time_cpu(lambda: np.copyto(dst, src), repeats),
        "parallel copy": time_cpu(lambda: va.copy_into(src, dst), repeats),
    }


def cpu_add(n: int) -> Timings:
    a, b, c = va.make_inputs(n)
    return time_cpu(lambda: va.add_into(a, b, c), repeats_for(va.traffic_bytes(n)))


def cpu_matmul(n: int, repeats: int) -> Timings:
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty_like(a)
    return time_cpu(lambda: np.matmul(a, b, out=c), repeats, warmup_s=0.1 if n <= 2048 else 0.0)


# ---- GPU: add -----------------------------------------------------------------------------------


def gpu_add(n: int, use_cupy: bool) -> tuple[Timings, Timings]:
    """(kernel alone, by events; with H2D of a and b and D2H of c from/to pageable host memory)."""
    a, b, _ = va.make_inputs(n)
    hc = np.empty_like(a)
    reps = repeats_for(va.traffic_bytes(n))
    if use_cupy:
        import cupy as cp

        da, db = cp.asarray(a), cp.asarray(b)
        dc = cp.empty_like(da)
        sync = cp.cuda.Device().synchronize

        def cupy_transfers() -> None:
            da.set(a)
            db.set(b)
            cp.add(da, db, out=dc)
            dc.get(out=hc)

        kernel = time_cuda_events(lambda: cp.add(da, db, out=dc), reps, lambda: CupyEvent(cp), sync)
        return kernel, time_host_synced(cupy_transfers, reps, sync)
    from numba import cuda

    k = va.cuda_kernel()
    grid = va.blocks_for(n)
    nda, ndb, ndc = cuda.to_device(a), cuda.to_device(b), cuda.device_array(n)

    def numba_transfers() -> None:
        nda.copy_to_device(a)
        ndb.copy_to_device(b)
        k[grid, va.BLOCK](nda, ndb, ndc)
        ndc.copy_to_host(hc)

    kernel = time_cuda_events(lambda: k[grid, va.BLOCK](nda, ndb, ndc), reps, cuda.event, cuda.synchronize)
    return kernel, time_host_synced(numba_transfers, reps, cuda.synchronize)


# ---- GPU: copies --------------------------------------------------------------------------------


def gpu_transfers(nbytes: int, repeats: int) -> dict[str, Timings]:
    """H2D and D2H of ``nbytes``, pinned and pageable host memory, one device buffer (numba-cuda)."""
    from numba import cuda

    n = max(1, nbytes // 8)
    pageable = np.ones(n)
    pinned = cuda.pinned_array(n, dtype=np.float64)
    pinned[:] = 1.0
    dev = cuda.device_array(n)

    def ev(fn: Callable[[], Any]) -> Timings:
        return time_cuda_events(fn, repeats, cuda.event, cuda.synchronize)

    return {
        "H2D pinned": ev(lambda: dev.copy_to_device(pinned)),
        "H2D pageable": ev(lambda: dev.copy_to_device(pageable)),
        "D2H pinned": ev(lambda: dev.copy_to_host(pinned)),
        "D2H pageable": ev(lambda: dev.copy_to_host(pageable)),
    }


def gpu_d2d(nbytes: int, repeats: int) -> Timings:
    """Device-to-device copy of ``nbytes`` (>= 1 GiB for the ceiling: far beyond any L2), batched."""
    from numba import cuda

    n = max(1, nbytes // 8)
    src, dst = cuda.device_array(n), cuda.device_array(n)
    return time_cuda_events(lambda: dst.copy_to_device(src), repeats, cuda.event, cuda.synchronize)


# ---- GPU: matmul --------------------------------------------------------------------------------

PRECISIONS = {"fp32": "float32", "tf32": "float32", "fp16": "float16"}


def gpu_matmul(n: int, precision: str, repeats: int) -> Timings:
    """cuBLAS product time via CuPy: fp32 (CUDA cores), tf32 (float32 on tensor cores), fp16."""
    import cupy as cp

    dtype = PRECISIONS[precision]
    rng = cp.random.default_rng(0)
    a = rng.random((n, n), dtype=cp.float32).astype(dtype)
    b = rng.random((n, n), dtype=cp.float32).astype(dtype)
    c = cp.empty_like(a)
    sync = cp.cuda.Device().synchronize
    with cupy_compute_type(cp, precision):
        return time_cuda_events(lambda: cp.matmul(a, b, out=c), repeats, lambda: CupyEvent(cp), sync)


class cupy_compute_type:
    """Ask CuPy for TF32 products of float32 (its compute-type switch), and put the default back."""

    def __init__(self, cp: Any, precision: str) -> None:
        self._cp = cp
        self._tf32 = precision == "tf32"

    def _linalg(self) -> Any:
        import importlib

        return importlib.import_module("cupy._core._routines_linalg")

    def __enter__(self) -> None:
        if self._tf32:
            linalg = self._linalg()
            linalg.set_compute_type(self._cp.float32, linalg.COMPUTE_TYPE_TF32)

    def __exit__(self, *exc: object) -> None:
        if self._tf32:
            linalg = self._linalg()
            linalg.set_compute_type(self._cp.float32, linalg.COMPUTE_TYPE_DEFAULT)
