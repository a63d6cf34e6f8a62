"""Writing snapshots: :class:`SnapshotWriter` builds a snapshot directory, :func:`pack` tars it.

Used by ``gputk report`` (through the recording host) and by the tests to build fixtures.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gputk.models.core import CommandResult
from gputk.snapshot.manifest import FORMAT, MANIFEST, ROOT, VERSION
from gputk.snapshot.reader import SnapshotHost


class SnapshotWriter:
    """Builds a snapshot directory: used by ``gputk report`` and by the tests.

    Absolute link targets are stored relative to the link's directory so that
    the result can be packed into a tarball that :func:`safe_extract` accepts.
    """

    def __init__(self, directory: Path, gputk_version: str = "") -> None:
        import datetime as _dt

        from gputk import __version__

        self.directory = directory
        self.root = directory / ROOT
        self.root.mkdir(parents=True, exist_ok=True)
        self.manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "gputk_version": gputk_version or __version__,
            "platform": {},
            "env": {},
            "commands": [],
            "probes": {},
        }
        self._n = 0

    def _target(self, vpath: str) -> Path:
        norm = posixpath.normpath("/" + vpath)
        return self.root / norm.lstrip("/")

    def add_file(self, vpath: str, content: str | bytes = b"") -> SnapshotWriter:
        p = self._target(vpath)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink():
            p.unlink()
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return self

    def add_dir(self, vpath: str) -> SnapshotWriter:
        self._target(vpath).mkdir(parents=True, exist_ok=True)
        return self

    def add_symlink(self, vpath: str, target: str) -> SnapshotWriter:
        norm = posixpath.normpath("/" + vpath)
        if target.startswith("/"):
            target = posixpath.relpath(posixpath.normpath(target), posixpath.dirname(norm))
        p = self._target(norm)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.exists():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        os.symlink(target, p)
        return self

    def add_command(
        self,
        argv: Sequence[str],
        stdout: str = "",
        stderr: str = "",
        returncode: int | None = 0,
        error: str | None = None,
        timeout_s: float | None = None,
        truncated: bool = False,
    ) -> SnapshotWriter:
        entry: dict[str, Any] = {"argv": list(argv)}
        if error == "not-found":
            entry["error"] = "not-found"
        elif error == "timeout":
            entry["error"] = "timeout"
            entry["timeout_s"] = timeout_s
        elif error is not None:
            entry["error"] = error
        else:
            self._n += 1
            cmd_dir = self.directory / "commands"
            cmd_dir.mkdir(exist_ok=True)
            stem = f"{self._n:03d}-" + "".join(c if c.isalnum() else "_" for c in argv[0].split("/")[-1])[:40]
            (cmd_dir / f"{stem}.stdout").write_text(stdout, encoding="utf-8")
            (cmd_dir / f"{stem}.stderr").write_text(stderr, encoding="utf-8")
            entry.update(
                returncode=returncode, stdout=f"commands/{stem}.stdout", stderr=f"commands/{stem}.stderr"
            )
            if truncated:
                entry["truncated"] = True
        cmds = self.manifest["commands"]
        for i, c in enumerate(cmds):
            if c["argv"] == entry["argv"]:
                cmds[i] = entry  # the latest answer wins, the first position stays
                break
        else:
            cmds.append(entry)
        return self

    def add_result(self, result: CommandResult) -> SnapshotWriter:
        return self.add_command(
            result.argv,
            result.stdout,
            result.stderr,
            result.returncode,
            result.error,
            result.timeout_s,
            result.truncated,
        )

    def set_env(self, env: Mapping[str, str]) -> SnapshotWriter:
        self.manifest["env"] = dict(env)
        return self

    def set_platform(self, **fields: Any) -> SnapshotWriter:
        self.manifest["platform"].update(fields)
        return self

    def set_probe(self, name: str, value: dict[str, Any]) -> SnapshotWriter:
        self.manifest["probes"][name] = value
        return self

    def write_manifest(self) -> Path:
        path = self.directory / MANIFEST
        path.write_text(json.dumps(self.manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        return path

    def host(self) -> SnapshotHost:
        """Write the manifest and open the snapshot (handy in tests)."""
        self.write_manifest()
        return SnapshotHost(self.directory)


def pack(directory: Path, archive: Path) -> Path:
    """Pack a snapshot directory into a ``.tar.gz`` whose single top folder is the snapshot."""
    top = archive.name.removesuffix(".tar.gz").removesuffix(".tgz") or "snapshot"
    import tarfile  # only when the snapshot is packed

    with tarfile.open(archive, "w:gz") as tf:
        tf.add(directory, arcname=top, recursive=True)
    return archive
