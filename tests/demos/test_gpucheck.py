"""The readiness check names a missing NVVM, libdevice or cuBLAS in one line (real messages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputk.demos import gpucheck

FIX = Path(__file__).parent.parent / "fixtures" / "gpucheck"


class NvvmSupportError(Exception):
    """Stands for numba's exception of that name: only the message matters to the check."""


@pytest.mark.parametrize("name", ["nvvm-not-found-cudf-1992.txt", "nvvm-not-found-pointrcnn-208.txt"])
def test_missing_nvvm_is_one_line(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # a driver that runs CUDA 12.8 at most: the fix names the CUDA 12 flavour
    monkeypatch.setattr(gpucheck, "_FACTS", {"driver_cuda": "12.8", "compute_capability": "8.6"})
    text = (FIX / name).read_text().split(": ", 1)[1]
    msg = gpucheck.compile_error(NvvmSupportError(text))
    assert (
        msg
        == "numba-cuda cannot compile a kernel: libNVVM not found (pip install 'numba-cuda[cu12]' brings it)"
    )


def test_missing_libdevice_is_named() -> None:
    msg = gpucheck.compile_error(
        RuntimeError("Missing libdevice file. Please ensure you have a CUDA Toolkit")
    )
    assert "libdevice not found" in msg and "\n" not in msg


def test_other_compile_errors_keep_their_first_line() -> None:
    msg = gpucheck.compile_error(RuntimeError("ptxas fatal : Unsupported .version 7.3\nmore detail"))
    assert (
        msg
        == "numba-cuda cannot compile and run a kernel (RuntimeError: ptxas fatal : Unsupported .version 7.3)"
    )


def test_missing_cublas_is_one_line() -> None:
    text = (FIX / "cublas-not-found-cupy-8188.txt").read_text().split(": ", 1)[1]
    msg = gpucheck.cublas_error(ImportError(text.strip()))
    assert msg.startswith("CuPy cannot run a matrix product: cuBLAS not found") and "\n" not in msg


def test_a_failed_readiness_layer_makes_the_gpu_unusable_for_that_package() -> None:
    facts = {
        "simulator": False,
        "driver_missing": None,
        "numba_cuda_missing": gpucheck.compile_error(NvvmSupportError("libNVVM cannot be found.")),
        "cupy_missing": gpucheck.cublas_error(ImportError("libcublas.so.12: cannot open shared object file")),
    }
    status = gpucheck.status_from_facts(facts)
    assert not status.usable
    assert status.missing is not None and "libNVVM not found" in status.missing
    assert "cuBLAS not found" in (status.cupy_missing or "") and "cuBLAS not found" in (status.detail or "")
