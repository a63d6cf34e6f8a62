"""Diagnoses derived from the compatibility data: the driver a GPU can have, the kernel-module
flavour its generation needs, and framework builds against the GPU, driver and loaded cuDNN."""

from __future__ import annotations

import json

import pytest

from gputk.cli.app import run_cli
from gputk.compat import cuda as cuda_compat
from gputk.probes.frameworks import _parse_child
from gputk.snapshot import SnapshotWriter
from tests.conftest import FIXTURES
from tests.doctor.scenarios import HEALTHY, Gpu, build, tf_ok, torch_ok
from tests.doctor.test_scenarios import run, sole_failure, status

PASCAL = Gpu(name="NVIDIA GeForce GTX 1080 Ti", device_id="1b06", cc="6.1")
KEPLER = Gpu(name="Tesla K80", device_id="102d", cc="3.7")
BLACKWELL = Gpu(name="NVIDIA GeForce RTX 5090", device_id="2b85", cc="12.0")


def test_pascal_with_a_590_driver_needs_the_580_legacy_branch(snap: SnapshotWriter) -> None:
    gpu = Gpu(name="NVIDIA device 1b06", device_id="1b06", cc="6.1")
    m = HEALTHY.but(
        gpus=(gpu,),
        module_loaded="590.44.01",
        user_space="590.44.01",
        cuda_driver="13.1",
        nvml="no-devices",
        smi=None,
        toolkits=(),
        frameworks={},
    )
    report = run(snap, m)
    c = report.get("driver.gpu-support")
    assert c is not None and c.status == "fail"
    assert "driver 590.44.01 does not support" in c.summary and "last driver branch is 580" in c.summary
    assert c.fix is not None and "sudo apt-get install -y nvidia-driver-580" in c.fix.commands
    assert "CUDA <= 12.9" in c.fix.text


def test_pascal_on_580_is_fine_and_says_what_it_is_limited_to(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        gpus=(PASCAL,),
        module_loaded="580.95.05",
        user_space="580.95.05",
        cuda_driver="13.0",
        toolkits=("12.9.1",),
        frameworks={},
    )
    report = run(snap, m)
    c = report.get("driver.gpu-support")
    assert c is not None and c.status == "pass"
    assert any("last driver branch 580" in e.value and "CUDA 12.9" in e.value for e in c.evidence)


def test_no_driver_upgrade_is_advised_where_no_driver_exists(snap: SnapshotWriter) -> None:
    """Kepler on its last branch (470) with a CUDA 12 PyTorch: the fix is a build, not a driver."""
    torch = torch_ok(
        version="2.4.0+cu124",
        gpus=[KEPLER.name],
        capabilities=["3.7"],
        arch_list=["sm_37"],
        gpu_count=0,
        op_ok=None,
        gpu_error="The NVIDIA driver on your system is too old",
    )
    m = HEALTHY.but(
        gpus=(KEPLER,),
        module_loaded="470.82.01",
        user_space="470.82.01",
        cuda_driver="11.4",
        toolkits=(),
        frameworks={"torch": torch},
    )
    report = run(snap, m)
    c = report.get("cuda.driver-compat")
    assert c is not None and c.status == "fail" and c.fix is not None
    assert "no newer driver supports Tesla K80" in c.summary
    assert "Upgrade" not in c.fix.text and "last branch is 470" in c.fix.text
    assert "builds for CUDA <= 11.4 whose arch list has sm_37" in c.fix.text
    assert not any("apt-get install -y $(ubuntu-drivers" in cmd for cmd in c.fix.commands)


def test_pascal_with_a_cuda13_only_torch_pins_the_last_cu126_release(snap: SnapshotWriter) -> None:
    torch = torch_ok(
        version="2.15.0+cu130",
        cuda_build="13.0",
        gpus=[PASCAL.name],
        capabilities=["6.1"],
        arch_list=["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"],
        op_ok=False,
        op_error="CUDA error: no kernel image is available for execution on the device",
    )
    m = HEALTHY.but(
        gpus=(PASCAL,),
        module_loaded="580.95.05",
        user_space="580.95.05",
        cuda_driver="13.0",
        toolkits=(),
        frameworks={"torch": torch},
    )
    _report, c = sole_failure(snap, m, "cuda.arch")
    assert c.fix.commands == (
        "python -m pip install --force-reinstall 'torch==2.14.*' --index-url https://download.pytorch.org/whl/cu126",
    )


