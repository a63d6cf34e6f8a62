"""On a GPU host: the doctor finds the GPU, a working driver, and agrees with nvidia-smi.

Run with ``pytest -m gpu tests/gpu``; skipped where nvidia-smi lists no GPU (tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from gputk.cli.app import run_cli

pytestmark = pytest.mark.gpu


def _smi(query: str) -> list[str]:
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def test_doctor_on_a_working_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_cli(["doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    checks = {c["id"]: c for c in data["checks"]}
    for cid in ("hardware.gpu", "driver.kernel-module", "driver.nvml", "driver.nvidia-smi"):
        assert checks[cid]["status"] == "pass", (cid, checks[cid]["summary"])
    driver = _smi("driver_version")[0]
    assert f"driver {driver}" in checks["driver.nvml"]["summary"]
    assert f"{len(_smi('name'))} GPU" in checks["driver.nvml"]["summary"]
    assert checks["cuda.driver-compat"]["status"] in ("pass", "warn", "fail")
    assert checks["cuda.arch"]["status"] in ("pass", "fail")
    # No check may crash, and a framework that is installed must at least have been probed.
    assert not [c["id"] for c in data["checks"] if c["status"] == "error"]
    assert rc == (1 if data["status"] == "fail" else 0)
