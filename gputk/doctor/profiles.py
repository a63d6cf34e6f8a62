"""Doctor profiles for schedulers and monitors: which checks run, and how long they may take.

* ``full``: every check, framework probes included (today's ``gputk doctor``).
* ``quick``: no framework probes; finishes within 30 s whatever hangs.
* ``prolog``: the node's own layers only (platform, GPU, driver, CUDA, cuDNN; no
  framework probes, no checks of the caller's environment, which in a Slurm prolog
  is Slurm's, not the job's); finishes within 8 s whatever hangs, well inside the
  60 s after which Slurm kills a HealthCheckProgram and the 10 s a prolog should take.

A deadline is kept on a live machine by running the checks in a child process that
sends each result as it finishes; at the deadline the child is killed and every check
that had not answered fails with "did not answer within N s" (a hung ``nvidia-smi`` or
NVML call is the wedged-driver sign, and a node in that state should not take jobs).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

from gputk.doctor.base import Check
from gputk.doctor.context import Context
from gputk.doctor.runner import run_checks, select
from gputk.doctor.summary import machine_facts
from gputk.host import Host
from gputk.models.doctor import CheckResult, DoctorReport, Fix


@dataclass(frozen=True)
class Profile:
    name: str
    frameworks: bool
    deadline_s: float | None
    skip_categories: tuple[str, ...] = ()


PROFILES: dict[str, Profile] = {
    "full": Profile("full", frameworks=True, deadline_s=None),
    "quick": Profile("quick", frameworks=False, deadline_s=30.0),
    "prolog": Profile("prolog", frameworks=False, deadline_s=8.0, skip_categories=("env", "framework")),
}

HANG_FIX = Fix(
    "A GPU tool or the driver stopped answering: the node should not take jobs. Look for Xid errors "
    "in the kernel log, then reset the GPU or reboot.",
    ("sudo dmesg -T | grep -i -E 'NVRM|Xid'", "sudo nvidia-smi -r   # when no process uses the GPU"),
)


def profile_checks(profile: Profile, ids: Iterable[str] = ()) -> list[Check]:
    """The checks a profile runs: ``ids`` (and what they need) or all, less the skipped categories."""
    wanted = list(ids)
    checks = select(wanted, profile.frameworks)
    return [c for c in checks if c.id in wanted or c.category not in profile.skip_categories]


Facts = dict[str, str | None]


def diagnose_profile(host: Host, profile: Profile, ids: Iterable[str] = ()) -> tuple[DoctorReport, Facts]:
    """The report, and the machine's facts (versions, GPU count: empty when the deadline hit first)."""
    checks = profile_checks(profile, ids)
    if profile.deadline_s is None or not host.live:
        ctx = Context(host, frameworks=profile.frameworks)
        report = run_checks(ctx, checks)
        return report, _facts_of(ctx)
    return run_with_deadline(host, checks, profile.deadline_s, profile.frameworks)


def _facts_of(ctx: Context) -> Facts:
    try:
        return machine_facts(ctx)
    except Exception:  # facts are extras for metrics; a surprise must not lose the report
        return {}


class _SendingContext(Context):
    """A context that also sends each finished check to the parent process."""

    def __init__(self, host: Host, conn: Connection, frameworks: bool) -> None:
        super().__init__(host, frameworks=frameworks)
        self._conn = conn

    def record(self, result: CheckResult) -> None:
        super().record(result)
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(result)


def _child(conn: Connection, host: Host, checks: Sequence[Check], frameworks: bool) -> None:
    try:
        ctx = _SendingContext(host, conn, frameworks)
        run_checks(ctx, checks)
        conn.send(("facts", _facts_of(ctx)))
    finally:
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)
            conn.close()


def run_with_deadline(
    host: Host,
    checks: Sequence[Check],
    deadline_s: float,
    frameworks: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[DoctorReport, Facts]:
    """Run ``checks`` in a child process; what has not answered by ``deadline_s`` fails as hung."""
    import multiprocessing  # only a live machine under a deadline needs it

    methods = multiprocessing.get_all_start_methods()
    mp: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    parent, child = mp.Pipe(duplex=False)
    proc = mp.Process(target=_child, args=(child, host, list(checks), frameworks), daemon=True)
    start = clock()
    proc.start()
    child.close()
    done: dict[str, CheckResult] = {}
    facts: Facts = {}
    finished = False
    try:
        while not finished:
            left = deadline_s - (clock() - start)
            if left <= 0 or not parent.poll(left):
                break
            try:
                msg = parent.recv()
            except (EOFError, OSError):
                break
            if msg is None:
                finished = True
            elif isinstance(msg, CheckResult):
                done[msg.id] = msg
            elif isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "facts":
                facts = msg[1]
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=2)
        parent.close()
    elapsed = clock() - start
    results = [done.get(c.id) or _hung(c, deadline_s, elapsed, finished) for c in checks]
    return DoctorReport(tuple(results), host.label), facts


def _hung(check: Check, deadline_s: float, elapsed: float, finished: bool) -> CheckResult:
    if finished:  # the child ended without this result: it cannot happen unless the child crashed
        summary = "the check did not report a result (its process ended early)"
    else:
        summary = f"did not answer within {deadline_s:g} s: a GPU tool or the driver hangs"
    return CheckResult(
        id=check.id,
        category=check.category,
        title=check.title,
        status="fail",
        summary=summary,
        fix=HANG_FIX,
        duration_ms=elapsed * 1000.0,
    )
