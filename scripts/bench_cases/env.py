"""`gputk env` wall time (toolkit discovery + rendering) as a ratio to `gputk --version`.

Most of `gputk env`'s own time is asking the target interpreter for its site-packages
(pip nvidia-* wheels). With `python3` a pyenv shim that alone costs ~0.3 s, so the goal is
measured with GPUTK_PYTHON naming the interpreter directly; the shim figure is shown too.
"""

from __future__ import annotations

from _util import PY, interleaved

NAME = "env"
DESCRIPTION = "gputk env / env --list wall time as a ratio to gputk --version (goal <= 3x)"
GOAL = 3.0


def run(quick: bool) -> dict[str, object]:
    repeats = 5 if quick else 15
    med = interleaved(
        {
            "version": [PY, "-m", "gputk", "--version"],
            "env": ["env", f"GPUTK_PYTHON={PY}", PY, "-m", "gputk", "env", "--shell", "bash"],
            "list": ["env", f"GPUTK_PYTHON={PY}", PY, "-m", "gputk", "env", "--list"],
            "env_path_python": [PY, "-m", "gputk", "env", "--shell", "bash"],
        },
        repeats,
    )
    base = med["version"]
    rows = [
        {"metric": "gputk --version (median)", "value": base * 1000, "unit": "ms"},
        {"metric": "gputk env (median)", "value": med["env"] * 1000, "unit": "ms"},
        {"metric": "gputk env --list (median)", "value": med["list"] * 1000, "unit": "ms"},
        {"metric": "gputk env, target = python3 on PATH (median)", "value": med["env_path_python"] * 1000, "unit": "ms"},
        {"metric": "ratio env / --version", "value": med["env"] / base, "unit": "x"},
        {"metric": "ratio env --list / --version", "value": med["list"] / base, "unit": "x"},
    ]
    worst = max(med["env"], med["list"]) / base
    verdict = "meets" if worst <= GOAL else "MISSES"
    return {"rows": rows, "summary": f"worst ratio {worst:.2f}x, {verdict} the goal of <= {GOAL}x"}
