"""scripts/gpu-check: a dry run on a machine without a GPU completes within its budget and writes its files."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu-check"


def test_help_prints_usage() -> None:
    res = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    assert "--fetch-wheels" in res.stdout and "$OUT" in res.stdout and "at most 8 files" in res.stdout


@pytest.mark.slow
def test_dry_run_without_a_gpu_writes_the_files_and_lists_skipped_steps(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PATH": os.defpath}  # no nvidia-smi, no lspci on this PATH
    # A budget too small for everything: the late steps must be skipped and listed, not overrun.
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--budget", "75", "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode in (0, 1), res.stderr
    files = sorted(p.name for p in out.iterdir())
    assert {"gpu-check.tar.gz", "summary.md"} <= set(files) and len(files) <= 8
    summary = (out / "summary.md").read_text()
    assert "GPU: none found" in summary and "| gputk-installed | PASS |" in summary
    assert "| demos | SKIPPED (no GPU) |" in summary
    assert "SKIPPED (time budget spent)" in summary and "skipped: " in summary
    assert "Traceback" not in res.stderr
    with tarfile.open(out / "gpu-check.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"gpu-check/summary.md", "gpu-check/gpucheck.json", "gpu-check/logs/detect.log"} <= names
    # gputk ran from the installed copy, not from the source tree
    assert str(SCRIPT.parents[1] / "gputk") not in summary
