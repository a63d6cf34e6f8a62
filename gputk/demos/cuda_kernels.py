"""The numba-cuda kernels of the demos (vector add, Mandelbrot).

Importing this module imports ``numba.cuda``: only the GPU paths import it,
lazily, after gputk.demos.gpucheck has seen a child interpreter use the GPU.
The kernels refer to ``cuda`` as a module global on purpose: the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) swaps the module's globals that are ``numba.cuda``
for its fake module while a kernel runs, which a closure variable would escape.
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda


@cuda.jit  # type: ignore[untyped-decorator]
def probe_kernel(inp: Any, out: Any) -> None:  # pragma: no cover - runs on the device
    """One thread: out[0] = sqrt(inp[0]); sqrt comes from libdevice, so NVVM and libdevice are both used."""
    if cuda.grid(1) == 0:  # type: ignore[attr-defined]
        out[0] = math.sqrt(inp[0])


@cuda.jit  # type: ignore[untyped-decorator]
def count_kernel(counter: Any) -> None:  # pragma: no cover - runs on the device
    """One thread adds 1: launches are counted on the device (the timing tests use it)."""
    if cuda.grid(1) == 0:  # type: ignore[attr-defined]
        counter[0] += 1


@cuda.jit  # type: ignore[untyped-decorator]
def add_kernel(a: Any, b: Any, c: Any) -> None:  # pragma: no cover - runs on the device
    """c[i] = a[i] + b[i], one thread per element; the tail block's extra threads do nothing."""
    i = cuda.grid(1)  # type: ignore[attr-defined]
    if i < c.size:
        c[i] = a[i] + b[i]


@cuda.jit  # type: ignore[untyped-decorator]
def mandel_kernel(xs: Any, ys: Any, iters: int, out: Any) -> None:  # pragma: no cover
    """One thread per pixel, early return; arithmetic in the dtype of ``xs``/``ys`` (float64 or float32)."""
    x, y = cuda.grid(2)  # type: ignore[attr-defined]
    height, width = out.shape
    if x >= width or y >= height:
        return
    cr = xs[x]
    ci = ys[y]
    zr = cr - cr  # zero, in the coordinates' type
    zi = zr
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
