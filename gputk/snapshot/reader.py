"""Reading a snapshot back: :class:`SnapshotHost` answers the Host calls from its tree.

Paths are resolved *virtually*: a symbolic link under ``root/`` is a fact of the captured
machine, followed by reading its target and mapping it back under ``root/`` (an absolute
target means ``root/`` + target; ``..`` stops at ``root/``), never by the operating system.
The tree underneath (:mod:`gputk.snapshot.tree`) never follows a link either, so nothing
outside the snapshot is read, whatever the snapshot holds.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gputk.errors import SnapshotError
from gputk.host import DEFAULT_TIMEOUT_S, MAX_READ_BYTES, ProbeFn
from gputk.models.core import CommandResult
from gputk.snapshot.manifest import MANIFEST, MAX_MANIFEST_BYTES, ROOT, parse_manifest
from gputk.snapshot.tree import DiskTree, Node, Parts, Tree, resolve_links

_HINT = "pass a directory or .tar.gz made by `gputk report`"


def open_snapshot(path: str | os.PathLike[str]) -> SnapshotHost:
    """Open a snapshot directory or tarball (read into memory, never extracted)."""
    from gputk.snapshot.archive import looks_like_archive, read_archive

    p = Path(path)
    try:
        if p.is_dir():
            return SnapshotHost(p)
        present = p.exists()
    except OSError as exc:
        raise SnapshotError(f"cannot read {p}: {exc.strerror or exc}", _HINT) from None
    if not present:
        raise SnapshotError(f"snapshot not found: {p}", _HINT)
    if not looks_like_archive(p):  # refuses FIFOs, devices and unreadable files with their own words
        raise SnapshotError(f"{p} is neither a snapshot directory nor a tar archive", _HINT)
    return SnapshotHost.from_tree(read_archive(p), p)


def _find_base(tree: Tree, where: Path) -> Parts:
    if _is(tree.node((MANIFEST,)), "file"):
        return ()
    found = [
        (name,)
        for name in tree.listdir(())
        if _is(tree.node((name,)), "dir") and _is(tree.node((name, MANIFEST)), "file")
    ]
    if len(found) == 1:
        return found[0]
    raise SnapshotError(f"{where} holds no {MANIFEST}: not a gputk snapshot", _HINT)


def _is(node: Node | None, kind: str) -> bool:
    return node is not None and node.kind == kind


class SnapshotHost:
    """A :class:`gputk.host.Host` that answers from a snapshot (a directory, or a tarball in memory)."""

    live = False

    def __init__(self, directory: Path, *, tree: Tree | None = None) -> None:
        self.directory = directory
        self._tree: Tree = tree if tree is not None else DiskTree(directory)
        self._base = _find_base(self._tree, directory)
        for name in (ROOT, "commands"):
            node = self._tree.node((*self._base, name))
            if node is not None and node.kind != "dir":
                raise SnapshotError(
                    f"{directory}: {name}/ is a {'symbolic link' if node.kind == 'link' else 'file'}, "
                    "not a folder; refusing to read the snapshot",
                    _HINT,
                )
        self._root: Parts = (*self._base, ROOT)
        self._nodes: dict[str, Node | None] = {}
        self._resolved: dict[tuple[str, bool], str | None] = {}
        where = f"{directory}: {MANIFEST}"
        raw = self._tree.read((*self._base, MANIFEST), MAX_MANIFEST_BYTES + 1)
        if raw is None:
            raise SnapshotError(f"{where}: unreadable manifest")
        manifest = parse_manifest(raw, where)
        self.manifest: dict[str, Any] = manifest
        self._env = dict(manifest.get("env") or {})
        self._commands: dict[tuple[str, ...], dict[str, Any]] = {
            tuple(entry["argv"]): entry for entry in manifest.get("commands") or []
        }

    @classmethod
    def from_tree(cls, tree: Tree, origin: Path) -> SnapshotHost:
        return cls(origin, tree=tree)

    @property
    def label(self) -> str:
        name = self.directory.name
        return f"snapshot {self._base[0] if self._base else name}"

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    # -- paths ---------------------------------------------------------------

    def _parts(self, vpath: str) -> Parts:
        return (*self._root, *(p for p in vpath.split("/") if p))

    def _node(self, vpath: str) -> Node | None:
        # A snapshot does not change while it is read: each path is looked up once (the
        # checks ask for the same /proc and /sys paths many times over).
        try:
            return self._nodes[vpath]
        except KeyError:
            node = self._nodes[vpath] = self._tree.node(self._parts(vpath))
            return node

    def _resolve(self, path: str, follow_last: bool = True) -> str | None:
        """Resolve a virtual absolute path through the snapshot's links; None on a loop."""
        key = (path, follow_last)
        try:
            return self._resolved[key]
        except KeyError:
            resolved = self._resolved[key] = self._resolve_uncached(path, follow_last)
            return resolved

    def _resolve_uncached(self, path: str, follow_last: bool) -> str | None:
        return resolve_links(path, self._link_target, follow_last=follow_last)

    def _link_target(self, vpath: str) -> str | None:
        node = self._node(vpath)
        if node is None or node.kind != "link":
            return None
        # an unreadable link resolves to itself, which no read passes through (O_NOFOLLOW)
        return self._tree.readlink(self._parts(vpath))

    def _stat(self, path: str) -> Node | None:
        r = self._resolve(path)
        return None if r is None else self._node(r)

    def read_bytes(self, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes | None:
        r = self._resolve(path)
        return None if r is None else self._tree.read(self._parts(r), max_bytes)

    def read_text(self, path: str, max_bytes: int = MAX_READ_BYTES) -> str | None:
        data = self.read_bytes(path, max_bytes)
        return None if data is None else data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        return self._stat(path) is not None

    def lexists(self, path: str) -> bool:
        r = self._resolve(path, follow_last=False)
        return r is not None and self._node(r) is not None

    def is_dir(self, path: str) -> bool:
        return _is(self._stat(path), "dir")

    def is_file(self, path: str) -> bool:
        return _is(self._stat(path), "file")

    def listdir(self, path: str) -> list[str]:
        r = self._resolve(path)
        if r is None or not _is(self._node(r), "dir"):
            return []
        return self._tree.listdir(self._parts(r))

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
        norm = posixpath.normpath("/" + path)
        r = self._resolve(posixpath.dirname(norm))
        if r is None:
            return None
        return self._tree.readlink(self._parts(posixpath.join(r, posixpath.basename(norm))))

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
        return {k: str(plat.get(k) or "") for k in keys}

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
            return CommandResult(argv=key, error="os-error", detail=str(err)[:200], recorded=True)
        return CommandResult(
            argv=key,
            returncode=entry.get("returncode"),
            stdout=self._read_output(entry.get("stdout")),
            stderr=self._read_output(entry.get("stderr")),
            truncated=bool(entry.get("truncated")),
            recorded=True,
        )

    def _read_output(self, rel: object) -> str:
        if not isinstance(rel, str) or not rel:
            return ""
        norm = posixpath.normpath(rel)
        if norm.startswith(("/", "..")):
            return ""
        data = self._tree.read((*self._base, *(p for p in norm.split("/") if p)), MAX_READ_BYTES)
        return "" if data is None else data.decode("utf-8", errors="replace")

    def python_probe(self, name: str, fn: ProbeFn) -> dict[str, Any] | None:
        value = (self.manifest.get("probes") or {}).get(name)
        return value if isinstance(value, dict) else None


def _has_magic(s: str) -> bool:
    return any(c in s for c in "*?[")
