"""Core models: the result of running a command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CommandError = Literal["not-found", "timeout", "permission", "os-error", "not-captured"]


@dataclass(frozen=True)
class CommandResult:
    """What running ``argv`` gave: a return code and output, or why it did not run.

    ``error`` is None when the program ran (whatever its exit code);
    ``"not-found"`` when the program is not installed, ``"timeout"`` when it was
    cut off after ``timeout_s`` seconds (``stdout``/``stderr`` then hold what it
    printed before that), ``"permission"``/``"os-error"`` when it could not be
    started; ``"not-captured"`` when a snapshot has the program but did not
    record this command (probes then fall back on other evidence; it is not
    "missing").
    """

    argv: tuple[str, ...]
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: CommandError | None = None
    timeout_s: float | None = None
    detail: str | None = None
    duration_s: float = 0.0
    truncated: bool = False
    recorded: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        """The program ran and exited 0."""
        return self.error is None and self.returncode == 0

    @property
    def ran(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """One line saying what happened, for evidence and error messages."""
        cmd = " ".join(self.argv)
        if self.error == "not-found":
            return f"`{cmd}`: {self.argv[0]} not found"
        if self.error == "timeout":
            return f"`{cmd}`: no answer within {self.timeout_s:g} s (killed)"
        if self.error == "not-captured":
            return f"`{cmd}`: not captured in the snapshot"
        if self.error is not None:
            return f"`{cmd}`: could not run ({self.detail or self.error})"
        if self.truncated:
            return f"`{cmd}`: printed more than the output cap (kept the first part, stopped it)"
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()
        last = tail[-1][:300] if tail else ""
        if self.returncode == 0:
            return f"`{cmd}`: exit 0"
        return f"`{cmd}`: exit {self.returncode}" + (f": {last}" if last else "")
