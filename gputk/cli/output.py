"""Standard streams and the errors that are the world's, not gputk's.

Exit 3 means a bug in gputk. These are not bugs, so they become one explained line and exit 1:

- standard output that cannot be written: closed (``gputk doctor >&-``), a full device
  (``> /dev/full``), an encoding that cannot carry the text (``PYTHONIOENCODING=ascii``);
- a library that fails while being imported because of its environment or its install
  (``NUMBA_NUM_THREADS=0`` makes ``import numba`` raise).

Click's own usage errors are printed the way gputk prints every error (``error:`` plus a hint).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
import traceback
from typing import Any, TextIO

from gputk.errors import OutputError

_GPUTK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GuardedStdout:
    """``sys.stdout`` as it was, except that a failed write or flush raises :class:`OutputError`."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def _fail(self, reason: str) -> OutputError:
        return OutputError(f"cannot write to standard output: {reason}", "check where the output goes")

    def write(self, text: str) -> int:
        if self._stream is None:
            raise self._fail("it is closed")
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise  # `gputk ... | head`: the reader left; handled quietly by the caller
        except OSError as exc:
            raise self._fail(exc.strerror or str(exc)) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc.strerror or str(exc)) from None

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            if name == "encoding":
                return "utf-8"
            raise AttributeError(name)
        return getattr(self._stream, name)


def prepare_std_streams() -> None:
    """Before anything runs: give closed descriptors 0-2 to /dev/null, so no file gputk opens
    later lands on them (and a child never writes into it); writes to a closed stdout then fail
    through :class:`GuardedStdout` with one line, and a closed stderr swallows messages."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                new = os.open(os.devnull, os.O_RDWR)
                if new != fd:
                    os.dup2(new, fd)
                    os.close(new)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def silence_stdout() -> None:
    """Point descriptor 1 at /dev/null so the interpreter's last flush of a broken stdout
    (a closed pipe, a full disk) does not print 'Exception ignored ...' on the way out."""
    stream = sys.__stdout__
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def usage_hint(exc: Any) -> str:
    """'usage: gputk doctor [OPTIONS]; see `gputk doctor --help`' for a click usage error."""
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return "see `gputk --help`"
    usage = " ".join(ctx.command.collect_usage_pieces(ctx))
    return f"usage: {ctx.command_path} {usage}; see `{ctx.command_path} --help`"


def _norm(encoding: str | None) -> str:
    try:
        return codecs.lookup(encoding or "").name
    except LookupError:
        return encoding or ""


def encoding_error(exc: UnicodeEncodeError) -> tuple[str, str] | None:
    """Message and hint when ``exc`` came from printing to stdout/stderr in a narrow encoding."""
    encodings = {_norm(getattr(s, "encoding", None)) for s in (sys.stdout, sys.stderr) if s is not None}
    if _norm(exc.encoding) not in encodings:
        return None
    bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else "?"
    return (
        f"the output encoding ({exc.encoding}) cannot show {bad!r}",
        "use a UTF-8 locale (LANG=C.UTF-8) or set PYTHONIOENCODING=utf-8",
    )


def _ours(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_GPUTK_DIR + os.sep)


def failed_import(exc: BaseException) -> str | None:
    """The top-level package whose module code raised ``exc`` while being imported, else None.

    A library that cannot even be imported (a bad setting in the environment, a broken
    install) is not a bug in gputk; a failure inside gputk's own modules is.
    """
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    if not frames or _ours(frames[-1].f_code.co_filename):
        return None
    for frame in frames:  # a module body that is not gputk's runs only while being imported
        if frame.f_code.co_name == "<module>" and not _ours(frame.f_code.co_filename):
            name = str(frame.f_globals.get("__name__") or "")
            return name.split(".")[0] or None
    return None


def import_hint(package: str) -> str:
    """Name the package's own environment variables that are set (the usual culprits);
    ``{log}`` stands for the log file's path."""
    prefix = package.upper() + "_"
    settings = [f"{k}={v[:40]}" for k, v in sorted(os.environ.items()) if k.startswith(prefix)]
    if settings:
        what = ", ".join(settings[:4]).replace("{", "(").replace("}", ")")
        return f"check or unset {what}; the full traceback is in {{log}}"
    return f"reinstall {package} or check its settings; the full traceback is in {{log}}"
