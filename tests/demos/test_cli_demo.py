"""`gputk demo ...` as a user runs it: exit codes, JSON keys, PNGs, errors for bad input or no GPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gputk.cli.app import run_cli
from gputk.demos.gpucheck import status_from_facts
from gputk.models.demo import GpuStatus
from gputk.services import demo as svc

NO_DRIVER = {"simulator": False, "driver_missing": "no CUDA driver (libcuda.so.1 not found)"}
NO_NUMBA_CUDA = {
    "simulator": False,
    "driver_missing": None,
    "device_name": "NVIDIA H100",
    "numba_cuda_missing": "numba-cuda not installed (pip install 'numba-cuda[cu12]')",
    "cupy_missing": None,
}


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child GPU check answers as on a machine without the driver."""
    monkeypatch.setattr(svc, "_live_status", lambda: status_from_facts(NO_DRIVER))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    rc = run_cli(argv)
    cap = capsys.readouterr()
    return rc, json.loads(cap.out), cap.err


@pytest.mark.usefixtures("no_gpu")
def test_vector_add_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data, err = _json(capsys, ["demo", "vector-add", "--size", "1001", "--repeats", "2", "--json"])
    assert rc == 0
    for key in ("schema", "demo", "device", "backend", "params", "verified", "max_error", "timings_ms"):
        assert key in data
    assert data["schema"] == "gputk.demo/1"
    assert (data["demo"], data["device"], data["backend"], data["verified"]) == (
        "vector-add",
        "cpu",
        "numba-parallel",
        True,
    )
    assert set(data["timings_ms"]) == {"first", "median", "min"}
    assert data["params"]["size"] == 1001 and data["params"]["bytes_moved"] == 3 * 1001 * 8
    assert "running on the CPU: the GPU cannot be used (no CUDA driver (libcuda.so.1 not found))" in err


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("demo", ["vector-add", "mandelbrot", "matmul", "nn"])
def test_device_gpu_without_a_gpu_names_the_layer_and_exits_1(
    demo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = run_cli(["demo", demo, "--device", "gpu"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "no CUDA driver (libcuda.so.1 not found)" in err
    assert "gputk doctor" in err and "Traceback" not in err


def test_device_gpu_names_the_missing_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(svc, "_live_status", lambda: status_from_facts(NO_NUMBA_CUDA))
    rc = run_cli(["demo", "mandelbrot", "--device", "gpu"])
    assert rc == 1
    assert "numba-cuda not installed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "vector-add", "--size", "0"], "--size must be a positive number, got 0"),
        (["demo", "vector-add", "--size", "-5"], "--size must be a positive number, got -5"),
        (["demo", "vector-add", "--size", "1000000000000"], "GiB is available"),
        (["demo", "mandelbrot", "--width", "0"], "--width must be a positive number, got 0"),
        (["demo", "mandelbrot", "--width", "2000000", "--height", "2000000"], "GiB is available"),
        (["demo", "matmul", "--size", "-1"], "--size must be a positive number, got -1"),
        (["demo", "matmul", "--size", "10000000"], "GiB is available"),
        (["demo", "nn", "--epochs", "0"], "--epochs must be a positive number, got 0"),
        (["demo", "nn", "--lr", "-1"], "--lr must be positive"),
    ],
)
def test_invalid_sizes_give_one_line_and_exit_1(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = run_cli([*argv, "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == (1 if "GiB is available" in message else 2)  # too big for this machine / a usage error
    assert message in err
    assert err.startswith("error:") and "Traceback" not in err


def _decode_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def test_mandelbrot_png_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "m.png"
    rc, data, _ = _json(
        capsys,
        [
            "demo",
            "mandelbrot",
            "--width",
            "97",
            "--height",
            "61",
            "--repeats",
            "1",
            "--device",
            "cpu",
            "--compare",
            "-o",
            str(png),
            "--json",
        ],
    )
    assert rc == 0 and data["verified"] is True and data["max_error"] == 0.0
    assert data["params"]["region"] == [-2.0, 1.0, -1.0, 1.0]
    assert data["compare"]["python_size"] == [97, 61]
    assert data["compare"]["speedups"]["numba-parallel"] > 0
    rgb = _decode_png(png)
    assert rgb.shape == (61, 97, 3)
    assert (rgb == 0).all(axis=2).any()  # the set itself is black
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) >= 8  # colours vary with the count


def test_nn_png_text_output_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "nn.png"
    rc = run_cli(["demo", "nn", "--epochs", "200", "--samples", "300", "--device", "cpu", "-o", str(png)])
    cap = capsys.readouterr()
    assert rc == 0
    assert "PASS: max error" in cap.out
    assert "epoch 200/200" in cap.err and "epoch   1/200" in cap.err
    rgb = _decode_png(png)
    assert rgb.shape == (400, 400, 3)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20


def test_matmul_float16_cpu_says_how_it_computed(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data, _ = _json(
        capsys, ["demo", "matmul", "--size", "65", "--dtype", "float16", "--device", "cpu", "--json"]
    )
    assert rc == 0 and data["verified"] is True
    assert data["params"]["dtype"] == "float16" and data["params"]["flops"] == 2 * 65**3
    assert "float32" in data["backends"][0]["note"]


def test_a_failed_check_exits_1_with_fail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gputk.demos import vector_add as va

    def wrong_add(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        c[:] = a + b
        c[-1] += 1.0

    monkeypatch.setattr(va, "add_into", wrong_add)
    rc = run_cli(["demo", "vector-add", "--size", "500", "--repeats", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL: max error 1" in out


def test_gpu_status_from_child_facts() -> None:
    st = status_from_facts(NO_DRIVER)
    assert not st.usable and st.missing == "no CUDA driver (libcuda.so.1 not found)"
    st = status_from_facts(NO_NUMBA_CUDA)
    assert st.usable and st.cupy and not st.numba_cuda
    assert st.why_not("numba-cuda") == "numba-cuda not installed (pip install 'numba-cuda[cu12]')"
    assert st.why_not("cupy") is None
    assert svc.resolve_device("auto", ("cupy",), lambda: st)[0] == "gpu"
    assert svc.resolve_device("cpu", ("cupy",), lambda: GpuStatus(usable=False)) == ("cpu", None, [])
