"""Running gputk against hostile input, as a user would, and checking what it must never do.

Each case runs ``python -m gputk ...`` in its own subprocess under a memory limit
(``RLIMIT_AS``) and a timeout, inside a sandbox folder that is its home, temporary folder,
state and working directory; only fake tools are on its PATH. Beside the sandbox lies an
``outside/`` folder of canary files shaped like real facts (a driver version file, an
nvidia-smi output, a snapshot manifest) carrying a secret token. After the run:

* nothing beside the sandbox was created, and ``outside/`` is byte-for-byte unchanged;
* the secret token (and the canary driver version) appear in no output: nothing was read;
* no traceback and no crash log; a refusal is exit 1 or 2 with one ``error:`` line;
* it ended before the timeout, and every fake tool it started is dead.

Cases run concurrently (:func:`run_all`) to keep the suite fast on two cores.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

MEMORY_LIMIT = 1024 * 1024 * 1024  # 1 GiB of address space: a 1 GiB header cannot be held
SECRET = "CANARY-7f3e9c-do-not-read"
CANARY_DRIVER = "999.99.99"
CANARY_VERSION_FILE = f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {CANARY_DRIVER}  Sun Jan  1 00:00:00 UTC 2023 {SECRET}\n"


@dataclass
class Sandbox:
    base: Path

    @property
    def root(self) -> Path:
        return self.base / "sandbox"

    @property
    def outside(self) -> Path:
        return self.base / "outside"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    def make(self) -> Sandbox:
        for d in (self.root, self.bin, self.root / "home", self.root / "tmp", self.outside):
            d.mkdir(parents=True, exist_ok=True)
        (self.outside / "version").write_text(CANARY_VERSION_FILE)
        (self.outside / "secret.txt").write_text(SECRET + "\n")
        (self.outside / "nvidia-smi-L.txt").write_text(f"GPU 0: NVIDIA {SECRET} (UUID: GPU-1)\n")
        (self.outside / "subdir").mkdir(exist_ok=True)
        (self.outside / "subdir" / "version").write_text(CANARY_VERSION_FILE)
        (self.outside / "manifest.json").write_text(
            '{"format": "gputk-snapshot", "version": 1, "env": {"PATH": "/' + SECRET + '"}}'
        )
        return self

    def tool(self, name: str, body: str) -> None:
        """A fake program on the sandbox PATH; it records its pid so the test can check it died."""
        path = self.bin / name
        path.write_text(f"#!/bin/sh\necho $$ >> '{self.pids}'\n{body}\n")
        path.chmod(0o755)

    def fingerprint(self) -> dict[str, str]:
        """Every path beside the sandbox, with its content hash (or link target)."""
        out: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(self.base):
            rel = Path(dirpath).relative_to(self.base)
            if rel.parts[:1] == ("sandbox",):
                dirnames[:] = []
                continue
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                key = str(rel / name)
                if p.is_symlink():
                    out[key] = "link:" + os.readlink(p)
                elif p.is_file():
                    out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
                else:
                    out[key] = "dir"
        return out


@dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    stop_seconds: float = float("inf")
    root: Path = Path()
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    live_children: list[int] = field(default_factory=list)
    crash_logs: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


# Set the limit in the child itself, then become gputk (no preexec_fn: the cases run from threads).
_LIMITED = (
    "import os, resource, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
    "os.execv(sys.executable, [sys.executable, '-m', 'gputk', *sys.argv[1:]])"
)


def environment(sb: Sandbox, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": str(sb.bin),
        "HOME": str(sb.root / "home"),
        "TMPDIR": str(sb.root / "tmp"),
        "XDG_STATE_HOME": str(sb.root / "state"),
        "XDG_CONFIG_HOME": str(sb.root / "config"),
        "XDG_CACHE_HOME": str(sb.root / "cache"),
        "NO_COLOR": "1",
        "COLUMNS": "1000",
        "LC_ALL": "C.UTF-8",
        "MALLOC_ARENA_MAX": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
        "SHELL": "/bin/sh",
    }
    env.update(extra or {})
    return env


def run_gputk(
    sb: Sandbox,
    argv: list[str],
    *,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
    signal_after: tuple[float, int] | None = None,
) -> Outcome:
    """Run gputk in ``sb``; ``signal_after=(seconds, SIGINT)`` signals gputk alone, that long after
    the first fake tool started."""
    before = sb.fingerprint()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", _LIMITED, *argv],
        cwd=sb.root,
        env=environment(sb, env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    signalled: float | None = None
    if signal_after is not None:
        # Like a user pressing Ctrl-C once the command is at work: after it started a tool.
        give_up = time.monotonic() + 30
        while not sb.pids.exists() and proc.poll() is None and time.monotonic() < give_up:
            time.sleep(0.05)
        time.sleep(signal_after[0])
        if proc.poll() is None:
            proc.send_signal(signal_after[1])
            signalled = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    end = time.monotonic()
    seconds = end - start
    time.sleep(0.05)
    return Outcome(
        rc=proc.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        seconds=seconds,
        timed_out=timed_out,
        stop_seconds=end - signalled if signalled is not None else float("inf"),
        root=sb.root,
        before=before,
        after=sb.fingerprint(),
        live_children=_alive(sb.pids),
        crash_logs=[str(p) for p in (sb.root / "state").rglob("crash-*")]
        if (sb.root / "state").exists()
        else [],
    )


def _alive(pids_file: Path) -> list[int]:
    if not pids_file.exists():
        return []
    alive = []
    for line in pids_file.read_text().split():
        pid = int(line)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
            os.kill(pid, signal.SIGKILL)  # never leave a stray process behind the suite
    return alive


def assert_contained(o: Outcome) -> None:
    """Nothing outside the sandbox created, changed or read; no traceback, no crash, no hang."""
    assert not o.timed_out, f"hung: still running after {o.seconds:.1f} s\n{o.output[-2000:]}"
    assert o.after == o.before, "files beside the sandbox were created or changed"
    assert SECRET not in o.output, "a canary file outside the sandbox was read"
    assert CANARY_DRIVER not in o.output, "a canary file outside the sandbox was read"
    assert "Traceback" not in o.output, o.output[-3000:]
    assert "internal error" not in o.output, o.stderr
    assert not o.crash_logs, o.stderr
    assert not o.live_children, f"children left running: {o.live_children}"


def assert_refused(o: Outcome, words: str | None = None) -> None:
    """Contained, and refused with exit 1 or 2 and one ``error:`` line (plus a hint, and warnings
    said about the input before the refusal)."""
    assert_contained(o)
    assert o.rc in (1, 2), f"exit {o.rc}\n{o.output[-2000:]}"
    lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("error:", "Error:"))]
    assert len(errors) == 1, o.stderr
    assert all(ln.startswith(("error:", "Error:", "hint:", "warning:")) for ln in lines), o.stderr
    assert len(errors[0]) < 500, errors[0]
    if words is not None:
        assert words.lower() in o.stderr.lower(), o.stderr


@dataclass
class Case:
    """One hostile input: ``build`` makes it in the sandbox and returns gputk's argv."""

    id: str
    build: Callable[[Sandbox], list[str]]
    check: Callable[[Outcome], None]
    timeout: float = 30.0
    env: dict[str, str] | None = None
    signal_after: tuple[float, int] | None = None


def run_all(cases: Iterable[Case], base: Path, workers: int = 4) -> dict[str, Outcome]:
    """Build and run every case at once (a few at a time); outcomes by case id."""

    def one(case: Case) -> tuple[str, Outcome]:
        sb = Sandbox(base / case.id).make()
        argv = case.build(sb)
        return case.id, run_gputk(
            sb, argv, timeout=case.timeout, env=case.env, signal_after=case.signal_after
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, cases))
