"""`gputk bench` without a GPU: the CPU half measured against hardware ceilings, the GPU half skipped.

The service is given a snapshot host whose recorded GPU check says "no driver" and whose /proc/cpuinfo
and cache sizes are a real recording: the ceilings come from those facts, the sweep runs here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gputk.cli.app import run_cli
from gputk.cli.bench import LEGEND, _render_text
from gputk.demos.gpucheck import status_from_facts
from gputk.host import Host
from gputk.models.demo import BenchPoint, BenchResult, Ceiling
from gputk.services import bench
from gputk.snapshot import SnapshotWriter

FIX = Path(__file__).parent.parent / "fixtures"
NO_DRIVER = {"simulator": False, "driver_missing": "no CUDA driver (libcuda.so.1 not found)"}
GPUCHECK = [sys.executable, "-m", "gputk.demos.gpucheck"]
TINY = bench.Plan((1_000, 20_001, 3_000_000), (64, 96), 48 * 2**20, 2**20, 2**20, 128)


def no_gpu_host(snap: SnapshotWriter) -> Host:
    snap.add_command(GPUCHECK, stdout=json.dumps(NO_DRIVER) + "\n")
    snap.add_file("/proc/cpuinfo", (FIX / "cpuinfo" / "xeon-e5-2660v3-one-cpu.txt").read_text())
    snap.add_file("/sys/devices/system/cpu/cpu0/cache/index3/level", "3\n")
    snap.add_file("/sys/devices/system/cpu/cpu0/cache/index3/size", "25600K\n")
    return snap.host()


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> BenchResult:
    """One tiny sweep shared by the tests that read its result."""
    snap = SnapshotWriter(tmp_path_factory.mktemp("bench") / "snap")
    snap.set_platform(system="Linux", node="testhost", release="6.8.0", version="#1 SMP", machine="x86_64")
    snap.set_env({"PATH": "/usr/bin:/bin", "HOME": "/home/user"})
    steps: list[tuple[int, int, str]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench, "plan", lambda quick: TINY)
        res = bench.run_bench(no_gpu_host(snap), True, None, lambda d, t, label: steps.append((d, t, label)))
    assert steps[0] == (1, 6, "CPU memory copy (96 MiB moved per copy)")  # said before the step runs
    assert [s[0] for s in steps] == [1, 2, 3, 4, 5, 6] and steps[-1][2] == "CPU matmul 96"
    return res


def test_crossover_is_where_the_gpu_starts_winning_for_good() -> None:
    sizes = [10, 100, 1000, 10000]
    assert bench.crossover(sizes, [1, 2, 3, 4], [5, 1, 4, 2]) == 10000
    assert bench.crossover(sizes, [1, 2, 3, 4], [5, 1, 1, 1]) == 100
    assert bench.crossover(sizes, [1, 2, 3, 4], [5, 5, 5, 5]) is None
    assert bench.crossover(sizes, [9, 9, 9, 9], [1, 1, 1, 1]) == 10


def test_plan_quick_is_smaller_and_the_gpu_copy_ceiling_is_at_least_a_gib() -> None:
    full, quick = bench.plan(False), bench.plan(True)
    assert full.add_sizes[0] == 1_000 and full.add_sizes[-1] == 100_000_000
    assert full.mm_sizes == (256, 512, 1024, 2048, 4096, 8192)
    assert quick.add_sizes[-1] == 10_000_000 and quick.mm_sizes[-1] < full.mm_sizes[-1]
    assert full.d2d_bytes >= 2**30 and quick.d2d_bytes >= 2**30
    small = bench.fit_plan(full, 2 * 2**30)  # 2 GiB available: the 1e8 add (12 GB with copies) is dropped
    assert small.add_sizes[-1] == 10_000_000 and 3 * small.cpu_copy_bytes <= 0.6 * 2 * 2**30


def test_every_figure_has_a_hardware_ceiling(result: BenchResult) -> None:
    assert result.gpu.usable is False
    assert "no CUDA driver (libcuda.so.1 not found)" in (result.gpu_skipped_reason or "")
    assert {(p.kind, p.device, p.size) for p in result.points} == {
        ("add", "cpu", 1_000),
        ("add", "cpu", 20_001),
        ("add", "cpu", 3_000_000),
        ("matmul", "cpu", 64),
        ("matmul", "cpu", 96),
    }
    mem, fp32 = result.ceilings["cpu_memory"], result.ceilings["cpu_fp32"]
    # The matmul ceiling is the CPU's theoretical FP32 peak from the recorded cpuinfo (threads x 2601 MHz x
    # 32 FLOP/cycle for AVX2 + FMA), not the best point of the sweep.
    assert fp32.kind == "theoretical" and "2601 MHz" in fp32.source and "fma" in fp32.source
    assert fp32.value == pytest.approx(result.cpu_threads * 2601e6 * 32 / 1e12)
    # The memory ceiling is a copy measured apart, larger than the last-level cache, said so.
    assert mem.kind == "measured" and "48 MiB" in mem.source and "last-level cache" in mem.source
    for p in result.points:
        assert p.ceiling is not None and p.ceiling.kind in ("theoretical", "measured")
        assert p.ceiling.value not in {q.value for q in result.points}
        assert p.value > 0 and p.time_ms > 0 and (p.fraction or 0) > 0
        if (p.fraction or 0) > 1.0:
            assert p.note, f"{p} is above its ceiling without a reason"


def test_points_in_the_cache_are_labelled(result: BenchResult) -> None:
    small = next(p for p in result.points if p.kind == "add" and p.size == 20_001)
    big = next(p for p in result.points if p.kind == "add" and p.size == 3_000_000)
    assert small.regime == "cache" and "25 MiB last-level cache" in (small.note or "")
    assert big.regime == ""  # 72 MB moved: beyond the 25 MiB cache


def test_a_figure_above_a_measured_ceiling_carries_its_reason() -> None:
    ceiling = Ceiling("CPU memory copy, measured", 10.0, "GB/s", "measured", "copy")
    above = bench.explain(BenchPoint("add", "cpu", "numba", 10**8, 1.0, 11.0, "GB/s", ceiling, spread=0.04))
    assert above.note is not None and "10%" in above.note and "measurement" in above.note
    below = bench.explain(BenchPoint("add", "cpu", "numba", 10**8, 1.0, 9.0, "GB/s", ceiling))
    assert below.note is None


def test_json_names_each_points_ceiling(result: BenchResult) -> None:
    data = result.to_dict()
    assert set(data["ceilings"]) == {"cpu_memory", "cpu_fp32"}
    for p in data["points"]:
        assert p["ceiling"] in {c["name"] for c in data["ceilings"].values()}
        assert p["fraction_of_ceiling"] == pytest.approx(p["value"] / p["ceiling_value"])


def test_text_tables_use_human_units_a_legend_and_warn_about_noise(
    result: BenchResult, capsys: pytest.CaptureFixture[str]
) -> None:
    noisy = BenchPoint(
        "matmul", "cpu", "numpy float32", 128, 0.5, 0.01, "TFLOP/s", result.ceilings["cpu_fp32"], spread=0.5
    )
    _render_text(BenchResult(**{**result.__dict__, "points": (*result.points, noisy)}))
    cap = capsys.readouterr()
    assert "time (" in cap.out and "GB/s" in cap.out and "FLOP/s" in cap.out
    assert LEGEND.split(":")[0] in cap.out and "ceilings:" in cap.out
    assert "CPU FP32, theoretical" in cap.out and "CPU memory copy, measured" in cap.out
    for raw in ("_GBps", "flops=", "TFLOPs", "e+0"):
        assert raw not in cap.out
    assert "~" in cap.out and "varied by more than 10% between repeats" in cap.err
    assert "GPU half skipped: GPU add and copies: no CUDA driver" in cap.err


def test_chart_is_a_png_with_labelled_ceilings(result: BenchResult, tmp_path: Path) -> None:
    from gputk.demos.chart import write_chart

    out = tmp_path / "out"
    out.mkdir()
    path = write_chart(result, out / "chart.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] > 400
        assert len(np.unique(np.asarray(img.convert("RGB")).reshape(-1, 3), axis=0)) > 10
    assert [p.name for p in out.iterdir()] == ["chart.png"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("chart.jpg", "only PNG is written"),
        ("missing/chart.png", "does not exist"),
        ("", "is a directory"),
    ],
)
def test_unusable_output_is_refused_before_any_work(
    tmp_path: Path,
    name: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def must_not_run(*a: object, **k: object) -> None:
        raise AssertionError("the benchmark ran before the output path was checked")

    monkeypatch.setattr(bench, "run_bench", must_not_run)
    target = tmp_path / name if name else tmp_path
    if name == "":
        target = tmp_path / "dir.png"
        target.mkdir()
    rc = run_cli(["bench", "--quick", "-o", str(target)])
    err = capsys.readouterr().err
    assert rc != 0 and message in err and "Traceback" not in err


def test_numba_num_threads_zero_is_one_line(tmp_path: Path) -> None:
    # numba reads the variable when first imported: a fresh process
    env = {**os.environ, "NUMBA_NUM_THREADS": "0", "HOME": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-m", "gputk", "bench", "--quick"], capture_output=True, text=True, timeout=120, env=env
    )
    rc, err = res.returncode, res.stderr
    assert rc == 1 and "error: numba failed to import: Number of threads specified must be > 0." in err
    assert "Traceback" not in err and "unset NUMBA_NUM_THREADS=0" in err


def test_gpu_status_keeps_the_hardware_facts() -> None:
    facts = {
        "simulator": False,
        "driver_missing": None,
        "numba_cuda_missing": None,
        "cupy_missing": None,
        "compute_capability": "8.0",
        "hardware": {"sms": 108, "sm_clock_mhz": 1410, "mem_clock_mhz": 1593, "bus_width_bits": 5120},
    }
    status = status_from_facts(facts)
    ceilings, notes = bench._gpu_ceilings(status)
    assert ceilings["gpu_memory"].value == pytest.approx(2039, rel=0.002)
    assert ceilings["gpu_fp32"].value == pytest.approx(19.5, rel=0.005)
    assert "pcie" not in ceilings and notes == []
