"""The timing method: warm-up until enough work is done, batches sized to the call, medians, spread.

A fake clock stands in for the device (each call "takes" a fixed time and issuing it another), so the
arithmetic of the method is checked exactly; the simulator test then runs the same method on a real
numba-cuda kernel that counts its own launches on the device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from gputk.demos import timing


class FakeDeviceClock:
    """Each call costs ``run_s`` of device time and ``issue_s`` of host time to issue."""

    def __init__(self, run_s: float, issue_s: float, jitter: list[float] | None = None) -> None:
        self.run_s, self.issue_s = run_s, issue_s
        self.jitter = list(jitter or [])
        self.calls = 0
        self.settles = 0

    def interval(self, fn: Callable[[], Any], k: int) -> tuple[float, float]:
        for _ in range(k):
            fn()
        self.calls += k
        extra = self.jitter.pop(0) if self.jitter else 0.0
        return k * self.run_s + extra, k * self.issue_s

    def settle(self) -> None:
        self.settles += 1


def test_small_kernels_are_timed_in_batches_and_divided() -> None:
    clock = FakeDeviceClock(run_s=5e-6, issue_s=2e-6)
    launches = []
    t = timing.measure(lambda: launches.append(1), 7, clock)
    # 20 ms per interval at 5 us per call: 4000 calls per interval
    assert t.batch == 4000
    assert t.repeats == 7
    assert t.median_ms == pytest.approx(5e-3) and t.min_ms == pytest.approx(5e-3)
    assert t.launch_us == pytest.approx(2.0)
    assert not t.launch_bound
    assert t.calls == len(launches) == clock.calls


def test_warm_up_does_at_least_the_warm_up_work() -> None:
    clock = FakeDeviceClock(run_s=1e-3, issue_s=1e-6)
    t = timing.measure(lambda: None, 3, clock)
    warm_calls = t.calls - 1 - t.batch * t.repeats
    assert warm_calls * 1e-3 >= timing.WARMUP_S
    assert warm_calls * 1e-3 < 2 * timing.WARMUP_S + 0.01  # doubling rounds overshoot by < 2x


def test_launch_bound_when_issuing_takes_longer_than_running() -> None:
    t = timing.measure(lambda: None, 3, FakeDeviceClock(run_s=2e-6, issue_s=20e-6))
    assert t.launch_bound and t.launch_us == pytest.approx(20.0)


def test_large_work_is_one_call_per_interval() -> None:
    t = timing.measure(lambda: None, 3, FakeDeviceClock(run_s=0.5, issue_s=1e-5))
    assert t.batch == 1 and t.median_ms == pytest.approx(500.0)


def test_spread_flags_repeats_that_disagree() -> None:
    steady = timing.measure(lambda: None, 8, FakeDeviceClock(run_s=0.5, issue_s=1e-5))
    assert steady.spread == 0.0
    # after the first call and the warm-up intervals, repeats get +0, +0.3 s, ...
    noisy_clock = FakeDeviceClock(
        run_s=0.5, issue_s=1e-5, jitter=[0.0] * 2 + [0.0, 0.3, 0.0, 0.3, 0.0, 0.3, 0.0, 0.3]
    )
    noisy = timing.measure(lambda: None, 8, noisy_clock)
    assert noisy.spread > timing.NOISY_SPREAD


def test_spread_definition() -> None:
    assert timing.spread([1.0]) == 0.0
    assert timing.spread([1.0, 1.2]) == pytest.approx(0.2 / 1.1)
    assert timing.spread([1.0, 1.0, 1.0, 1.0, 2.0]) == pytest.approx((1.5 - 1.0) / 1.0)


def test_cpu_clock_reports_no_launch_overhead() -> None:
    t = timing.time_cpu(lambda: sum(range(100)), 3, warmup_s=0.01, target_s=0.001)
    assert t.launch_us is None and not t.launch_bound
    assert 0 < t.min_ms <= t.median_ms and t.batch >= 1


SIM_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    from numba import cuda
    from gputk.demos.cuda_kernels import count_kernel
    from gputk.demos.timing import time_cuda_events
    counter = cuda.to_device(np.zeros(1, dtype=np.int64))
    t = time_cuda_events(lambda: count_kernel[1, 1](counter), 3, cuda.event, cuda.synchronize,
                         warmup_s=0.05, target_s=0.05)
    print(json.dumps({"launched": int(counter.copy_to_host()[0]), "calls": t.calls, "batch": t.batch,
                      "repeats": t.repeats, "launch_us": t.launch_us, "median_ms": t.median_ms}))
    """
)


def test_batched_event_timing_of_a_numba_cuda_kernel_in_the_simulator() -> None:
    pytest.importorskip("numba_cuda")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    res = subprocess.run(
        [sys.executable, "-c", SIM_SCRIPT], capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["launched"] == data["calls"]  # every launch the method made ran on the "device" exactly once
    assert data["batch"] > 1  # a one-thread kernel is timed many launches per interval
    assert data["calls"] >= 1 + data["batch"] * data["repeats"]
    assert data["launch_us"] is not None and data["median_ms"] > 0
