"""Vector add ``c = a + b``: the CPU (numba) and GPU (numba-cuda, CuPy) backends side by side.

Bandwidth is the bytes the computation must move, 3 x n x itemsize (read a and
b, write c), per second. On the CPU, plain ``a + b`` reaches about half the
memory-copy bandwidth: it allocates ``c`` afresh (page faults on first touch)
and a normal store first reads the line it overwrites (write-allocate: 4 x n
bytes of traffic for 3 counted). The numba kernel writes into an output that is
already allocated and touched by the same threads (first touch places the pages
on their NUMA node), splits the range into contiguous chunks handed to the
threads one at a time (8 per thread: a thread slowed by a neighbour takes
fewer), and
uses non-temporal (streaming) stores, which write whole lines without reading
them first; an ``sfence`` ends each chunk, since streaming stores are weakly
ordered.

The numba-cuda kernel lives in gputk.demos.cuda_kernels and CuPy is imported
inside the GPU backend functions, never at module import (gputk.demos.gpucheck
decides first, in a child interpreter, that it is safe).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from gputk.demos.timing import CupyEvent, time_cpu, time_cuda_events, time_host_synced
from gputk.models.demo import BackendRun, Timings

BLOCK = 256  # threads per block of the CUDA kernel


def _store_nt_typing(typingctx: Any, arr: Any, idx: Any, val: Any) -> Any:
    """``arr[idx] = val`` as a store tagged ``!nontemporal`` (x86: movnt*)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        arrty = sig.args[0]
        array = context.make_array(arrty)(context, builder, args[0])
        ptr = builder.gep(array.data, [args[1]], inbounds=True)
        value = context.cast(builder, args[2], sig.args[2], arrty.dtype)
        store = builder.store(value, ptr)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()

    return types.none(arr, idx, val), codegen


_store_nt: Any = intrinsic(_store_nt_typing)


