"""`gputk doctor` from the command line: exit codes, --check, --list-checks, --json, --markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.doctor.registry import REGISTRY
from gputk.snapshot import SnapshotWriter
from tests.doctor.scenarios import HEALTHY, build

PUBLIC_IDS = [
    "platform.os",
    "platform.wsl",
    "platform.container",
    "hardware.gpu",
    "driver.kernel-module",
    "driver.nvml",
    "driver.nvidia-smi",
    "driver.gpu-support",
    "driver.module-flavour",
    "driver.device-nodes",
    "kernel.nvrm",
    "gpu.xid",
    "gpu.fabric",
    "gpu.memory",
    "gpu.clocks",
    "gpu.compute-mode",
    "gpu.persistence",
    "cuda.toolkit",
    "cuda.driver-compat",
    "cuda.arch",
    "cudnn.install",
    "env.path",
    "env.cuda-visible-devices",
    "env.forward-compat",
    "env.cudnn-skew",
    "framework.tensorflow",
    "framework.cupy",
    "framework.numba",
    "framework.torch",
    "framework.jax",
]


def snapshot(snap: SnapshotWriter, **changes: object) -> str:
    build(snap, HEALTHY.but(**changes)).write_manifest()
    return str(snap.directory)


def test_registry_ids_are_the_public_ones_and_dependencies_point_backwards() -> None:
    assert [c.id for c in REGISTRY] == PUBLIC_IDS
    seen: set[str] = set()
    for c in REGISTRY:
        assert set(c.depends_on) <= seen, c.id  # no cycles: a check depends only on earlier ones
        assert set(c.after) <= set(PUBLIC_IDS)
        assert c.category == c.id.split(".")[0]
        seen.add(c.id)


def test_healthy_snapshot_text_exits_0(snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["doctor", "--snapshot", snapshot(snap)]) == 0
    out = capsys.readouterr().out
    assert "✓ driver.nvml" in out and "- framework.jax" in out
    assert out.rstrip().endswith("no problems found: 27 passed, 3 skipped")
    assert "fix:" not in out  # details only on failure or with -v


def test_failure_prints_evidence_and_fix_and_exits_1(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot(snap, env={"CUDA_VISIBLE_DEVICES": "-1"})
    assert run_cli(["doctor", "--snapshot", path, "--no-frameworks"]) == 1
    out = capsys.readouterr().out
    assert "✗ env.cuda-visible-devices" in out
    assert "$CUDA_VISIBLE_DEVICES: '-1'" in out
    assert "unset CUDA_VISIBLE_DEVICES" in out
    assert "problems found: 1 failed" in out


def test_verbose_shows_evidence_of_passing_checks(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(["doctor", "--snapshot", snapshot(snap), "-v", "--check", "platform.os"])
    assert "/etc/os-release: Ubuntu 22.04.4 LTS" in capsys.readouterr().out


def test_strict_makes_warnings_fail(snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(snap, nvcc_on_path=False)
    assert run_cli(["doctor", "--snapshot", path, "--check", "cuda.toolkit"]) == 0
    assert run_cli(["doctor", "--snapshot", path, "--check", "cuda.toolkit", "--strict"]) == 1
    capsys.readouterr()


def test_check_runs_the_check_and_its_dependencies(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["doctor", "--snapshot", snapshot(snap), "--check", "driver.nvml", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in data["checks"]] == [
        "platform.wsl",
        "platform.container",
        "hardware.gpu",
        "driver.kernel-module",
        "driver.nvml",
    ]


def test_json_envelope_keys(snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(snap, module_loaded="550.54.14", nvml="driver-library-mismatch", smi="mismatch")
    assert run_cli(["doctor", "--snapshot", path, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "gputk.doctor/1" and data["status"] == "fail"
    assert len(data["checks"]) == len(PUBLIC_IDS)
    nvml = next(c for c in data["checks"] if c["id"] == "driver.nvml")
    assert set(nvml) == {
        "id",
        "category",
        "title",
        "status",
        "summary",
        "evidence",
        "fix",
        "blocked_by",
        "duration_ms",
    }
    assert nvml["status"] == "fail" and nvml["fix"]["commands"][0] == "sudo reboot"
    assert nvml["evidence"][0] == {"source": "/sys/module/nvidia/version", "value": "loaded module 550.54.14"}
    smi = next(c for c in data["checks"] if c["id"] == "driver.nvidia-smi")
    assert smi["status"] == "skip" and smi["blocked_by"] == "driver.nvml" and smi["fix"] is None


def test_markdown_is_redacted(snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(snap, env={"CUDA_VISIBLE_DEVICES": "GPU-8f6c1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4c"})
    assert run_cli(["doctor", "--snapshot", path, "--markdown", "--no-frameworks"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("## gputk doctor report\n")
    assert "| ❌ | `env.cuda-visible-devices` |" in out
    assert "GPU-00000000-0000-0000-0000-000000000001" in out
    for secret in ("8f6c1a2b", "/home/user", "gpubox"):
        assert secret not in out
    assert "```sh\nunset CUDA_VISIBLE_DEVICES\n" in out


def test_unknown_check_id_is_one_line_listing_valid_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["doctor", "--check", "driver.nvlm"]) == 2  # a usage error
    err = capsys.readouterr().err
    assert "unknown check id driver.nvlm; valid ids: platform.os, platform.wsl" in err
    assert "Traceback" not in err


def test_list_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["doctor", "--list-checks"]) == 0
    out = capsys.readouterr().out
    for cid in PUBLIC_IDS:
        assert cid in out


def test_missing_snapshot_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["doctor", "--snapshot", str(tmp_path / "nope")]) == 1
    assert "snapshot not found" in capsys.readouterr().err
