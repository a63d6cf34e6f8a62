"""Helpers shared by the benchmark cases: timing of whole commands in fresh processes."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

PY = sys.executable


def time_command(argv: Sequence[str], repeats: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall seconds of ``argv`` run ``repeats`` times (after one untimed warm-up for the page cache)."""
    full_env = {**os.environ, **(env or {})}
    subprocess.run(argv, capture_output=True, env=full_env, timeout=600, check=False)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=full_env, timeout=600, check=False)
        times.append(time.perf_counter() - t0)
    return times


def interleaved(commands: dict[str, Sequence[str]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each command, runs interleaved so drift hits them all alike."""
    for argv in commands.values():
        subprocess.run(argv, capture_output=True, timeout=600, check=False)
    samples: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(repeats):
        for key, argv in commands.items():
            t0 = time.perf_counter()
            subprocess.run(argv, capture_output=True, timeout=600, check=False)
            samples[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def peak_rss_mb(argv: Sequence[str]) -> float:
    """Peak resident memory of a child (ru_maxrss of the waited child), in MB."""
    import resource

    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], capture_output=True, check=False)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([PY, "-c", code, *argv], capture_output=True, text=True, timeout=600, check=True)
    del resource
    return int(out.stdout.strip()) / 1024.0
