"""On a real GPU: every demo passes its check with --device gpu; bench figures are physically plausible.

Run on a GPU host with ``pytest -m gpu tests/gpu``; skipped elsewhere (tests/conftest.py).
"""

from __future__ import annotations

import json

import pytest

from gputk.cli.app import run_cli

pytestmark = pytest.mark.gpu


def _run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    rc = run_cli(argv)
    return rc, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("argv", "backends"),
    [
        (["demo", "vector-add", "--size", "10000019"], {"numba-cuda", "cupy"}),
        (["demo", "mandelbrot"], {"numba-cuda", "numba-parallel"}),
        (["demo", "matmul", "--size", "4096"], {"cupy"}),
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


def test_vector_add_gpu_bandwidth_is_physical(capsys: pytest.CaptureFixture[str]) -> None:
    _, data = _run_json(capsys, ["demo", "vector-add", "--size", "100000000", "--device", "gpu", "--json"])
    for run in data["backends"]:
        m = run["metrics"]
        assert 50 < m["bandwidth_GBps"] < 10_000  # HBM3e is ~5 TB/s
        assert m["bandwidth_with_transfers_GBps"] < m["bandwidth_GBps"]


def test_bench_quick_on_the_gpu_is_within_physical_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = _run_json(capsys, ["bench", "--quick", "--json"])
    assert rc == 0 and data["gpu"]["usable"] is True and data["gpu"]["skipped_reason"] is None
    c = data["ceilings"]
    assert 1 < c["h2d_pageable_GBps"] <= c["h2d_pinned_GBps"] * 1.2 < 200  # PCIe 5 x16 is ~64 GB/s per way
    assert 1 < c["d2h_pinned_GBps"] < 200
    assert 100 < c["d2d_GBps"] < 20_000
    assert 1 < c["gpu_matmul_peak_TFLOPs"] < 2_000
    big_adds = [
        p for p in data["points"] if p["kind"] == "add" and p["device"] == "gpu" and p["size"] >= 10**7
    ]
    assert big_adds and all(0 < (p["fraction_of_ceiling"] or 0) < 1.5 for p in big_adds)
    assert data["crossovers"]["matmul"] is not None
