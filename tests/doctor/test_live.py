"""The doctor on this machine: a CUDA 13.0 toolkit under /usr/local and no GPU. It must say exactly that."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gputk.doctor.runner import diagnose
from gputk.host import LiveHost

pytestmark = pytest.mark.live

NO_GPU_HERE = shutil.which("nvidia-smi") is None and not Path("/proc/driver/nvidia/version").exists()
HAS_CUDA_13 = Path("/usr/local/cuda-13.0/bin/nvcc").exists()


@pytest.mark.skipif(not (NO_GPU_HERE and HAS_CUDA_13), reason="needs the GPU-less machine with CUDA 13.0")
def test_live_no_gpu_with_cuda_13_toolkit() -> None:
    report = diagnose(LiveHost(), frameworks=False)
    st = {c.id: c for c in report.checks}
    assert st["hardware.gpu"].status == "fail"
    assert st["hardware.gpu"].summary.startswith("no GPU found on the PCI bus")
    for cid in (
        "driver.kernel-module",
        "driver.nvml",
        "driver.nvidia-smi",
        "cuda.driver-compat",
        "cuda.arch",
    ):
        assert (st[cid].status, st[cid].blocked_by) == ("skip", "hardware.gpu"), cid
    assert st["cuda.toolkit"].status == "pass"
    assert st["cuda.toolkit"].summary.startswith("CUDA 13.0.")
    assert "/usr/local/cuda-13.0" in st["cuda.toolkit"].summary
    assert st["platform.os"].status == "pass"
    assert report.verdict() == "fail" and report.exit_code() == 1
    failing = [c.id for c in report.checks if c.status in ("fail", "error")]
    assert failing == ["hardware.gpu"]


@pytest.mark.parametrize("frameworks", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_recorded_snapshot_replays_the_same_diagnosis(tmp_path: Path, frameworks: bool) -> None:
    """Run the doctor through a recording host, then on the snapshot it wrote: same verdicts."""
    from gputk.services.recording import RecordingHost
    from gputk.services.redact import Redactor, gpu_environment
    from gputk.snapshot import SnapshotHost, SnapshotWriter

    writer = SnapshotWriter(tmp_path / "snap")
    writer.set_env(gpu_environment(LiveHost().env))  # as `gputk report` does
    writer.set_platform(**LiveHost().uname())
    live = diagnose(RecordingHost(LiveHost(), writer, Redactor(enabled=False)), frameworks=frameworks)
    writer.write_manifest()
    replay = diagnose(SnapshotHost(writer.directory), frameworks=frameworks)
    assert [(c.id, c.status, c.blocked_by) for c in replay.checks] == [
        (c.id, c.status, c.blocked_by) for c in live.checks
    ]
    assert [c.summary for c in replay.checks] == [c.summary for c in live.checks]
