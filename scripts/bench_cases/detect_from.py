"""`gputk detect --from FILE --json` on every real GPU-tool fixture vs `gputk --version`.

Each fixture (tests/fixtures/<tool>/, see SOURCES.md) is read in its own fresh process, as a
user would run it; `--version` runs interleaved with them so drift hits both alike. Reported:
the median and the slowest fixture, each as a ratio to the median `--version`.
"""

from __future__ import annotations

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


def _run(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, capture_output=True, timeout=600, check=False)
    return time.perf_counter() - t0


def run(quick: bool) -> dict[str, object]:
    repeats = 1 if quick else 3
    version = [PY, "-m", "gputk", "--version"]
    files = _fixtures()
    _run(version)
    version_times: list[float] = []
    per_file: dict[str, float] = {}
    for f in files:
        argv = [PY, "-m", "gputk", "detect", "--from", str(f), "--json"]
        samples = []
        for _ in range(repeats):
            version_times.append(_run(version))
            samples.append(_run(argv))
        per_file[f"{f.parent.name}/{f.name}"] = statistics.median(samples)
    v = statistics.median(version_times)
    med = statistics.median(per_file.values())
    slowest_name, slowest = max(per_file.items(), key=lambda kv: kv[1])
    rows = [
        {"metric": "fixtures read", "value": len(files), "unit": ""},
        {"metric": "gputk --version (median)", "value": v * 1000, "unit": "ms"},
        {"metric": "detect --from, median over fixtures", "value": med * 1000, "unit": "ms"},
        {"metric": f"detect --from, slowest ({slowest_name})", "value": slowest * 1000, "unit": "ms"},
        {"metric": "ratio median / --version", "value": med / v, "unit": "x"},
        {"metric": "ratio slowest / --version", "value": slowest / v, "unit": "x"},
    ]
    verdict = "meets" if slowest / v <= GOAL_RATIO else "MISSES"
    summary = (
        f"{len(files)} fixtures: median {med / v:.2f}x, slowest {slowest / v:.2f}x --version: "
        f"{verdict} the goal (<= {GOAL_RATIO:g}x)"
    )
    return {"rows": rows, "summary": summary}
