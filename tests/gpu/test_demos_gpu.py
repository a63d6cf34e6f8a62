"""On a real GPU: every demo passes its check with --device gpu; each figure lies between a sane floor and
the hardware's theoretical peak (from NVML facts and the per-SM rate table).

Run on a GPU host with ``pytest -m gpu tests/gpu``; skipped elsewhere (tests/conftest.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gputk.cli.app import run_cli

pytestmark = pytest.mark.gpu


def _run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    rc = run_cli(argv)
    return rc, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def bench_quick() -> dict[str, Any]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = run_cli(["bench", "--quick", "--json"])
    assert rc == 0
    data: dict[str, Any] = json.loads(buf.getvalue())
    return data


@pytest.mark.parametrize(
    ("argv", "backends"),
    [
        (["demo", "vector-add", "--size", "10000019"], {"numba-cuda", "cupy"}),
        (["demo", "mandelbrot"], {"numba-cuda", "numba-parallel"}),
        (
            ["demo", "mandelbrot", "--size", "4k", "--iters", "1000", "--repeats", "3"],
            {"numba-cuda", "numba-parallel"},
        ),
        (["demo", "mandelbrot", "--dtype", "float32"], {"numba-cuda", "numba-parallel"}),
        (["demo", "matmul", "--size", "4096"], {"cupy"}),
        (["demo", "matmul", "--size", "4096", "--dtype", "tf32"], {"cupy"}),
        (["demo", "matmul", "--size", "4099", "--dtype", "float16"], {"cupy"}),
        (["demo", "nn", "--epochs", "300"], {"cupy"}),
    ],
)
def test_demo_passes_on_the_gpu(
    argv: list[str], backends: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, data = _run_json(capsys, [*argv, "--device", "gpu", "--json"])
    assert rc == 0, data
    assert data["device"] == "gpu" and data["verified"] is True
    assert {b["backend"] for b in data["backends"]} == backends
    t = data["timings_ms"]
    assert 0 < t["min"] <= t["median"]


def test_tf32_tolerance_is_a_few_tf32_units(capsys: pytest.CaptureFixture[str]) -> None:
    _, data = _run_json(
        capsys, ["demo", "matmul", "--size", "4096", "--dtype", "tf32", "--device", "gpu", "--json"]
    )
    run = data["backends"][0]
    assert run["tolerance"] < 8 * 2**-11  # not the old 2 sqrt(n) 2^-10 = 0.125
    assert run["max_error"] > 2**-24 * 64  # products really went through TF32 (coarser than float32)


def test_vector_add_bandwidth_is_below_the_memory_peak(
    capsys: pytest.CaptureFixture[str], bench_quick: dict[str, Any]
) -> None:
    peak = bench_quick["ceilings"]["gpu_memory"]["value"]
    _, data = _run_json(capsys, ["demo", "vector-add", "--size", "100000000", "--device", "gpu", "--json"])
    for run in data["backends"]:
        m = run["metrics"]
        assert 0.3 * peak < m["bandwidth_GBps"] <= peak  # 2.4 GB moved: far beyond L2, near the HBM peak
        assert m["bandwidth_with_transfers_GBps"] < m["bandwidth_GBps"]
        assert 0 < m["launch_overhead_us"] < 1000


def test_mandelbrot_4k_reports_a_fraction_of_the_fp64_peak(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "demo",
        "mandelbrot",
        "--size",
        "4k",
        "--iters",
        "1000",
        "--repeats",
        "3",
        "--device",
        "gpu",
        "--json",
    ]
    _, data = _run_json(capsys, argv)
    rate = data["rates"]["numba-cuda"]
    assert rate["iterations_per_s"] > 1e9
    assert 0.01 < rate["fraction_of_peak"] <= 1.0
    assert "large case" in data["params"]["case"]


def test_every_bench_figure_lies_between_a_floor_and_its_ceiling(bench_quick: dict[str, Any]) -> None:
    data = bench_quick
    assert data["gpu"]["usable"] is True and data["gpu"]["skipped_reason"] is None
    c = {k: v["value"] for k, v in data["ceilings"].items()}
    assert {"gpu_memory", "gpu_copy", "pcie", "gpu_fp32", "cublas_fp32"} <= set(c)
    assert 0.5 * c["gpu_memory"] < c["gpu_copy"] <= c["gpu_memory"]  # >= 1 GiB copy vs bus x clock
    assert 0.3 * c["gpu_fp32"] < c["cublas_fp32"] <= c["gpu_fp32"]
    if "cublas_tf32" in c:
        assert c["cublas_fp32"] < c["cublas_tf32"] <= c["gpu_tf32_tensor"]
    assert 0.2 * c["gpu_fp16_tensor"] < c["cublas_fp16"] <= c["gpu_fp16_tensor"]
    for p in data["points"]:
        if p["device"] != "gpu":
            continue
        assert p["ceiling"] is not None, p
        frac = p["fraction_of_ceiling"]
        if p["regime"] in ("cache", "launch-bound"):
            assert p["note"], p
            continue
        assert 0.0 < frac <= 1.0, p
    transfers = [p for p in data["points"] if p["kind"] == "copy" and p["variant"].startswith(("H2D", "D2H"))]
    assert {p["variant"] for p in transfers} == {"H2D pinned", "H2D pageable", "D2H pinned", "D2H pageable"}
    pinned = next(p for p in transfers if p["variant"] == "H2D pinned")
    assert 0.3 < pinned["fraction_of_ceiling"] <= 1.0  # pinned DMA reaches most of the link
    big_adds = [
        p for p in data["points"] if p["kind"] == "add" and p["device"] == "gpu" and p["size"] >= 10**7
    ]
    assert big_adds and all(
        0.2 < (p["fraction_of_ceiling"] or 0) <= 1.0 for p in big_adds if "transfers" not in p["variant"]
    )
    assert data["crossovers"]["matmul"] is not None
