"""The user-facing error tree and the fixed exit codes.

Every error a user can cause or meet is a :class:`GputkError`: one line of
message plus an optional hint (what to do about it). The CLI prints both on
stderr and exits with the error's code; nothing else ever reaches the user as
a traceback (see ``gputk.cli.app.main``).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    PROBLEMS = 1  # problems found, or the command failed for a reason it explains
    USAGE = 2  # usage errors: the parser's, and UsageError (missing arguments, conflicting flags)
    INTERNAL = 3  # an unexpected exception: one line + path of the log
    INTERRUPTED = 130  # Ctrl-C


class GputkError(Exception):
    """An error the user should see as one line (plus a hint), not a traceback."""

    exit_code: ExitCode = ExitCode.PROBLEMS

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(GputkError):
    """Bad input from the user: an invalid value, a file that cannot be read."""


class UsageError(InputError):
    """The command line itself is wrong (a missing argument, a value out of range, flags that
    conflict): exit 2, like the usage errors the option parser reports."""

    exit_code = ExitCode.USAGE


class OutputError(GputkError):
    """Standard output cannot be written (closed, a full device): not a bug, one line and exit 1."""


class SnapshotError(GputkError):
    """A snapshot that cannot be read, or that is unsafe to read."""


class DeviceUnavailableError(GputkError):
    """The GPU cannot be used for what was asked (names the missing layer)."""
