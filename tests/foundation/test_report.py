"""`gputk report`: capture this machine, read it back, same facts; redaction."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.host import LiveHost
from gputk.probes.python_env import python_env
from gputk.services.redact import REDACTED_HOST, Redactor, gpu_environment
from gputk.services.report import capture
from gputk.snapshot import open_snapshot


@pytest.mark.live
def test_capture_round_trip_gives_the_same_facts(tmp_path: Path) -> None:
    live = LiveHost()
    result = capture(tmp_path / "snap.tar.gz", redact=False, frameworks=False)
    assert result.path.is_file()
    snap = open_snapshot(result.path)
    for pattern in ("/usr/local/cuda*", "/sys/bus/pci/devices/*", "/dev/nvidia*"):
        assert snap.glob(pattern) == live.glob(pattern), pattern
    for path in ("/etc/os-release", "/proc/version"):
        assert snap.read_text(path) == live.read_text(path), path
    for dev in live.glob("/sys/bus/pci/devices/*"):
        assert snap.read_text(dev + "/class") == live.read_text(dev + "/class")
        assert snap.readlink(dev + "/driver") == live.readlink(dev + "/driver")
    for tool in ("nvidia-smi", "nvcc", "lspci"):
        assert (snap.which(tool) is None) == (live.which(tool) is None), tool
    nvcc_live = live.run(["nvcc", "--version"])
    nvcc_snap = snap.run(["nvcc", "--version"])
    assert (nvcc_snap.stdout, nvcc_snap.error) == (nvcc_live.stdout, nvcc_live.error)
    assert snap.run(["nvidia-smi", "-q", "-x"]).error == live.run(["nvidia-smi", "-q", "-x"]).error
    assert python_env(snap)["site_packages"] == python_env(live)["site_packages"]
    from gputk.probes import kernel_log, system

    assert kernel_log.kernel_log(snap) == kernel_log.kernel_log(live)
    assert system.units(snap) == system.units(live)
    assert system.module_config(snap) == system.module_config(live)
    assert system.access(snap).nodes == system.access(live).nodes
    assert system.nvswitches(snap) == system.nvswitches(live)
    assert snap.manifest["format"] == "gputk-snapshot" and snap.manifest["version"] == 1


@pytest.mark.live
def test_report_cli_writes_a_directory_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "snapdir"
    assert run_cli(["report", "-o", str(out), "--no-frameworks", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "gputk.report/1"
    assert data["redacted"] is True and data["path"] == str(out)
    manifest = json.loads((out / "manifest.json").read_text())
    argvs = [c["argv"] for c in manifest["commands"]]
    for argv in (
        ["nvidia-smi", "-q", "-x"],
        ["nvidia-smi"],
        ["nvidia-smi", "-L"],
        ["lspci", "-vmm", "-nn", "-k", "-D"],
        ["lshw", "-C", "display", "-json"],
        ["nvcc", "--version"],
        ["ldconfig", "-p"],
        ["modinfo", "nvidia"],
        ["id"],
        ["ls", "-l", "/dev"],
    ):
        assert argv in argvs
    assert run_cli(["report", "-o", str(out), "--no-frameworks"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == json.dumps(manifest, indent=2) + "\n"


@pytest.mark.live
def test_report_tarball_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "alices-box")
    out = tmp_path / "r.tar.gz"
    capture(out, redact=True, frameworks=False)
    with tarfile.open(out) as tf:
        names = tf.getnames()
        manifest = json.load(tf.extractfile(next(n for n in names if n.endswith("manifest.json"))))  # type: ignore[arg-type]
    assert manifest["platform"]["node"] == "redacted-host"
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)


def test_redactor_replaces_identifiers_consistently() -> None:
    r = Redactor(hostname="gpubox7", username="alice", home="/home/alice")
    xml = (
        "<uuid>GPU-3a7f6c2e-1b2d-4c5e-8f90-123456789abc</uuid><serial>1324020016386</serial>\n"
        "GPU 1: A100 (UUID: GPU-3a7f6c2e-1b2d-4c5e-8f90-123456789abc)\n"
        "GPU 2: A100 (UUID: GPU-ffffffff-1b2d-4c5e-8f90-123456789abc)\n"
        "    Serial Number                         : 1324020016386\n"
        "alice@gpubox7:/home/alice/venv/bin/python; /home/alicex stays\n"
    )
    out = r.text(xml)
    assert "3a7f6c2e" not in out and "1324020016386" not in out
    assert out.count("GPU-00000000-0000-0000-0000-000000000001") == 2
    assert "GPU-00000000-0000-0000-0000-000000000002" in out
    assert "<serial>0000000000000</serial>" in out
    assert "Serial Number                         : 0000000000000" in out
    assert "redacted@redacted-host:/home/redacted/venv/bin/python" in out
    assert "/home/alicex" in out  # another user's home is not ours
    assert Redactor(enabled=False, hostname="gpubox7").text("gpubox7") == "gpubox7"
    assert r.text("<serial>N/A</serial>") == "<serial>N/A</serial>"


def test_gpu_environment_keeps_gpu_variables_and_drops_secrets() -> None:
    env = {
        "PATH": "/usr/bin",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "NVIDIA_VISIBLE_DEVICES": "all",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "HF_TOKEN": "hf_secret",
        "NVIDIA_API_KEY": "nvapi-secret",
        "AWS_SECRET_ACCESS_KEY": "x",
        "EDITOR": "vim",
    }
    assert gpu_environment(env) == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "NVIDIA_VISIBLE_DEVICES": "all",
        "PATH": "/usr/bin",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    }


def test_every_probe_the_report_runs_exists() -> None:
    import importlib
    import pkgutil

    import gputk.probes
    from gputk.probes.catalogue import CAPTURES

    for cap in CAPTURES:
        assert cap.entries or cap.commands or cap.files, cap.name
        for entry in cap.entries:
            assert callable(entry), (cap.name, entry)
    # Every probe module that declares what it reads is in the catalogue the report runs.
    declared = []
    for info in pkgutil.iter_modules(gputk.probes.__path__):
        mod = importlib.import_module(f"gputk.probes.{info.name}")
        if hasattr(mod, "CAPTURE"):
            declared.append(mod.CAPTURE)
    assert declared and all(d in CAPTURES for d in declared)


def test_the_report_records_what_the_probes_declare() -> None:
    from gputk.probes import driver, nvidia_smi
    from gputk.services.report import COMMANDS, FILES, NAMES, TOOLS

    assert (("nvidia-smi", "-q", "-x"), 20.0) in COMMANDS
    assert set(nvidia_smi.CAPTURE.commands) <= set(COMMANDS)
    assert set(driver.CAPTURE.files) <= set(FILES)
    assert set(driver.CAPTURE.names) <= set(NAMES)
    assert "nvidia-smi" in TOOLS


@pytest.mark.live
def test_doctor_and_detect_on_a_report_of_this_machine_match_the_live_run(tmp_path: Path) -> None:
    from gputk.doctor.runner import diagnose
    from gputk.services.detect import detect

    result = capture(tmp_path / "me.tar.gz", redact=True, frameworks=False)
    snap = open_snapshot(result.path)
    live_report = diagnose(LiveHost(), frameworks=False)
    snap_report = diagnose(snap, frameworks=False)
    assert [(c.id, c.status, c.blocked_by) for c in snap_report.checks] == [
        (c.id, c.status, c.blocked_by) for c in live_report.checks
    ]
    live_gpus = detect(LiveHost()).gpus
    snap_gpus = detect(snap).gpus
    assert [(g.pci_bus_id, g.name, g.vendor) for g in snap_gpus] == [
        (g.pci_bus_id, g.name, g.vendor) for g in live_gpus
    ]


@pytest.mark.live
def test_report_to_stdout_writes_one_readable_tarball(tmp_path: Path) -> None:
    import io

    from gputk.services.report import STDOUT

    sink = io.BytesIO()
    result = capture(Path(STDOUT), redact=True, frameworks=False, stream=sink)
    assert str(result.path) == "-" and result.commands > 0
    archive = tmp_path / "from-stdout.tar.gz"
    archive.write_bytes(sink.getvalue())
    snap = open_snapshot(archive)
    assert snap.manifest["format"] == "gputk-snapshot"
    assert snap.uname()["node"] == REDACTED_HOST
    assert list(tmp_path.iterdir()) == [archive]  # nothing else left behind


def test_report_to_stdout_refuses_json_and_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["report", "-o", "-", "--json"]) == 1
    assert "--json and -o - both want stdout" in capsys.readouterr().err

    class Tty:
        def isatty(self) -> bool:
            return True

    from gputk.errors import InputError
    from gputk.services.report import STDOUT

    with pytest.raises(InputError, match="terminal"):
        capture(Path(STDOUT), frameworks=False, stream=Tty())  # type: ignore[arg-type]
