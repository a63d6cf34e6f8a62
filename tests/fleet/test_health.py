"""Health hooks: doctor profiles, Nagios exit codes, Prometheus textfile metrics."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.doctor.base import FunctionCheck, Outcome
from gputk.doctor.context import Context
from gputk.doctor.profiles import PROFILES, profile_checks, run_with_deadline
from gputk.host import LiveHost
from gputk.snapshot import SnapshotWriter
from tests.doctor.scenarios import HEALTHY, build

F4_WARN = HEALTHY.but(
    module_loaded="535.104.05", user_space="535.104.05", cuda_driver="12.2", toolkits=("12.6.2",), frameworks={}
)
NO_DRIVER = HEALTHY.but(nvml="driver-not-loaded", smi="no-driver", module_loaded=None)


def _snapshot(snap: SnapshotWriter, machine: object) -> str:
    build(snap, machine)  # type: ignore[arg-type]
    snap.write_manifest()
    return str(snap.directory)


def _doctor(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = run_cli(["doctor", *args])
    return rc, capsys.readouterr().out


def test_prolog_runs_the_node_layers_only() -> None:
    ids = [c.id for c in profile_checks(PROFILES["prolog"])]
    assert "driver.nvml" in ids and "cuda.driver-compat" in ids and "cudnn.install" in ids
    assert not [i for i in ids if i.startswith(("framework.", "env."))]
    quick = [c.id for c in profile_checks(PROFILES["quick"])]
    assert "env.path" in quick and not [i for i in quick if i.startswith("framework.")]
    full = [c.id for c in profile_checks(PROFILES["full"])]
    assert "framework.torch" in full
    # a check asked for by name runs even when the profile would skip its category
    assert [c.id for c in profile_checks(PROFILES["prolog"], ["env.path"])] == ["env.path"]


@pytest.mark.parametrize(
    ("machine", "code", "word"),
    [(HEALTHY, 0, "OK"), (F4_WARN, 1, "WARNING"), (NO_DRIVER, 2, "CRITICAL")],
)
def test_nagios_exit_codes_and_status_line(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str], machine: object, code: int, word: str
) -> None:
    path = _snapshot(snap, machine)
    rc, out = _doctor(["--snapshot", path, "--profile", "prolog", "--exit-codes", "nagios"], capsys)
    assert rc == code
    first = out.splitlines()[0]
    assert first.startswith(f"GPUTK {word} - ")
    assert " | pass=" in first and "fail=" in first
    if machine is NO_DRIVER:
        assert "FAIL driver.kernel-module: " in out
    if machine is F4_WARN:
        assert "WARN cuda.driver-compat: CUDA toolkit 12.6 is newer" in out
        # the default exit codes let warnings pass
        assert _doctor(["--snapshot", path, "--profile", "prolog"], capsys)[0] == 0


def test_prometheus_textfile_is_written_atomically_with_status_count_and_versions(
    snap: SnapshotWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _snapshot(snap, NO_DRIVER)
    metrics = tmp_path / "textfile"
    metrics.mkdir()
    prom = metrics / "gputk.prom"
    prom.write_text("old content\n")
    rc, _ = _doctor(["--snapshot", path, "--profile", "quick", "--prometheus", str(prom)], capsys)
    assert rc == 1
    text = prom.read_text()
    assert 'gputk_check_status{check="driver.kernel-module",status="fail"} 1.0' in text
    assert 'gputk_check_status{check="driver.kernel-module",status="pass"} 0.0' in text
    assert 'gputk_check_status{check="driver.nvml",status="skip"} 1.0' in text
    assert "# TYPE gputk_check_status gauge" in text
    assert "gputk_health 2.0" in text
    assert "gputk_gpu_count 1.0" in text
    assert 'profile="quick"' in text and 'cuda_toolkit="12.4.1"' in text and "gputk_versions_info{" in text
    assert "framework." not in text  # quick skips the framework probes
    assert sorted(os.listdir(metrics)) == ["gputk.prom"]  # no temp file left behind

    healthy = SnapshotWriter(tmp_path / "healthy")
    _snapshot(healthy, HEALTHY)
    assert run_cli(["doctor", "--snapshot", str(healthy.directory), "--prometheus", str(prom)]) == 0
    text = prom.read_text()
    assert 'driver="550.54.15"' in text and "gputk_health 0.0" in text


def test_prometheus_path_is_refused_before_the_doctor_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_cli(["doctor", "--profile", "prolog", "--prometheus", str(tmp_path / "missing" / "x.prom")])
    assert rc == 1
    assert "does not exist" in capsys.readouterr().err


def _hangs(ctx: Context) -> Outcome:
    ctx.host.run(["sleep", "60"], timeout=120)  # a GPU tool stuck in the driver
    return Outcome("pass", "answered")


def _quick(ctx: Context) -> Outcome:
    return Outcome("pass", "fine")


def test_a_hung_tool_fails_its_check_at_the_deadline_and_the_others_still_report() -> None:
    checks = [
        FunctionCheck("platform.quick", "platform", "answers at once", _quick),
        FunctionCheck("driver.stuck", "driver", "waits for a hung tool", _hangs, after=("platform.quick",)),
    ]
    start = time.monotonic()
    report, _facts = run_with_deadline(LiveHost(), checks, deadline_s=2.0)
    elapsed = time.monotonic() - start
    assert elapsed < 20  # generous bound for a loaded machine; the deadline is 2 s, the tool would take 60
    status = {c.id: (c.status, c.summary) for c in report.checks}
    assert status["platform.quick"] == ("pass", "fine")
    assert status["driver.stuck"][0] == "fail"
    assert "did not answer within 2 s" in status["driver.stuck"][1]
    stuck = report.get("driver.stuck")
    assert stuck is not None and stuck.fix is not None and "Xid" in stuck.fix.text
