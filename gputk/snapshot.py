"""Snapshots, format version 1 (docs/snapshot.md): reading them back safely.

A snapshot is a directory (or a ``.tar.gz`` of one directory) with a
``manifest.json`` and a ``root/`` tree holding the host's files at their
absolute paths. :class:`SnapshotHost` answers the :class:`gputk.host.Host`
calls from it.

A snapshot is untrusted input. Paths are resolved *virtually*: symlinks inside
``root/`` are followed by reading their targets and mapping them back under
``root/``, never by the operating system, so no link can lead out of the
snapshot. Tar members that are absolute, contain ``..``, are devices, or link
outside the directory are refused, and sizes are capped.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gputk.errors import SnapshotError
from gputk.host import DEFAULT_TIMEOUT_S, MAX_READ_BYTES, ProbeFn
from gputk.models.core import CommandResult

FORMAT = "gputk-snapshot"
VERSION = 1
MANIFEST = "manifest.json"
ROOT = "root"

MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_MAX_LINK_HOPS = 40


def open_snapshot(path: str | os.PathLike[str]) -> SnapshotHost:
    """Open a snapshot directory or ``.tar.gz`` (extracted safely to a temp dir)."""
    p = Path(path)
    if not p.exists():
        raise SnapshotError(f"snapshot not found: {p}", "pass a directory or .tar.gz made by `gputk report`")
    if p.is_dir():
        return SnapshotHost(_find_snapshot_dir(p))
    if not tarfile.is_tarfile(p):
        raise SnapshotError(f"{p} is neither a snapshot directory nor a tar archive")
    tmp = Path(tempfile.mkdtemp(prefix="gputk-snapshot-"))
    try:
        safe_extract(p, tmp)
        host = SnapshotHost(_find_snapshot_dir(tmp))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    host._cleanup_dir = tmp
    return host


def _find_snapshot_dir(base: Path) -> Path:
    if (base / MANIFEST).is_file():
        return base
    subdirs = [d for d in base.iterdir() if d.is_dir() and (d / MANIFEST).is_file()]
    if len(subdirs) == 1:
        return subdirs[0]
    raise SnapshotError(f"{base} holds no {MANIFEST}: not a gputk snapshot")


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a snapshot tarball into ``dest``, refusing anything that could escape it."""
    dest = dest.resolve()
    try:
        tf = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError) as exc:
        raise SnapshotError(f"cannot open {archive}: {exc}") from None
    with tf:
        members = []
        total = 0
        try:
            for count, m in enumerate(tf, start=1):
                if count > MAX_MEMBERS:
                    raise SnapshotError(f"{archive}: more than {MAX_MEMBERS} entries; refusing to extract")
                _check_member(archive, m)
                total += max(m.size, 0)
                if m.size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
                    raise SnapshotError(f"{archive}: entry {m.name!r} is too large; refusing to extract")
                members.append(m)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise SnapshotError(f"{archive}: damaged archive ({exc})") from None
        try:
            for m in members:
                if m.isdir():
                    (dest / m.name).mkdir(parents=True, exist_ok=True)
                    continue
                target = dest / m.name
                target.parent.mkdir(parents=True, exist_ok=True)
                if m.issym():
                    if target.exists() or target.is_symlink():
                        target.unlink()
                    os.symlink(m.linkname, target)
                    continue
                src = tf.extractfile(m)
                if src is None:
                    continue
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise SnapshotError(f"{archive}: damaged archive ({exc})") from None


def _check_member(archive: Path, m: tarfile.TarInfo) -> None:
    name = m.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise SnapshotError(f"{archive}: entry {name!r} has an absolute path; refusing to extract")
    if ".." in parts:
        raise SnapshotError(f"{archive}: entry {name!r} climbs out with '..'; refusing to extract")
    if m.islnk():
        raise SnapshotError(f"{archive}: entry {name!r} is a hard link; refusing to extract")
    if not (m.isfile() or m.isdir() or m.issym()):
        raise SnapshotError(f"{archive}: entry {name!r} is a device or fifo; refusing to extract")
    if m.issym():
        link = m.linkname
        if link.startswith("/"):
            raise SnapshotError(f"{archive}: link {name!r} points to absolute path {link!r}; refusing")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
        if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
            raise SnapshotError(f"{archive}: link {name!r} points outside the snapshot; refusing")


