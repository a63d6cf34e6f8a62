"""Failures of working GPU machines (Xid errors, memory errors, fabric manager, clocks,
compute mode, device nodes, containers, library shadowing) and the healthy look-alikes
that must raise no alarm. Kernel logs and XML are real outputs (tests/fixtures/SOURCES.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gputk.doctor.runner import diagnose
from gputk.models.doctor import DoctorReport
from gputk.probes import kernel_log
from gputk.snapshot import SnapshotWriter
from tests.conftest import FIXTURES
from tests.doctor.scenarios import HEALTHY, Gpu, Machine, build, torch_ok
from tests.doctor.test_scenarios import run, sole_failure, status

A100_XML = (FIXTURES / "nvidia-smi-xml" / "a100-sxm4-80gb-mig-v12.xml").read_text(encoding="utf-8")
A100_UUID = "GPU-513536b6-7d19-9063-b049-1e69664bb298"
A100 = Gpu(name="NVIDIA A100-SXM4-80GB", device_id="20b2", cc="8.0", bus="0000:01:00.0", uuid=A100_UUID)
DGX_BUSES = ("07", "0f", "47", "4e", "87", "90", "b7", "bd")
NVSWITCHES = tuple(f"0000:{b}:00.0" for b in ("c4", "c5", "c6", "c7", "c8", "c9"))
FM_ACTIVE = (
    "Id=nvidia-fabricmanager.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n"
    "ExecMainStatus=0\nUnitFileState=enabled\n\n"
    "Id=nvidia-persistenced.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n"
)


def klog(name: str) -> str:
    return (FIXTURES / "kernel-log" / name).read_text(encoding="utf-8")


def a100(xml: str = A100_XML, **over: Any) -> Machine:
    """The A100 of the recorded log (driver 535.54.03), no frameworks: only the facts under test vary."""
    base = dict(
        gpus=(A100,),
        module_loaded="535.54.03",
        user_space="535.54.03",
        cuda_driver="12.2",
        smi_text=xml,
        toolkits=("12.2.2",),
        frameworks={},
        pip_wheels={},
    )
    return HEALTHY.but(**{**base, **over})


def with_health(xml: str, **tags: str) -> str:
    """The recorded log with health elements set to other (real, cited) values."""
    for tag, value in tags.items():
        xml, n = re.subn(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", xml, count=1)
        assert n == 1, tag
    return xml


def dgx(n: int = 8, mig: bool = True) -> tuple[str, tuple[Gpu, ...]]:
    """An HGX board of ``n`` copies of the recorded A100 at DGX A100 bus ids."""
    head, rest = A100_XML.split("<gpu id=", 1)
    body, tail = rest.rsplit("</gpu>", 1)
    gpus, parts = [], []
    for i, b in enumerate(DGX_BUSES[:n]):
        uuid = f"GPU-513536b6-7d19-9063-b049-1e69664bb2{i:02d}"
        part = ("<gpu id=" + body + "</gpu>\n").replace("00000000:01:00.0", f"00000000:{b}:00.0")
        part = part.replace(A100_UUID, uuid)
        if not mig:
            part = part.replace("<current_mig>Enabled</current_mig>", "<current_mig>Disabled</current_mig>")
        parts.append(part)
        gpus.append(Gpu(name=A100.name, device_id="20b2", cc="8.0", bus=f"0000:{b}:00.0", uuid=uuid))
    xml = head.replace("<attached_gpus>4</attached_gpus>", f"<attached_gpus>{n}</attached_gpus>")
    return xml + "".join(parts) + tail, tuple(gpus)


def bad(report: DoctorReport) -> dict[str, str]:
    return {c.id: c.status for c in report.checks if c.status in ("fail", "warn", "error")}


def all_text(report: DoctorReport) -> str:
    out = []
    for c in report.checks:
        out.append(c.summary)
        out += [f"{e.source} {e.value}" for e in c.evidence]
        if c.fix:
            out += [c.fix.text, *c.fix.commands]
    return "\n".join(out)


# -- Xid and NVRM ---------------------------------------------------------------------------------


def test_gpu_fallen_off_the_bus_is_named_by_bus_id_never_none(snap: SnapshotWriter) -> None:
    gpus = (Gpu(bus="0000:3b:00.0"), Gpu(bus="0000:b3:00.0", uuid="GPU-0d1c3f1e-0000-4000-8000-00000000b300"))
    m = HEALTHY.but(
        gpus=gpus, nvml_lost=(1,), smi=None, kernel_log=klog("fallen-off-bus-r570-dmesg.txt"), frameworks={}
    )
    report = run(snap, m)
    assert bad(report) == {"driver.nvml": "fail", "gpu.xid": "fail"}
    nvml = report.get("driver.nvml")
    assert nvml.summary == "NVML answers but GPU 0000:b3:00.0 is lost (fallen off the bus)"
    assert "install" not in " ".join(nvml.fix.commands) and "sudo reboot" in nvml.fix.commands
    xid = report.get("gpu.xid")
    assert xid.summary.startswith("Xid 79 on 0000:b3:00.0: GPU has fallen off the bus (a hardware error)")
    assert "None" not in all_text(report)
    assert status(report)["env.cuda-visible-devices"] == ("pass", None)  # not "GPUs of different models"


def test_xid79_line_and_old_optimus_message_are_hardware(tmp_path: Any) -> None:
    for i, (name, bus) in enumerate(
        (("xid79-fallen-off-bus.txt", "0000:44:00.0"), ("fallen-off-bus-optimus-dmesg.txt", "0000:01:00.0"))
    ):
        w = SnapshotWriter(tmp_path / f"s{i}", "test")
        _r, c = sole_failure(w, HEALTHY.but(kernel_log=klog(name)), "gpu.xid")
        assert c.summary.startswith(f"Xid 79 on {bus}: GPU has fallen off the bus (a hardware error)")
        assert "sudo reboot" in c.fix.commands


def test_xid13_and_109_are_the_programs_fault_a_warning(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(kernel_log=klog("xid13-109-application.txt")))
    assert bad(report) == {"gpu.xid": "warn"}
    c = report.get("gpu.xid")
    assert c.summary.startswith("Xid 109 on 0000:cb:00.0: Context switch timeout (an application fault)")
    assert "also Xid 13" in c.summary and "the program is at fault" in c.summary
    assert any("pt_main_thread pid 1797828" in e.value for e in c.evidence)
    assert any("(x3)" in e.source for e in c.evidence)
    assert c.fix.commands[0].startswith("compute-sanitizer")


def test_xid45_cleanup_alone_warns(snap: SnapshotWriter) -> None:
    log = "\n".join(line.split(" caused by")[0] for line in klog("xid45-cleanup-journal.txt").splitlines())
    report = run(snap, HEALTHY.but(kernel_log=log))
    assert bad(report) == {"gpu.xid": "warn"}
    assert "Preemptive cleanup" in report.get("gpu.xid").summary


def test_xid45_caused_by_nvlink_xids_names_the_cause(snap: SnapshotWriter) -> None:
    """The real log says '45 ... caused by previous Xid 149' (and 145): the NVLink error is the finding,
    the cleanup only its consequence (the reporter's nodes lost NVLink until a reboot)."""
    report = run(snap, HEALTHY.but(kernel_log=klog("xid45-cleanup-journal.txt")))
    c = report.get("gpu.xid")
    assert bad(report) == {"gpu.xid": "fail"}
    assert c.summary == (
        "Xid 149 on 0000:dc:00.0: NVLink NETIR error (a hardware error), the cause of Xid 45; also Xid 145"
    )
    assert c.fix.text.startswith("Xid 149 (NVLink NETIR error): an NVLink network error")
    assert "kernel log: Xid 145 on 0000:ed:00.0" in [e.source for e in c.evidence]


def test_xid94_contained_ecc_error_says_drain_and_reset_not_reinstall(snap: SnapshotWriter) -> None:
    _r, c = sole_failure(snap, HEALTHY.but(kernel_log=klog("xid94-contained-ecc.txt")), "gpu.xid")
    assert c.summary.startswith("Xid 94 on 0000:9b:00.0: Contained ECC error (a hardware error)")
    assert "sudo nvidia-smi --gpu-reset -i 0000:9b:00.0" in "\n".join(c.fix.commands)
    assert "install" not in "\n".join(c.fix.commands)


def test_kernel_log_that_needs_root_is_said_not_read_as_clean(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        kernel_log=None,
        extra_commands={kernel_log.DMESG_ARGV: "dmesg: read kernel buffer failed: Operation not permitted\n"},
    )
    report = run(snap, m)
    assert bad(report) == {}
    c = report.get("gpu.xid")
    assert c.status == "skip" and "needs root" in c.summary


def test_api_mismatch_explained_from_nvrm_in_three_spellings(tmp_path: Any) -> None:
    for i, (name, pair) in enumerate(
        (
            ("api-mismatch-gsp-firmware-dmesg.txt", "570.153.02 talks to kernel module 570.144"),
            ("api-mismatch-named-client-dmesg.txt", "595.84 talks to kernel module 595.80"),
            ("api-mismatch-syslog-012.txt", "535.54.03 talks to kernel module 530.30.02"),
        )
    ):
        w = SnapshotWriter(tmp_path / f"s{i}", "test")
        report = run(w, HEALTHY.but(kernel_log=klog(name)))
        assert bad(report) == {"kernel.nvrm": "fail"}, name
        c = report.get("kernel.nvrm")
        assert pair in c.summary and "API mismatch" in c.summary
        assert c.fix.text.startswith("Reboot (or reload the nvidia modules)")


def test_gpu_the_driver_release_does_not_support(snap: SnapshotWriter) -> None:
    _r, c = sole_failure(snap, HEALTHY.but(kernel_log=klog("h100-not-supported-dmesg.txt")), "kernel.nvrm")
    assert c.summary.startswith("the loaded driver release 550.90.07 does not support this GPU")
    assert "reinstall" not in c.fix.text.lower()


# -- memory, clocks, compute mode ------------------------------------------------------------------


def test_recorded_a100_log_is_healthy(snap: SnapshotWriter) -> None:
    report = run(snap, a100())
    assert bad(report) == {}, [
        (c.id, c.summary) for c in report.checks if c.status in ("fail", "warn", "error")
    ]
    assert report.get("gpu.memory").summary == "no uncorrectable memory errors pending on 1 GPU(s)"


def test_row_remapping_pending_needs_a_reset_not_a_reinstall(snap: SnapshotWriter) -> None:
    remap = (
        "<remapped_row_corr>0</remapped_row_corr><remapped_row_unc>4</remapped_row_unc>"
        "<remapped_row_pending>Yes</remapped_row_pending><remapped_row_failure>No</remapped_row_failure>"
    )
    xml = A100_XML.replace("<remapped_rows>N/A</remapped_rows>", f"<remapped_rows>{remap}</remapped_rows>")
    _r, c = sole_failure(snap, a100(xml), "gpu.memory")
    assert (
        c.summary == "GPU 0000:01:00.0 (NVIDIA A100-SXM4-80GB): row remapping pending: the GPU needs a reset"
    )
    assert "sudo nvidia-smi --gpu-reset -i 0000:01:00.0  # after its processes are stopped" in c.fix.commands
    assert "Reinstalling software does not help" in c.fix.text


def test_row_remapping_failure_means_rma(snap: SnapshotWriter) -> None:
    remap = "<remapped_row_unc>512</remapped_row_unc><remapped_row_pending>No</remapped_row_pending><remapped_row_failure>Yes</remapped_row_failure>"
    xml = A100_XML.replace("<remapped_rows>N/A</remapped_rows>", f"<remapped_rows>{remap}</remapped_rows>")
    _r, c = sole_failure(snap, a100(xml), "gpu.memory")
    assert "row remapping failed" in c.summary and "RMA" in c.fix.text


def test_hw_slowdown_under_load_warns_with_its_cost(snap: SnapshotWriter) -> None:
    xml = with_health(A100_XML, clocks_event_reason_hw_slowdown="Active", gpu_util="97 %")
    report = run(snap, a100(xml))
    assert bad(report) == {"gpu.clocks": "warn"}
    assert "HW slowdown: clocks cut by half or more" in report.get("gpu.clocks").summary


def test_narrow_pcie_link_warns_but_an_idle_gen_downshift_does_not(tmp_path: Any) -> None:
    narrow = with_health(A100_XML, current_link_width="8x")
    report = run(SnapshotWriter(tmp_path / "a", "t"), a100(narrow))
    assert bad(report) == {"gpu.clocks": "warn"}
    assert "PCIe link x8 of x16" in report.get("gpu.clocks").summary
    idle = with_health(A100_XML, current_link_gen="1", clocks_event_reason_gpu_idle="Active")
    assert bad(run(SnapshotWriter(tmp_path / "b", "t"), a100(idle))) == {}


def test_exclusive_process_gpu_held_by_another_process(snap: SnapshotWriter) -> None:
    xml = with_health(A100_XML, compute_mode="Exclusive_Process").replace(
        "<processes />",
        "<processes><process_info><pid>31337</pid><type>C</type><process_name>caffe</process_name>"
        "<used_memory>74 MiB</used_memory></process_info></processes>",
    )
    m = a100(xml, extra_files={"/proc/31337/status": "Name:\tcaffe\nUid:\t1004\t1004\t1004\t1004\n"})
    _r, c = sole_failure(snap, m, "gpu.compute-mode")
    assert "Exclusive_Process mode and already held" in c.summary
    assert "pid 31337 (caffe, uid 1004)" in c.summary and "CUDA error 46" in c.summary
    assert c.fix.commands == ("sudo nvidia-smi -i 0000:01:00.0 -c DEFAULT",)


# -- NVSwitch / fabric manager ----------------------------------------------------------------------


def _hgx(**over: Any) -> Machine:
    xml, gpus = dgx(8, mig=False)
    base: dict[str, Any] = dict(gpus=gpus, nvswitches=NVSWITCHES, units=FM_ACTIVE, fm_version="535.54.03")
    return a100(xml, **{**base, **over})


def test_nvswitch_box_with_fabric_manager_fine_is_healthy(snap: SnapshotWriter) -> None:
    report = run(snap, _hgx())
    assert bad(report) == {}, [
        (c.id, c.summary) for c in report.checks if c.status in ("fail", "warn", "error")
    ]
    assert report.get("gpu.fabric").summary.startswith("6 NVSwitch(es); fabric manager active")


def test_fabric_manager_failed_explains_error_802(snap: SnapshotWriter) -> None:
    units = FM_ACTIVE.replace(
        "ActiveState=active\nSubState=running\nResult=success\nExecMainStatus=0",
        "ActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=1",
        1,
    )
    torch = torch_ok(
        gpu_count=0,
        gpus=[],
        op_ok=None,
        gpu_error="RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before "
        "calling NumCudaDevices() that might have already set an error? Error 802: system not yet initialized",
    )
    report, c = sole_failure(snap, _hgx(units=units, frameworks={"torch": torch}), "gpu.fabric")
    assert c.summary.startswith("6 NVSwitch(es) but the fabric manager is failed")
    assert "error 802 'system not yet initialized'" in c.summary
    assert "sudo apt-get install -y nvidia-fabricmanager-535=535.54.03-1" in c.fix.commands
    assert status(report)["framework.torch"] == ("skip", "gpu.fabric")


def test_fabric_manager_of_another_version_than_the_driver(snap: SnapshotWriter) -> None:
    m = _hgx(
        module_loaded="530.41.03",
        user_space="530.41.03",
        fm_version="530.30.02",
        cuda_driver="12.1",
        toolkits=("12.1.1",),
    )
    m = m.but(
        smi_text=m.smi_text.replace(
            "<driver_version>535.54.03</driver_version>", "<driver_version>530.41.03</driver_version>"
        )
    )
    _r, c = sole_failure(snap, m, "gpu.fabric")
    assert c.summary.startswith("fabric manager 530.30.02 differs from driver 530.41.03: it refuses to start")


def test_fabric_not_completed(snap: SnapshotWriter) -> None:
    xml, gpus = dgx(2, mig=False)
    xml = xml.replace("<fabric>", "<fabric><state>In Progress</state><status>N/A</status>", 1)
    _r, c = sole_failure(
        snap,
        a100(xml, gpus=gpus, nvswitches=NVSWITCHES, units=FM_ACTIVE, fm_version="535.54.03"),
        "gpu.fabric",
    )
    assert "NVLink fabric In Progress" in c.summary


# -- device nodes, containers, configuration --------------------------------------------------------


def test_missing_nvidia_uvm_node(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(dev_nodes=False, extra_files={"/dev/nvidia0": "", "/dev/nvidiactl": ""})
    _r, c = sole_failure(snap, m, "driver.device-nodes")
    assert c.summary.startswith("/dev/nvidia-uvm is missing")
    assert "sudo modprobe nvidia-uvm" in c.fix.commands


def test_user_not_in_the_group_that_owns_the_nodes(snap: SnapshotWriter) -> None:
    ls = (
        "total 0\n"
        "crw-rw---- 1 root video 195,   0 Mar  5 10:00 nvidia0\n"
        "crw-rw---- 1 root video 195, 255 Mar  5 10:00 nvidiactl\n"
        "crw-rw---- 1 root video 509,   0 Mar  5 10:00 nvidia-uvm\n"
    )
    m = HEALTHY.but(ls_dev=ls, id_text="uid=1000(ana) gid=1000(ana) groups=1000(ana),27(sudo)\n")
    _r, c = sole_failure(snap, m, "driver.device-nodes")
    assert c.summary.startswith("ana may not open /dev/nvidia0 (crw-rw----, group video")
    assert c.fix.commands[0] == "sudo usermod -aG video $USER"


def test_container_that_lost_gpu_access_is_not_told_to_reinstall(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        container=True,
        nvml="error",
        nvml_detail="nvmlInit failed: NVMLError_Unknown: Unknown Error",
        smi="ok",
        smi_text="Failed to initialize NVML: Unknown Error\n",
        kernel_log=None,
        frameworks={},
    )
    report = run(snap, m)
    c = report.get("driver.nvml")
    assert c.status == "fail" and "this container lost access to its GPUs" in c.summary
    assert not any("apt-get install" in cmd or "reinstall" in cmd.lower() for cmd in c.fix.commands)
    assert "docker restart <container>  # on the host" in c.fix.commands


def test_module_blacklisted_by_configuration_not_missing(snap: SnapshotWriter) -> None:
    conf = "blacklist nvidia\nblacklist nvidia-drm\nblacklist nvidia-modeset\nalias nvidia off\n"
    m = HEALTHY.but(
        module_loaded=None,
        dev_nodes=False,
        nvml="driver-not-loaded",
        smi="no-driver",
        extra_files={"/lib/modprobe.d/blacklist-nvidia.conf": conf},
        frameworks={},
    )
    report = run(snap, m)
    c = report.get("driver.kernel-module")
    assert c.status == "fail"
    assert (
        "configuration stops it loading (blacklist nvidia in /lib/modprobe.d/blacklist-nvidia.conf:1)"
        in c.summary
    )
    assert "the GPU and driver are fine" in c.summary
    assert any("/lib/modprobe.d/blacklist-nvidia.conf" in cmd for cmd in c.fix.commands)


# -- visible devices and MIG -------------------------------------------------------------------------

MIG_L = (FIXTURES / "nvidia-smi-L" / "a100-pcie-x6-460-mig.txt").read_text(encoding="utf-8").split("\n", 1)[1]


def _six_a100(env: dict[str, str]) -> Machine:
    uuids = re.findall(r"UUID: (GPU-[0-9a-f-]+)\)", MIG_L)
    gpus = tuple(
        Gpu(name="A100-PCIE-40GB", device_id="20f1", cc="8.0", bus=f"0000:{0x31 + i:02x}:00.0", uuid=u)
        for i, u in enumerate(uuids)
    )
    return HEALTHY.but(gpus=gpus, env=env, frameworks={}, extra_commands={("nvidia-smi", "-L"): MIG_L})


def test_mig_uuid_that_does_not_exist(snap: SnapshotWriter) -> None:
    bogus = "MIG-GPU-fb8bbc70-d551-45f9-43d4-9734f9cddb2c/3/0"
    _r, c = sole_failure(
        snap,
        _six_a100({"CUDA_VISIBLE_DEVICES": "MIG-GPU-00000000-0000-0000-0000-000000000000/1/0"}),
        "env.cuda-visible-devices",
    )
    assert "no GPU has UUID GPU-00000000-0000-0000-0000-000000000000" in c.summary
    assert bogus  # the R460 form names the parent GPU


def test_existing_mig_device_passes_and_two_warn(tmp_path: Any) -> None:
    one = "MIG-GPU-fb8bbc70-d551-45f9-43d4-9734f9cddb2c/1/0"
    two = one + ",MIG-GPU-82864c44-d125-bf84-645f-e800925bf730/1/0"
    report = run(SnapshotWriter(tmp_path / "a", "t"), _six_a100({"CUDA_VISIBLE_DEVICES": one}))
    assert bad(report) == {}
    report = run(SnapshotWriter(tmp_path / "b", "t"), _six_a100({"CUDA_VISIBLE_DEVICES": two}))
    assert bad(report) == {"env.cuda-visible-devices": "warn"}
    assert "uses only the first one" in report.get("env.cuda-visible-devices").summary


def test_all_mig_hgx_is_healthy(snap: SnapshotWriter) -> None:
    xml, gpus = dgx(8, mig=True)
    m = a100(xml, gpus=gpus, nvml=None, nvswitches=NVSWITCHES, units=FM_ACTIVE, fm_version="535.54.03")
    report = run(snap, m)
    assert bad(report) == {}, [
        (c.id, c.summary) for c in report.checks if c.status in ("fail", "warn", "error")
    ]


def test_nvidia_visible_devices_naming_a_gpu_the_container_lacks(snap: SnapshotWriter) -> None:
    m = HEALTHY.but(
        container=True,
        env={"NVIDIA_VISIBLE_DEVICES": "GPU-1ac935e4-47b5-a0e1-4a5c-3e1b2f1e9f11"},
        frameworks={},
    )
    _r, c = sole_failure(snap, m, "env.cuda-visible-devices")
    assert c.summary.startswith("NVIDIA_VISIBLE_DEVICES names GPU-1ac935e4-47b5-a0e1-4a5c-3e1b2f1e9f11")


# -- libraries: forward compatibility, cuDNN ----------------------------------------------------------


def test_forward_compat_on_a_geforce_is_error_804(snap: SnapshotWriter) -> None:
    compat = "/usr/local/cuda-12.1/compat"
    gpu = Gpu(name="NVIDIA GeForce RTX 2080 Ti", device_id="1e07", cc="7.5")
    torch = torch_ok(
        gpu_count=0,
        gpus=[],
        op_ok=None,
        capabilities=[],
        gpu_error="CUDA failed with error forward compatibility was attempted on non supported HW",
    )
    m = HEALTHY.but(
        gpus=(gpu,),
        module_loaded="470.57.02",
        user_space="470.57.02",
        cuda_driver="11.4",
        toolkits=("11.4.4",),
        ld_library_path=compat,
        extra_files={f"{compat}/libcuda.so.530.30.02": "\x7fELF", f"{compat}/libcuda.so.1": "\x7fELF"},
        frameworks={"torch": torch},
        pip_wheels={},
    )
    m = m.but(extra_commands={})
    report = run(snap, m)
    c = report.get("env.forward-compat")
    assert c.status == "fail", [(x.id, x.summary) for x in report.checks if x.status != "pass"]
    assert "forward-compatibility libcuda 530.30.02" in c.summary and "error 804" in c.summary
    assert status(report)["framework.torch"] == ("skip", "env.forward-compat")


def test_forward_compat_left_over_after_a_driver_upgrade_is_803(snap: SnapshotWriter) -> None:
    compat = "/usr/local/cuda-12.2/compat"
    m = HEALTHY.but(
        ld_library_path=compat,
        extra_files={f"{compat}/libcuda.so.535.54.03": "\x7fELF", f"{compat}/libcuda.so.1": "\x7fELF"},
    )
    _r, c = sole_failure(snap, m, "env.forward-compat")
    assert "left over" in c.summary and "error 803" in c.summary
    assert c.fix.commands[0] == 'export LD_LIBRARY_PATH=""'


def test_cudnn_on_ld_library_path_ahead_of_the_pip_one_is_a_fail_naming_both(snap: SnapshotWriter) -> None:
    lib = "/usr/local/cuda-11.8/lib64"
    torch = torch_ok(
        version="2.0.1+cu118",
        cuda_build="11.8",
        cudnn_build=None,
        cudnn_error="cuDNN version incompatibility: PyTorch was compiled  against (8, 7, 0) but found runtime version (8, 2, 4).",
    )
    m = HEALTHY.but(
        ld_library_path=lib,
        pip_wheels={"cudnn": ("8.7.0.84", "libcudnn.so.8")},
        extra_files={
            f"{lib}/libcudnn.so.8": "\x7fELF",
            "/usr/local/cuda-11.8/include/cudnn_version.h": "#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 2\n#define CUDNN_PATCHLEVEL 4\n",
        },
        frameworks={"torch": torch},
    )
    report = run(snap, m)
    c = report.get("env.cudnn-skew")
    assert c.status == "fail", [(x.id, x.summary) for x in report.checks if x.status != "pass"]
    assert c.summary.startswith(
        f"the framework needs cuDNN 8.7.0 (pip) but the loader finds cuDNN 8.2.4 in {lib} first"
    )
    assert any("compiled  against (8, 7, 0)" in e.value for e in c.evidence)
    assert c.fix.commands == ("unset LD_LIBRARY_PATH",)


def test_cuda_error_in_a_framework_is_explained_not_reinstalled(snap: SnapshotWriter) -> None:
    torch = torch_ok(
        gpu_count=0, gpus=[], op_ok=None, gpu_error="RuntimeError: CUDA error: unknown error (Error 999)"
    )
    report = run(snap, HEALTHY.but(frameworks={"torch": torch}))
    c = report.get("framework.torch")
    assert c.status == "fail"
    assert "CUDA error 999 (cudaErrorUnknown, 'unknown error'), caused at the driver layer" in c.summary
    assert "nvidia_uvm" in c.fix.text and not c.fix.commands


# -- healthy look-alikes --------------------------------------------------------------------------------


def test_cuda_container_image_paths_do_not_warn(snap: SnapshotWriter) -> None:
    """nvidia/cuda images: /usr/local/nvidia on PATH and LD_LIBRARY_PATH (mounted or not), a runtime-only
    CUDA tree with a compat directory that is not on the library path."""
    m = HEALTHY.but(
        container=True,
        toolkits=(),
        nvcc_on_path=False,
        ld_library_path="/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
        env={
            "PATH": "/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "NVIDIA_VISIBLE_DEVICES": "all",
        },
        extra_files={
            "/usr/local/cuda-12.4/lib64/libcudart.so.12": "\x7fELF",
            "/usr/local/cuda-12.4/compat/libcuda.so.550.54.15": "\x7fELF",
        },
        frameworks={},
    )
    w = build(snap, m)
    w.add_symlink("/usr/local/cuda", "/usr/local/cuda-12.4")
    report = diagnose(w.host())
    assert bad(report) == {}, [
        (c.id, c.summary) for c in report.checks if c.status in ("fail", "warn", "error")
    ]


def test_two_toolkits_with_path_picking_one_is_healthy(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(toolkits=("11.8.0", "12.4.1"), frameworks={}))
    assert bad(report) == {}, [
        (c.id, c.summary) for c in report.checks if c.status in ("fail", "warn", "error")
    ]


def test_wsl2_laptop_with_new_checks_is_healthy(snap: SnapshotWriter) -> None:
    gpu = Gpu(name="NVIDIA GeForce RTX 3060 Laptop GPU", device_id="2560", cc="8.6")
    report = run(snap, HEALTHY.but(wsl=True, gpus=(gpu,), kernel_log=None, frameworks={}))
    assert bad(report) == {}, [
        (c.id, c.summary) for c in report.checks if c.status in ("fail", "warn", "error")
    ]


def test_new_evidence_is_in_the_snapshot_doctor_reads(snap: SnapshotWriter) -> None:
    """The checks read the commands the report records (probes/kernel_log.py, probes/system.py)."""
    w = build(snap, _hgx())
    host = w.host()
    from gputk.probes import system

    assert kernel_log.kernel_log(host).status == "ok"
    assert system.units(host).state("nvidia-fabricmanager.service") == "active"
    assert system.units(host).fm_version == "535.54.03"
    assert system.nvswitches(host) == NVSWITCHES


def test_gpu_gone_from_the_bus_is_not_no_gpu(snap: SnapshotWriter) -> None:
    """The GPU fell off the bus and is no longer enumerated; this boot's kernel log still names it."""
    m = HEALTHY.but(
        gpus=(), nvml=None, smi=None, kernel_log=klog("fallen-off-bus-r570-dmesg.txt"), frameworks={}
    )
    report = run(snap, m)
    c = report.get("hardware.gpu")
    assert c.status == "fail"
    assert c.summary.startswith(
        "no NVIDIA GPU on the PCI bus now, but the kernel log of this boot shows 0000:b3:00.0"
    )
    assert "has no NVIDIA GPU" not in c.fix.text and "reseat" in c.fix.text


@pytest.mark.parametrize(
    ("log", "explanation"),
    [
        ("api-mismatch-gsp-firmware-dmesg.txt", "user-space driver 570.153.02 talks"),
        ("rminitadapter-gsp-gfw-boot-3090.txt", "the firmware (GSP) of GPU 0000:98:00.0 did not start"),
    ],
)
def test_failed_nvml_points_at_the_kernel_log_not_a_reinstall(snap: SnapshotWriter, log: str, explanation: str) -> None:
    m = HEALTHY.but(
        nvml="error",
        nvml_detail="nvmlInit failed: NVMLError_Unknown: Unknown Error",
        smi=None,
        kernel_log=klog(log),
        frameworks={},
    )
    report = run(snap, m)
    assert bad(report) == {"driver.nvml": "fail", "kernel.nvrm": "fail"}
    fix = report.get("driver.nvml").fix
    assert fix.text.startswith(f"The kernel log explains it (kernel.nvrm: {explanation}")
    assert not any("apt-get install" in c for c in fix.commands)


def test_fabric_ready_with_the_manager_in_a_driver_container_is_healthy(snap: SnapshotWriter) -> None:
    """GPU-operator nodes run the fabric manager inside the driver container: no host unit, fabric Completed."""
    xml, gpus = dgx(8, mig=False)
    xml = re.sub(
        r"<fabric>.*?</fabric>",
        "<fabric><state>Completed</state><status>Success</status></fabric>",
        xml,
        flags=re.S,
    )
    units = FM_ACTIVE.replace(
        "LoadState=loaded\nActiveState=active\nSubState=running",
        "LoadState=not-found\nActiveState=inactive\nSubState=dead",
        1,
    )
    report = run(snap, a100(xml, gpus=gpus, nvswitches=NVSWITCHES, units=units))
    assert bad(report) == {}, [
        (c.id, c.summary) for c in report.checks if c.status in ("fail", "warn", "error")
    ]
    assert report.get("gpu.fabric").summary.endswith("fabric Completed")
