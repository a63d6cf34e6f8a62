"""The numba-cuda kernels of the demos (vector add, Mandelbrot).

Importing this module imports ``numba.cuda``: only the GPU paths import it,
lazily, after gputk.demos.gpucheck has seen a child interpreter use the GPU.
The kernels refer to ``cuda`` as a module global on purpose: the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) swaps the module's globals that are ``numba.cuda``
for its fake module while a kernel runs, which a closure variable would escape.
"""

from __future__ import annotations

from typing import Any

from numba import cuda


@cuda.jit  # type: ignore[untyped-decorator]
def add_kernel(a: Any, b: Any, c: Any) -> None:  # pragma: no cover - runs on the device
    """c[i] = a[i] + b[i], one thread per element; the tail block's extra threads do nothing."""
    i = cuda.grid(1)  # type: ignore[attr-defined]
    if i < c.size:
        c[i] = a[i] + b[i]


@cuda.jit  # type: ignore[untyped-decorator]
def mandel_kernel(
    min_x: float, min_y: float, px: float, py: float, iters: int, out: Any
) -> None:  # pragma: no cover
    """One thread per pixel; the same float64 operations as the plain-Python loop, early return."""
    x, y = cuda.grid(2)  # type: ignore[attr-defined]
    height, width = out.shape
    if x >= width or y >= height:
        return
    cr = min_x + x * px
    ci = min_y + y * py
    zr = 0.0
    zi = 0.0
    count = iters
    for i in range(iters):
        nr = (zr * zr - zi * zi) + cr
        ni = (zr * zi + zi * zr) + ci
        zr = nr
        zi = ni
        if zr * zr + zi * zi >= 4.0:
            count = i
            break
    out[y, x] = count
