"""`gputk bench --quick` in a fresh process: wall time, and the CPU figures against their hardware ceilings."""

from __future__ import annotations

import json
import subprocess

from _util import PY, time_command

NAME = "bench_quick"
DESCRIPTION = "gputk bench --quick --json: wall time (goal < 60 s) and CPU figures as fractions of their ceilings"
GOAL_S = 60.0


def _figures() -> list[dict[str, object]]:
    out = subprocess.run(
        [PY, "-m", "gputk", "bench", "--quick", "--json"], capture_output=True, text=True, timeout=600, check=True
    ).stdout
    data = json.loads(out)
    rows: list[dict[str, object]] = []
    for key, c in data["ceilings"].items():
        rows.append({"metric": f"ceiling {key}: {c['name']}", "value": c["value"], "unit": c["unit"]})
    for p in data["points"]:
        if p["device"] == "cpu" and p["size"] in (10_000, 10_000_000, 2048):
            rows.append(
                {
                    "metric": f"CPU {p['kind']} {p['size']:,} ({p['regime'] or 'memory'})",
                    "value": p["value"],
                    "unit": p["unit"],
                    "of_ceiling": f"{p['fraction_of_ceiling']:.0%}",
                    "spread": f"{p['spread']:.0%}",
                }
            )
    return rows


def run(quick: bool) -> dict[str, object]:
    times = time_command([PY, "-m", "gputk", "bench", "--quick", "--json"], 1 if quick else 3)
    worst = max(times)
    verdict = "meets" if worst < GOAL_S else "MISSES"
    rows = [{"metric": "gputk bench --quick (worst)", "value": worst, "unit": "s"}, *_figures()]
    return {"rows": rows, "summary": f"{worst:.1f} s, {verdict} the goal of < {GOAL_S:.0f} s"}
