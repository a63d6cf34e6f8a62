"""Where a snapshot's bytes live: a directory on disk, or a tarball read into memory.

Both answer the same four questions about a path given as a tuple of names (``node``,
``readlink``, ``listdir``, ``read``) and neither ever follows a symbolic link: a link is a
node of kind ``"link"`` whose target the snapshot reader resolves itself, inside the
snapshot. On disk every lookup walks from the snapshot directory one name at a time with
``O_NOFOLLOW``, so a link anywhere (``root/`` itself, ``commands/``, a folder deep below)
is never passed through by the operating system, and a FIFO or device is never opened.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Kind = Literal["file", "dir", "link", "other"]
Parts = tuple[str, ...]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC


@dataclass(frozen=True)
class Node:
    kind: Kind
    size: int = 0


class Tree(Protocol):
    """A read-only tree of names; absent or unreadable things are None / empty, never exceptions."""

    def node(self, parts: Parts) -> Node | None: ...

    def readlink(self, parts: Parts) -> str | None: ...

    def listdir(self, parts: Parts) -> list[str]: ...

    def read(self, parts: Parts, max_bytes: int) -> bytes | None: ...


MAX_LINK_HOPS = 40  # what the kernel allows (ELOOP) before it gives up on a path


def resolve_links(
    path: str, link_target: Callable[[str], str | None], *, follow_last: bool = True
) -> str | None:
    """``path`` with every symbolic link along it resolved, one name at a time; None on a loop.

    ``link_target(p)`` is the target of ``p`` when ``p`` is a link, else None (a missing name
    is not a link: the rest of the path is appended as it is). Used on a snapshot's tree by
    the reader and on this machine by the recorder, so both resolve a path the same way.
    """
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    resolved = "/"
    hops = 0
    while parts:
        candidate = posixpath.join(resolved, parts.pop(0))
        target = link_target(candidate) if parts or follow_last else None
        if target is None:
            resolved = candidate
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            return None
        base = "/" if target.startswith("/") else resolved
        parts = [p for p in posixpath.normpath(posixpath.join(base, target)).split("/") if p] + parts
        resolved = "/"
    return resolved


def valid_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


class DiskTree:
    """A snapshot directory, read without ever following a link on disk."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def _open_dir(self, parts: Parts) -> int | None:
        try:
            fd = os.open(self.base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
        except OSError:
            return None
        for name in parts:
            if not valid_name(name):
                os.close(fd)
                return None
            try:
                new = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:  # ELOOP/ENOTDIR: a link or a file on the way
                os.close(fd)
                return None
            os.close(fd)
            fd = new
        return fd

    def node(self, parts: Parts) -> Node | None:
        if not parts:
            return Node("dir") if self.base.is_dir() else None
        if not valid_name(parts[-1]):
            return None
        fd = self._open_dir(parts[:-1])
        if fd is None:
            return None
        try:
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(fd)
        return Node(_kind(st.st_mode), st.st_size)

    def readlink(self, parts: Parts) -> str | None:
        if not parts or not valid_name(parts[-1]):
            return None
        fd = self._open_dir(parts[:-1])
        if fd is None:
            return None
        try:
            return os.readlink(parts[-1], dir_fd=fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def listdir(self, parts: Parts) -> list[str]:
        fd = self._open_dir(parts)
        if fd is None:
            return []
        try:
            return sorted(os.listdir(fd))
        except OSError:
            return []
        finally:
            os.close(fd)

    def read(self, parts: Parts, max_bytes: int) -> bytes | None:
        if not parts or not valid_name(parts[-1]):
            return None
        dfd = self._open_dir(parts[:-1])
        if dfd is None:
            return None
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dfd)
        except OSError:
            return None
        finally:
            os.close(dfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks: list[bytes] = []
            left = max_bytes
            while left > 0:
                chunk = os.read(fd, min(left, 1024 * 1024))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)


class TreeConflict(ValueError):
    """An entry that cannot sit where the archive puts it (through a link, under a file, twice)."""


@dataclass
class MemTree:
    """A tarball's entries, held in memory: files, directories and links (never materialised)."""

    files: dict[Parts, bytes] = field(default_factory=dict)
    links: dict[Parts, str] = field(default_factory=dict)
    dirs: set[Parts] = field(default_factory=lambda: {()})
    children: dict[Parts, set[str]] = field(default_factory=dict)

    def _kind_of(self, parts: Parts) -> Kind | None:
        if parts in self.files:
            return "file"
        if parts in self.links:
            return "link"
        if parts in self.dirs:
            return "dir"
        return None

    def _make_parents(self, parts: Parts) -> None:
        for i in range(len(parts)):
            prefix = parts[:i]
            kind = self._kind_of(prefix)
            if kind == "link":
                raise TreeConflict(f"goes through the link {'/'.join(prefix)!r}")
            if kind == "file":
                raise TreeConflict(f"sits under the file {'/'.join(prefix)!r}")
            if kind is None:
                self.dirs.add(prefix)
            if i:
                self.children.setdefault(parts[: i - 1], set()).add(parts[i - 1])
        if parts:
            self.children.setdefault(parts[:-1], set()).add(parts[-1])

    def add(self, parts: Parts, kind: Kind, data: bytes = b"", link: str = "") -> None:
        old = self._kind_of(parts)
        if old is not None and not (old == "dir" and kind == "dir"):
            raise TreeConflict("appears twice")
        self._make_parents(parts)
        if kind == "dir":
            self.dirs.add(parts)
        elif kind == "link":
            self.links[parts] = link
        else:
            self.files[parts] = data

    def node(self, parts: Parts) -> Node | None:
        kind = self._kind_of(parts)
        if kind is None:
            return None
        return Node(kind, len(self.files[parts]) if kind == "file" else 0)

    def readlink(self, parts: Parts) -> str | None:
        return self.links.get(parts)

    def listdir(self, parts: Parts) -> list[str]:
        return sorted(self.children.get(parts, ())) if parts in self.dirs else []

    def read(self, parts: Parts, max_bytes: int) -> bytes | None:
        data = self.files.get(parts)
        return None if data is None else data[:max_bytes]
