"""A Host that records every answer it gives into a snapshot.

``gputk report`` runs the real probes through a :class:`RecordingHost` that
wraps this machine: each command run, file read, path tested, directory listed
and in-process probe result is written into a
:class:`gputk.snapshot.SnapshotWriter` as it is answered. Replaying the
snapshot then gives the probes the same answers, so a snapshot holds exactly
what the diagnosis needs and nothing it never looked at.

Files are recorded at their real location with every symlink on the way
recorded as a link, so ``/sys/bus/pci/devices/0000:01:00.0/vendor`` (a path
through links into ``/sys/devices``) resolves the same on replay. Files that
are only tested for existence (libraries, binaries, device nodes) are recorded
as empty files under their real names: the names and links are the facts.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Mapping, Sequence
from typing import Any

from gputk.host import DEFAULT_TIMEOUT_S, MAX_READ_BYTES, LiveHost, ProbeFn
from gputk.models.core import CommandResult
from gputk.services.redact import Redactor
from gputk.snapshot import SnapshotWriter
from gputk.snapshot.tree import resolve_links

# Files bigger than this are recorded truncated (a snapshot is for bug reports).
MAX_RECORDED_FILE = 1024 * 1024
# Never record the contents of these (binary or huge or personal), only their names.
_NAME_ONLY_SUFFIXES = (".so", ".a", ".ko", ".ko.xz", ".ko.zst", ".deb", ".whl")


class RecordingHost:
    """Answers from a live host and records each answer in ``writer``."""

    live = True

    def __init__(self, inner: LiveHost, writer: SnapshotWriter, redactor: Redactor) -> None:
        self.inner = inner
        self.writer = writer
        self.redactor = redactor
        self._done: set[tuple[str, str]] = set()

    @property
    def label(self) -> str:
        return self.inner.label

    @property
    def env(self) -> Mapping[str, str]:
        return self.inner.env

    # -- recording helpers -------------------------------------------------------

    def _vpath(self, path: str) -> str:
        return self.redactor.path(posixpath.normpath(path))

    def _record_links(self, path: str) -> str:
        """Record each symlink along ``path``; returns the real path (links resolved)."""
        real = resolve_links(path, self._record_link)
        return real if real is not None else posixpath.normpath("/" + path)  # a loop: as given

    def _record_link(self, candidate: str) -> str | None:
        """The target of ``candidate`` when it is a link (recorded in the snapshot once), else None."""
        try:
            if not stat.S_ISLNK(os.lstat(candidate).st_mode):
                return None
            target = os.readlink(candidate)
        except OSError:
            return None
        key = ("link", candidate)
        if key not in self._done:
            self._done.add(key)
            self.writer.add_symlink(self._vpath(candidate), self.redactor.path(target))
        return target

    def _record_name(self, path: str) -> None:
        real = self._record_links(path)
        key = ("name", real)
        if key in self._done:
            return
        self._done.add(key)
        try:
            st = os.lstat(real)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode):
            self.writer.add_dir(self._vpath(real))
        elif not stat.S_ISLNK(st.st_mode) and ("file", real) not in self._done:
            self.writer.add_file(self._vpath(real), b"")

    def _record_content(self, path: str, data: bytes) -> None:
        real = self._record_links(path)
        if real.endswith(_NAME_ONLY_SUFFIXES) or ".so." in posixpath.basename(real):
            self._record_name(real)
            return
        self._done.add(("file", real))
        self._done.add(("name", real))
        text = data[:MAX_RECORDED_FILE].decode("utf-8", errors="replace")
        self.writer.add_file(self._vpath(real), self.redactor.text(text))

    # -- the Host protocol -------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        result = self.inner.run(argv, timeout=timeout, env=env)
        red = self.redactor
        self.writer.add_command(
            [red.path(a) for a in result.argv],
            red.text(result.stdout),
            red.text(result.stderr),
            result.returncode,
            result.error if result.error in ("not-found", "timeout") else None,
            result.timeout_s,
            truncated=result.truncated,
        )
        exe = self.inner.which(result.argv[0]) if "/" not in result.argv[0] else result.argv[0]
        if exe:
            self._record_name(exe)
        return result

    def read_bytes(self, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes | None:
        data = self.inner.read_bytes(path, max_bytes)
        if data is not None:
            self._record_content(path, data)
        return data

    def read_text(self, path: str, max_bytes: int = MAX_READ_BYTES) -> str | None:
        data = self.read_bytes(path, max_bytes)
        return None if data is None else data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        ok = self.inner.exists(path)
        if ok:
            self._record_name(path)
        return ok

    def lexists(self, path: str) -> bool:
        ok = self.inner.lexists(path)
        if ok:
            self._record_name(path)
        return ok

    def is_dir(self, path: str) -> bool:
        ok = self.inner.is_dir(path)
        if self.inner.lexists(path):
            self._record_name(path)
        return ok

    def is_file(self, path: str) -> bool:
        ok = self.inner.is_file(path)
        if self.inner.lexists(path):
            self._record_name(path)
        return ok

    def listdir(self, path: str) -> list[str]:
        names = self.inner.listdir(path)
        if self.inner.is_dir(path):
            self._record_name(path)
        for n in names:
            self._record_name(posixpath.join(path, n))
        return names

    def glob(self, pattern: str) -> list[str]:
        paths = self.inner.glob(pattern)
        for p in paths:
            self._record_name(p)
        return paths

    def readlink(self, path: str) -> str | None:
        target = self.inner.readlink(path)
        if target is not None:
            self._record_links(path)
        return target

    def realpath(self, path: str) -> str:
        self._record_links(path)
        return self.inner.realpath(path)

    def which(self, name: str) -> str | None:
        found = self.inner.which(name)
        if found:
            self._record_name(found)
        return found

    def uname(self) -> dict[str, str]:
        return self.inner.uname()

    def python_probe(self, name: str, fn: ProbeFn) -> dict[str, Any] | None:
        value = self.inner.python_probe(name, fn)
        if value is not None:
            self.writer.set_probe(name, self.redactor.data(value))
        return value
