"""Run checks in dependency order, concurrently, and turn failed roots into skips downstream.

A check starts as soon as every check in its ``depends_on`` and ``after`` (among
those selected) has finished, on a small thread pool: the checks mostly read
files, and the slow framework probes run in their own child processes started
up front (:meth:`Context.start_frameworks`). A check whose hard dependency failed
(or was itself blocked) is not run: it becomes ``skip`` with ``blocked_by`` the
root cause. A check that raises becomes ``error`` with the exception in its
summary; it never stops the doctor.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from gputk.doctor.base import Check, Outcome
from gputk.doctor.context import Context
from gputk.doctor.registry import REGISTRY
from gputk.errors import InputError
from gputk.host import Host
from gputk.models.doctor import CheckResult, DoctorReport

if TYPE_CHECKING:
    from concurrent.futures import Future

MAX_WORKERS = 8


def check_ids(registry: Sequence[Check] = REGISTRY) -> list[str]:
    return [c.id for c in registry]


def select(
    ids: Iterable[str] = (), frameworks: bool = True, registry: Sequence[Check] = REGISTRY
) -> list[Check]:
    """The checks to run, in registry order: ``ids`` plus what they depend on (all when empty).

    Raises :class:`InputError` naming the valid ids for an unknown one.
    """
    by_id = {c.id: c for c in registry}
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise InputError(
            f"unknown check id {', '.join(unknown)}; valid ids: {', '.join(by_id)}",
            "list them with `gputk doctor --list-checks`",
        )
    if not wanted:
        chosen = set(by_id)
    else:
        chosen = set()
        todo = list(wanted)
        while todo:
            cid = todo.pop()
            if cid not in chosen:
                chosen.add(cid)
                todo.extend(by_id[cid].depends_on)
    return [c for c in registry if c.id in chosen and (frameworks or not c.framework or c.id in wanted)]


def _blocked_by(check: Check, ctx: Context) -> str | None:
    return ctx.failed_root(*check.depends_on)


def _run_one(check: Check, ctx: Context) -> CheckResult:
    start = time.perf_counter()
    root = _blocked_by(check, ctx)
    if root is not None:
        outcome = Outcome("skip", f"not checked: {root} failed", blocked_by=root)
    else:
        try:
            outcome = check.run(ctx)
        except Exception as exc:  # a bug or a surprise in one check must not take the report down
            outcome = Outcome("error", f"the check itself failed: {type(exc).__name__}: {exc}")
    return CheckResult(
        id=check.id,
        category=check.category,
        title=check.title,
        status=outcome.status,
        summary=outcome.summary,
        evidence=outcome.evidence,
        fix=outcome.fix,
        blocked_by=outcome.blocked_by,
        duration_ms=(time.perf_counter() - start) * 1000.0,
    )


def run_checks(ctx: Context, checks: Sequence[Check], max_workers: int = MAX_WORKERS) -> DoctorReport:
    """Run ``checks`` (already selected, registry order) and return the report in that order.

    On a live machine every fact is started at once and the checks run in ``max_workers``
    threads; ``max_workers`` 1 runs them one after the other in this thread, which is what a
    snapshot always gets (its facts are file reads, and nothing can hang).
    """
    selected = {c.id for c in checks}
    waits = {c.id: {d for d in (*c.depends_on, *c.after) if d in selected} for c in checks}
    done: dict[str, CheckResult] = {}
    try:
        if ctx.host.live and max_workers > 1:
            fw_names = tuple(c.id.split(".", 1)[1] for c in checks if c.framework)
            ctx.prefetch(fw_names)  # every fact and framework probe at once: hung tools are cut off together
            _run_threaded(ctx, checks, waits, done, max_workers)
        else:
            _run_in_order(ctx, checks, waits, done)
    finally:
        ctx.close()
    return DoctorReport(tuple(done[c.id] for c in checks if c.id in done), ctx.host.label)


def _finish(ctx: Context, result: CheckResult, done: dict[str, CheckResult]) -> None:
    ctx.record(result)
    done[result.id] = result


def _run_in_order(
    ctx: Context, checks: Sequence[Check], waits: dict[str, set[str]], done: dict[str, CheckResult]
) -> None:
    pending = list(checks)
    while pending:
        ready = [c for c in pending if waits[c.id] <= done.keys()] or pending  # a cycle: never hang
        for c in ready:
            pending.remove(c)
            _finish(ctx, _run_one(c, ctx), done)


def _run_threaded(
    ctx: Context,
    checks: Sequence[Check],
    waits: dict[str, set[str]],
    done: dict[str, CheckResult],
    max_workers: int,
) -> None:
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait  # a live machine only

    pending = list(checks)
    running: dict[Future[CheckResult], str] = {}
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="gputk-check") as pool:
        while pending or running:
            for c in [c for c in pending if waits[c.id] <= done.keys()]:
                pending.remove(c)
                running[pool.submit(_run_one, c, ctx)] = c.id
            if not running:  # a dependency cycle; registry tests forbid it, but never hang
                for c in pending:
                    done[c.id] = _run_one(c, ctx)
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                running.pop(f)
                _finish(ctx, f.result(), done)


def diagnose(
    host: Host,
    ids: Iterable[str] = (),
    frameworks: bool = True,
    framework_timeout: float = 120.0,
) -> DoctorReport:
    """The doctor's use case: select, run, report."""
    checks = select(ids, frameworks)
    ctx = Context(host, frameworks=frameworks, framework_timeout=framework_timeout)
    return run_checks(ctx, checks)
