"""Mandelbrot, the seeds' case (1536 x 1024, 20 iterations): numba CPU backend vs the plain-Python loop.

The two are timed in interleaved rounds (so a busy neighbour slows both alike):
each round renders the full image with the CPU backend and a reduced image of
the same region with the plain-Python loop, whose time is scaled per pixel.
The ratio uses the best round of each; the median ratio is shown too.
"""

from __future__ import annotations

import statistics
import time

NAME = "mandelbrot"
DESCRIPTION = (
    "gputk demo mandelbrot CPU backend vs the seeds' plain-Python loop, same run (goal >= 150x, stretch 250x)"
)
GOAL, STRETCH = 150.0, 250.0
W, H, ITERS = 1536, 1024, 20


def run(quick: bool) -> dict[str, object]:
    import numba

    from gputk.demos import mandelbrot as mb

    pw, ph = (W // 8, H // 8) if quick else (W // 4, H // 4)
    scale = (W * H) / (pw * ph)
    mb.render_cpu(W, H, ITERS)  # compile (or load the cache) and touch memory
    cpu, python = [], []
    for _ in range(5 if quick else 12):
        t0 = time.perf_counter()
        mb.render_cpu(W, H, ITERS)
        cpu.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        mb.render_python(pw, ph, ITERS)
        python.append((time.perf_counter() - t0) * scale)
    best = min(python) / min(cpu)
    median = statistics.median(python) / statistics.median(cpu)
    verdict = "meets" if best >= GOAL else "MISSES"
    stretch = " and the stretch goal" if best >= STRETCH else ""
    rows = [
        {"metric": "numba CPU backend, best round", "value": min(cpu) * 1e3, "unit": "ms"},
        {"metric": "numba CPU backend, median", "value": statistics.median(cpu) * 1e3, "unit": "ms"},
        {
            "metric": f"plain-Python loop, best ({pw}x{ph} scaled to {W}x{H})",
            "value": min(python) * 1e3,
            "unit": "ms",
        },
        {"metric": "speed-up, best vs best", "value": best, "unit": "x"},
        {"metric": "speed-up, median vs median", "value": median, "unit": "x"},
        {"metric": "threads", "value": float(numba.get_num_threads()), "unit": ""},
    ]
    summary = f"{best:.0f}x over the plain-Python loop (median {median:.0f}x), {verdict} the goal of >= {GOAL:.0f}x{stretch}"
    return {"rows": rows, "summary": summary}
