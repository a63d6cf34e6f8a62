"""Real kernel logs from public issues (tests/fixtures/kernel-log/, SOURCES.md): the driver's own messages
name the cause (GPU firmware that did not boot, a GPU left in a bad state, a module without a GPU, the
GPUs that failed to initialise), and a failed NVML defers to them instead of "reinstall the driver"."""

from __future__ import annotations

import pytest

from gputk.snapshot import SnapshotWriter
from tests.doctor.scenarios import HEALTHY
from tests.doctor.test_health_scenarios import bad, klog
from tests.doctor.test_scenarios import run, sole_failure


@pytest.mark.parametrize(
    ("fixture", "summary"),
    [
        (
            "gsp-wpr2-already-up.txt",
            "the firmware (GSP) of GPU 0000:a1:00.0 cannot boot: the GPU is in a bad state left by an earlier "
            "driver (WPR2 already up)",
        ),
        (
            "rminitadapter-gsp-gfw-boot-3090.txt",
            "the firmware (GSP) of GPU 0000:98:00.0 did not start, so the driver could not initialise it",
        ),
        (
            "rminitadapter-openshift-two-gpus.txt",
            "the driver could not initialise GPUs 0000:04:01.0, 0000:04:02.0 (RmInitAdapter failed "
            "(0x11:0x45:2525)): power, GPU firmware (GSP) or hardware, not a missing driver",
        ),
        (
            "rminitadapter-vmware-journal-oops.txt",
            "the driver could not initialise GPU 0000:13:00.0 (RmInitAdapter failed (0x26:0x56:1463)): power, "
            "GPU firmware (GSP) or hardware, not a missing driver",
        ),
        (
            "cannot-attach-gpu-cmp40hx.txt",
            "the driver could not initialise GPU 0000:01:00.0 (RmInitAdapter failed (0x22:0x56:894)): power, "
            "GPU firmware (GSP) or hardware, not a missing driver",
        ),
        ("no-nvidia-adapter-found-amd.txt", "the nvidia module loaded but found no NVIDIA GPU it can drive"),
        (
            "bar0-invalid-egpu-probe-failed.txt",
            "the firmware did not give the GPU a valid memory window (PCI BAR): the driver cannot map it",
        ),
        (
            "bar0-invalid-laptop-cut-top.txt",
            "the firmware did not give the GPU a valid memory window (PCI BAR): the driver cannot map it",
        ),
        (
            "open-module-no-gsp-v100.txt",
            "the open kernel module cannot drive GPU 0000:af:00.0 (10de:1db5): it has no GPU System Processor "
            "(GSP), which open modules need (GPUs before Turing)",
        ),
    ],
)
def test_nvrm_message_names_the_cause(snap: SnapshotWriter, fixture: str, summary: str) -> None:
    _r, c = sole_failure(snap, HEALTHY.but(kernel_log=klog(fixture)), "kernel.nvrm")
    assert c.summary == summary
    assert "reinstall the driver" not in c.fix.text.lower()


def test_gsp_fix_is_a_cold_boot_then_the_firmware_switch() -> None:
    from gputk.doctor.checks_system import NVRM_RULES

    gsp = next(r for r in NVRM_RULES if r.pattern.search("RmInitAdapter: Cannot initialize GSP firmware RM"))
    assert gsp.fix.startswith("Power-cycle the machine (cold boot)")
    assert any("NVreg_EnableGpuFirmware=0" in c for c in gsp.commands)
    wpr2 = next(r for r in NVRM_RULES if r.pattern.search("_kgspBootGspRm: unexpected WPR2 already up"))
    assert wpr2 is not gsp and "cold boot" in wpr2.fix


@pytest.mark.parametrize(
    ("fixture", "status", "summary"),
    [
        (
            "xid31-mmu-fault-rtx4090-x2.txt",
            "warn",
            "Xid 31 on 0000:01:00.0: GPU memory page fault (an application fault)",
        ),
        (
            "xid31-62-45-chia.txt",
            "fail",
            "Xid 62 on 0000:0a:00.0: Internal micro-controller halt (a driver/firmware error); also Xid 31, 45",
        ),
    ],
)
def test_real_xid_sequences_rank_the_worst(snap: SnapshotWriter, fixture: str, status: str, summary: str) -> None:
    report = run(snap, HEALTHY.but(kernel_log=klog(fixture)))
    c = report.get("gpu.xid")
    assert (c.status, c.summary.startswith(summary)) == (status, True), c.summary
    assert bad(report) == {"gpu.xid": status}


# -- NVSwitch SXid ------------------------------------------------------------------------------------


def test_fatal_ltssm_sxids_fail_naming_every_switch_and_the_reset(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(kernel_log=klog("sxid-20034-ltssm-fatal-four-switches.txt")))
    c = report.get("gpu.xid")
    assert c.status == "fail"
    assert c.summary == (
        "fatal NVSwitch SXid 20034 (LTSSM fault up (NVLink link training fault)) on 4 NVSwitch(es): "
        "0000:c2:00.0, 0000:c3:00.0, 0000:c4:00.0, 0000:c5:00.0"
    )
    assert c.fix.text.startswith("SXid 20034: drain the node and restart it")
    assert "Reinstalling the driver does not help" in c.fix.text
    sources = [e.source for e in c.evidence]
    assert "kernel log: SXid 20034 on NVSwitch 0000:c2:00.0 (fatal, link(s) 28, 29)" in sources
    assert "kernel log: SXid 19084 on NVSwitch 0000:c6:00.0 (non-fatal, link(s) 29)" in sources
    assert bad(report) == {"gpu.xid": "fail"}


