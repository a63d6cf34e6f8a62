"""Editing a shell rc file's gputk block: replace or append, remove, every other byte kept.

A block runs from a line starting with ``# >>> gputk env`` to the line
``# <<< gputk env <<<``. Writing is safe to repeat and to race:

- only a regular file (or a symlink to one, as dotfile managers make) is
  edited; a device, a FIFO, a directory or a dangling link is refused before
  anything is read or written, and a file over :data:`MAX_RC_BYTES` is refused;
- the file is locked while it is read, changed and written (``fcntl.flock`` on
  ``<file>.gputk.lock`` next to it, opened without following a symlink planted
  there), so concurrent writers queue instead of interleaving or losing each
  other's changes; the lock file is removed when the edit ends, and a lock or
  temp file left by a killed run is cleaned up by the next one;
- the new content goes to a temp file in the same directory, gets the old
  file's mode and owner, is fsynced, and replaces the file with ``os.replace``
  (a reader sees the old file or the new one, never half of one);
- a hardlinked rc file (more than one name) stays one file: after the backup
  is safely on disk, the new content is written into the same inode;
- a symlinked rc file is followed: its target is edited and the link stays;
- the bytes before the change are kept in ``<file>.gputk.bak``;
- CRLF files get a CRLF block; a file whose last line has no line feed (even
  one ending in a lone CR) gets one before the block plus a comment line saying
  so, which ``remove`` reads to put the file back byte for byte.
"""

from __future__ import annotations

import contextlib
import errno
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
TEMP_MARK = ".gputk-"  # temp files are ".<name>.gputk-XXXXXXXX"
MAX_RC_BYTES = 4 * 1024 * 1024  # far above any real rc file; a bigger one is not a shell rc file

Action = Literal["created", "appended", "replaced", "unchanged", "removed", "absent"]


@dataclass(frozen=True)
class RcChange:
    """What :func:`write_block` / :func:`remove_block` did to ``path`` (edited at ``target``)."""

    path: str
    target: str
    action: Action
    backup: str | None = None
    removed_duplicates: int = 0
    in_place: bool = False  # hardlinked: written into the same inode so every name sees the change

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
            "in_place": self.in_place,
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
        # keep the existing block's line ending: the file's own may look different once gputk's
        # line feed follows a last line that ended in a lone CR
        new = _with_eol(block, _eol(data[first_start:first_end]))
        if _note_added(data[first_start:first_end]):
            new = _insert_note(new, _eol(data[first_start:first_end]))
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
            # gputk added one line break in the block's own style; the byte before it (a lone
            # CR at the end of the user's last line, say) is the user's and stays.
            chunk = chunk.removesuffix(_eol(data[s:e]))
        out += chunk
        prev = e
    return out + data[prev:]


class _Unsafe(GputkError):
    """The rc path is not a plain file gputk may edit (a device, a FIFO, a planted link ...)."""


def _check_target(path: str, target: str) -> None:
    """Refuse, before anything is touched, a target that is not a regular file or absent."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        if os.path.islink(path):
            raise _Unsafe(
                f"{path} is a symlink to {target}, which does not exist; not changed",
                f"create {target} first, or remove the link",
            ) from None
        return
    except OSError as exc:
        raise _Unsafe(f"cannot use {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise _Unsafe(f"{target} is {kind}; an rc file must be a regular file; not changed")


@contextlib.contextmanager
def _locked(target: str) -> Iterator[None]:
    """Hold ``flock`` on ``<target>.gputk.lock``; remove the lock file when done.

    The lock file is never followed through a symlink and must be a regular file. Because it is
    removed at the end, a waiter may wake up holding a lock on a name that is gone: it then checks
    that the file it locked is still the one at the path, and starts again if not.
    """
    lock_path = target + LOCK_SUFFIX
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    while True:
        try:
            fd = os.open(lock_path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Unsafe(
                    f"{lock_path} is a symlink; refusing to follow it", f"remove it: rm {lock_path}"
                ) from None
            raise GputkError(f"cannot lock {target}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _Unsafe(f"{lock_path} is not a regular file; refusing to use it", f"remove it: rm {lock_path}")
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd)
            try:
                now = os.lstat(lock_path)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                os.close(fd)  # the previous holder removed it: lock the new one
                continue
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        break
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)  # closing drops the lock


def _read(target: str) -> tuple[bytes, os.stat_result | None]:
    """The file's bytes (at most :data:`MAX_RC_BYTES`) and its stat; refuse anything but a regular file."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return b"", None
    except OSError as exc:
        raise GputkError(f"cannot read {target}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _Unsafe(f"{target} is not a regular file; not changed")
        try:
            data = fh.read(MAX_RC_BYTES + 1)
        except OSError as exc:
            raise GputkError(f"cannot read {target}: {exc.strerror}") from None
    if len(data) > MAX_RC_BYTES:
        raise _Unsafe(f"{target} is larger than {MAX_RC_BYTES // 2**20} MiB; not an rc file gputk edits")
    return data, st


def _clean_stale_temps(target: str) -> None:
    """Remove temp files a killed run left (only ours: our prefix, our uid, regular files)."""
    directory = os.path.dirname(target) or "."
    prefix = "." + os.path.basename(target) + TEMP_MARK
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            ours = entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False)
            if ours and entry.stat(follow_symlinks=False).st_uid == os.geteuid():
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _atomic_write(target: str, data: bytes, st: os.stat_result | None) -> None:
    directory = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + TEMP_MARK)
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


def _write_in_place(target: str, data: bytes, old: bytes) -> None:
    """Overwrite the inode at ``target`` (a hardlinked file keeps all its names); the caller has
    the old bytes safely in the backup. A failed write puts the old bytes back."""
    fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            os.ftruncate(fd, 0)
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                _write_all(fd, old)
                os.fsync(fd)
            raise
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _edit(path: str, change: str | None) -> RcChange:
    """Lock, read, compute, back up and write; ``change`` is the block, or None to remove."""
    path = os.path.expanduser(path)
    target = os.path.realpath(path)
    _check_target(path, target)
    parent = os.path.dirname(target)
    if change is not None and not os.path.isdir(parent):
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise GputkError(f"cannot create {parent}: {exc.strerror}") from None
    if change is None and not os.path.lexists(target):
        return RcChange(path, target, "absent")
    with _locked(target):
        _clean_stale_temps(target)
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
        in_place = st is not None and st.st_nlink > 1
        backup = None
        try:
            if st is not None:
                backup = target + BACKUP_SUFFIX
                _atomic_write(backup, data, st)
            if in_place:
                _write_in_place(target, new, data)
            else:
                _atomic_write(target, new, st)
        except OSError as exc:
            raise GputkError(f"cannot write {target}: {exc.strerror}; not changed") from None
        return RcChange(path, target, action, backup, dups, in_place)


def write_block(path: str, block: str) -> RcChange:
    """Put ``block`` into the rc file at ``path``: replace its gputk block or append one."""
    return _edit(path, block)


def remove_block(path: str) -> RcChange:
    """Take every gputk block out of ``path``, restoring the bytes gputk added."""
    return _edit(path, None)
