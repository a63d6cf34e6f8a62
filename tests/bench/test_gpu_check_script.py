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


def _runner_class() -> type:
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("gpu_check_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpu_check_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.Runner  # type: ignore[no-any-return]


def test_a_step_the_budget_cannot_cover_is_skipped_and_listed(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    runner = _runner_class()(12.0, tmp_path, dict(os.environ), tmp_path)
    assert runner.run("fits", [sys.executable, "-c", "pass"], 60, need=5) is not None
    # 12 s budget, 5 s kept for packing: a step that needs 30 s is not started
    assert runner.run("pytest-gpu", [sys.executable, "-c", "pass"], 300, need=30) is None
    assert runner.rows[-1][:2] == ("pytest-gpu", "SKIPPED (time budget spent)")


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
    # which late steps a 75 s budget leaves out depends on this machine's speed (see the Runner test)
    skipped_line = next(line for line in summary.splitlines() if line.startswith("skipped: "))
    assert "demos" in skipped_line.split(": ", 1)[1].split(", ")
    assert "Traceback" not in res.stderr
    with tarfile.open(out / "gpu-check.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"gpu-check/summary.md", "gpu-check/gpucheck.json", "gpu-check/logs/detect.log"} <= names
    # gputk ran from the installed copy, not from the source tree
    assert str(SCRIPT.parents[1] / "gputk") not in summary