def test_open_module_loaded_for_a_pascal_gpu(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(gpus=(PASCAL,), open_module=True, toolkits=(), frameworks={})
    _report, c = sole_failure(snap, m, "driver.module-flavour")
    assert c.summary.startswith(
        "the open kernel module is loaded, but it cannot drive NVIDIA GeForce GTX 1080 Ti"
    )
    assert (
        "sudo apt-get install -y nvidia-driver-550" in c.fix.commands
    )  # the proprietary flavour, same branch


def test_proprietary_module_loaded_for_a_blackwell_gpu(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        gpus=(BLACKWELL,),
        module_loaded="575.57.08",
        user_space="575.57.08",
        cuda_driver="12.9",
        toolkits=(),
        frameworks={},
    )
    _report, c = sole_failure(snap, m, "driver.module-flavour")
    assert "needs the open module" in c.summary
    assert "sudo apt-get install -y nvidia-driver-575-open" in c.fix.commands


def test_open_module_on_turing_and_newer_passes(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(open_module=True, toolkits=(), frameworks={}))
    assert status(report)["driver.module-flavour"] == ("pass", None)


def test_tensorflow_loading_an_older_cudnn_than_it_was_built_with(snap: SnapshotWriter) -> None:
    tf = tf_ok(
        version="2.21.0",
        cuda_build="12.5.1",
        cudnn_build="9",
        cudnn_loaded=90100,
        cudnn_loaded_path="/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0",
    )
    m = HEALTHY.but(frameworks={"tensorflow": tf})
    _report, c = sole_failure(snap, m, "framework.tensorflow")
    assert c.summary == (
        "TensorFlow 2.21.0 needs cuDNN 9.3 (same major, >= minor) but loads cuDNN 9.1.0 from "
        "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0"
    )
    assert c.fix.commands == ("python -m pip install 'nvidia-cudnn-cu12>=9.3'",)
    assert "take /usr/lib/x86_64-linux-gnu off LD_LIBRARY_PATH" in c.fix.text


def test_tensorflow_table_is_checked_against_the_gpu(snap: SnapshotWriter) -> None:
    """A Maxwell GPU under TensorFlow 2.21 (wheels from sm_60): pin 2.17, the last with sm_50."""
    gpu = Gpu(name="NVIDIA GeForce GTX 970", device_id="13c2", cc="5.2")
    tf = tf_ok(version="2.21.0", cuda_build="12.5.1", cudnn_build="9", arch_list=[])
    m = HEALTHY.but(
        gpus=(gpu,),
        module_loaded="580.95.05",
        user_space="580.95.05",
        cuda_driver="13.0",
        toolkits=(),
        frameworks={"tensorflow": tf},
    )
    _report, c = sole_failure(snap, m, "framework.tensorflow")
    assert "TensorFlow 2.21.0 has no kernels for NVIDIA GeForce GTX 970" in c.summary
    assert c.fix.commands == ("python -m pip install 'tensorflow[and-cuda]==2.17.*'",)


def test_cupy_cuda13_wheel_on_a_pascal_gpu_names_the_cuda12_flavour(snap: SnapshotWriter) -> None:
    cupy = {
        "status": "ok",
        "version": "14.2.0",
        "distribution": "cupy-cuda13x",
        "cuda_major_build": 13,
        "cuda_build": "13.0",
        "gpu_count": 1,
        "gpus": [PASCAL.name],
        "op_ok": False,
        "op_error": "CUDADriverError: CUDA_ERROR_NO_BINARY_FOR_GPU",
    }
    m = HEALTHY.but(
        gpus=(PASCAL,),
        module_loaded="580.95.05",
        user_space="580.95.05",
        cuda_driver="13.0",
        toolkits=(),
        frameworks={"cupy": cupy},
    )
    _report, c = sole_failure(snap, m, "framework.cupy")
    assert "CUDA 13 has no code for NVIDIA GeForce GTX 1080 Ti (Pascal)" in c.summary
    assert c.fix.commands == ("python -m pip install cupy-cuda12x",)


@pytest.mark.parametrize("toolkit", ["11.8.0", "12.0.1", "12.3.2", "12.6.2", "12.9.1", "13.0.2", "13.3.0"])
def test_env_list_and_doctor_give_the_same_minimum_driver(
    snap: SnapshotWriter, capsys: pytest.CaptureFixture[str], toolkit: str
) -> None:
    """An old driver with one toolkit: `env --list --json` and the doctor's fix name one minimum."""
    m = HEALTHY.but(
        module_loaded="450.80.02",
        user_space="450.80.02",
        cuda_driver="11.0",
        toolkits=(toolkit,),
        frameworks={},
        pip_wheels={},
    )
    build(snap, m).write_manifest()
    assert run_cli(["env", "--list", "--json", "--snapshot", str(snap.directory)]) == 0
    listed = json.loads(capsys.readouterr().out)
    (tk,) = listed["toolkits"] if "toolkits" in listed else listed["data"]["toolkits"]
    expected = str(cuda_compat.min_driver(toolkit))
    assert tk["min_driver"] == expected
    report = run(snap, m)
    c = report.get("cuda.driver-compat")
    assert c is not None and c.fix is not None and f">= {expected}" in c.fix.text


@pytest.mark.parametrize(
    ("fixture", "loaded", "compiled"),
    [
        ("tf-cudnn-9.1-loaded-9.3-built.txt", "9.1.0", "9.3.0"),
        ("tf-cudnn-8.7-loaded-8.9.4-built.txt", "8.7.0", "8.9.4"),
    ],
)
def test_tensorflow_stderr_names_the_loaded_and_the_built_cudnn(
    fixture: str, loaded: str, compiled: str
) -> None:
    stderr = (FIXTURES / "framework-stderr" / fixture).read_text()
    r = _parse_child("tensorflow", json.dumps({"status": "ok", "version": "2.18.0"}) + "\n", stderr)
    assert (r["cudnn_loaded"], r["cudnn_compiled"]) == (loaded, compiled)


def test_cudnn_skew_from_a_real_tensorflow_log_is_a_failure_naming_both(snap: SnapshotWriter) -> None:
    stderr = (FIXTURES / "framework-stderr" / "tf-cudnn-9.1-loaded-9.3-built.txt").read_text()
    r = _parse_child(
        "tensorflow",
        json.dumps(
            tf_ok(
                version="2.18.0",
                cuda_build="12.5.1",
                cudnn_build="9",
                op_ok=False,
                op_error="DNN library initialization failed",
            )
        ),
        stderr,
    )
    _report, c = sole_failure(snap, HEALTHY.but(frameworks={"tensorflow": r}), "framework.tensorflow")
    assert c.summary == "TensorFlow 2.18.0 needs cuDNN 9.3.0 (same major, >= minor) but loads cuDNN 9.1.0"
    assert c.fix.commands == ("python -m pip install 'nvidia-cudnn-cu12>=9.3.0'",)


def test_jax_cuda13_plugin_on_a_575_driver_names_the_cuda12_extra(snap: SnapshotWriter) -> None:
    jax = {
        "status": "ok",
        "version": "0.8.1",
        "plugin": "jax-cuda13-plugin",
        "cuda_major_build": 13,
        "gpu_count": 0,
        "gpus": [],
        "gpu_error": "No visible GPU devices",
    }
    m = HEALTHY.but(
        module_loaded="575.57.08",
        user_space="575.57.08",
        cuda_driver="12.9",
        toolkits=(),
        frameworks={"jax": jax},
    )
    _report, c = sole_failure(snap, m, "framework.jax")
    assert c.summary == "jax 0.8.1 is the CUDA 13 build; it needs driver >= 580, this is 575.57.08"
    assert c.fix.commands == ("python -m pip install 'jax[cuda12]'",)


@pytest.mark.parametrize(
    ("facts", "numba_spec", "cupy_spec"),
    [
        ({"driver_cuda": "13.0", "compute_capability": "6.1"}, "numba-cuda[cu12]", "cupy-cuda12x"),
        ({"driver_cuda": "13.1", "compute_capability": "12.0"}, "numba-cuda[cu13]", "cupy-cuda13x"),
        ({"driver_cuda": "12.8", "compute_capability": "12.0"}, "numba-cuda[cu12]", "cupy-cuda12x"),
    ],
)
def test_demo_gpu_check_hints_name_the_fitting_flavour(
    facts: dict[str, str], numba_spec: str, cupy_spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gputk.compat.frameworks import install_spec
    from gputk.demos import gpucheck

    monkeypatch.setattr(gpucheck, "_FACTS", dict(facts))
    major = gpucheck._flavour()
    assert (install_spec("numba", major), install_spec("cupy", major)) == (numba_spec, cupy_spec)


def test_pascal_whose_module_does_not_load_after_an_upgrade_to_590(snap: SnapshotWriter) -> None:
    """The 590 user space is installed, the module refused the GPU: name the 580 legacy branch."""
    m = HEALTHY.but(
        gpus=(PASCAL,),
        module_loaded=None,
        user_space="590.48.01",
        cuda_driver="13.1",
        nvml=None,
        smi=None,
        toolkits=(),
        frameworks={},
    )
    report = run(snap, m)
    c = report.get("driver.gpu-support")
    assert c is not None and c.status == "fail"
    assert c.summary.startswith("driver 590.48.01 does not support GeForce GTX 1080 Ti (Pascal)")
    assert any("installed, not loaded" in e.source for e in c.evidence)
    assert c.fix is not None and "sudo apt-get install -y nvidia-driver-580" in c.fix.commands


def test_open_module_installed_for_a_gt_1030_that_it_refused(snap: SnapshotWriter) -> None:
    """negativo17/nvidia-driver#158: after 560 the open module was installed; it refused a GT 1030
    (10de:1d01) and did not load. modinfo of the installed module names the flavour."""
    gt1030 = Gpu(name="GP108 [GeForce GT 1030]", device_id="1d01", cc="6.1", bound=None)
    modinfo = (
        "filename:       /lib/modules/6.8.0-45-generic/extra/nvidia.ko.xz\n"
        "version:        560.31.02\nlicense:        Dual MIT/GPL\n"
    )
    m = HEALTHY.but(
        gpus=(gt1030,),
        module_loaded=None,
        user_space="560.31.02",
        cuda_driver="12.6",
        nvml=None,
        smi=None,
        toolkits=(),
        frameworks={},
        modinfo=modinfo,
    )
    report = run(snap, m)
    c = report.get("driver.module-flavour")
    assert c is not None and c.status == "fail"
    assert c.summary.startswith(
        "the open kernel module is installed, but it cannot drive GeForce GT 1030"
    )
    assert any(e.source == "modinfo nvidia (license:)" for e in c.evidence)
    assert c.fix is not None and "sudo apt-get install -y nvidia-driver-560" in c.fix.commands
