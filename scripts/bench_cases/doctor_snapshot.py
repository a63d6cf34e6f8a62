"""`gputk doctor` on a recorded 8-GPU HGX snapshot, against `gputk --version` (goal <= 3x).

The snapshot is the HGX machine of the doctor's scenario tests: eight copies of a real A100
`nvidia-smi -q -x` log at DGX A100 bus ids, six NVSwitches, the fabric manager running, a kernel
log, NVML and framework probes recorded. Every check runs (the framework results are replayed),
so this measures gputk's own start-up, the snapshot reading and all the checks on eight GPUs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _util import PY, interleaved

NAME = "doctor-snapshot"
DESCRIPTION = "gputk doctor on an 8-GPU HGX snapshot / gputk --version (goal <= 3x)"
GOAL = 3.0
ROOT = Path(__file__).resolve().parents[2]


def _snapshot(path: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from gputk.snapshot import SnapshotWriter
    from tests.doctor.scenarios import build, torch_ok
    from tests.doctor.test_health_scenarios import _hgx

    m = _hgx(frameworks={"torch": torch_ok(gpu_count=8, gpus=["NVIDIA A100-SXM4-80GB"] * 8, capabilities=["8.0"] * 8)})
    build(SnapshotWriter(path, "bench"), m).write_manifest()
    return path


def run(quick: bool) -> dict[str, object]:
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="gputk-bench-") as tmp:
        snap = _snapshot(Path(tmp) / "hgx8")
        med = interleaved(
            {
                "version": [PY, "-m", "gputk", "--version"],
                "doctor": [PY, "-m", "gputk", "doctor", "--snapshot", str(snap), "--json"],
            },
            repeats,
        )
    ratio = med["doctor"] / med["version"]
    rows = [
        {"metric": "gputk --version (median)", "value": med["version"] * 1000, "unit": "ms"},
        {"metric": "gputk doctor --snapshot hgx8 (median)", "value": med["doctor"] * 1000, "unit": "ms"},
        {"metric": "ratio doctor 8-GPU snapshot / --version", "value": ratio, "unit": "x"},
    ]
    verdict = "meets" if ratio <= GOAL else "MISSES"
    return {"rows": rows, "summary": f"8-GPU snapshot {ratio:.2f}x ({verdict} <= {GOAL}x)"}
