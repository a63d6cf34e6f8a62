"""Matrix product ``C = A @ B``: NumPy (BLAS) on the CPU, CuPy (cuBLAS) on the GPU.

Throughput is 2 n^3 floating-point operations per product. The check computes
a sample of C's entries in float64 from the same (rounded) inputs and reports
the largest error normalised by ``|A[i,:]| |B[:,j]|`` (the scale of the dot
product, so the figure does not depend on n or on the values' size). With
float32 accumulation over k = n terms the normalised error stays below about
``eps32 * sqrt(n)`` in practice, plus the output rounding ``eps(dtype)``:
the tolerance is ``2 * eps(dtype) + 2 * sqrt(n) * eps32``.

NumPy has no half-precision BLAS: on the CPU a float16 product is computed
from the float16 inputs in float32 and rounded back to float16 (and said so).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from gputk.demos.timing import CupyEvent, time_cpu, time_cuda_events
from gputk.models.demo import BackendRun

SAMPLE = 256


def make_inputs(n: int, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1.0, 1.0, size=(n, n)).astype(np.float32).astype(dtype)
    b = rng.uniform(-1.0, 1.0, size=(n, n)).astype(np.float32).astype(dtype)
    return a, b


TF32_EPS = 2.0**-10  # TF32 keeps 10 explicit mantissa bits


def tolerance(n: int, dtype: str, product_eps: float = float(np.finfo(np.float32).eps)) -> float:
    """2 eps(dtype) for the output rounding + 2 sqrt(n) eps of the arithmetic the product used."""
    return 2.0 * float(np.finfo(dtype).eps) + 2.0 * math.sqrt(n) * product_eps


def sample_error(a: np.ndarray, b: np.ndarray, c_at: Any, n: int, count: int = SAMPLE) -> float:
    """Largest normalised error of ``c_at(rows, cols)`` against float64 dot products."""
    rng = np.random.default_rng(1)
    rows = rng.integers(0, n, size=min(count, n * n))
    cols = rng.integers(0, n, size=rows.size)
    a64 = a[rows, :].astype(np.float64)
    b64 = b[:, cols].astype(np.float64).T
    ref = np.einsum("ij,ij->i", a64, b64)
    scale = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    got = np.asarray(c_at(rows, cols), dtype=np.float64)
    return float(np.max(np.abs(got - ref) / np.maximum(scale, 1e-30)))


def tflops(n: int, ms: float) -> float:
    return 2.0 * n**3 / (ms / 1e3) / 1e12 if ms > 0 else 0.0


def run_numpy(n: int, dtype: str, repeats: int) -> BackendRun:
    a, b = make_inputs(n, dtype)
    note = None
    if dtype == "float16":
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        note = "NumPy has no float16 BLAS: computed in float32 from float16 inputs, rounded to float16"

        def product() -> np.ndarray:
            return (a32 @ b32).astype(np.float16)
    else:

        def product() -> np.ndarray:
            return np.asarray(a @ b)

    timings = time_cpu(product, repeats)
    c = product()
    err = sample_error(a, b, lambda r, k: c[r, k], n)
    tol = tolerance(n, dtype)
    return BackendRun(
        "numpy", err <= tol, err, tol, timings, {"tflops": tflops(n, timings.median_ms)}, note=note
    )


def run_cupy(n: int, dtype: str, repeats: int) -> BackendRun:
    import cupy as cp

    a, b = make_inputs(n, dtype)
    da, db = cp.asarray(a), cp.asarray(b)
    dc = cp.empty_like(da)
    sync = cp.cuda.Device().synchronize
    timings = time_cuda_events(lambda: cp.matmul(da, db, out=dc), repeats, lambda: CupyEvent(cp), sync)
    c = cp.asnumpy(dc)
    err = sample_error(a, b, lambda r, k: c[r, k], n)
    # CuPy multiplies float32 on TF32 tensor cores only when asked (CUPY_TF32=1): less precise, by design.
    tf32 = dtype == "float32" and os.environ.get("CUPY_TF32", "0") not in ("", "0")
    tol = tolerance(n, dtype, TF32_EPS) if tf32 else tolerance(n, dtype)
    note = "CUPY_TF32 is set: float32 products on TF32 tensor cores, tolerance widened" if tf32 else None
    return BackendRun(
        "cupy", err <= tol, err, tol, timings, {"tflops": tflops(n, timings.median_ms)}, note=note
    )
