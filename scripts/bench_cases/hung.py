"""Every tool hung: how long detect, doctor and report take before they answer anyway.

Fake nvidia-smi, lspci, lshw, nvcc, python3, mokutil, ... that sleep stand first on PATH.
The goal (issue: hostile input) is that a command ends within its longest single timeout plus
5 s: hung tools are cut off together, not one after another. ``--quick`` scales every timeout
by 0.1 (GPUTK_TIMEOUT_SCALE) so the case takes seconds; the bound scales with it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _util import PY

NAME = "hung"
DESCRIPTION = "detect/doctor/report with every tool hung: wall time vs the longest single timeout + 5 s"
TOOLS = ("nvidia-smi", "lspci", "lshw", "nvcc", "mokutil", "ldconfig", "python3", "python", "inxi", "dkms",
         "docker", "nvidia-ctk", "nvidia-container-cli", "conda", "modinfo", "modprobe", "systemctl",
         "journalctl", "dmesg", "id", "hwinfo", "lsmod")  # fmt: skip
# Longest single timeout of each command (lshw 30 s; doctor and report: the framework probes' 120 s,
# which a hung interpreter never reaches).
LONGEST = {"detect": 30.0, "doctor": 120.0, "report": 120.0}


def run(quick: bool) -> dict[str, object]:
    scale = 0.1 if quick else 1.0
    with tempfile.TemporaryDirectory(prefix="gputk-bench-hung-") as tmp:
        bindir = Path(tmp) / "bin"
        bindir.mkdir()
        for t in TOOLS:
            (bindir / t).write_text("#!/bin/sh\nexec /bin/sleep 1000\n")
            (bindir / t).chmod(0o755)
        env = {**os.environ, "PATH": f"{bindir}:/usr/bin:/bin", "GPUTK_TIMEOUT_SCALE": str(scale)}
        env.pop("VIRTUAL_ENV", None)
        commands = {
            "detect": ["detect"],
            "doctor": ["doctor"],
            "report": ["report", "-o", str(Path(tmp) / "r.tar.gz")],
        }

        def timed(argv: list[str]) -> float:
            t0 = time.perf_counter()
            subprocess.run([PY, "-m", "gputk", *argv], env=env, cwd=tmp, capture_output=True, timeout=900)
            return time.perf_counter() - t0

        with ThreadPoolExecutor(max_workers=3) as pool:
            took = dict(zip(commands, pool.map(timed, commands.values()), strict=True))
    rows = []
    met = True
    for name, seconds in took.items():
        bound = LONGEST[name] * scale + 5
        met = met and seconds <= bound
        rows.append({"metric": f"gputk {name}, every tool hung", "value": seconds, "unit": "s"})
        rows.append({"metric": f"  bound: longest timeout x {scale:g} + 5 s", "value": bound, "unit": "s"})
    verdict = "meets" if met else "MISSES"
    return {"rows": rows, "summary": f"{verdict} the goal (each within its longest single timeout + 5 s)"}
