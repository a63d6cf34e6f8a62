"""`gputk detect` end to end through run_cli: exact JSON fields, text, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.snapshot import SnapshotWriter
from tests.detect.builders import a100_in_mig_mode, add_pci, healthy_machine, smi_xml

GPU_KEYS = {
    "index",
    "vendor",
    "name",
    "pci_bus_id",
    "uuid",
    "memory_total_mib",
    "driver_version",
    "cuda_driver_version",
    "compute_capability",
    "architecture",
    "mig_devices",
    "sources",
}


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert run_cli(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_json_contract_on_a_healthy_snapshot(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy_machine(snap, n=2)
    snap.add_file(
        "/proc/driver/nvidia/version",
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n",
    )
    snap.write_manifest()
    data = _json(capsys, ["detect", "--snapshot", str(snap.directory), "--json"])

    assert data["schema"] == "gputk.detect/1"
    gpus = data["gpus"]
    assert isinstance(gpus, list) and len(gpus) == 2
    assert set(gpus[0]) >= GPU_KEYS
    assert {k: gpus[0][k] for k in sorted(GPU_KEYS)} == {
        "architecture": "Hopper",
        "compute_capability": "9.0",
        "cuda_driver_version": "12.2",
        "driver_version": "535.104.05",
        "index": 0,
        "memory_total_mib": 81559,
        "mig_devices": [],
        "name": "NVIDIA H100 80GB HBM3",
        "pci_bus_id": "0000:18:00.0",
        "sources": ["nvml", "nvidia-smi-xml", "sysfs"],
        "uuid": "GPU-00000000-aaaa-bbbb-cccc-ddddeeeeffff",
        "vendor": "nvidia",
    }
    assert data["driver"] == {
        "version": "535.104.05",
        "cuda_driver_version": "12.2",
        "nvml_version": "12.535.104.05",
        "kernel_module": "proprietary",
    }
    assert data["sources"]["nvml"] == {"status": "ok", "detail": "2 GPUs via NVML"}
    assert data["sources"]["lshw"] == {"status": "unavailable", "detail": "not installed; apt install lshw"}


def test_text_table_lists_gpus_mig_and_sources(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: no folding inside cells
    mig = {"index": 0, "profile": "7g.80gb", "uuid": "MIG-abc", "memory_total_mib": 81152}
    proc = {"pid": 4242, "name": "python3", "used_memory_mib": 1000, "type": "C"}
    a100_in_mig_mode(snap, [mig], [proc])
    snap.write_manifest()
    assert run_cli(["detect", "--snapshot", str(snap.directory), "-v"]) == 0
    out = capsys.readouterr().out

    assert "NVIDIA A100-SXM4-80GB" in out
    assert "0000:07:00.0" in out
    assert "MIG 7g.80gb" in out
    assert "Ampere" in out
    assert "python3" in out and "4242" in out
    assert "ok nvml: 1 GPU via NVML" in out
    assert "-- lshw: not installed; apt install lshw" in out


def test_gpu_without_driver_says_the_driver_is_missing(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    add_pci(snap, "0000:01:00.0", "0x10de", "0x1eb8")
    snap.write_manifest()
    data = _json(capsys, ["detect", "--snapshot", str(snap.directory), "--json"])
    [gpu] = data["gpus"]  # type: ignore[misc]
    assert (gpu["vendor"], gpu["pci_bus_id"], gpu["kernel_driver"], gpu["driver_version"]) == (
        "nvidia",
        "0000:01:00.0",
        None,
        None,
    )
    assert (gpu["compute_capability"], gpu["compute_capability_source"]) == ("7.5", "table")

    assert run_cli(["detect", "--snapshot", str(snap.directory)]) == 0
    out = capsys.readouterr().out
    assert "(none)" in out
    assert "NVIDIA GPU 0000:01:00.0 has no driver bound: the NVIDIA driver is missing or not loaded." in out


def test_snapshot_and_from_together_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["detect", "--snapshot", str(tmp_path), "--from", str(tmp_path / "x")]) == 2
    assert "--snapshot and --from cannot be used together" in capsys.readouterr().err


def test_missing_snapshot_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["detect", "--snapshot", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "snapshot not found" in err
    assert "Traceback" not in err


def test_from_files_merges_xml_and_reports_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xml = tmp_path / "smi.xml"
    xml.write_text(smi_xml(["0000:18:00.0", "0000:28:00.0"]), encoding="utf-8")
    data = _json(capsys, ["detect", "--from", str(xml), "--json"])

    assert [g["pci_bus_id"] for g in data["gpus"]] == ["0000:18:00.0", "0000:28:00.0"]  # type: ignore[index]
    assert data["gpus"][0]["compute_capability"] == "9.0"  # type: ignore[index]
    assert data["driver"]["version"] == "535.104.05"  # type: ignore[index]
    assert data["sources"]["smi.xml"]["status"] == "ok"  # type: ignore[index]


def test_from_unrecognised_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("my gpu is slow, please help\n", encoding="utf-8")
    assert run_cli(["detect", "--from", str(junk)]) == 1
    err = capsys.readouterr().err
    assert f"{junk}: not a GPU tool output gputk recognises" in err


def test_from_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["detect", "--from", str(tmp_path / "gone.txt")]) == 1
    assert "gone.txt: no such file" in capsys.readouterr().err


@pytest.mark.live
def test_live_on_this_machine_without_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    """This development machine has no GPU and no NVIDIA driver: detect says so and exits 0."""
    import shutil

    if shutil.which("nvidia-smi") is not None:
        pytest.skip("this machine has nvidia-smi; the no-GPU case does not apply")
    assert run_cli(["detect"]) == 0
    out = capsys.readouterr().out
    assert "No GPU found" in out
    data = _json(capsys, ["detect", "--json"])
    assert data["gpus"] == []
    assert data["sources"]["nvidia-smi"]["status"] == "unavailable"  # type: ignore[index]


def test_from_a_no_gpu_message_says_what_it_means_in_text_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.conftest import FIXTURES

    wsl = FIXTURES / "errors" / "wsl-gpu-access-blocked.txt"
    data = _json(capsys, ["detect", "--from", str(wsl), "--json"])
    assert data["gpus"] == []
    assert data["problems"] == ["gpu-access-blocked"]
    assert data["findings"][0]["problem"] == "gpu-access-blocked"  # type: ignore[index]
    assert "blocks GPU access" in data["findings"][0]["meaning"]  # type: ignore[index]
    assert run_cli(["detect", "--from", str(FIXTURES / "errors" / "no-devices.txt")]) == 0
    assert "0 GPUs: the driver is loaded but sees no NVIDIA GPU." in capsys.readouterr().out


def test_from_an_empty_file_is_one_error_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "paste.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    assert run_cli(["detect", "--from", str(empty)]) == 1
    err = capsys.readouterr().err
    assert f"{empty}: is empty" in err and "Traceback" not in err


def test_from_every_real_fixture_never_crashes_and_names_each_file(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import FIXTURES
    from tests.parsers.test_robustness import GPU_TOOL_DIRS

    files = sorted(p for d in GPU_TOOL_DIRS for p in (FIXTURES / d).glob("*") if p.is_file())
    assert len(files) >= 60
    for f in files:
        data = _json(capsys, ["detect", "--from", str(f), "--json"])
        assert list(data["sources"]) == [f.name]  # type: ignore[arg-type]
