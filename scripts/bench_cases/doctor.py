"""`gputk doctor` on this machine, with and without the framework probes.

Ratios, measured side by side in one run (interleaved repeats, medians):
full doctor / `python -c "import tensorflow"` (goal <= 1.3x: the framework probes run in
parallel child processes, so the TensorFlow import should be nearly all of it) and
`doctor --no-frameworks` / `gputk --version` (goal <= 3x). The target interpreter is this
venv's python (GPUTK_PYTHON), so the TensorFlow the doctor imports is the one timed.
"""

from __future__ import annotations

from _util import PY, interleaved

NAME = "doctor"
DESCRIPTION = "gputk doctor wall time: full / import tensorflow (goal <= 1.3x); --no-frameworks / --version (goal <= 3x)"
GOAL_FULL = 1.3
GOAL_NOFW = 3.0


def run(quick: bool) -> dict[str, object]:
    repeats = 3 if quick else 7
    target = ["env", f"GPUTK_PYTHON={PY}", f"VIRTUAL_ENV={PY.rsplit('/bin/', 1)[0]}"]
    med = interleaved(
        {
            "tf": [PY, "-c", "import tensorflow"],
            "version": [PY, "-m", "gputk", "--version"],
            "full": [*target, PY, "-m", "gputk", "doctor", "--json"],
            "nofw": [*target, PY, "-m", "gputk", "doctor", "--no-frameworks", "--json"],
        },
        repeats,
    )
    full_ratio = med["full"] / med["tf"]
    nofw_ratio = med["nofw"] / med["version"]
    rows = [
        {"metric": "python -c 'import tensorflow' (median)", "value": med["tf"] * 1000, "unit": "ms"},
        {"metric": "gputk --version (median)", "value": med["version"] * 1000, "unit": "ms"},
        {"metric": "gputk doctor (median)", "value": med["full"] * 1000, "unit": "ms"},
        {"metric": "gputk doctor --no-frameworks (median)", "value": med["nofw"] * 1000, "unit": "ms"},
        {"metric": "ratio doctor / import tensorflow", "value": full_ratio, "unit": "x"},
        {"metric": "ratio doctor --no-frameworks / --version", "value": nofw_ratio, "unit": "x"},
    ]
    verdicts = [
        f"full {full_ratio:.2f}x ({'meets' if full_ratio <= GOAL_FULL else 'MISSES'} <= {GOAL_FULL}x)",
        f"no-frameworks {nofw_ratio:.2f}x ({'meets' if nofw_ratio <= GOAL_NOFW else 'MISSES'} <= {GOAL_NOFW}x)",
    ]
    return {"rows": rows, "summary": "; ".join(verdicts)}