def test_non_fatal_sxids_while_links_come_up_raise_no_alarm(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(kernel_log=klog("sxid-22013-nonfatal-link-bringup.txt")))
    c = report.get("gpu.xid")
    assert (c.status, c.summary) == ("pass", "non-fatal NVSwitch SXid 22013 only (the switch recovered)")
    assert any("(non-fatal, link(s) 00, 01)" in e.source for e in c.evidence)
    assert bad(report) == {}


def test_sxid_data_line_alone_takes_its_severity_from_the_table(snap: SnapshotWriter) -> None:
    report = run(snap, HEALTHY.but(kernel_log=klog("sxid-12028-data-line-only-iso.txt")))
    c = report.get("gpu.xid")
    assert c.status == "fail"
    assert c.summary.startswith("fatal NVSwitch SXid 12028 (egress non-posted PRIV error) on 1 NVSwitch(es): 0000:84:00.0")


def test_sxid_of_unknown_severity_warns_and_xids_keep_their_part(snap: SnapshotWriter) -> None:
    log = (
        "[  10.0] nvidia-nvswitch2: SXid (PCI:0000:c4:00.0): 10002, Severity 5 Engine instance 00 Sub-engine instance 00\n"
        + klog("xid31-mmu-fault-rtx4090-x2.txt")
    )
    report = run(snap, HEALTHY.but(kernel_log=log))
    c = report.get("gpu.xid")
    assert c.status == "warn"
    assert c.summary.startswith("Xid 31 on 0000:01:00.0: GPU memory page fault")
    assert c.summary.endswith("; NVSwitch SXid 10002: the log does not say whether it was fatal")


def test_hostile_kernel_log_is_explained_without_error(snap: SnapshotWriter) -> None:
    """Huge numbers, unicode, cut lines and a 100 kB line among real messages: the checks answer, no error."""
    log = "\n".join(
        [
            "[ 1.0] nvidia-nvswitch0: SXid (PCI:0000:c2:00.0): 999999, Fatal, Link 999 " + "Ω" * 5000,
            "[ 1.1] nvidia-nvswitch0: SXid (PCI:0000:c2:00.0): 20034, Non-fatal, Link",
            "[ 1.2] NVRM: Xid (PCI:0000:01:00): 9999, pid=99999999999999999999, name=ñ" + "x" * 100_000,
            "[ 1.3] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (" + "0x1:" * 20_000,
            "[ 1.4] NVRM: _kgspBootGspRm: unexpected WPR2 alre",
            "\x00\x1b[31mNVRM: No NVIDIA GPU found",
        ]
    )
    report = run(snap, HEALTHY.but(kernel_log=log))
    assert {c.id: c.status for c in report.checks if c.status == "error"} == {}
    xid = report.get("gpu.xid")
    assert xid.status == "fail" and "fatal NVSwitch SXid 999999" in xid.summary
    assert len(xid.summary) < 400 and all(len(e.value) <= 400 for e in xid.evidence)
    nvrm = report.get("kernel.nvrm")
    assert nvrm.status == "fail" and nvrm.summary.startswith("the driver could not initialise GPU 0000:01:00.0")


@pytest.mark.parametrize("fixture", ["healthy-525-dmesg-grep-tainted.txt", "healthy-384-vga-console-note.txt"])
def test_healthy_boot_logs_with_taint_and_console_notes_raise_nothing(snap: SnapshotWriter, fixture: str) -> None:
    """'module verification failed ... tainting kernel', 'out-of-tree module', the VGA console note: normal."""
    report = run(snap, HEALTHY.but(kernel_log=klog(fixture)))
    assert bad(report) == {}
    assert report.get("kernel.nvrm").summary.startswith("no NVRM message that explains a failure")
    assert report.get("gpu.xid").summary.startswith("no Xid errors this boot")


def test_nvlink_xid_severity_comes_from_the_line(snap: SnapshotWriter, tmp_path: object) -> None:
    report = run(snap, HEALTHY.but(kernel_log=klog("nvlink-xid144-nonfatal.txt")))
    c = report.get("gpu.xid")
    assert (c.status, c.summary) == (
        "warn",
        "Xid 144 on 0000:01:00.0: NVLink SAW error (a link error it recovered from): the link recovered; "
        "repeated on the same link, have it checked",
    )
    other = SnapshotWriter(snap.directory.parent / "fatal")
    c = run(other, HEALTHY.but(kernel_log=klog("nvlink-xid149-fatal.txt"))).get("gpu.xid")
    assert (c.status, c.summary) == ("fail", "Xid 149 on 0000:00:00.0: NVLink NETIR error (a hardware error)")
    assert any("(x2)" in e.source for e in c.evidence)
