"""The check protocol: every doctor check is an id, a category, a title, the checks it
depends on, and a function from the facts (:class:`gputk.doctor.context.Context`) to an
:class:`Outcome`.

``depends_on`` are hard dependencies: when one fails, the runner does not run the
check and marks it ``skip`` with ``blocked_by`` the root cause (DCGM's "skip
remainder"; no cascade of red). ``after`` only orders: the check reads those
results (``ctx.result(id)``) but runs whatever they said.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gputk.models.doctor import CheckStatus, Evidence, Fix

if TYPE_CHECKING:
    from gputk.doctor.context import Context


@dataclass(frozen=True)
class Outcome:
    status: CheckStatus
    summary: str
    evidence: tuple[Evidence, ...] = ()
    fix: Fix | None = None
    blocked_by: str | None = None


class Check(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...

    @property
    def after(self) -> tuple[str, ...]: ...

    @property
    def framework(self) -> bool:
        """True for checks that need the framework probes (dropped by --no-frameworks)."""
        ...

    def run(self, ctx: Context) -> Outcome: ...


CheckFn = Callable[["Context"], Outcome]


@dataclass(frozen=True)
class FunctionCheck:
    """A :class:`Check` made from a plain function by :func:`check`."""

    id: str
    category: str
    title: str
    fn: CheckFn
    depends_on: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    framework: bool = False

    def run(self, ctx: Context) -> Outcome:
        return self.fn(ctx)


def check(
    check_id: str,
    title: str,
    depends_on: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    framework: bool = False,
) -> Callable[[CheckFn], FunctionCheck]:
    """Decorator: ``@check("driver.nvml", "NVML initialises", depends_on=("driver.kernel-module",))``."""

    def wrap(fn: CheckFn) -> FunctionCheck:
        return FunctionCheck(check_id, check_id.split(".", 1)[0], title, fn, depends_on, after, framework)

    return wrap


def ev(source: str, value: object) -> Evidence:
    return Evidence(source, str(value))


def passed(summary: str, *evidence: Evidence) -> Outcome:
    return Outcome("pass", summary, tuple(evidence))


def warned(summary: str, evidence: tuple[Evidence, ...] | list[Evidence], fix: Fix | None = None) -> Outcome:
    return Outcome("warn", summary, tuple(evidence), fix)


def failed(summary: str, evidence: tuple[Evidence, ...] | list[Evidence], fix: Fix | None = None) -> Outcome:
    return Outcome("fail", summary, tuple(evidence), fix)


def skipped(summary: str, *evidence: Evidence, blocked_by: str | None = None) -> Outcome:
    return Outcome("skip", summary, tuple(evidence), None, blocked_by)
