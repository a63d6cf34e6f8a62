"""Snapshots: replay rules, virtual link resolution, hostile tarballs."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from gputk.errors import SnapshotError
from gputk.snapshot import SnapshotWriter, open_snapshot, pack


def test_replay_of_commands_files_links_and_which(snap: SnapshotWriter) -> None:
    snap.add_file("/proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05\n")
    snap.add_file("/usr/bin/nvidia-smi")
    snap.add_command(["nvidia-smi", "-L"], stdout="GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-1)\n")
    snap.add_command(["lshw", "-C", "display", "-json"], error="not-found")
    snap.add_command(["nvidia-smi", "-q", "-x"], error="timeout", timeout_s=15)
    snap.add_dir("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0")
    snap.add_file("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/vendor", "0x10de\n")
    snap.add_symlink("/sys/bus/pci/devices/0000:01:00.0", "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0")
    snap.add_symlink("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/driver", "../../../../bus/pci/drivers/nvidia")
    snap.add_dir("/sys/bus/pci/drivers/nvidia")
    snap.add_dir("/usr/local/cuda-12.3/bin")
    snap.add_file("/usr/local/cuda-12.3/bin/nvcc")
    snap.add_symlink("/usr/local/cuda", "/usr/local/cuda-12.3")
    host = snap.host()

    assert host.run(["nvidia-smi", "-L"]).stdout.startswith("GPU 0: NVIDIA A100")
    assert host.run(["nvidia-smi", "-L"]).ok
    assert host.run(["lshw", "-C", "display", "-json"]).error == "not-found"
    t = host.run(["nvidia-smi", "-q", "-x"])
    assert t.error == "timeout" and t.timeout_s == 15
    # Not listed, but the program is on the snapshot's PATH: not captured, not "missing".
    assert host.run(["nvidia-smi", "--query-gpu=name", "--format=csv"]).error == "not-captured"
    # Not listed and not on PATH: not installed.
    assert host.run(["lspci", "-nn"]).error == "not-found"

    assert host.read_text("/sys/bus/pci/devices/0000:01:00.0/vendor") == "0x10de\n"
    assert host.glob("/sys/bus/pci/devices/*") == ["/sys/bus/pci/devices/0000:01:00.0"]
    assert host.readlink("/sys/bus/pci/devices/0000:01:00.0/driver") == "../../../../bus/pci/drivers/nvidia"
    assert host.realpath("/sys/bus/pci/devices/0000:01:00.0/driver") == "/sys/bus/pci/drivers/nvidia"
    assert host.realpath("/usr/local/cuda/bin/nvcc") == "/usr/local/cuda-12.3/bin/nvcc"
    assert host.is_file("/usr/local/cuda/bin/nvcc")
    assert host.which("nvidia-smi") == "/usr/bin/nvidia-smi"
    assert host.which("nvcc") is None  # /usr/local/cuda/bin is not on this PATH
    assert host.read_text("/etc/shadow") is None
    assert host.uname()["release"] == "6.8.0-45-generic"
    assert not host.live


def test_links_cannot_lead_out_of_a_snapshot_directory(snap: SnapshotWriter, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("real machine file")
    # A hand-made snapshot directory with an absolute link to the real machine and a '..' climb.
    import os

    os.symlink(str(secret), snap.root / "abs")
    os.symlink("../../../../../../../../" + str(secret).lstrip("/"), snap.root / "climb")
    host = snap.host()
    assert host.read_text("/abs") is None
    assert host.read_text("/climb") is None


def test_link_loops_are_absence(snap: SnapshotWriter) -> None:
    snap.add_symlink("/a", "/b").add_symlink("/b", "/a")
    host = snap.host()
    assert host.read_text("/a/x") is None
    assert not host.exists("/a")


def test_tarball_round_trip(snap: SnapshotWriter, tmp_path: Path) -> None:
    snap.add_file("/etc/os-release", 'ID=ubuntu\nVERSION_ID="22.04"\n')
    snap.add_symlink("/usr/local/cuda", "/usr/local/cuda-12.3")
    snap.add_file("/usr/local/cuda-12.3/version.json", '{"cuda": {"version": "12.3.2"}}')
    snap.add_command(["nvcc", "--version"], stdout="Cuda compilation tools, release 12.3, V12.3.107\n")
    snap.write_manifest()
    archive = pack(snap.directory, tmp_path / "box.tar.gz")
    host = open_snapshot(archive)
    assert host.read_text("/usr/local/cuda/version.json") == '{"cuda": {"version": "12.3.2"}}'
    assert host.readlink("/usr/local/cuda") == "cuda-12.3"
    assert "release 12.3" in host.run(["nvcc", "--version"]).stdout


def _tar_with(tmp_path: Path, *members: tarfile.TarInfo, data: bytes = b"x") -> Path:
    path = tmp_path / "evil.tar.gz"
    manifest = json.dumps({"format": "gputk-snapshot", "version": 1}).encode()
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("s/manifest.json")
        info.size = len(manifest)
        tf.addfile(info, io.BytesIO(manifest))
        for m in members:
            if m.isfile():
                m.size = len(data)
                tf.addfile(m, io.BytesIO(data))
            else:
                tf.addfile(m)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    m.linkname = link
    return m


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (_member("/etc/passwd"), "absolute path"),
        (_member("s/../../escape.txt"), "'..'"),
        (_member("s/root/evil", tarfile.SYMTYPE, "/etc/shadow"), "absolute path"),
        (_member("s/root/evil", tarfile.SYMTYPE, "../../../../outside"), "outside the snapshot"),
        (_member("s/root/hard", tarfile.LNKTYPE, "s/manifest.json"), "hard link"),
        (_member("s/root/dev", tarfile.CHRTYPE), "device"),
    ],
)
def test_hostile_tarballs_are_refused(tmp_path: Path, member: tarfile.TarInfo, words: str) -> None:
    archive = _tar_with(tmp_path, member)
    with pytest.raises(SnapshotError) as info:
        open_snapshot(archive)
    assert words in str(info.value)
    assert not (tmp_path / "escape.txt").exists()


def test_oversized_members_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gputk.snapshot.manifest as snapshot

    monkeypatch.setattr(snapshot, "MAX_MEMBER_BYTES", 10)
    archive = _tar_with(tmp_path, _member("s/root/big"), data=b"y" * 11)
    with pytest.raises(SnapshotError, match="too large"):
        open_snapshot(archive)


def test_not_a_snapshot(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(SnapshotError, match="not a gputk snapshot"):
        open_snapshot(tmp_path / "x")
    (tmp_path / "y.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(SnapshotError, match="neither a snapshot directory nor a tar archive"):
        open_snapshot(tmp_path / "y.tar.gz")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(SnapshotError, match="format"):
        open_snapshot(bad)


def test_a_truncated_command_replays_as_truncated(snap: SnapshotWriter) -> None:
    snap.add_file("/usr/bin/lspci")
    snap.add_command(["lspci", "-vmm", "-nn", "-k", "-D"], stdout="Slot:\t0000:01:00.0\n", truncated=True)
    res = snap.host().run(["lspci", "-vmm", "-nn", "-k", "-D"])
    assert res.truncated and res.stdout == "Slot:\t0000:01:00.0\n"
    assert "output cap" in res.describe()


def test_members_through_links_are_refused_and_nothing_is_extracted(tmp_path: Path) -> None:
    archive = _tar_with(
        tmp_path, _member("s/root/s", tarfile.SYMTYPE, "."), _member("s/root/s/s/s/escape.txt")
    )
    with pytest.raises(SnapshotError, match="goes through the link"):
        open_snapshot(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz"]


def test_a_tarball_is_read_into_memory_with_its_links_virtual(
    snap: SnapshotWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    snap.add_symlink("/usr/local/cuda", "/usr/local/cuda-12.3")
    snap.add_file("/usr/local/cuda-12.3/version.json", "{}")
    snap.add_symlink("/etc/loop", "/etc/loop")
    snap.write_manifest()
    archive = pack(snap.directory, tmp_path / "box.tar.gz")
    host = open_snapshot(archive)
    assert list(private_tmp.iterdir()) == []  # nothing extracted anywhere
    assert host.realpath("/usr/local/cuda/version.json") == "/usr/local/cuda-12.3/version.json"
    assert host.readlink("/usr/local/cuda") == "cuda-12.3"
    assert host.read_text("/etc/loop/x") is None and not host.exists("/etc/loop")


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        ({"commands": 5}, "'commands' must be a list, not a number"),
        ({"env": []}, "'env' must be an object, not a list"),
        ({"commands": [{"argv": []}]}, "argv must be a non-empty list of strings"),
        ({"version": 2}, "newer than this gputk reads"),
        ({"probes": {"nvml": "ok"}}, "'probes.nvml' must be an object, not a string"),
    ],
)
def test_manifests_of_the_wrong_shape_are_one_line(tmp_path: Path, manifest: dict[str, object], words: str) -> None:
    d = tmp_path / "snap"
    (d / "root").mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({"format": "gputk-snapshot", "version": 1, **manifest}))
    with pytest.raises(SnapshotError) as info:
        open_snapshot(d)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_resolve_links_follows_relative_absolute_and_stops_on_loops() -> None:
    """The one link walker the reader (on a snapshot) and the recorder (on this machine) share."""
    from gputk.snapshot.tree import resolve_links

    links = {
        "/usr/lib/libcuda.so.1": "libcuda.so.550.54.15",  # relative: beside the link
        "/usr/local/cuda": "/usr/local/cuda-12.4",  # absolute
        "/loop/a": "b",
        "/loop/b": "a",
        "/up": "../etc/../usr",  # normalised: /usr
    }
    target = links.get
    assert resolve_links("/usr/lib/libcuda.so.1", target) == "/usr/lib/libcuda.so.550.54.15"
    assert resolve_links("/usr/local/cuda/bin/nvcc", target) == "/usr/local/cuda-12.4/bin/nvcc"
    assert resolve_links("/usr/local/cuda", target, follow_last=False) == "/usr/local/cuda"
    assert resolve_links("/up/lib/libcuda.so.1", target) == "/usr/lib/libcuda.so.550.54.15"
    assert resolve_links("/missing/../usr/local/cuda", target) == "/usr/local/cuda-12.4"
    assert resolve_links("/loop/a", target) is None
    assert resolve_links("/loop/a", target, follow_last=False) == "/loop/a"
