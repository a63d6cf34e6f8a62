"""`gputk detect --from FILE --json` on every real GPU-tool fixture vs `gputk --version`.

Each fixture (tests/fixtures/<tool>/, see SOURCES.md) is read in its own fresh process, as a
user would run it; `--version` runs interleaved with them so drift hits both alike. Reported:
the median and the slowest fixture, each as a ratio to the median `--version`, in CPU time of
the child (user + system, so a busy machine does not decide the verdict) and in wall time.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _util import PY

NAME = "detect-from"
DESCRIPTION = "gputk detect --from <fixture> --json for every real fixture: ratio to gputk --version (goal <= 3x)"
GOAL_RATIO = 3.0
REPO = Path(__file__).resolve().parents[2]


def _fixtures() -> list[Path]:
    sys.path.insert(0, str(REPO))
    from tests.parsers.test_robustness import GPU_TOOL_DIRS

    base = REPO / "tests" / "fixtures"
    return sorted(p for d in GPU_TOOL_DIRS for p in (base / d).glob("*") if p.is_file())


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``argv``."""
    c0, t0 = _cpu(), time.perf_counter()
    subprocess.run(argv, capture_output=True, timeout=600, check=False)
    return _cpu() - c0, time.perf_counter() - t0


def run(quick: bool) -> dict[str, object]:
    repeats = 1 if quick else 3
    version = [PY, "-m", "gputk", "--version"]
    files = _fixtures()
    _run(version)
    version_cpu: list[float] = []
    version_wall: list[float] = []
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    for f in files:
        argv = [PY, "-m", "gputk", "detect", "--from", str(f), "--json"]
        samples = []
        for _ in range(repeats):
            vc, vw = _run(version)
            version_cpu.append(vc)
            version_wall.append(vw)
            samples.append(_run(argv))
        key = f"{f.parent.name}/{f.name}"
        cpu[key] = statistics.median(s[0] for s in samples)
        wall[key] = statistics.median(s[1] for s in samples)
    v = statistics.median(version_cpu)
    vw = statistics.median(version_wall)
    med = statistics.median(cpu.values())
    slowest_name, slowest = max(cpu.items(), key=lambda kv: kv[1])
    rows = [
        {"metric": "fixtures read", "value": len(files), "unit": ""},
        {"metric": "gputk --version, CPU (median)", "value": v * 1000, "unit": "ms"},
        {"metric": "detect --from, CPU, median over fixtures", "value": med * 1000, "unit": "ms"},
        {"metric": f"detect --from, CPU, slowest ({slowest_name})", "value": slowest * 1000, "unit": "ms"},
        {"metric": "ratio CPU median / --version", "value": med / v, "unit": "x"},
        {"metric": "ratio CPU slowest / --version", "value": slowest / v, "unit": "x"},
        {"metric": "ratio wall median / --version", "value": statistics.median(wall.values()) / vw, "unit": "x"},
    ]
    verdict = "meets" if slowest / v <= GOAL_RATIO else "MISSES"
    summary = (
        f"{len(files)} fixtures: CPU median {med / v:.2f}x, slowest {slowest / v:.2f}x --version: "
        f"{verdict} the goal (<= {GOAL_RATIO:g}x)"
    )
    return {"rows": rows, "summary": summary}
