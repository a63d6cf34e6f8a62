"""One scenario per failure mode F1-F12 (docs/design.md), plus healthy machines.

Each builds a whole machine as a snapshot tree (tests/doctor/scenarios.py) and runs
the real doctor on it: the right check fails with the right fix, the layers below
pass, the layers above skip with ``blocked_by`` the root cause.
"""

from __future__ import annotations

from typing import Any

import pytest

from gputk.doctor.runner import diagnose
from gputk.models.doctor import CheckResult, DoctorReport
from gputk.probes.nvml import STATUS_DETAILS as NVML_STATUS_DETAILS
from gputk.snapshot import SnapshotWriter
from tests.conftest import FIXTURES
from tests.doctor.scenarios import HEALTHY, Gpu, Machine, build, tf_ok, torch_ok

DRIVER_CHECKS = ("driver.kernel-module", "driver.nvml", "driver.nvidia-smi")


def run(snap: SnapshotWriter, m: Machine, **kw: Any) -> DoctorReport:
    return diagnose(build(snap, m).host(), **kw)


def status(report: DoctorReport) -> dict[str, tuple[str, str | None]]:
    return {c.id: (c.status, c.blocked_by) for c in report.checks}


def only_failure(report: DoctorReport, check_id: str) -> None:
    """``check_id`` is the one failing check; nothing else fails, warns or errors."""
    bad = {c.id: c.status for c in report.checks if c.status in ("fail", "warn", "error")}
    assert bad == {check_id: "fail"}, bad


def sole_failure(
    snap: SnapshotWriter, m: Machine, check_id: str, **kw: Any
) -> tuple[DoctorReport, CheckResult]:
    """Run machine ``m``; ``check_id`` must be the only failing check. Returns the report and that check."""
    report = run(snap, m, **kw)
    only_failure(report, check_id)
    c = report.get(check_id)
    assert c is not None and c.fix is not None
    return report, c


def commands(report: DoctorReport, check_id: str) -> str:
    c = report.get(check_id)
    assert c is not None and c.fix is not None
    return "\n".join(c.fix.commands)


def test_healthy_machine_raises_no_alarm(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY)
    assert report.verdict() == "ok" and report.exit_code(strict=True) == 0
    st = status(report)
    assert {k for k, (s, _) in st.items() if s != "pass"} == {
        "framework.cupy",
        "framework.numba",
        "framework.jax",
    }
    assert st["framework.cupy"] == ("skip", None)  # not installed is a skip, not a failure
    assert report.get("driver.kernel-module").summary == "nvidia 550.54.15 loaded (proprietary kernel module)"
    assert "torch 2.4.0+cu124 (CUDA 12.4, cuDNN 9.1.0) sees 1 GPU(s)" in report.get("framework.torch").summary
    assert "cuDNN 9.1.0" in report.get("cudnn.install").summary
    assert all(c.fix is None for c in report.checks)


def test_healthy_open_module_fedora_without_frameworks(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(distro="fedora", open_module=True), frameworks=False)
    assert report.verdict() == "ok"
    assert not any(c.id.startswith("framework.") for c in report.checks)
    assert "(open kernel module)" in report.get("driver.kernel-module").summary
    assert "Fedora Linux 40" in report.get("platform.os").summary


def test_f1_driver_library_mismatch(snap: SnapshotWriter) -> None:
    history = (
        "Start-Date: 2024-05-02  06:25:11\nCommandline: /usr/bin/unattended-upgrade\n"
        "Upgrade: libnvidia-compute-550:amd64 (550.54.14-0ubuntu1, 550.54.15-0ubuntu1)\nEnd-Date: 2024-05-02\n"
    )
    m = HEALTHY.but(
        module_loaded="550.54.14", nvml="driver-library-mismatch", smi="mismatch", apt_history=history
    )
    report, c = sole_failure(snap, m, "driver.nvml")
    assert (
        c.summary
        == "Driver/library version mismatch: kernel module 550.54.14 is loaded but the libraries are 550.54.15"
    )
    assert "sudo reboot" in c.fix.commands
    assert any(cmd.startswith("sudo apt-mark hold") for cmd in c.fix.commands)
    assert any("unattended-upgrade" in e.value or "libnvidia-compute-550" in e.value for e in c.evidence)
    st = status(report)
    assert st["driver.kernel-module"] == ("pass", None)
    for cid in ("driver.nvidia-smi", "cuda.driver-compat", "framework.torch", "framework.tensorflow"):
        assert st[cid] == ("skip", "driver.nvml"), cid