def _sfence_typing(typingctx: Any) -> Any:
    """Order the streaming stores before the chunk is reported done (x86 ``sfence``; no-op elsewhere)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        import platform

        if platform.machine() in ("x86_64", "AMD64", "i686"):
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.sfence"), [])  # type: ignore[no-untyped-call]
        return context.get_dummy_value()

    return types.none(), codegen


_sfence: Any = intrinsic(_sfence_typing)


@njit(cache=True)
def _chunk(k: int, chunks: int, n: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """[lo, hi) of the k-th of ``chunks`` contiguous pieces of range(n)."""
    step = (n + chunks - 1) // chunks
    return min(k * step, n), min(k * step + step, n)


# No cache=True: the fence intrinsic is a dynamic global numba cannot cache.
@njit(parallel=True)
def add_cpu(a: Any, b: Any, c: Any) -> None:  # pragma: no cover - compiled
    """c[:] = a + b in contiguous chunks (8 per thread, handed out one at a time), streaming stores."""
    chunks = numba.get_num_threads() * 8
    for k in prange(chunks):
        lo, hi = _chunk(k, chunks, c.size)
        for i in range(lo, hi):
            _store_nt(c, i, a[i] + b[i])
        _sfence()


@njit(parallel=True, cache=True)
def add_cpu_cached(a: Any, b: Any, c: Any) -> None:  # pragma: no cover - compiled
    """c[:] = a + b with ordinary stores: better while the arrays fit in the caches."""
    for i in prange(c.size):
        c[i] = a[i] + b[i]


# Above this many bytes moved the arrays spill out of the caches and streaming stores win.
STREAMING_BYTES = 32 * 2**20


def add_into(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """The CPU backend: ``c[:] = a + b``, streaming stores for large arrays only."""
    if traffic_bytes(c.size, c.itemsize) >= STREAMING_BYTES:
        # Chunks handed out one at a time: a thread slowed by a busy neighbour takes fewer.
        with numba.parallel_chunksize(1):
            add_cpu(a, b, c)
    else:
        add_cpu_cached(a, b, c)


@njit(parallel=True, cache=True)
def fill_inputs(a: Any, b: Any, c: Any) -> None:  # pragma: no cover - compiled
    """Deterministic inputs whose sums are exact; touched by the threads that will add them."""
    for i in prange(a.size):
        a[i] = (i % 1013) * 0.25
        b[i] = (i % 997) * 0.5
        c[i] = 0.0


@njit(parallel=True)
def copy_cpu(src: Any, dst: Any) -> None:  # pragma: no cover - compiled
    """dst[:] = src with streaming stores, chunked like add_cpu: the parallel memory-copy ceiling."""
    chunks = numba.get_num_threads() * 8
    for k in prange(chunks):
        lo, hi = _chunk(k, chunks, dst.size)
        for i in range(lo, hi):
            _store_nt(dst, i, src[i])
        _sfence()


def copy_into(src: np.ndarray, dst: np.ndarray) -> None:
    """``dst[:] = src`` in parallel with streaming stores (the CPU copy ceiling)."""
    with numba.parallel_chunksize(1):
        copy_cpu(src, dst)


def make_inputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, c = np.empty(n), np.empty(n), np.empty(n)
    fill_inputs(a, b, c)
    return a, b, c


def traffic_bytes(n: int, itemsize: int = 8) -> int:
    """Bytes read and written by one add: a and b read, c written."""
    return 3 * n * itemsize


def _gbps(n: int, ms: float) -> float:
    return traffic_bytes(n) / (ms / 1e3) / 1e9 if ms > 0 else 0.0


def _check(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(got - ref))) if got.size else 0.0


def _quiet(_: str) -> None:
    return None


def run_cpu(n: int, repeats: int, say: Callable[[str], None] = _quiet) -> list[BackendRun]:
    """numba kernel, then NumPy ``a + b`` for comparison; both checked against ``np.add``."""
    say("filling the inputs")
    a, b, c = make_inputs(n)
    ref = np.add(a, b)
    say(f"numba-parallel: warm-up, then {repeats} timed intervals")
    numba_t = time_cpu(lambda: add_into(a, b, c), repeats)
    err = _check(c, ref)
    say(f"numpy a + b: warm-up, then {repeats} timed intervals")
    numpy_t = time_cpu(lambda: a + b, repeats)
    return [
        BackendRun(
            "numba-parallel",
            err == 0.0,
            err,
            0.0,
            numba_t,
            {"bandwidth_GBps": _gbps(n, numba_t.median_ms)},
            failed=None if err == 0.0 else f"max error {err:.3g} against np.add (must be 0)",
        ),
        BackendRun(
            "numpy",
            True,
            0.0,
            0.0,
            numpy_t,
            {"bandwidth_GBps": _gbps(n, numpy_t.median_ms)},
            note="plain a + b: the reference, timed for comparison",
        ),
    ]


def cuda_kernel() -> Any:
    """The numba-cuda kernel (importing it imports numba.cuda)."""
    from gputk.demos.cuda_kernels import add_kernel

    return add_kernel


def blocks_for(n: int) -> int:
    return max(1, (n + BLOCK - 1) // BLOCK)


def run_numba_cuda(n: int, repeats: int, say: Callable[[str], None] = _quiet) -> BackendRun:
    """Kernel alone (batched launches between events) and with transfers from/to pageable host memory.

    Device buffers are allocated once, as for CuPy: a timed call copies and computes, never allocates.
    """
    from numba import cuda

    kernel = cuda_kernel()
    a, b, _ = make_inputs(n)
    ref = a + b
    hc = np.empty_like(a)
    da, db, dc = cuda.to_device(a), cuda.to_device(b), cuda.device_array(n)
    grid = blocks_for(n)
    say(f"numba-cuda kernel: warm-up, then {repeats} timed intervals of batched launches")
    kernel_t = time_cuda_events(
        lambda: kernel[grid, BLOCK](da, db, dc), repeats, cuda.event, cuda.synchronize
    )
    err = _check(dc.copy_to_host(), ref)

    def with_transfers() -> None:
        da.copy_to_device(a)
        db.copy_to_device(b)
        kernel[grid, BLOCK](da, db, dc)
        dc.copy_to_host(hc)

    say(f"numba-cuda with transfers: warm-up, then {repeats} timed intervals")
    full_t = time_host_synced(with_transfers, repeats, cuda.synchronize)
    return _gpu_run("numba-cuda", n, err, kernel_t, full_t)


def _gpu_run(backend: str, n: int, err: float, kernel_t: Timings, full_t: Timings) -> BackendRun:
    """A GPU run: kernel-only bandwidth (events) and bandwidth counting host<->device copies."""
    metrics = {
        "bandwidth_GBps": _gbps(n, kernel_t.median_ms),
        "with_transfers_ms": full_t.median_ms,
        "bandwidth_with_transfers_GBps": _gbps(n, full_t.median_ms),
    }
    if kernel_t.launch_us is not None:
        metrics["launch_overhead_us"] = kernel_t.launch_us
    note = None
    if kernel_t.launch_bound:
        note = (
            f"launch-bound: issuing one launch takes {kernel_t.launch_us:.1f} us, longer than the kernel runs; "
            "the bandwidth is the launch rate - try a larger --size"
        )
    return BackendRun(
        backend,
        err == 0.0,
        err,
        0.0,
        kernel_t,
        metrics,
        note=note,
        failed=None if err == 0.0 else f"max error {err:.3g} against np.add (must be 0)",
    )


def run_cupy(n: int, repeats: int, say: Callable[[str], None] = _quiet) -> BackendRun:
    import cupy as cp

    a, b, _ = make_inputs(n)
    ref = a + b
    hc = np.empty_like(a)
    da, db = cp.asarray(a), cp.asarray(b)
    dc = cp.empty_like(da)
    sync = cp.cuda.Device().synchronize
    say(f"CuPy kernel: warm-up, then {repeats} timed intervals of batched launches")
    kernel_t = time_cuda_events(lambda: cp.add(da, db, out=dc), repeats, lambda: CupyEvent(cp), sync)
    err = _check(cp.asnumpy(dc), ref)

    def with_transfers() -> None:
        da.set(a)
        db.set(b)
        cp.add(da, db, out=dc)
        dc.get(out=hc)

    say(f"CuPy with transfers: warm-up, then {repeats} timed intervals")
    full_t = time_host_synced(with_transfers, repeats, sync)
    return _gpu_run("cupy", n, err, kernel_t, full_t)