class SnapshotHost:
    """A :class:`gputk.host.Host` that answers from a snapshot directory."""

    live = False

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.root = directory / ROOT
        self._cleanup_dir: Path | None = None
        raw = directory / MANIFEST
        try:
            if raw.stat().st_size > MAX_MANIFEST_BYTES:
                raise SnapshotError(f"{raw}: manifest too large")
            manifest = json.loads(raw.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotError(f"{raw}: unreadable manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise SnapshotError(f"{raw}: not a gputk snapshot manifest (format != {FORMAT!r})")
        version = manifest.get("version")
        if not isinstance(version, int) or version < 1:
            raise SnapshotError(f"{raw}: unsupported snapshot version {version!r}")
        self.manifest: dict[str, Any] = manifest
        env = manifest.get("env") or {}
        self._env = {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}
        self._commands: dict[tuple[str, ...], dict[str, Any]] = {}
        for entry in manifest.get("commands") or []:
            if isinstance(entry, dict) and isinstance(entry.get("argv"), list):
                self._commands[tuple(str(a) for a in entry["argv"])] = entry

    def __del__(self) -> None:  # pragma: no cover - best effort cleanup of extracted tarballs
        if getattr(self, "_cleanup_dir", None) is not None:
            shutil.rmtree(self._cleanup_dir, ignore_errors=True)  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        return f"snapshot {self.directory.name}"

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    # -- paths ---------------------------------------------------------------

    def _real(self, vpath: str) -> Path:
        return self.root / vpath.lstrip("/")

    def _resolve(self, path: str, follow_last: bool = True) -> str | None:
        """Resolve a virtual absolute path through the snapshot's links; None on a loop."""
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        resolved = "/"
        hops = 0
        while parts:
            name = parts.pop(0)
            candidate = posixpath.join(resolved, name)
            real = self._real(candidate)
            if (parts or follow_last) and real.is_symlink():
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    return None
                target = os.readlink(real)
                base = "/" if target.startswith("/") else resolved
                new = posixpath.normpath(posixpath.join(base, target))
                parts = [p for p in new.split("/") if p] + parts
                resolved = "/"
                continue
            resolved = candidate
        return resolved

    def _lstat(self, vpath: str) -> os.stat_result | None:
        try:
            return os.lstat(self._real(vpath))
        except (OSError, ValueError):
            return None

    def _stat(self, path: str) -> os.stat_result | None:
        r = self._resolve(path)
        return None if r is None else self._lstat(r)

    def read_bytes(self, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes | None:
        st = self._stat(path)
        if st is None or not stat.S_ISREG(st.st_mode):
            return None
        r = self._resolve(path)
        assert r is not None
        try:
            with open(self._real(r), "rb") as fh:
                return fh.read(max_bytes)
        except OSError:
            return None

    def read_text(self, path: str, max_bytes: int = MAX_READ_BYTES) -> str | None:
        data = self.read_bytes(path, max_bytes)
        return None if data is None else data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        return self._stat(path) is not None

    def lexists(self, path: str) -> bool:
        r = self._resolve(path, follow_last=False)
        return r is not None and self._lstat(r) is not None

    def is_dir(self, path: str) -> bool:
        st = self._stat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def is_file(self, path: str) -> bool:
        st = self._stat(path)
        return st is not None and stat.S_ISREG(st.st_mode)

    def listdir(self, path: str) -> list[str]:
        r = self._resolve(path)
        if r is None or not self.is_dir(r):
            return []
        try:
            return sorted(os.listdir(self._real(r)))
        except OSError:
            return []

    def glob(self, pattern: str) -> list[str]:
        parts = [p for p in posixpath.normpath("/" + pattern).split("/") if p]
        paths = ["/"]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: list[str] = []
            for base in paths:
                if _has_magic(part):
                    for name in self.listdir(base):
                        if name.startswith(".") and not part.startswith("."):
                            continue
                        if fnmatch.fnmatchcase(name, part):
                            nxt.append(posixpath.join(base, name))
                else:
                    cand = posixpath.join(base, part)
                    if self.lexists(cand) if last else self.is_dir(cand):
                        nxt.append(cand)
            paths = nxt
        return sorted(paths)

    def readlink(self, path: str) -> str | None:
        r = self._resolve(posixpath.dirname(posixpath.normpath("/" + path)))
        if r is None:
            return None
        real = self._real(posixpath.join(r, posixpath.basename(path)))
        try:
            return os.readlink(real)
        except OSError:
            return None

    def realpath(self, path: str) -> str:
        r = self._resolve(path)
        return r if r is not None else posixpath.normpath("/" + path)

    def which(self, name: str) -> str | None:
        if "/" in name:
            return name if self.is_file(name) else None
        for d in self._env.get("PATH", "").split(":"):
            if not d:
                continue
            cand = posixpath.join(d, name)
            if self.is_file(cand):
                return cand
        return None

    def uname(self) -> dict[str, str]:
        plat = self.manifest.get("platform") or {}
        keys = ("system", "node", "release", "version", "machine")
        return {k: str(plat.get(k, "")) for k in keys}

    # -- commands and probes ---------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Replay a recorded command (see the replay rules in docs/snapshot.md)."""
        key = tuple(str(a) for a in argv)
        entry = self._commands.get(key)
        if entry is None:
            if self.which(key[0]) is None:
                return CommandResult(argv=key, error="not-found", recorded=True)
            return CommandResult(argv=key, error="not-captured", recorded=True)
        err = entry.get("error")
        if err == "not-found":
            return CommandResult(argv=key, error="not-found", recorded=True)
        if err == "timeout":
            t = entry.get("timeout_s")
            return CommandResult(
                argv=key,
                error="timeout",
                timeout_s=float(t) if isinstance(t, (int, float)) else timeout,
                recorded=True,
            )
        if err is not None:
            return CommandResult(argv=key, error="os-error", detail=str(err), recorded=True)
        rc = entry.get("returncode")
        return CommandResult(
            argv=key,
            returncode=int(rc) if isinstance(rc, int) else None,
            stdout=self._read_output(entry.get("stdout")),
            stderr=self._read_output(entry.get("stderr")),
            recorded=True,
        )

    def _read_output(self, rel: object) -> str:
        if not isinstance(rel, str) or not rel:
            return ""
        norm = posixpath.normpath(rel)
        if norm.startswith(("/", "..")):
            return ""
        p = self.directory / norm
        try:
            if p.is_symlink() or not p.is_file():
                return ""
            with open(p, "rb") as fh:
                return fh.read(MAX_READ_BYTES).decode("utf-8", errors="replace")
        except OSError:
            return ""

    def python_probe(self, name: str, fn: ProbeFn) -> dict[str, Any] | None:
        probes = self.manifest.get("probes") or {}
        value = probes.get(name) if isinstance(probes, dict) else None
        return value if isinstance(value, dict) else None


def _has_magic(s: str) -> bool:
    return any(c in s for c in "*?[")


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
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(directory, arcname=top, recursive=True)
    return archive
