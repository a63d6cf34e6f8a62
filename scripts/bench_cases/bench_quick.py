"""Wall time of `gputk bench --quick` in a fresh process (goal: well under a minute on 2 cores)."""

from __future__ import annotations

from _util import PY, time_command

NAME = "bench_quick"
DESCRIPTION = "gputk bench --quick --json wall time (goal < 60 s)"
GOAL_S = 60.0


def run(quick: bool) -> dict[str, object]:
    times = time_command([PY, "-m", "gputk", "bench", "--quick", "--json"], 1 if quick else 3)
    worst = max(times)
    verdict = "meets" if worst < GOAL_S else "MISSES"
    rows = [{"metric": "gputk bench --quick (worst)", "value": worst, "unit": "s"}]
    return {"rows": rows, "summary": f"{worst:.1f} s, {verdict} the goal of < {GOAL_S:.0f} s"}
