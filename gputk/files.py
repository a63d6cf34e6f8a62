"""Safe file output shared by every command that writes a file the user named.

Two promises, for every output (PNG, chart, JSON, snapshot tarball, rendered project file):

* a path that cannot be written is refused with one line *before* any work starts
  (:func:`check_output_path`): a directory, a missing parent folder, a read-only folder, a device,
  a FIFO;
* the final name only ever holds complete content (:func:`atomic_write_bytes`): the bytes go to a
  temporary sibling that is fsynced and then renamed over the target, so an interrupted or failed
  write leaves the old file (or nothing) and no temporary file behind.

And one for every input file the user names (a saved tool output, a snapshot tarball):
:func:`open_input_file` opens only a regular file, never waits on a FIFO or a device, and
:func:`read_input_file` never reads more than a cap.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from gputk.errors import InputError


def check_output_path(path: str, *, what: str = "output file") -> str:
    """Refuse an output path that cannot hold a regular file; return it unchanged.

    Symlinks to a regular file are allowed (the link is kept and its target replaced).
    """
    if not path:
        raise InputError(f"the {what} path is empty")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"cannot use {path!r} as the {what}: {exc.strerror}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path!r} is a directory; name a file for the {what}")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path!r} is not a regular file (device, FIFO or socket); refusing to write it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"the folder of {path!r} does not exist", hint=f"create it first: mkdir -p {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path!r}: the folder {parent} is not writable")
    if st is not None and not os.access(path, os.W_OK):
        raise InputError(f"cannot write {path!r}: the file is read-only")
    return path


@contextlib.contextmanager
def atomic_output(path: str, mode: int = 0o644) -> Iterator[int]:
    """Yield a file descriptor of a temporary sibling of ``path``; rename it into place on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed and ``path`` is
    untouched. A symlink at ``path`` is resolved so the link itself survives.
    """
    target = os.path.realpath(path) if os.path.islink(path) else path
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    try:
        try:
            existing = os.stat(target)
            os.fchmod(fd, stat.S_IMODE(existing.st_mode))
        except FileNotFoundError:
            os.fchmod(fd, mode & ~_umask())
        yield fd
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename."""
    try:
        with atomic_output(path, mode) as fd:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
    except OSError as exc:
        raise InputError(f"cannot write {path!r}: {exc.strerror or exc}") from None


def open_input_file(path: str | os.PathLike[str], *, what: str = "input file") -> BinaryIO:
    """Open a regular file for reading; refuse a directory, FIFO, device or socket with one line.

    The file is opened non-blocking (a FIFO without a writer would otherwise hang the open) and
    checked again on the open descriptor, so a file swapped after the first look is refused too.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read the {what} ({exc.strerror or exc})") from None
    _check_regular(name, st, what)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{name}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        _check_regular(name, os.fstat(fd), what)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_input_file(path: str | os.PathLike[str], max_bytes: int, *, what: str = "input file") -> bytes:
    """At most ``max_bytes`` of a regular file (see :func:`open_input_file`)."""
    with open_input_file(path, what=what) as fh:
        try:
            return fh.read(max_bytes)
        except OSError as exc:
            raise InputError(f"{os.fspath(path)}: cannot read the {what} ({exc.strerror or exc})") from None


def _check_regular(name: str, st: os.stat_result, what: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{name}: is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{name}: not a regular file (a FIFO, device or socket); refusing to read it")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
