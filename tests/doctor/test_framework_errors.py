"""What frameworks print when CUDA fails, read from real stderr (tests/fixtures/framework-stderr/, cited in
SOURCES.md) through the probe's parser and the doctor's framework check: each names the CUDA error (by its
runtime name, its driver-API name, its number, or the framework's own wording), the layer that causes it,
and a fix for that layer, never "reinstall the framework"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gputk.doctor import cuda_errors
from gputk.probes.frameworks import _parse_child
from gputk.snapshot import SnapshotWriter
from tests.conftest import FIXTURES
from tests.doctor.scenarios import HEALTHY, torch_ok
from tests.doctor.test_scenarios import run


def _stderr(name: str) -> str:
    return (FIXTURES / "framework-stderr" / name).read_text(encoding="utf-8")


def _probe(framework: str, stderr: str, raised: bool | str) -> dict[str, Any]:
    """The probe's result for a framework that saw no GPU: ``raised`` puts the last line of the log in
    ``gpu_error`` (the exception the probe caught); otherwise the framework fell back to the CPU quietly
    and only its log says why."""
    base: dict[str, Any] = {"status": "ok", "version": "1.0", "gpu_count": 0, "gpus": []}
    if framework == "torch":
        base = torch_ok(gpu_count=0, gpus=[], op_ok=None)
    if raised:
        lines = [line.strip("`> ") for line in stderr.strip().splitlines() if line.strip("`> ")]
        base["gpu_error"] = lines[0] if raised == "first" else lines[-1]
    return _parse_child(framework, json.dumps(base) + "\n", stderr)


CASES = [
    # fixture, framework, raised, code, layer, words of the fix
    ("jax-cuinit-no-device.txt", "jax", False, 100, "system configuration", "CUDA_VISIBLE_DEVICES"),
    ("jax-cuinit-system-not-ready.txt", "jax", False, 802, "system service", "fabric manager"),
    ("jax-cuinit-unknown-error.txt", "jax", False, 999, "driver", "nvidia_uvm"),
    ("jax-not-initialized-versions-helper.txt", "jax", False, 3, "driver", "kernel log"),
    ("jax-unable-to-load-cuda.txt", "jax", False, None, "framework build", "jax[cuda12]"),
    ("jax-cpu-jaxlib-fallback.txt", "jax", False, None, "framework build", "CPU-only build"),
    ("cupy-insufficient-driver.txt", "cupy", True, 35, "driver", "older than the CUDA"),
    ("torch-found-no-nvidia-driver.txt", "torch", True, 35, "driver", "libcuda.so.1"),
    ("torch-old-thcudacheck-35.txt", "torch", True, 35, "driver", "older than the CUDA"),
    ("tf-cudart-stub-could-not-find-drivers.txt", "tensorflow", False, None, "toolkit", "libcudart"),
    ("tf-cannot-dlopen-unlisted.txt", "tensorflow", False, None, "toolkit", "tensorflow[and-cuda]"),
    ("numba-stub-libcuda-34.txt", "numba", "first", 34, "toolkit", "stubs/libcuda.so"),
    ("numba-driver-library-not-found.txt", "numba", True, None, "driver", "NUMBA_CUDA_DRIVER"),
    ("torch-devices-busy-new-wording.txt", "torch", "first", 46, "system configuration", "gpu.compute-mode"),
]


@pytest.mark.parametrize(("fixture", "framework", "raised", "code", "layer", "fix"), CASES)
def test_real_framework_error_names_its_cause_and_layer(
    snap: SnapshotWriter, fixture: str, framework: str, raised: bool | str, code: int | None, layer: str, fix: str
) -> None:
    probe = _probe(framework, _stderr(fixture), raised)
    report = run(snap, HEALTHY.but(frameworks={framework: probe}))
    c = report.get(f"framework.{framework}")
    assert c is not None and c.status == "fail", c
    assert f"caused at the {layer} layer" in c.summary
    if code is not None:
        assert f"CUDA error {code} (" in c.summary
    assert c.fix is not None and fix in c.fix.text
    assert "install a CUDA build" not in c.fix.text.lower()  # not the generic reinstall
    # nothing else on the healthy machine fails because of it
    assert {x.id for x in report.checks if x.status in ("fail", "error")} == {f"framework.{framework}"}


def test_cuda_error_names_of_both_apis_map_to_one_code() -> None:
    runtime = cuda_errors.explain("cupy_backends.cuda.api.runtime.CUDARuntimeError: cudaErrorNoDevice")
    driver = cuda_errors.explain("numba.cuda.cudadrv.error.CudaSupportError: Call to cuInit results in CUDA_ERROR_NO_DEVICE")
    assert runtime is not None and driver is not None
    assert (runtime.code, driver.code) == (100, 100)
    # a name wins over an unrelated number in the same message
    mixed = cuda_errors.explain("versions_helpers.cc:90 failed: CUDA_ERROR_NOT_INITIALIZED error 2")
    assert mixed is not None and mixed.code == 3


def test_a_gpu_seen_with_a_logged_cuinit_line_is_not_an_error() -> None:
    """XLA logs a failed cuInit of one process; when the framework still lists GPUs that line is noise."""
    stderr = _stderr("jax-cuinit-no-device.txt")
    r = _parse_child("jax", json.dumps({"status": "ok", "gpu_count": 1, "gpus": ["H100"]}) + "\n", stderr)
    assert "log_error" not in r


def test_logged_error_lines_are_bounded() -> None:
    line = "E cuda_driver.cc] failed call to cuInit: CUDA_ERROR_NO_DEVICE " + "x" * 5000
    stderr = "\n".join(f"{i} {line}" for i in range(100))
    r = _parse_child("jax", json.dumps({"status": "ok", "gpu_count": 0}) + "\n", stderr)
    assert r["log_error"].count(" | ") == 2 and len(r["log_error"]) < 1300


def test_cupy_operation_failing_on_a_missing_nvrtc_names_the_toolkit_layer(snap: SnapshotWriter) -> None:
    """CuPy sees the GPU; its first kernel needs NVRTC, which is not on the library path."""
    error = _stderr("cupy-failed-to-load-nvrtc.txt").strip().strip("`").strip()
    probe = {"status": "ok", "version": "13.0.0", "cuda_major_build": 12, "gpu_count": 1, "gpus": ["H100"],
             "op_ok": False, "op_error": error}
    report = run(snap, HEALTHY.but(frameworks={"cupy": probe}))
    c = report.get("framework.cupy")
    assert c.status == "fail"
    assert c.summary.endswith(
        "sees 1 GPU(s) but a tiny operation failed: CuPy CUDA libraries failed ('CuPy failed to load a CUDA "
        "library'), caused at the toolkit layer"
    )
    assert "nvidia-cuda-nvrtc-cu12" in c.fix.text
