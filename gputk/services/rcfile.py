"""Editing a shell rc file's gputk block: replace or append, remove, every other byte kept.

A block runs from a line starting with ``# >>> gputk env`` to the line
``# <<< gputk env <<<``. Writing is safe to repeat and to race:

- the file is locked (``fcntl.flock`` on ``<file>.gputk.lock`` next to it) while
  it is read, changed and written, so concurrent writers queue instead of
  interleaving or losing each other's changes;
- the new content goes to a temp file in the same directory, gets the old
  file's mode and owner, is fsynced, and replaces the file with ``os.replace``
  (a reader sees the old file or the new one, never half of one);
- a symlinked rc file (dotfile managers) is followed: its target is edited and
  the link stays;
- the bytes before the change are kept in ``<file>.gputk.bak``;
- CRLF files get a CRLF block; a file whose last line has no newline gets one
  before the block plus a comment line saying so, which ``remove`` reads to put
  the file back byte for byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from gputk.errors import GputkError

BEGIN_PREFIX = "# >>> gputk env"
END_LINE = "# <<< gputk env <<<"
NO_EOL_NOTE = "# (gputk added the line break before this block; removing the block removes it too)"
BACKUP_SUFFIX = ".gputk.bak"
LOCK_SUFFIX = ".gputk.lock"

Action = Literal["created", "appended", "replaced", "unchanged", "removed", "absent"]


@dataclass(frozen=True)
class RcChange:
    """What :func:`write_block` / :func:`remove_block` did to ``path`` (edited at ``target``)."""

    path: str
    target: str
    action: Action
    backup: str | None = None
    removed_duplicates: int = 0

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "absent")

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "target": self.target,
            "action": self.action,
            "changed": self.changed,
            "backup": self.backup,
            "removed_duplicates": self.removed_duplicates,
        }


def _eol(data: bytes) -> bytes:
    """The file's line ending: CRLF when its first line ends so, else LF."""
    i = data.find(b"\n")
    return b"\r\n" if i > 0 and data[i - 1 : i] == b"\r" else b"\n"


def find_blocks(data: bytes) -> list[tuple[int, int]]:
    """Byte spans ``(start, end)`` of every gputk block, each from its begin line to past its end line."""
    spans = []
    pos = 0
    start: int | None = None
    start_line = 0
    for lineno, line in enumerate(data.splitlines(keepends=True), start=1):
        text = line.rstrip(b"\r\n").decode("utf-8", errors="replace").strip()
        if start is None and text.startswith(BEGIN_PREFIX):
            start, start_line = pos, lineno
        elif start is not None and text == END_LINE:
            spans.append((start, pos + len(line)))
            start = None
        pos += len(line)
    if start is not None:
        raise GputkError(
            f"the gputk block that starts on line {start_line} has no end line {END_LINE!r}",
            "fix or delete that block by hand, then run gputk again",
        )
    return spans


def _with_eol(block: str, eol: bytes) -> bytes:
    lines = block.rstrip("\n").split("\n")
    return eol.join(line.encode("utf-8") for line in lines) + eol


def _note_added(body: bytes) -> bool:
    return NO_EOL_NOTE.encode() in body


def apply_block(data: bytes, block: str) -> tuple[bytes, Action, int]:
    """The file bytes with ``block`` replacing the first gputk block (others dropped) or appended."""
    spans = find_blocks(data)
    eol = _eol(data)
    if spans:
        first_start, first_end = spans[0]
        new = _with_eol(block, eol)
        if _note_added(data[first_start:first_end]):
            new = _insert_note(new, eol)
        out = data[:first_start] + new
        prev = first_end
        for s, e in spans[1:]:
            out += data[prev:s]
            prev = e
        out += data[prev:]
        action: Action = "unchanged" if out == data else "replaced"
        return out, action, len(spans) - 1
    if not data:
        return _with_eol(block, eol), "appended", 0
    if data.endswith(b"\n"):
        return data + _with_eol(block, eol), "appended", 0
    return data + eol + _insert_note(_with_eol(block, eol), eol), "appended", 0


def _insert_note(block: bytes, eol: bytes) -> bytes:
    first, _, rest = block.partition(eol)
    return first + eol + NO_EOL_NOTE.encode() + eol + rest


def strip_blocks(data: bytes) -> bytes:
    """The file bytes without any gputk block, as they were before gputk appended one."""
    out = b""
    prev = 0
    for s, e in find_blocks(data):
        chunk = data[prev:s]
        if _note_added(data[s:e]):
            chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk.removesuffix(b"\n")
        out += chunk
        prev = e
    return out + data[prev:]


@contextlib.contextmanager
def _locked(target: str) -> Iterator[None]:
    try:
        fd = os.open(target + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise GputkError(f"cannot lock {target}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _read(target: str) -> tuple[bytes, os.stat_result | None]:
    try:
        with open(target, "rb") as fh:
            return fh.read(), os.fstat(fh.fileno())
    except FileNotFoundError:
        return b"", None
    except OSError as exc:
        raise GputkError(f"cannot read {target}: {exc.strerror}") from None


def _atomic_write(target: str, data: bytes, st: os.stat_result | None) -> None:
    directory = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".gputk-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if st is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                with contextlib.suppress(PermissionError):
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fh.fileno(), 0o666 & ~umask)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _edit(path: str, change: str | None) -> RcChange:
    """Lock, read, compute, back up and write; ``change`` is the block, or None to remove."""
    target = os.path.realpath(os.path.expanduser(path))
    parent = os.path.dirname(target)
    if change is not None and not os.path.isdir(parent):
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise GputkError(f"cannot create {parent}: {exc.strerror}") from None
    if change is None and not os.path.lexists(target):
        return RcChange(path, target, "absent")
    with _locked(target):
        data, st = _read(target)
        dups = 0
        if change is None:
            new = strip_blocks(data)
            action: Action = "removed" if new != data else "absent"
        else:
            new, action, dups = apply_block(data, change)
            if st is None:
                action = "created"
        if new == data and st is not None:
            return RcChange(path, target, action)
        if st is not None and not (st.st_mode & 0o222 and os.access(target, os.W_OK)):
            raise GputkError(f"{target} is read-only; not changed", f"make it writable (chmod u+w {target})")
        backup = None
        try:
            if st is not None:
                backup = target + BACKUP_SUFFIX
                _atomic_write(backup, data, st)
            _atomic_write(target, new, st)
        except OSError as exc:
            raise GputkError(f"cannot write {target}: {exc.strerror}; not changed") from None
        return RcChange(path, target, action, backup, dups)


def write_block(path: str, block: str) -> RcChange:
    """Put ``block`` into the rc file at ``path``: replace its gputk block or append one."""
    return _edit(path, block)


def remove_block(path: str) -> RcChange:
    """Take every gputk block out of ``path``, restoring the bytes gputk added."""
    return _edit(path, None)