def test_f1_found_from_files_alone(snap: SnapshotWriter) -> None:
    """No NVML probe and no nvidia-smi output in the snapshot: /sys + the library's file name suffice."""
    report = run(snap, HEALTHY.but(module_loaded="535.104.05", nvml=None, smi=None), frameworks=False)
    c = report.get("driver.nvml")
    assert c.status == "fail" and "535.104.05 is loaded but the libraries are 550.54.15" in c.summary


def test_f2_dkms_module_not_built_for_running_kernel(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        module_loaded=None, module_kernels=("6.5.0-41-generic",), nvml="driver-not-loaded", smi="no-driver"
    )
    report, c = sole_failure(snap, m, "driver.kernel-module")
    assert "built for another kernel, not the running 6.8.0-45-generic" in c.summary
    cmds = commands(report, "driver.kernel-module")
    assert "sudo apt-get install -y linux-headers-$(uname -r) dkms" in cmds
    assert "sudo dkms install -m nvidia -v 550.54.15 -k $(uname -r)" in cmds
    st = status(report)
    assert st["hardware.gpu"] == ("pass", None) and st["cuda.toolkit"] == ("pass", None)
    for cid in ("driver.nvml", "driver.nvidia-smi", "cuda.driver-compat", "framework.torch"):
        assert st[cid] == ("skip", "driver.kernel-module"), cid


def test_f2_fix_follows_the_package_manager(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        distro="fedora",
        module_loaded=None,
        module_kernels=("6.7.4-200.fc39.x86_64",),
        nvml="driver-not-loaded",
        smi="no-driver",
    )
    cmds = commands(run(snap, m, frameworks=False), "driver.kernel-module")
    assert "sudo dnf install -y kernel-devel-$(uname -r) kernel-headers dkms" in cmds
    assert "apt-get" not in cmds


def test_f2_nouveau_owns_the_gpu(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        module_loaded=None,
        dev_nodes=False,
        nouveau=True,
        gpus=(Gpu(bound="nouveau"),),
        nvml="driver-not-loaded",
        smi="no-driver",
    )
    report, c = sole_failure(snap, m, "driver.kernel-module")
    assert c.summary.startswith("the open-source nouveau driver owns the GPU")
    cmds = commands(report, "driver.kernel-module")
    assert "blacklist nouveau" in cmds and "sudo update-initramfs -u" in cmds


