"""Builders of hostile snapshots: tarballs, directories and manifests, each one class of attack."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

from tests.hostile.harness import CANARY_VERSION_FILE, Sandbox

GOOD_MANIFEST = {
    "format": "gputk-snapshot",
    "version": 1,
    "platform": {"system": "Linux", "node": "box", "release": "6.8.0", "version": "#1", "machine": "x86_64"},
    "env": {"PATH": "/usr/bin:/bin"},
    "commands": [],
    "probes": {},
}
MB = 1024 * 1024


def manifest_bytes(**changes: object) -> bytes:
    data = dict(GOOD_MANIFEST)
    data.update(changes)
    return json.dumps(data).encode()


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0) -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    m.linkname = link
    m.size = size
    return m


Member = tuple[tarfile.TarInfo, bytes | None]


def write_tar(path: Path, members: list[Member], *, raw_tail: bytes = b"", compress: str = "gz") -> Path:
    """A tarball: a good manifest under ``s/``, then ``members`` (and raw bytes appended as is)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        man = manifest_bytes()
        tf.addfile(_info("s/manifest.json", size=len(man)), io.BytesIO(man))
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
        end = tf.offset  # where the end-of-archive blocks start
    body = buf.getvalue()
    if raw_tail:
        body = body[:end] + raw_tail
        body += bytes(-len(body) % 512) + bytes(1024)
    opener: Callable[[bytes], bytes] = {
        "gz": lambda b: gzip.compress(b, 1),
        "bz2": lambda b: bz2.compress(b, 1),
        "xz": lambda b: lzma.compress(b, preset=0),
        "none": lambda b: b,
    }[compress]
    path.write_bytes(opener(body))
    return path


def huge_header(kind: bytes, size: int, name: str = "././@LongLink") -> bytes:
    """A header announcing ``size`` bytes of extended header, followed by 1 MiB of zeros (compresses to ~1 KiB)."""
    info = _info(name, kind, size=size)
    return info.tobuf(tarfile.GNU_FORMAT) + bytes(MB)


def raw_header(name: str, kind: bytes, size_field: bytes) -> bytes:
    """A ustar header with a hand-made size field (checksum fixed up)."""
    block = bytearray(tarfile.TarInfo(name).tobuf(tarfile.USTAR_FORMAT)[:512])
    block[156:157] = kind
    block[124:136] = size_field.ljust(12, b"\0")[:12]
    block[148:156] = b"        "
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def tar_case(members: list[Member], **kw: object) -> Callable[[Sandbox], list[str]]:
    def build(sb: Sandbox) -> list[str]:
        path = write_tar(sb.root / "their-box.tar.gz", members, **kw)  # type: ignore[arg-type]
        return ["detect", "--snapshot", str(path)]

    return build


def raw_case(data: Callable[[], bytes], name: str = "their-box.tar.gz") -> Callable[[Sandbox], list[str]]:
    def build(sb: Sandbox) -> list[str]:
        path = sb.root / name
        path.write_bytes(data())
        return ["detect", "--snapshot", str(path)]

    return build


def manifest_case(raw: bytes, tarball: bool = False) -> Callable[[Sandbox], list[str]]:
    def build(sb: Sandbox) -> list[str]:
        d = sb.root / "snap"
        (d / "root").mkdir(parents=True)
        (d / "manifest.json").write_bytes(raw)
        if not tarball:
            return ["detect", "--snapshot", str(d)]
        path = sb.root / "snap.tar.gz"
        with tarfile.open(path, "w:gz") as tf:
            tf.add(d, arcname="snap")
        return ["doctor", "--snapshot", str(path)]

    return build


def dir_snapshot(sb: Sandbox) -> Path:
    """A valid snapshot directory to plant links in."""
    d = sb.root / "snap"
    for sub in ("root/proc/driver/nvidia", "commands"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_bytes(manifest_bytes())
    return d


def dir_case(
    plant: Callable[[Sandbox, Path], None], command: str = "doctor"
) -> Callable[[Sandbox], list[str]]:
    def build(sb: Sandbox) -> list[str]:
        d = dir_snapshot(sb)
        plant(sb, d)
        return [command, "--snapshot", str(d), "--json"]

    return build


def replace_with_link(path: Path, target: Path | str) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    os.symlink(target, path)


def commands_reading(sb: Sandbox, d: Path, rel: str) -> None:
    """The manifest says nvidia-smi -L printed the file at ``rel`` (relative to the snapshot)."""
    entry = {"argv": ["nvidia-smi", "-L"], "returncode": 0, "stdout": rel, "stderr": ""}
    (d / "manifest.json").write_bytes(manifest_bytes(commands=[entry]))
    (d / "root/usr/bin").mkdir(parents=True, exist_ok=True)
    (d / "root/usr/bin/nvidia-smi").write_bytes(b"")


def version_file_case(content: bytes) -> Callable[[Sandbox, Path], None]:
    def plant(sb: Sandbox, d: Path) -> None:
        (d / "root/proc/driver/nvidia/version").write_bytes(content)

    return plant


CANARY_BYTES = CANARY_VERSION_FILE.encode()
