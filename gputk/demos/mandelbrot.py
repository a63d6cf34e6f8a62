"""Mandelbrot escape counts: plain Python (the seeds' loop), numba CPU and numba-cuda side by side.

The seeds' case: 1536 x 1024 pixels over x in [-2, 1], y in [-1, 1], 20
iterations. A pixel's count is the first iteration ``i`` at which
``|z|^2 >= 4`` after ``z = z*z + c``, or ``iters`` when it never escapes.

Every backend does the same float64 operations in the same order as CPython's
complex product (``re = a*a - b*b``, ``im = a*b + b*a``), so the CPU backend's
counts equal the plain-Python loop's exactly. The CPU backend is SIMD-friendly:
each task owns one row and runs the iterations outside the loop over pixels,
with escaped pixels frozen by selects instead of an early ``return``, so the
inner loop has no branch and LLVM vectorises it; a row stops once every pixel
has escaped. The GPU kernel gives each thread one pixel and returns early, the
natural shape for a GPU; the CUDA compiler may fuse multiply-adds, so a few
boundary pixels may differ by one count (the check tolerates a tiny fraction).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

REGION = (-2.0, 1.0, -1.0, 1.0)  # min_x, max_x, min_y, max_y
GPU_BLOCK = (32, 8)


def mandel_python(real: float, imag: float, iters: int) -> int:
    """The seeds' per-pixel loop, in plain Python."""
    c = complex(real, imag)
    z = 0.0j
    for i in range(iters):
        z = z * z + c
        if z.real * z.real + z.imag * z.imag >= 4.0:
            return i
    return iters


def pixel_coords(
    width: int, height: int, region: tuple[float, float, float, float] = REGION
) -> tuple[float, float]:
    """(pixel size x, pixel size y): pixel (x, y) is at (min_x + x*px, min_y + y*py)."""
    min_x, max_x, min_y, max_y = region
    return (max_x - min_x) / width, (max_y - min_y) / height


def render_python(
    width: int, height: int, iters: int, region: tuple[float, float, float, float] = REGION
) -> np.ndarray:
    """The whole image with the plain-Python loop (slow: for --compare and the reference)."""
    px, py = pixel_coords(width, height, region)
    out = np.zeros((height, width), dtype=np.int32)
    for x in range(width):
        real = region[0] + x * px
        for y in range(height):
            out[y, x] = mandel_python(real, region[2] + y * py, iters)
    return out