def test_f2_secure_boot_rejects_the_module(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(module_loaded=None, secure_boot=True, nvml="driver-not-loaded", smi="no-driver")
    report = run(snap, m, frameworks=False)
    only_failure(report, "driver.kernel-module")
    assert "Secure Boot is on" in report.get("driver.kernel-module").summary
    assert "sudo mokutil --import /var/lib/dkms/mok.pub" in commands(report, "driver.kernel-module")


def test_f2_no_driver_at_all(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        module_loaded=None,
        user_space=None,
        module_kernels=(),
        dev_nodes=False,
        nvml="library-not-found",
        smi="missing",
    )
    report = run(snap, m, frameworks=False)
    only_failure(report, "driver.kernel-module")
    assert report.get("driver.kernel-module").summary == "no NVIDIA driver is installed"
    assert "ubuntu-drivers" in commands(report, "driver.kernel-module")


def test_f3_driver_too_old_for_the_framework_build(snap: SnapshotWriter) -> None:
    torch = torch_ok(
        gpu_count=0,
        gpus=[],
        op_ok=None,
        gpu_error="The NVIDIA driver on your system is too old (found version 11040)",
    )
    m = HEALTHY.but(
        module_loaded="470.82.01",
        user_space="470.82.01",
        cuda_driver="11.4",
        toolkits=(),
        frameworks={"torch": torch},
    )
    report, c = sole_failure(snap, m, "cuda.driver-compat")
    assert c.summary == "driver 470.82.01 (CUDA 11.4) is too old for torch (CUDA 12.4)"
    assert "Upgrade the driver to >= 550.54.14" in c.fix.text
    assert (
        "sudo apt-get install -y $(ubuntu-drivers devices | awk '/recommended/{print $3}')" in c.fix.commands
    )
    assert status(report)["framework.torch"] == ("skip", "cuda.driver-compat")


def test_f4_toolkit_newer_than_driver_warns(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        module_loaded="535.104.05",
        user_space="535.104.05",
        cuda_driver="12.2",
        toolkits=("12.6.2",),
        frameworks={},
    )
    report = run(snap, m)
    bad = {c.id: c.status for c in report.checks if c.status != "pass" and c.status != "skip"}
    assert bad == {"cuda.driver-compat": "warn"}
    c = report.get("cuda.driver-compat")
    assert "CUDA toolkit 12.6 is newer than the driver's CUDA 12.2" in c.summary
    assert "PTX" in c.summary and ">= 560.35.03" in c.fix.text  # 12.6.2 (update 2) ships with 560.35.03
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1


def test_f5_tensorflow_cannot_load_cuda_libraries(snap: SnapshotWriter) -> None:
    tf = tf_ok(gpu_count=0, gpus=[], op_ok=None, missing_libs=["libcudnn.so.8", "libcublas.so.12"])
    _report, c = sole_failure(snap, HEALTHY.but(frameworks={"tensorflow": tf}), "framework.tensorflow")
    assert (
        c.summary
        == "tensorflow 2.17.0 (CUDA 12.3, cuDNN 8) sees no GPU: cannot load libcudnn.so.8, libcublas.so.12"
    )
    assert c.fix.commands == ("python -m pip install 'tensorflow[and-cuda]'",)
    assert any(e.value == "Could not load dynamic library 'libcudnn.so.8'" for e in c.evidence)


def test_f6_ld_library_path_shadows_pip_wheels(snap: SnapshotWriter) -> None:
    lib = "/usr/local/cuda-12.1/lib64"
    m = HEALTHY.but(
        toolkits=("12.1.1", "12.4.1"),
        ld_library_path=f"{lib}:/opt/other/lib",
        extra_files={
            f"{lib}/libnvJitLink.so.12": "",
            f"{lib}/libnvJitLink.so.12.1.105": "",
            "/opt/other/lib/x": "",
        },
    )
    _report, c = sole_failure(snap, m, "env.path")
    assert c.summary.startswith(
        f"LD_LIBRARY_PATH puts {lib} (libnvJitLink.so.12, CUDA 12.1) ahead of the pip "
        "wheel nvidia-nvjitlink (CUDA 12.4)"
    )
    assert c.fix.commands == ('export LD_LIBRARY_PATH="/opt/other/lib"',)


def test_f7_cpu_only_torch_build(snap: SnapshotWriter) -> None:
    torch = torch_ok(
        version="2.3.0+cpu",
        cuda_build=None,
        cpu_only_build=True,
        cudnn_build=None,
        gpu_count=0,
        gpus=[],
        arch_list=[],
        op_ok=None,
    )
    _report, c = sole_failure(snap, HEALTHY.but(frameworks={"torch": torch}), "framework.torch")
    assert c.summary == "torch 2.3.0+cpu (CPU-only build) cannot use the GPU: it is a CPU-only build"
    assert c.fix.commands == (  # driver CUDA 12.4: the nearest CUDA 12 wheels, run by minor-version compatibility
        "python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu126",
    )


def test_f8_gpu_architecture_missing_from_the_wheel(snap: SnapshotWriter) -> None:
    gpu = Gpu(name="NVIDIA GeForce RTX 5090", device_id="2b85", cc="12.0")
    torch = torch_ok(
        gpus=[gpu.name],
        capabilities=["12.0"],
        op_ok=False,
        op_error="RuntimeError: CUDA error: no kernel image is available for execution on the device",
    )
    m = HEALTHY.but(
        gpus=(gpu,),
        module_loaded="570.86.16",
        user_space="570.86.16",
        open_module=True,  # Blackwell runs only with the open kernel module
        cuda_driver="12.8",
        toolkits=("12.8.0",),
        frameworks={"torch": torch},
    )
    report, c = sole_failure(snap, m, "cuda.arch")
    assert c.summary.startswith("torch 2.4.0+cu124 has no kernels for NVIDIA GeForce RTX 5090 (sm_120;")
    assert c.fix.commands == (  # the newest release that ships cu128 wheels, which carry sm_120
        "python -m pip install --force-reinstall 'torch==2.11.*' --index-url https://download.pytorch.org/whl/cu128",
    )
    assert status(report)["framework.torch"] == ("skip", "cuda.arch")


def test_f8_toolkit_cannot_target_an_old_gpu(snap: SnapshotWriter) -> None:
    gpu = Gpu(name="Tesla V100-SXM2-16GB", device_id="1db1", cc="7.0")
    m = HEALTHY.but(
        gpus=(gpu,),
        module_loaded="580.95.05",
        user_space="580.95.05",
        cuda_driver="13.0",
        toolkits=("13.0.2",),
        frameworks={},
    )
    report = run(snap, m)
    only_failure(report, "cuda.arch")
    assert report.get("cuda.arch").summary == "CUDA 13.0 cannot compile for Tesla V100-SXM2-16GB (sm_70)"


def test_f9_distro_nvcc_shadows_the_local_toolkit(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(distro_nvcc="11.5.119", nvcc_on_path=False), frameworks=False)
    bad = {c.id: c.status for c in report.checks if c.status not in ("pass", "skip")}
    assert bad == {"cuda.toolkit": "warn"}
    c = report.get("cuda.toolkit")
    assert (
        c.summary == "the distro's nvcc 11.5.119 (/usr/bin/nvcc) shadows CUDA 12.4.1 in /usr/local/cuda-12.4"
    )
    assert 'eval "$(gputk env --cuda 12.4)"' in c.fix.commands


def test_f9_toolkit_installed_but_nvcc_not_on_path(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(nvcc_on_path=False), frameworks=False)
    c = report.get("cuda.toolkit")
    assert c.status == "warn"
    assert c.summary == "CUDA 12.4.1 (/usr/local/cuda-12.4) installed but nvcc is not on PATH"
    assert c.fix.commands[0] == 'eval "$(gputk env --cuda 12.4)"'


def test_f10_linux_driver_installed_inside_wsl(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        wsl=True,
        nvml=None,
        smi=None,
        frameworks={},
        extra_files={"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15": "x"},
    )
    report, c = sole_failure(snap, m, "platform.wsl")
    assert "a Linux NVIDIA driver is installed inside WSL2" in c.summary
    assert "sudo apt-get remove --purge '^nvidia-.*' '^libnvidia-.*' cuda-drivers" in c.fix.commands
    st = status(report)
    assert st["hardware.gpu"] == ("pass", None)
    assert all(st[cid] == ("skip", "platform.wsl") for cid in DRIVER_CHECKS)


def test_wsl2_healthy_raises_no_alarm(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(wsl=True, nvml="ok"), frameworks=False)
    assert report.verdict() == "ok", [(c.id, c.summary) for c in report.checks if c.status != "pass"]
    assert report.get("hardware.gpu").summary.startswith("WSL2: the GPU is paravirtualised through /dev/dxg")


def test_f11_container_started_without_gpus(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        container=True,
        dev_nodes=False,
        module_loaded=None,
        user_space=None,
        nvml="library-not-found",
        smi="missing",
        frameworks={},
    )
    report, c = sole_failure(snap, m, "platform.container")
    assert (
        c.summary
        == "inside a docker container without GPU access (no /dev/nvidia*, NVIDIA_VISIBLE_DEVICES unset)"
    )
    assert "docker run --gpus all ..." in c.fix.commands
    assert any("nvidia-ctk runtime configure --runtime=docker" in cmd for cmd in c.fix.commands)
    assert all(status(report)[cid] == ("skip", "platform.container") for cid in DRIVER_CHECKS)


@pytest.mark.parametrize(
    ("value", "summary"),
    [
        ("-1", "CUDA_VISIBLE_DEVICES='-1' hides every GPU"),
        ("", "CUDA_VISIBLE_DEVICES='' hides every GPU"),
        ("2", "CUDA_VISIBLE_DEVICES='2' names 2, which does not exist (1 GPU(s): indices 0-0)"),
        ("GPU-deadbeef", "CUDA_VISIBLE_DEVICES='GPU-deadbeef' names GPU-deadbeef, which does not exist"),
    ],
)
def test_f12_cuda_visible_devices_hides_the_gpu(snap: SnapshotWriter, value: str, summary: str) -> None:
    torch = torch_ok(gpu_count=0, gpus=[], op_ok=None, gpu_error=None)
    report, c = sole_failure(
        snap,
        HEALTHY.but(env={"CUDA_VISIBLE_DEVICES": value}, frameworks={"torch": torch}),
        "env.cuda-visible-devices",
    )
    assert c.summary.startswith(summary)
    assert c.fix.commands[0] == "unset CUDA_VISIBLE_DEVICES"
    assert status(report)["framework.torch"] == ("skip", "env.cuda-visible-devices")


def test_f12_valid_uuid_prefix_and_mixed_gpus_without_device_order(snap: SnapshotWriter) -> None:
    gpus = (
        Gpu(),
        Gpu(
            name="NVIDIA L4",
            device_id="27b8",
            cc="8.9",
            bus="0000:02:00.0",
            uuid="GPU-11111111-2222-3333-4444-555555555555",
        ),
    )
    report = run(snap, HEALTHY.but(gpus=gpus, env={"CUDA_VISIBLE_DEVICES": "GPU-8f6c,1"}), frameworks=False)
    c = report.get("env.cuda-visible-devices")
    assert c.status == "warn" and "'cuda:0' may not be nvidia-smi's GPU 0" in c.summary
    assert c.fix.commands == ("export CUDA_DEVICE_ORDER=PCI_BUS_ID",)


def test_wedged_driver_nvidia_smi_timeout(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(smi="timeout"), frameworks=False)
    only_failure(report, "driver.nvidia-smi")
    assert "gave no answer within 15 s" in report.get("driver.nvidia-smi").summary


def test_wedged_driver_nvml_and_nvidia_smi_both_hang(snap: SnapshotWriter) -> None:
    """NVML gave no answer (recorded as "hung") and nvidia-smi timed out: a wedged driver, reset or
    reboot; never "reinstall the driver"."""
    m = HEALTHY.but(smi="timeout", nvml="hung", nvml_detail=NVML_STATUS_DETAILS["hung"].format(timeout=20))
    report = run(snap, m, frameworks=False)
    only_failure(report, "driver.nvml")
    nvml = report.get("driver.nvml")
    assert nvml.summary.startswith("NVML gave no answer within 20 s: the driver looks wedged")
    assert nvml.fix is not None and "sudo nvidia-smi -r   # when no process uses the GPU" in nvml.fix.commands
    assert not any("install" in c for c in nvml.fix.commands)
    assert report.get("driver.nvidia-smi").blocked_by == "driver.nvml"


def test_no_gpu_on_the_bus_blocks_the_driver_layers(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        gpus=(),
        module_loaded=None,
        user_space=None,
        module_kernels=(),
        nvml=None,
        smi="missing",
        frameworks={"tensorflow": tf_ok(cpu_only_build=True, cuda_build=None, cudnn_build=None, gpu_count=0)},
    )
    report = run(snap, m)
    only_failure(report, "hardware.gpu")
    assert report.get("hardware.gpu").summary == "no GPU found on the PCI bus (display devices: 102b:0522)"
    st = status(report)
    for cid in (
        *DRIVER_CHECKS,
        "cuda.driver-compat",
        "cuda.arch",
        "env.cuda-visible-devices",
        "framework.tensorflow",
    ):
        assert st[cid] == ("skip", "hardware.gpu"), cid
    assert "tensorflow 2.17.0 (CPU-only build) installed" in report.get("framework.tensorflow").summary


def test_framework_probe_crash_is_that_checks_error(snap: SnapshotWriter) -> None:
    crash = {"status": "crash", "detail": "killed by signal 11: Segmentation fault"}
    report = run(snap, HEALTHY.but(frameworks={"torch": torch_ok(), "jax": crash}))
    c = report.get("framework.jax")
    assert c.status == "error" and "killed by signal 11" in c.summary
    assert report.get("framework.torch").status == "pass"
    assert report.verdict() == "fail" and report.exit_code() == 1


def test_leftover_library_file_is_no_mismatch_when_nvml_works(snap: SnapshotWriter) -> None:
    """An old libnvidia-ml.so.<version> left on disk is not F1 while NVML initialises."""
    m = HEALTHY.but(extra_files={"/usr/lib64/libnvidia-ml.so.535.104.05": "x"}, user_space="550.54.14")
    report = run(snap, m, frameworks=False)
    assert report.get("driver.nvml").status == "pass"


def test_f3_on_wsl2_the_fix_is_the_windows_driver(snap: SnapshotWriter) -> None:
    torch = torch_ok(gpu_count=0, gpus=[], op_ok=None)
    m = HEALTHY.but(
        wsl=True, module_loaded="516.01", cuda_driver="11.7", toolkits=(), frameworks={"torch": torch}
    )
    _report, c = sole_failure(snap, m, "cuda.driver-compat")
    assert "Upgrade the driver to >= 551.61" in c.fix.text  # the Windows column of the table
    assert c.fix.commands[0].startswith("# WSL2: update the NVIDIA driver on Windows")
    assert not any("apt-get" in cmd for cmd in c.fix.commands)


def test_healthy_from_a_recorded_nvidia_smi_log_without_nvml(snap: SnapshotWriter) -> None:
    """The snapshot holds no NVML probe: a real `nvidia-smi -q -x` log and sysfs are enough."""
    xml = (FIXTURES / "nvidia-smi-xml" / "rtx-a5000-v13-trimmed.xml").read_text(encoding="utf-8")
    gpu = Gpu(
        name="NVIDIA RTX A5000",
        device_id="2231",
        cc="8.6",
        bus="0000:81:00.0",
        uuid="GPU-12345678-aaaa-bbbb-cccc-0123456789ab",
    )
    m = HEALTHY.but(
        gpus=(gpu,),
        module_loaded="590.44.01",
        user_space="590.44.01",
        cuda_driver="13.1",
        nvml=None,
        smi_text=xml,
        toolkits=("13.0.2",),
        frameworks={},
        pip_wheels={},
    )
    report = run(snap, m)
    assert report.verdict() == "ok", [(c.id, c.summary) for c in report.checks if c.status != "pass"]
    assert report.get("driver.nvml").summary.startswith("NVML not captured in the snapshot; nvidia-smi")
    assert report.get("cuda.driver-compat").summary == "driver 590.44.01 (CUDA 13.1) runs toolkit 13.0"
    assert report.get("cuda.arch").summary.startswith("NVIDIA RTX A5000 (sm_86): supported")
