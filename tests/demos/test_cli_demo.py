"""`gputk demo ...` as a user runs it: exit codes, JSON keys, PNGs, errors for bad input or no GPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gputk.cli.app import run_cli
from gputk.demos.gpucheck import status_from_facts
from gputk.host import Host
from gputk.services import demo as svc
from gputk.snapshot import SnapshotWriter

NO_DRIVER = {"simulator": False, "driver_missing": "no CUDA driver (libcuda.so.1 not found)"}
NO_NUMBA_CUDA = {
    "simulator": False,
    "driver_missing": None,
    "device_name": "NVIDIA H100",
    "numba_cuda_missing": "numba-cuda not installed (pip install 'numba-cuda[cu12]')",
    "cupy_missing": None,
}


GPUCHECK = [sys.executable, "-m", "gputk.demos.gpucheck"]


def answering(snap: SnapshotWriter, facts: dict) -> Host:  # type: ignore[type-arg]
    """A host whose recorded GPU check (the child interpreter) printed ``facts``."""
    snap.add_command(GPUCHECK, stdout=json.dumps(facts) + "\n")
    return snap.host()


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    rc = run_cli(argv)
    cap = capsys.readouterr()
    return rc, json.loads(cap.out), cap.err


def test_vector_add_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data, err = _json(
        capsys, ["demo", "vector-add", "--size", "1001", "--repeats", "2", "--device", "cpu", "--json"]
    )
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
    assert data["backends"][0]["timing_method"]["repeats"] == 2
    assert data["params"]["size"] == 1001 and data["params"]["bytes_moved"] == 3 * 1001 * 8
    # Progress and the memory needed are said on stderr before the work, in order.
    assert err.index("vector add of 1,001 float64: needs about") < err.index("numba-parallel: warm-up")


def test_auto_without_a_gpu_says_so_before_anything_else(snap: SnapshotWriter) -> None:
    said: list[str] = []
    result = svc.vector_add(answering(snap, NO_DRIVER), 1001, "auto", 1, said.append)
    assert result.device == "cpu" and result.verified
    assert said[0].startswith("checking whether the GPU can be used")
    assert said[1] == (
        "running on the CPU: the GPU cannot be used (no CUDA driver (libcuda.so.1 not found)); see `gputk doctor`"
    )
    assert said[2].startswith("vector add of 1,001 float64: needs about")


def test_nn_note_comes_before_the_first_epoch(snap: SnapshotWriter) -> None:
    events: list[str] = []
    svc.nn(
        answering(snap, NO_DRIVER),
        2,
        4,
        50,
        5.0,
        "auto",
        None,
        lambda e, n, loss, acc: events.append(f"epoch {e}"),
        events.append,
    )
    note = next(i for i, e in enumerate(events) if e.startswith("running on the CPU"))
    assert note < events.index("epoch 1")


@pytest.mark.parametrize("demo", ["vector-add", "mandelbrot", "matmul", "nn"])
def test_device_gpu_without_a_gpu_names_the_layer(demo: str, snap: SnapshotWriter) -> None:
    host = answering(snap, NO_DRIVER)
    calls = {
        "vector-add": lambda: svc.vector_add(host, 10, "gpu", 1),
        "mandelbrot": lambda: svc.mandelbrot(host, 8, 8, 5, "gpu", 1, None, False),
        "matmul": lambda: svc.matmul(host, 8, "float32", "gpu", 1),
        "nn": lambda: svc.nn(host, 1, 2, 10, 1.0, "gpu", None),
    }
    with pytest.raises(svc.DeviceUnavailableError) as err:
        calls[demo]()
    assert "no CUDA driver (libcuda.so.1 not found)" in str(err.value)
    assert "gputk doctor" in (err.value.hint or "")


def test_device_gpu_names_the_missing_package(snap: SnapshotWriter) -> None:
    with pytest.raises(svc.DeviceUnavailableError, match="numba-cuda not installed"):
        svc.mandelbrot(answering(snap, NO_NUMBA_CUDA), 8, 8, 5, "gpu", 1, None, False)


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
        (
            ["demo", "mandelbrot", "--iters", "9223372036854775807"],
            "--iters must be between 1 and 100,000, got 9,223,372,036,854,775,807",
        ),
        (
            ["demo", "vector-add", "--repeats", str(10**12)],
            "--repeats must be between 1 and 1,000, got 1,000,000,000,000",
        ),
        (["demo", "mandelbrot", "-o", "m.jpg"], "only PNG is written"),
        (["demo", "nn", "-o", "/nonexistent-dir/nn.png"], "does not exist"),
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


def test_nn_failure_names_the_failing_criterion(capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_cli(["demo", "nn", "--epochs", "3", "--samples", "200", "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL: numpy: accuracy" in out and "< 0.9 after 3 epochs" in out
    assert "finite differences" not in out.split("FAIL:")[1]  # the gradient check passed: not the reason


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
    assert "FAIL: numba-parallel: max error 1 against np.add (must be 0)" in out


def test_gpu_status_from_child_facts() -> None:
    st = status_from_facts(NO_DRIVER)
    assert not st.usable and st.missing == "no CUDA driver (libcuda.so.1 not found)"
    st = status_from_facts(NO_NUMBA_CUDA)
    assert st.usable and st.cupy and not st.numba_cuda
    assert st.why_not("numba-cuda") == "numba-cuda not installed (pip install 'numba-cuda[cu12]')"
    assert st.why_not("cupy") is None


def test_mandelbrot_reports_iterations_per_second_and_its_case(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data, _ = _json(
        capsys,
        [
            "demo",
            "mandelbrot",
            "--width",
            "64",
            "--height",
            "40",
            "--repeats",
            "2",
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert rc == 0
    rates = data["rates"]
    assert rates["flops_per_iteration"] == 11 and 64 * 40 <= rates["iterations"] <= 64 * 40 * 20
    assert rates["numba-parallel"]["iterations_per_s"] > 0
    assert "fraction_of_peak" not in rates["numba-parallel"]  # a GPU figure only
    assert (
        data["params"]["case"].startswith("small case") and "--size 4k --iters 1000" in data["params"]["case"]
    )


def test_mandelbrot_float32_on_the_cpu_is_checked_against_the_float64_loop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["demo", "mandelbrot", "--width", "97", "--height", "61", "--dtype", "float32", "--repeats", "1"]
    rc, data, _ = _json(capsys, [*argv, "--device", "cpu", "--json"])
    run = data["backends"][0]
    assert rc == 0 and data["params"]["dtype"] == "float32"
    assert run["tolerance"] == 0.02 and run["max_error"] <= 0.02


def test_matmul_tf32_on_the_cpu_uses_the_tf32_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data, _ = _json(
        capsys, ["demo", "matmul", "--size", "200", "--dtype", "tf32", "--device", "cpu", "--json"]
    )
    run = data["backends"][0]
    assert rc == 0 and "NumPy has no TF32" in run["note"]
    assert run["tolerance"] == pytest.approx(4 * 2**-11 + 2 * 200**0.5 * 2**-24)
