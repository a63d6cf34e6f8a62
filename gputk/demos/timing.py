"""Timing: first call apart, warm-up until clocks ramp, batches of calls per timed interval, medians.

One method for every backend (:func:`measure`), with a clock that says how an
interval of ``k`` calls is timed:

- :class:`HostClock`: ``time.perf_counter`` around ``k`` synchronous calls (CPU work);
- :class:`SyncedHostClock`: the host clock between two device synchronisations,
  for work that includes host<->device copies;
- :class:`EventClock`: CUDA events recorded on the stream before the first and
  after the last of ``k`` launches (``event.elapsed_time``), then a wait on the
  end event. The host time spent *enqueueing* the ``k`` launches is kept apart:
  it is the launch overhead (numba ~10-30 us, CuPy ~5-10 us per launch), and when
  it exceeds the device time per launch the figure is the launch rate, not the
  kernel's (:attr:`Timings.launch_bound`).

One kernel launch between a pair of events measures mostly launch overhead
below a few million elements, so :func:`measure` first warms up (at least
:data:`WARMUP_S` of work, so GPU and CPU clocks leave their idle states), then
picks a batch ``k`` so one interval lasts at least :data:`BATCH_TARGET_S`, and
reports the median (and min) over ``repeats`` intervals, each divided by ``k``.
The relative spread of the intervals (interquartile range / median) is kept so
a noisy figure can be flagged (:data:`NOISY_SPREAD`).

Under the numba CUDA simulator events answer -1 (the "device" is the host and
runs synchronously), so the host clock stands in.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any, Protocol

from gputk.models.demo import Timings

WARMUP_S = 0.1  # at least this much work before timing: clocks ramp up from idle
BATCH_TARGET_S = 0.02  # one timed interval lasts at least this long
MAX_BATCH = 10_000
NOISY_SPREAD = 0.10  # interquartile range above 10% of the median: the figure is flagged as noisy


class Clock(Protocol):
    def interval(self, fn: Callable[[], Any], k: int) -> tuple[float, float]:
        """(seconds the ``k`` calls took, host seconds spent issuing them; -1 when calls are synchronous)."""
        ...

    def settle(self) -> None:
        """Wait until the work issued so far has finished."""
        ...


class HostClock:
    """perf_counter around synchronous calls: the issue time is the time."""

    def interval(self, fn: Callable[[], Any], k: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        return time.perf_counter() - t0, -1.0

    def settle(self) -> None:
        return None


class SyncedHostClock:
    """The host clock from one device synchronisation to the next, around ``k`` calls."""

    def __init__(self, synchronize: Callable[[], Any]) -> None:
        self._sync = synchronize

    def interval(self, fn: Callable[[], Any], k: int) -> tuple[float, float]:
        self._sync()
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        issued = time.perf_counter() - t0
        self._sync()
        return time.perf_counter() - t0, issued

    def settle(self) -> None:
        self._sync()


class EventClock:
    """CUDA events around ``k`` launches on the stream; ``make_event()`` has record/synchronize/elapsed_time.

    numba-cuda: ``EventClock(cuda.event, cuda.synchronize)``; CuPy: ``EventClock(lambda: CupyEvent(cp), sync)``.
    """

    def __init__(self, make_event: Callable[[], Any], synchronize: Callable[[], Any]) -> None:
        self._make = make_event
        self._sync = synchronize

    def interval(self, fn: Callable[[], Any], k: int) -> tuple[float, float]:
        start, end = self._make(), self._make()
        t0 = time.perf_counter()
        start.record()
        for _ in range(k):
            fn()
        issued = time.perf_counter() - t0
        end.record()
        end.synchronize()
        host_s = time.perf_counter() - t0
        dev_ms = float(start.elapsed_time(end))
        # The CUDA simulator's events answer -1: it runs on the host, synchronously.
        return (dev_ms / 1e3 if dev_ms >= 0 else host_s), issued

    def settle(self) -> None:
        self._sync()


def spread(samples: list[float]) -> float:
    """Interquartile range / median (max - min / median below four samples); 0 for one sample."""
    if len(samples) < 2:
        return 0.0
    med = statistics.median(samples)
    if med <= 0:
        return 0.0
    if len(samples) < 4:
        return (max(samples) - min(samples)) / med
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / med


def batch_size(per_call_s: float, target_s: float = BATCH_TARGET_S, max_batch: int = MAX_BATCH) -> int:
    """Calls per timed interval so the interval lasts at least ``target_s``."""
    if per_call_s <= 0:
        return max_batch
    return max(1, min(max_batch, math.ceil(target_s / per_call_s)))


def warm_up(fn: Callable[[], Any], clock: Clock, warmup_s: float = WARMUP_S) -> tuple[int, float]:
    """Call ``fn`` in growing rounds until ``warmup_s`` of work is done: (calls, seconds per call)."""
    calls, elapsed, k = 0, 0.0, 1
    while elapsed < warmup_s:
        dt, _ = clock.interval(fn, k)
        clock.settle()
        calls += k
        elapsed += dt
        k = min(k * 2, MAX_BATCH)
    return calls, elapsed / max(calls, 1)


def measure(
    fn: Callable[[], Any],
    repeats: int,
    clock: Clock,
    *,
    warmup_s: float = WARMUP_S,
    target_s: float = BATCH_TARGET_S,
    max_batch: int = MAX_BATCH,
) -> Timings:
    """First call, warm-up, then ``repeats`` intervals of ``k`` calls each: per-call median and min."""
    clock.settle()
    first_s, _ = clock.interval(fn, 1)
    clock.settle()
    warm_calls, per_call = warm_up(fn, clock, warmup_s) if warmup_s > 0 else (0, first_s)
    k = batch_size(per_call, target_s, max_batch)
    per, issue = [], []
    for _ in range(max(1, repeats)):
        dt, issued = clock.interval(fn, k)
        per.append(dt / k)
        issue.append(issued / k)
    ms = [t * 1e3 for t in per]
    return Timings(
        first_ms=first_s * 1e3,
        median_ms=statistics.median(ms),
        min_ms=min(ms),
        repeats=len(ms),
        batch=k,
        launch_us=statistics.median(issue) * 1e6 if min(issue) >= 0 else None,
        spread=spread(ms),
        calls=1 + warm_calls + k * len(ms),
    )


def time_cpu(fn: Callable[[], Any], repeats: int, **kw: Any) -> Timings:
    """CPU work: the host clock around synchronous calls."""
    return measure(fn, repeats, HostClock(), **kw)


def time_cuda_events(
    fn: Callable[[], Any],
    repeats: int,
    make_event: Callable[[], Any],
    synchronize: Callable[[], Any],
    **kw: Any,
) -> Timings:
    """GPU work: batches of launches between CUDA events (see :class:`EventClock`)."""
    return measure(fn, repeats, EventClock(make_event, synchronize), **kw)


def time_host_synced(
    fn: Callable[[], Any], repeats: int, synchronize: Callable[[], Any], **kw: Any
) -> Timings:
    """Host clock between synchronisations: for work that includes host<->device copies."""
    return measure(fn, repeats, SyncedHostClock(synchronize), **kw)


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
