"""The parsers of the new evidence on real and hostile inputs: exact facts, never an exception."""

from __future__ import annotations

from gputk.parsers.kernel_log import bus_uuids, parse_kernel_log, relevant
from gputk.parsers.nvidia_smi_health import parse_smi_health
from gputk.parsers.system import (
    module_flavour,
    parse_cmdline,
    parse_fm_version,
    parse_id,
    parse_ldconfig,
    parse_ls_dev,
    parse_modinfo,
    parse_modprobe_conf,
    parse_systemctl_show,
)
from tests.conftest import FIXTURES


def test_kernel_log_xids_with_bus_pid_and_process() -> None:
    log = parse_kernel_log((FIXTURES / "kernel-log" / "xid13-109-application.txt").read_text())
    assert [(x.code, x.bus_id) for x in log.xids] == [(13, "0000:cb:00.0")] * 3 + [(109, "0000:cb:00.0")]
    assert (log.xids[-1].pid, log.xids[-1].process) == (1797828, "pt_main_thread")
    assert log.xids[0].pid is None and log.xids[0].process is None  # pid='<unknown>'
    assert len(log.lines) == 5  # the nvidia-peermem line is kept too


def test_kernel_log_wrapped_messages_join() -> None:
    log = parse_kernel_log((FIXTURES / "kernel-log" / "h100-not-supported-dmesg.txt").read_text())
    assert log.nvrm == (
        "The NVIDIA GPU 0000:01:00.0 (PCI ID: 10de:2330) installed in this system is not supported by the "
        "NVIDIA 550.90.07 driver release.",
    )
    syslog = parse_kernel_log((FIXTURES / "kernel-log" / "api-mismatch-syslog-012.txt").read_text())
    assert "but this kernel module has the version 530.30.02." in syslog.nvrm[0]


def test_kernel_log_keeps_only_nvidia_lines_and_the_tail() -> None:
    text = "[ 1.0] usb 1-1: new device\n" + "".join(f"[ 2.0] NVRM: line {i}\n" for i in range(100))
    assert relevant(text)[0] == "NVRM: line 0" and len(relevant(text)) == 100
    assert relevant(text, max_bytes=42) == ["NVRM: line 97", "NVRM: line 98", "NVRM: line 99"]
    assert bus_uuids(
        parse_kernel_log("NVRM: GPU at PCI:0000:01:00: GPU-8f6c1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b\n")
    ) == {"0000:01:00.0": "GPU-8f6c1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b"}


def test_kernel_log_junk_and_long_lines_do_not_raise() -> None:
    for junk in (
        "",
        "\x00\xff" * 1000,
        "NVRM: Xid (PCI:" * 5000,
        "NVRM:\n" * 1000,
        "Xid (PCI:0000:01:00): 99999999",
    ):
        parse_kernel_log(junk)


def test_smi_health_of_the_recorded_a100() -> None:
    h = parse_smi_health((FIXTURES / "nvidia-smi-xml" / "a100-sxm4-80gb-mig-v12.xml").read_text()).gpus[0]
    assert (h.bus_id, h.ecc_mode, h.ecc_volatile_uncorrectable, h.remap_pending) == (
        "0000:01:00.0",
        True,
        0,
        None,
    )
    assert (h.pcie_gen_current, h.pcie_gen_max, h.pcie_width_current, h.pcie_width_max) == (4, 4, 16, 16)
    assert (h.compute_mode, h.persistence_mode, h.clock_reasons_active, h.processes) == (
        "Default",
        False,
        (),
        (),
    )


def test_smi_health_old_schema_and_damage() -> None:
    p100 = parse_smi_health((FIXTURES / "nvidia-smi-xml" / "tesla-p100-x2-v8.xml").read_text())
    assert len(p100.gpus) == 2 and p100.gpus[0].ecc_volatile_uncorrectable == 0
    assert parse_smi_health("<nvidia_smi_log><gpu>").warnings
    assert parse_smi_health("not xml").gpus == ()
    assert parse_smi_health("<?xml\ud800?><nvidia_smi_log/>").gpus == ()


def test_system_tools() -> None:
    units = parse_systemctl_show(
        "Id=nvidia-fabricmanager.service\nLoadState=loaded\nActiveState=failed\n\nId=x.service\nLoadState=not-found\n"
    )
    assert units["nvidia-fabricmanager.service"]["ActiveState"] == "failed"
    assert units["x.service"]["LoadState"] == "not-found"
    info = parse_modinfo(
        "filename:       /lib/modules/7.0.12/updates/dkms/nvidia.ko.zst\nversion:        595.80\nlicense:        Dual MIT/GPL\n"
    )
    assert info["version"] == "595.80" and module_flavour(info["license"]) == "open"
    assert module_flavour("NVIDIA") == "proprietary"
    rules = parse_modprobe_conf(
        "/lib/modprobe.d/blacklist-nvidia.conf",
        "# prime\nblacklist nvidia\nalias nvidia off\noptions nvidia NVreg_X=1\n",
    )
    assert [(r.kind, r.module, r.source) for r in rules] == [
        ("blacklist", "nvidia", "/lib/modprobe.d/blacklist-nvidia.conf:2"),
        ("install-false", "nvidia", "/lib/modprobe.d/blacklist-nvidia.conf:3"),
        ("options", "nvidia", "/lib/modprobe.d/blacklist-nvidia.conf:4"),
    ]
    assert [
        (r.kind, r.module)
        for r in parse_cmdline("ro quiet modprobe.blacklist=nouveau,nvidia nvidia-drm.modeset=1")
    ] == [
        ("cmdline-blacklist", "nouveau"),
        ("cmdline-blacklist", "nvidia"),
        ("cmdline", "nvidia-drm"),
    ]
    ident = parse_id("uid=1000(ana) gid=1000(ana) groups=1000(ana),27(sudo),44(video)\n")
    assert (ident.uid, ident.user, ident.groups) == (1000, "ana", ("ana", "sudo", "video"))
    nodes = parse_ls_dev(
        "crw-rw-rw- 1 root root 195,   0 May  1 10:00 nvidia0\ndrwxr-xr-x 2 root root 80 May  1 10:00 nvidia-caps\nbrw-rw---- 1 root disk 8, 0 May  1 10:00 sda\n"
    )
    assert [(n.name, n.world_rw, n.major, n.minor) for n in nodes] == [
        ("nvidia0", True, 195, 0),
        ("nvidia-caps", False, None, None),
    ]
    assert parse_fm_version("Fabric Manager version is : 535.104.05\n") == "535.104.05"
    assert parse_ldconfig(
        "3 libs found in cache\n\tlibcuda.so.1 (libc6,x86-64) => /usr/local/cuda-12.2/compat/libcuda.so.1\n"
    ) == [("libcuda.so.1", "/usr/local/cuda-12.2/compat/libcuda.so.1")]
