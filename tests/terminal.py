"""Run a command as a user does in a terminal: stdin, stdout and stderr on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from collections.abc import Mapping, Sequence


def run_in_pty(argv: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> tuple[int, str]:
    """The exit code and everything the command printed (stdout and stderr, as the screen gets it)."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        list(argv), stdin=secondary, stdout=secondary, stderr=secondary, env=dict(env), close_fds=True
    )
    os.close(secondary)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError(f"{argv} printed nothing for {timeout} s")
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def user_env(columns: int = 60, no_color: bool = False, **extra: str) -> dict[str, str]:
    """This environment as a user's shell would have it, at ``columns`` wide."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    env.update(COLUMNS=str(columns), LINES="40", TERM="xterm-256color", **extra)
    if no_color:
        env["NO_COLOR"] = "1"
    return env