def python_sample(
    width: int, height: int, iters: int, count: int, region: tuple[float, float, float, float] = REGION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference counts at ``count`` pixels picked with a fixed seed: (ys, xs, counts)."""
    rng = np.random.default_rng(0)
    ys = rng.integers(0, height, size=count)
    xs = rng.integers(0, width, size=count)
    px, py = pixel_coords(width, height, region)
    ref = np.array(
        [
            mandel_python(region[0] + int(x) * px, region[2] + int(y) * py, iters)
            for y, x in zip(ys, xs, strict=True)
        ],
        dtype=np.int32,
    )
    return ys, xs, ref


def axes(
    width: int, height: int, dtype: str = "float64", region: tuple[float, float, float, float] = REGION
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres' real parts (width) and imaginary parts (height), computed in float64 like the
    plain-Python loop (``min + i * step``), then rounded to ``dtype``."""
    px, py = pixel_coords(width, height, region)
    xs = region[0] + np.arange(width, dtype=np.float64) * px
    ys = region[2] + np.arange(height, dtype=np.float64) * py
    return xs.astype(dtype), ys.astype(dtype)


@njit(parallel=True, cache=True)
def _render_cpu(xs: Any, ys: Any, iters: int, out: Any) -> None:  # pragma: no cover - compiled
    """Arithmetic in the dtype of ``xs``/``ys`` (float64 or float32)."""
    height, width = out.shape
    for y in prange(height):
        ci = ys[y]
        zr = np.zeros_like(xs)
        zi = np.zeros_like(xs)
        alive = np.ones(width, dtype=np.int32)
        count = np.zeros(width, dtype=np.int32)
        for _ in range(iters):
            still_alive = 0
            for x in range(width):
                a = zr[x]
                b = zi[x]
                nr = (a * a - b * b) + xs[x]
                ni = (a * b + b * a) + ci
                keep = alive[x] & np.int32(nr * nr + ni * ni < 4.0)
                count[x] += keep
                zr[x] = nr if keep else a
                zi[x] = ni if keep else b
                alive[x] = keep
                still_alive += keep
            if still_alive == 0:
                break
        out[y, :] = count


def render_cpu(
    width: int,
    height: int,
    iters: int,
    region: tuple[float, float, float, float] = REGION,
    dtype: str = "float64",
) -> np.ndarray:
    """Escape counts with the numba CPU backend (parallel over rows)."""
    out = np.empty((height, width), dtype=np.int32)
    xs, ys = axes(width, height, dtype, region)
    _render_cpu(xs, ys, iters, out)
    return out


def cuda_kernel() -> Any:
    """The numba-cuda kernel, one thread per pixel (importing it imports numba.cuda)."""
    from gputk.demos.cuda_kernels import mandel_kernel

    return mandel_kernel


def gpu_grid(width: int, height: int) -> tuple[int, int]:
    bx, by = GPU_BLOCK
    return (width + bx - 1) // bx, (height + by - 1) // by


def device_axes(width: int, height: int, dtype: str = "float64") -> tuple[Any, Any]:
    from numba import cuda

    xs, ys = axes(width, height, dtype)
    return cuda.to_device(xs), cuda.to_device(ys)


def launch_cuda(d_xs: Any, d_ys: Any, iters: int, d_out: Any) -> None:
    """Queue the kernel on ``d_out`` (a device array of shape (height, width)); asynchronous."""
    height, width = d_out.shape
    cuda_kernel()[gpu_grid(width, height), GPU_BLOCK](d_xs, d_ys, iters, d_out)


def render_cuda(width: int, height: int, iters: int, dtype: str = "float64") -> np.ndarray:
    from numba import cuda

    d_out = cuda.device_array((height, width), dtype=np.int32)
    d_xs, d_ys = device_axes(width, height, dtype)
    launch_cuda(d_xs, d_ys, iters, d_out)
    return np.asarray(d_out.copy_to_host())


# Arithmetic operations of one iteration as written: zr*zr, zi*zi, -, +cr, zr*zi, zi*zr, +, +ci, and the
# escape test's two products and sum. Compilers fuse some into FMAs (one instruction, two FLOPs in a
# peak figure), so a fraction of peak computed with this count stays below 100%.
FLOPS_PER_ITER = 11
LAUNCH_BOUND_ITERATIONS = 1e9  # below this much work a data-center GPU mostly waits on launches


def iterations_done(counts: np.ndarray, iters: int) -> int:
    """Iterations actually computed: count + 1 for a pixel that escaped, ``iters`` for one that did not."""
    c = counts.astype(np.int64)
    return int(np.where(c < iters, c + 1, iters).sum())


def case_label(width: int, height: int, iters: int) -> str:
    if width * height * iters < LAUNCH_BOUND_ITERATIONS:
        return (
            "small case: on a data-center GPU launch and synchronisation dominate; "
            "--size 4k --iters 1000 measures the GPU"
        )
    return "large case: measures the GPU's arithmetic"


# Fraction of pixels whose counts may differ from the reference: FMA contraction on the GPU changes the
# last bit of an orbit, which flips boundary pixels; float32 orbits diverge sooner than float64 ones.
TOLERANCE = {"float64": 1e-3, "float32": 2e-2}


def run_cpu(
    width: int, height: int, iters: int, dtype: str, repeats: int, warm: bool = True
) -> tuple[Any, np.ndarray]:
    """(BackendRun of the numba CPU backend checked against the plain-Python loop, its counts)."""
    from gputk.demos.timing import time_cpu
    from gputk.models.demo import BackendRun

    holder: dict[str, np.ndarray] = {}
    t = time_cpu(
        lambda: holder.update(img=render_cpu(width, height, iters, dtype=dtype)),
        repeats,
        **({} if warm else {"warmup_s": 0.0}),
    )
    counts = holder["img"]
    ys, xs, ref = python_sample(width, height, iters, count=min(2000, width * height))
    frac, diff = compare_counts(counts[ys, xs], ref)
    tol = 0.0 if dtype == "float64" else TOLERANCE["float32"]
    note = "checked against the plain-Python loop (float64) on 2000 sampled pixels"
    run = BackendRun(
        "numba-parallel",
        frac <= tol,
        frac,
        tol,
        t,
        {"max_count_difference": diff},
        note=note,
        failed=None if frac <= tol else f"{frac:.2%} of sampled pixels differ from the plain-Python loop",
    )
    return run, counts


def run_cuda(width: int, height: int, iters: int, dtype: str, repeats: int, cpu_counts: np.ndarray) -> Any:
    """The numba-cuda backend timed by batched launches between events, checked against the CPU's counts."""
    from numba import cuda

    from gputk.demos.timing import time_cuda_events
    from gputk.models.demo import BackendRun

    d_out = cuda.device_array((height, width), dtype=np.int32)
    d_xs, d_ys = device_axes(width, height, dtype)
    timings = time_cuda_events(
        lambda: launch_cuda(d_xs, d_ys, iters, d_out), repeats, cuda.event, cuda.synchronize
    )
    frac, diff = compare_counts(np.asarray(d_out.copy_to_host()), cpu_counts)
    tol = TOLERANCE[dtype]
    return BackendRun(
        "numba-cuda",
        frac <= tol,
        frac,
        tol,
        timings,
        {"max_count_difference": diff},
        note="max_error: fraction of pixels whose count differs from the CPU's",
        failed=None
        if frac <= tol
        else f"{frac:.2%} of pixels differ from the CPU's counts (tolerance {tol:.1%})",
    )


def compare_counts(got: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """(fraction of pixels whose counts differ, largest difference)."""
    if got.shape != ref.shape:
        raise ValueError(f"shape {got.shape} != {ref.shape}")
    diff = np.abs(got.astype(np.int64) - ref.astype(np.int64))
    return float(np.count_nonzero(diff)) / max(1, diff.size), int(diff.max(initial=0))
