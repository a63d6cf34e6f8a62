"""Matrix product ``C = A @ B``: NumPy (BLAS) on the CPU, CuPy (cuBLAS) on the GPU.

Throughput is 2 n^3 floating-point operations per product. The check computes
a sample of C's entries in float64 from the same (rounded) inputs and reports
the largest error normalised by ``|A[i,:]| |B[:,j]|`` (the scale of the dot
product, so the figure does not depend on n or on the values' size). With
float32 accumulation over k = n terms the normalised error stays below about
``u32 * sqrt(n)`` in practice; the rounding of the inputs or terms (TF32, float16)
and of the output adds a few units of that format's roundoff: the tolerance is
``4 u + 2 sqrt(n) u32`` (see :func:`tolerance`).

NumPy has no half-precision BLAS: on the CPU a float16 product is computed
from the float16 inputs in float32 and rounded back to float16 (and said so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gputk.demos.timing import CupyEvent, time_cpu, time_cuda_events
from gputk.models.demo import BackendRun, Timings

SAMPLE = 256


def make_inputs(n: int, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1.0, 1.0, size=(n, n)).astype(np.float32).astype(dtype)
    b = rng.uniform(-1.0, 1.0, size=(n, n)).astype(np.float32).astype(dtype)
    return a, b


# Unit roundoff of the arithmetic a product's terms pass through: float32 keeps 24 significant bits,
# TF32 (tensor cores fed float32) and float16 11, bfloat16 8.
UNIT_ROUNDOFF = {"float32": 2.0**-24, "tf32": 2.0**-11, "float16": 2.0**-11, "bfloat16": 2.0**-8}
F32_U = 2.0**-24


def tolerance(n: int, mode: str) -> float:
    """A few units of the product's rounding, relative to the float64 reference, plus float32 accumulation.

    The error is normalised by ``|A[i,:]| |B[:,j]|``; by Cauchy-Schwarz the rounding of each input or
    each term (relative ``u``) moves the normalised result by at most about ``2u``, and the output's
    rounding by ``u``: ``4u`` covers both with margin. Accumulating n terms in float32 adds about
    ``sqrt(n) u32`` in practice (``2 sqrt(n) u32`` allowed). ``mode``: float32, tf32, float16, bfloat16.
    """
    return 4.0 * UNIT_ROUNDOFF[mode] + 2.0 * math.sqrt(n) * F32_U


def storage_dtype(mode: str) -> str:
    """tf32 is float32 storage with TF32 products."""
    return "float32" if mode == "tf32" else mode


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


def _run(backend: str, err: float, tol: float, timings: Timings, n: int, note: str | None) -> BackendRun:
    ok = err <= tol
    return BackendRun(
        backend,
        ok,
        err,
        tol,
        timings,
        {"tflops": tflops(n, timings.median_ms)},
        note=note,
        failed=None if ok else f"normalised error {err:.3g} > tolerance {tol:.3g} against float64",
    )


def run_numpy(n: int, mode: str, repeats: int) -> BackendRun:
    dtype = storage_dtype(mode)
    a, b = make_inputs(n, dtype)
    note = None
    if dtype == "float16":
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        note = "NumPy has no float16 BLAS: computed in float32 from float16 inputs, rounded to float16"

        def product() -> np.ndarray:
            return (a32 @ b32).astype(np.float16)
    else:
        if mode == "tf32":
            note = "NumPy has no TF32: computed in float32 (checked against the TF32 tolerance)"

        def product() -> np.ndarray:
            return np.asarray(a @ b)

    timings = time_cpu(product, repeats)
    c = product()
    err = sample_error(a, b, lambda r, k: c[r, k], n)
    return _run("numpy", err, tolerance(n, mode), timings, n, note)


def run_cupy(n: int, mode: str, repeats: int, env: Mapping[str, str] | None = None) -> BackendRun:
    import cupy as cp

    from gputk.demos.bandwidth import cupy_compute_type

    dtype = storage_dtype(mode)
    a, b = make_inputs(n, dtype)
    da, db = cp.asarray(a), cp.asarray(b)
    dc = cp.empty_like(da)
    sync = cp.cuda.Device().synchronize
    # CuPy multiplies float32 on TF32 tensor cores when asked: --dtype tf32, or CUPY_TF32=1 in the environment.
    env_tf32 = mode == "float32" and (env or {}).get("CUPY_TF32", "0") not in ("", "0")
    effective = "tf32" if env_tf32 else mode
    with cupy_compute_type(cp, mode):
        timings = time_cuda_events(lambda: cp.matmul(da, db, out=dc), repeats, lambda: CupyEvent(cp), sync)
    c = cp.asnumpy(dc)
    err = sample_error(a, b, lambda r, k: c[r, k], n)
    note = "CUPY_TF32 is set: float32 products on TF32 tensor cores, TF32 tolerance" if env_tf32 else None
    if mode == "tf32":
        note = "float32 storage, TF32 tensor-core products (CuPy compute type TF32)"
    return _run("cupy", err, tolerance(n, effective), timings, n, note)
