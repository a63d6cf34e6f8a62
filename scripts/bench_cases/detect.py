"""`gputk detect --json` on an 8-GPU snapshot: wall time and peak RSS vs `gputk --version`.

The snapshot (sysfs for 8 H100s, probes.nvml, `nvidia-smi -q -x`) is built in a temp dir
with the builders of tests/detect, so the case measures the real merge path with no GPU.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _util import PY, interleaved, peak_rss_mb

NAME = "detect"
DESCRIPTION = "gputk detect --json on an 8-GPU snapshot: wall time ratio to gputk --version (goal <= 3x), peak RSS (goal <= 80 MB)"
GOAL_RATIO = 3.0
GOAL_RSS_MB = 80.0
REPO = Path(__file__).resolve().parents[2]


def _build_snapshot(base: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from gputk.snapshot import SnapshotWriter
    from tests.detect.builders import healthy_machine

    snap = SnapshotWriter(base / "eight-h100")
    snap.set_env({"PATH": "/usr/bin:/bin"})
    snap.set_platform(system="Linux", node="bench", release="6.8.0", version="#1", machine="x86_64")
    healthy_machine(snap, n=8)
    snap.write_manifest()
    return snap.directory


def run(quick: bool) -> dict[str, object]:
    repeats = 5 if quick else 15
    tmp = Path(tempfile.mkdtemp(prefix="gputk-bench-detect-"))
    try:
        snap = _build_snapshot(tmp)
        version = [PY, "-m", "gputk", "--version"]
        detect = [PY, "-m", "gputk", "detect", "--snapshot", str(snap), "--json"]
        med = interleaved({"version": version, "detect": detect}, repeats)
        rss_version = peak_rss_mb(version)
        rss_detect = peak_rss_mb(detect)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = med["detect"] / med["version"]
    rows = [
        {"metric": "gputk --version (median)", "value": med["version"] * 1000, "unit": "ms"},
        {"metric": "gputk detect --json, 8-GPU snapshot (median)", "value": med["detect"] * 1000, "unit": "ms"},
        {"metric": "ratio detect / --version", "value": ratio, "unit": "x"},
        {"metric": "peak RSS gputk --version", "value": rss_version, "unit": "MB"},
        {"metric": "peak RSS gputk detect --json", "value": rss_detect, "unit": "MB"},
    ]
    ok = ratio <= GOAL_RATIO and rss_detect <= GOAL_RSS_MB
    verdict = "meets" if ok else "MISSES"
    summary = (
        f"detect {ratio:.2f}x --version, peak RSS {rss_detect:.0f} MB: {verdict} the goals "
        f"(<= {GOAL_RATIO:g}x, <= {GOAL_RSS_MB:g} MB)"
    )
    return {"rows": rows, "summary": summary}
