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


@njit(parallel=True, cache=True)
def _render_cpu(
    min_x: float, min_y: float, px: float, py: float, iters: int, out: Any
) -> None:  # pragma: no cover - compiled
    height, width = out.shape
    for y in prange(height):
        ci = min_y + y * py
        cr = np.empty(width)
        zr = np.zeros(width)
        zi = np.zeros(width)
        alive = np.ones(width, dtype=np.int32)
        count = np.zeros(width, dtype=np.int32)
        for x in range(width):
            cr[x] = min_x + x * px
        for _ in range(iters):
            still_alive = 0
            for x in range(width):
                a = zr[x]
                b = zi[x]
                nr = (a * a - b * b) + cr[x]
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
    width: int, height: int, iters: int, region: tuple[float, float, float, float] = REGION
) -> np.ndarray:
    """Escape counts with the numba CPU backend (parallel over rows)."""
    out = np.empty((height, width), dtype=np.int32)
    px, py = pixel_coords(width, height, region)
    _render_cpu(region[0], region[2], px, py, iters, out)
    return out


def cuda_kernel() -> Any:
    """The numba-cuda kernel, one thread per pixel (importing it imports numba.cuda)."""
    from gputk.demos.cuda_kernels import mandel_kernel

    return mandel_kernel


def gpu_grid(width: int, height: int) -> tuple[int, int]:
    bx, by = GPU_BLOCK
    return (width + bx - 1) // bx, (height + by - 1) // by


def launch_cuda(
    d_out: Any, width: int, height: int, iters: int, region: tuple[float, float, float, float] = REGION
) -> None:
    """Queue the kernel on ``d_out`` (a device array of shape (height, width)); asynchronous."""
    px, py = pixel_coords(width, height, region)
    cuda_kernel()[gpu_grid(width, height), GPU_BLOCK](region[0], region[2], px, py, iters, d_out)


def render_cuda(
    width: int, height: int, iters: int, region: tuple[float, float, float, float] = REGION
) -> np.ndarray:
    from numba import cuda

    d_out = cuda.device_array((height, width), dtype=np.int32)
    launch_cuda(d_out, width, height, iters, region)
    return np.asarray(d_out.copy_to_host())


def compare_counts(got: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """(fraction of pixels whose counts differ, largest difference)."""
    if got.shape != ref.shape:
        raise ValueError(f"shape {got.shape} != {ref.shape}")
    diff = np.abs(got.astype(np.int64) - ref.astype(np.int64))
    return float(np.count_nonzero(diff)) / max(1, diff.size), int(diff.max(initial=0))
