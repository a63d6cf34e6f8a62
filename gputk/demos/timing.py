"""Timing helpers: first call (with JIT compilation) apart from the steady state.

CPU work is timed with ``time.perf_counter`` around a synchronous call. GPU work
is asynchronous, so a host clock around a launch measures only the launch:
GPU timings here use CUDA events recorded on the stream before and after the
work (``event.elapsed_time``), after a warm-up run, and synchronise on the end
event before reading it. Under the numba CUDA simulator events return -1 (the
"device" is the host, and runs synchronously), so the host clock is used there.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from gputk.models.demo import Timings


def _summarise(first_s: float, steady_s: list[float]) -> Timings:
    ms = [t * 1e3 for t in steady_s] or [first_s * 1e3]
    return Timings(
        first_ms=first_s * 1e3, median_ms=statistics.median(ms), min_ms=min(ms), repeats=len(steady_s)
    )


def time_cpu(fn: Callable[[], Any], repeats: int) -> Timings:
    """Call ``fn`` once (compiling it, touching memory), then ``repeats`` more times."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    steady = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        steady.append(time.perf_counter() - t0)
    return _summarise(first, steady)


def time_cuda_events(
    fn: Callable[[], Any], repeats: int, make_event: Callable[[], Any], synchronize: Callable[[], Any]
) -> Timings:
    """Time GPU work with events: ``make_event()`` gives an object with record/synchronize/elapsed_time.

    numba-cuda: ``make_event=cuda.event`` (``Event.elapsed_time(end)`` in ms);
    CuPy: see ``cupy_events``. The device is synchronised before the first call,
    so ``first`` (JIT + module load + launch) starts from an idle device.
    """
    synchronize()

    def one() -> float:
        start, end = make_event(), make_event()
        t0 = time.perf_counter()
        start.record()
        fn()
        end.record()
        end.synchronize()
        host_s = time.perf_counter() - t0
        dev_ms = float(start.elapsed_time(end))
        # The CUDA simulator's events answer -1: it runs on the host, synchronously.
        return dev_ms / 1e3 if dev_ms >= 0 else host_s

    first = one()
    steady = [one() for _ in range(repeats)]
    return _summarise(first, steady)


def time_host_synced(fn: Callable[[], Any], repeats: int, synchronize: Callable[[], Any]) -> Timings:
    """Host clock around ``fn(); synchronize()``: for work that includes host<->device copies."""

    def one() -> float:
        synchronize()
        t0 = time.perf_counter()
        fn()
        synchronize()
        return time.perf_counter() - t0

    first = one()
    steady = [one() for _ in range(repeats)]
    return _summarise(first, steady)


class CupyEvent:
    """A CuPy event with numba's spelling (record / synchronize / elapsed_time(end) in ms)."""

    def __init__(self, cp: Any) -> None:
        self._cp = cp
        self.ev = cp.cuda.Event()

    def record(self) -> None:
        self.ev.record()

    def synchronize(self) -> None:
        self.ev.synchronize()

    def elapsed_time(self, end: CupyEvent) -> float:
        return float(self._cp.cuda.get_elapsed_time(self.ev, end.ev))
