"""numba-cuda kernels under the CUDA simulator, in a child interpreter.

NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported, so these
run in a fresh ``python`` with the variable set, never in the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba_cuda")

SIM_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    from gputk.demos import mandelbrot as mb
    from gputk.demos import vector_add as va
    out = {"add": {}, "mandel": {}}
    for n in (1, 255, 257, 1000):
        run = va.run_numba_cuda(n, repeats=1)
        out["add"][n] = [run.verified, run.max_error, run.metrics["bandwidth_with_transfers_GBps"] > 0]
    for w, h in ((1, 1), (33, 9), (40, 17)):  # the block is 32 x 8: partial blocks on both axes
        got = mb.render_cuda(w, h, 20)
        out["mandel"][f"{w}x{h}"] = bool(np.array_equal(got, mb.render_python(w, h, 20)))
    got32 = mb.render_cuda(40, 17, 20, "float32")
    out["mandel32"] = bool(np.array_equal(got32, mb.render_cpu(40, 17, 20, dtype="float32")))
    print(json.dumps(out))
    """
)


def _sim_env() -> dict[str, str]:
    return {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}


def test_numba_cuda_kernels_match_references_in_the_simulator() -> None:
    res = subprocess.run(
        [sys.executable, "-c", SIM_SCRIPT], capture_output=True, text=True, timeout=300, env=_sim_env()
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["add"] == {str(n): [True, 0.0, True] for n in (1, 255, 257, 1000)}
    assert data["mandel"] == {"1x1": True, "33x9": True, "40x17": True}
    assert data["mandel32"] is True  # float32 arithmetic on both backends, same counts


def test_cli_device_gpu_runs_the_numba_cuda_backend_in_the_simulator() -> None:
    argv = [
        sys.executable,
        "-m",
        "gputk",
        "demo",
        "vector-add",
        "--device",
        "gpu",
        "--size",
        "300",
        "--repeats",
        "1",
        "--json",
    ]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=_sim_env())
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert (data["device"], data["backend"], data["verified"], data["max_error"]) == (
        "gpu",
        "numba-cuda",
        True,
        0.0,
    )
    assert "CuPy backend skipped: CuPy does not run under the numba CUDA simulator" in data["notes"]


def test_gpu_check_child_reports_the_simulator() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "gputk.demos.gpucheck"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_sim_env(),
    )
    facts = json.loads(res.stdout)
    assert (
        facts["simulator"] is True and facts["numba_cuda_missing"] is None and facts["driver_missing"] is None
    )


def test_cli_mandelbrot_on_the_simulator_reports_rates_without_a_peak() -> None:
    argv = [
        sys.executable,
        "-m",
        "gputk",
        "demo",
        "mandelbrot",
        "--device",
        "gpu",
        "--width",
        "24",
        "--height",
        "16",
        "--iters",
        "10",
        "--repeats",
        "2",
        "--json",
    ]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=_sim_env())
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [b["backend"] for b in data["backends"]] == ["numba-cuda", "numba-parallel"] and data["verified"]
    assert data["rates"]["numba-cuda"]["iterations_per_s"] > 0
    assert "fraction_of_peak" not in data["rates"]["numba-cuda"]  # the simulator has no hardware facts
    assert data["backends"][0]["timing_method"]["launch_overhead_us"] is not None
