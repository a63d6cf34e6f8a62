"""What `gputk doctor` found: one :class:`CheckResult` per check, and the verdict.

The JSON form (schema ``gputk.doctor/1``) is built from :meth:`CheckResult.to_dict`;
its keys are public: ``id, category, title, status, summary, evidence, fix,
blocked_by, duration_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CheckStatus = Literal["pass", "warn", "fail", "skip", "error"]
Verdict = Literal["ok", "warn", "fail"]

STATUSES: tuple[CheckStatus, ...] = ("pass", "warn", "fail", "skip", "error")


@dataclass(frozen=True)
class Evidence:
    """One fact a check read: where from (a file, a command, a probe) and what it said."""

    source: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "value": self.value}

    def __str__(self) -> str:
        return f"{self.source}: {self.value}"


@dataclass(frozen=True)
class Fix:
    """What to do: a sentence plus commands to paste, tailored to the machine."""

    text: str
    commands: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "commands": list(self.commands)}


@dataclass(frozen=True)
class CheckResult:
    id: str
    category: str
    title: str
    status: CheckStatus
    summary: str
    evidence: tuple[Evidence, ...] = ()
    fix: Fix | None = None
    blocked_by: str | None = None
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "evidence": [e.to_dict() for e in self.evidence],
            "fix": self.fix.to_dict() if self.fix else None,
            "blocked_by": self.blocked_by,
            "duration_ms": round(self.duration_ms, 1),
        }


@dataclass(frozen=True)
class DoctorReport:
    """All results in registry order, plus where the facts came from."""

    checks: tuple[CheckResult, ...]
    host_label: str = "this machine"
    notes: tuple[str, ...] = field(default=())

    def get(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def verdict(self) -> Verdict:
        """``fail`` if any check failed or errored, ``warn`` if any warned, else ``ok``."""
        statuses = {c.status for c in self.checks}
        if statuses & {"fail", "error"}:
            return "fail"
        if "warn" in statuses:
            return "warn"
        return "ok"

    def exit_code(self, strict: bool = False) -> int:
        """0 when nothing fails (warnings allowed unless ``strict``), else 1."""
        v = self.verdict()
        if v == "fail" or (strict and v == "warn"):
            return 1
        return 0

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.verdict(), "checks": [c.to_dict() for c in self.checks]}
