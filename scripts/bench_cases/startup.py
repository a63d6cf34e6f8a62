"""Start-up time of `gputk --version` and `gputk --help` vs `python -c "import typer, rich"`."""

from __future__ import annotations

from _util import PY, interleaved

NAME = "startup"
DESCRIPTION = "gputk --version / --help wall time as a ratio to importing typer+rich (goal <= 1.5x)"
GOAL = 1.5


def run(quick: bool) -> dict[str, object]:
    repeats = 5 if quick else 15
    med = interleaved(
        {
            "baseline": [PY, "-c", "import typer, rich"],
            "version": [PY, "-m", "gputk", "--version"],
            "help": [PY, "-m", "gputk", "--help"],
        },
        repeats,
    )
    base = med["baseline"]
    rows = [
        {"metric": "python -c 'import typer, rich' (median)", "value": base * 1000, "unit": "ms"},
        {"metric": "gputk --version (median)", "value": med["version"] * 1000, "unit": "ms"},
        {"metric": "gputk --help (median)", "value": med["help"] * 1000, "unit": "ms"},
        {"metric": "ratio --version / baseline", "value": med["version"] / base, "unit": "x"},
        {"metric": "ratio --help / baseline", "value": med["help"] / base, "unit": "x"},
    ]
    worst = max(med["version"], med["help"]) / base
    verdict = "meets" if worst <= GOAL else "MISSES"
    return {"rows": rows, "summary": f"worst ratio {worst:.2f}x, {verdict} the goal of <= {GOAL}x"}
