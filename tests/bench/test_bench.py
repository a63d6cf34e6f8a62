"""`gputk bench` on a machine without a GPU: CPU half measured, GPU half skipped and said so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gputk.cli.app import run_cli
from gputk.demos.gpucheck import status_from_facts
from gputk.services import bench

NO_DRIVER = {"simulator": False, "driver_missing": "no CUDA driver (libcuda.so.1 not found)"}


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small sweeps (the real sizes are for scripts/bench) and the no-driver GPU check."""
    monkeypatch.setattr(bench, "plan", lambda quick: ((1_000, 20_001), (64, 96), 2**20))
    monkeypatch.setattr("gputk.demos.gpucheck.check_gpu", lambda host: status_from_facts(NO_DRIVER))


def test_crossover_is_where_the_gpu_starts_winning_for_good() -> None:
    sizes = [10, 100, 1000, 10000]
    assert bench.crossover(sizes, [1, 2, 3, 4], [5, 1, 4, 2]) == 10000
    assert bench.crossover(sizes, [1, 2, 3, 4], [5, 1, 1, 1]) == 100
    assert bench.crossover(sizes, [1, 2, 3, 4], [5, 5, 5, 5]) is None
    assert bench.crossover(sizes, [9, 9, 9, 9], [1, 1, 1, 1]) == 10


def test_plan_quick_is_smaller() -> None:
    full, quick = bench.plan(False), bench.plan(True)
    assert (
        full[0][0] == 1_000 and full[0][-1] == 100_000_000 and full[1] == (256, 512, 1024, 2048, 4096, 8192)
    )
    assert quick[0][-1] == 10_000_000 and quick[1][-1] < full[1][-1] and quick[2] < full[2]


@pytest.mark.usefixtures("tiny")
def test_bench_json_without_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "chart.png"
    rc = run_cli(["bench", "--quick", "--json", "-o", str(chart)])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["schema"] == "gputk.bench/1"
    assert data["gpu"]["usable"] is False
    assert "no CUDA driver (libcuda.so.1 not found)" in data["gpu"]["skipped_reason"]
    kinds = {(p["kind"], p["device"], p["size"]) for p in data["points"]}
    assert kinds == {
        ("add", "cpu", 1_000),
        ("add", "cpu", 20_001),
        ("matmul", "cpu", 64),
        ("matmul", "cpu", 96),
    }
    assert data["crossovers"] == {}
    assert {"memcpy_GBps", "parallel_copy_GBps", "cpu_copy_GBps", "cpu_matmul_peak_TFLOPs"} <= set(
        data["ceilings"]
    )
    mm = [p for p in data["points"] if p["kind"] == "matmul"]
    assert max(p["fraction_of_ceiling"] for p in mm) == pytest.approx(1.0)  # the peak is the best measured
    for p in data["points"]:
        assert p["value"] > 0 and p["time_ms"] > 0 and p["fraction_of_ceiling"] > 0
    with Image.open(chart) as img:
        assert img.format == "PNG" and img.size[0] > 400
        assert len(np.unique(np.asarray(img.convert("RGB")).reshape(-1, 3), axis=0)) > 10


@pytest.mark.usefixtures("tiny")
def test_bench_text_says_the_gpu_half_was_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_cli(["bench", "--quick"])
    cap = capsys.readouterr()
    assert rc == 0
    assert "GPU half skipped: GPU add and copies: no CUDA driver (libcuda.so.1 not found)" in cap.err
    assert "[1/5] CPU memory copy" in cap.err
    assert "ceilings measured here" in cap.out and "matmul" in cap.out
