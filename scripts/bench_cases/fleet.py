"""`gputk fleet` over 1,000 snapshots of 8-GPU machines: wall time and peak memory of the process tree.

The snapshots are generated (tests/fleet/machines.py: the doctor's scenario machine with eight
real recorded A100 `nvidia-smi -q -x` blocks): a few distinct machines (healthy, another driver,
a narrow PCIe link, driver not loaded, a damaged tarball) copied to 1,000 names, so every
snapshot is fully read and diagnosed. Peak memory is the largest sum of the resident sets of
`gputk fleet` and its worker processes, sampled every 20 ms (shared pages counted in every
process, so it over-states).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import PY

NAME = "fleet"
DESCRIPTION = "gputk fleet on 1,000 snapshots of 8-GPU machines (goal: < 60 s, peak memory < 500 MB)"
GOAL_S = 60.0
GOAL_MB = 500.0
REPO = Path(__file__).resolve().parents[2]


def make_snapshots(dest: Path, count: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.fleet.machines import eight_gpu_machine, write_machine

    templates = dest / ".templates"
    templates.mkdir(parents=True)
    kinds = [
        write_machine(templates / "healthy.tar.gz", eight_gpu_machine()),
        write_machine(templates / "newer-driver.tar.gz", eight_gpu_machine(driver="550.54.15", cuda="12.4")),
        write_machine(templates / "narrow-link.tar.gz", eight_gpu_machine(), widths=(16, 16, 8, 16, 16, 16, 16, 16)),
        write_machine(
            templates / "no-driver.tar.gz",
            eight_gpu_machine(nvml="driver-not-loaded", smi="no-driver", module_loaded=None),
        ),
    ]
    damaged = templates / "damaged.tar.gz"
    damaged.write_bytes(kinds[0].read_bytes()[:3000])
    for i in range(count):
        # mostly healthy, as fleets are: 1 in 50 newer driver, 1 in 100 narrow link / no driver / damaged
        src = kinds[0]
        if i % 50 == 7:
            src = kinds[1]
        elif i % 100 == 13:
            src = kinds[2]
        elif i % 100 == 29:
            src = kinds[3]
        elif i % 100 == 61:
            src = damaged
        shutil.copyfile(src, dest / f"node{i:04d}.tar.gz")


def run_measured(argv: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds of the whole tree, peak MB of the tree (sum of RSS), exit code."""
    import resource

    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers are reaped by gputk, gputk by us
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak / 1e6, proc.returncode


def run(quick: bool) -> dict[str, object]:
    count = 200 if quick else 1000
    tmp = Path(tempfile.mkdtemp(prefix="gputk-bench-fleet-"))
    try:
        make_snapshots(tmp / "snaps", count)
        jobs = str(min(2, os.cpu_count() or 1))
        wall, cpu, peak_mb, rc = run_measured([PY, "-m", "gputk", "fleet", str(tmp / "snaps"), "--json", "-j", jobs])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        {"metric": f"gputk fleet, {count} snapshots, -j {jobs}", "value": wall, "unit": "s"},
        {"metric": "per snapshot", "value": wall / count * 1000, "unit": "ms"},
        {"metric": "CPU time, all processes", "value": cpu, "unit": "s"},
        {"metric": f"CPU time / {jobs} cores (wall on idle cores)", "value": cpu / int(jobs), "unit": "s"},
        {"metric": "peak memory (process tree, sum of RSS)", "value": peak_mb, "unit": "MB"},
    ]
    goal_s = GOAL_S * count / 1000
    load = os.getloadavg()[0]
    verdict = (
        f"{wall:.1f} s wall at load {load:.1f} ({'meets' if wall < goal_s else 'MISSES'} < {goal_s:.0f} s), "
        f"{cpu / int(jobs):.1f} s CPU per core ({'meets' if cpu / int(jobs) < goal_s else 'MISSES'}), "
        f"{peak_mb:.0f} MB ({'meets' if peak_mb < GOAL_MB else 'MISSES'} < {GOAL_MB:.0f} MB), exit {rc}"
    )
    return {"rows": rows, "summary": verdict}
