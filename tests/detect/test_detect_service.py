"""detect() on snapshot trees: every machine state the issue names."""

from __future__ import annotations

from gputk.services.detect import detect
from gputk.snapshot import SnapshotWriter
from tests.detect.builders import (
    LSPCI_ARGV,
    SMI_XML_ARGV,
    a100_in_mig_mode,
    add_pci,
    healthy_machine,
    nvml_gpu,
    nvml_probe,
)

PCI_IDS = """#\tList of PCI ID's
10de  NVIDIA Corporation
\t2330  GH100 [H100 SXM5 80GB]
\t\t10de 16c1  H100 SXM5 80GB
\t2331  GH100 [H100 PCIe]
8086  Intel Corporation
\t46a6  Alder Lake-P GT2 [Iris Xe Graphics]
C 03  Display controller
\t00  VGA compatible controller
"""


def test_healthy_multi_gpu_merges_nvml_smi_and_sysfs(snap: SnapshotWriter) -> None:
    buses = healthy_machine(snap, n=2)
    res = detect(snap.host())

    assert [g.record.pci_bus_id for g in res.gpus] == buses
    first = res.gpus[0]
    assert first.record.index == 0
    assert first.record.name == "NVIDIA H100 80GB HBM3"
    assert first.record.memory_total_mib == 81559
    assert first.record.compute_capability == "9.0"
    assert first.record.architecture == "Hopper"
    assert first.record.kernel_driver == "nvidia"
    assert first.record.serial == "1650000000"  # only nvidia-smi's XML has it: the gap was filled
    assert first.sources == ("nvml", "nvidia-smi-xml", "sysfs")
    assert first.cc_source == "nvml"
    assert res.driver.version == "535.104.05"
    assert res.driver.cuda_driver_version == "12.2"
    assert {k: v.status for k, v in res.sources.items()} == {
        "nvml": "ok",
        "nvidia-smi": "ok",
        "pci": "ok",
        "lshw": "unavailable",
    }
    assert res.sources["lshw"].detail == "not installed; apt install lshw"
    assert res.messages == ()


def test_gpu_without_driver_is_listed_from_sysfs_with_pci_ids_name(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:01:00.0", "0x10de", "0x2331")
    snap.add_file("/usr/share/misc/pci.ids", PCI_IDS)
    res = detect(snap.host())

    [gpu] = res.gpus
    r = gpu.record
    assert (r.vendor, r.name, r.pci_bus_id, r.kernel_driver) == ("nvidia", "H100 PCIe", "0000:01:00.0", None)
    assert r.driver_version is None
    assert (r.compute_capability, r.architecture, gpu.cc_source) == ("9.0", "Hopper", "table")
    assert res.sources["nvml"].status == "unavailable"
    assert res.sources["nvidia-smi"].status == "unavailable"
    assert res.sources["pci"].detail == "1 display controller in /sys/bus/pci/devices; names from pci.ids"
    assert res.messages == (
        "NVIDIA GPU 0000:01:00.0 has no driver bound: the NVIDIA driver is missing or not loaded.",
    )


def test_nouveau_bound_gpu_says_so(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:65:00.0", "0x10de", "0x2204", cls="0x030000", driver="nouveau")
    res = detect(snap.host())

    [gpu] = res.gpus
    assert gpu.record.kernel_driver == "nouveau"
    assert gpu.record.compute_capability == "8.6"  # RTX 3090 by device id 2204
    assert gpu.record.name == "GeForce RTX 3090"  # no lspci, no pci.ids here: gputk's GPU table names it
    assert len(res.messages) == 1
    assert "is bound to nouveau" in res.messages[0]


def test_mixed_nvidia_and_intel_igpu(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:00:02.0", "0x8086", "0x46a6", cls="0x030000", driver="i915", sub=("0x17aa", "0x22e8"))
    add_pci(snap, "0000:01:00.0", "0x10de", "0x2684", cls="0x030000", driver="nvidia")
    snap.set_probe(
        "nvml",
        nvml_probe(
            [
                nvml_gpu(
                    0,
                    "00000000:01:00.0",
                    name="NVIDIA GeForce RTX 4090",
                    compute_capability="8.9",
                    pci_device_id="2684",
                    memory_total_mib=24564,
                )
            ]
        ),
    )
    res = detect(snap.host())

    nvidia, intel = res.gpus
    assert (nvidia.record.index, nvidia.record.name, nvidia.record.compute_capability) == (
        0,
        "NVIDIA GeForce RTX 4090",
        "8.9",
    )
    assert nvidia.record.architecture == "Ada"
    assert intel.record.vendor == "intel"
    assert intel.record.kernel_driver == "i915"
    assert intel.record.index is None
    assert intel.record.compute_capability is None  # not mistaken for an NVIDIA GPU
    assert intel.record.driver_version is None
    assert intel.sources == ("sysfs",)
    assert res.messages == ()


def test_amd_only_machine(snap: SnapshotWriter) -> None:
    add_pci(
        snap, "0000:c1:00.0", "0x1002", "0x74a1", cls="0x038000", driver="amdgpu", sub=("0x1002", "0x74a1")
    )
    snap.set_probe("nvml", nvml_probe([], status="library-not-found", detail="libnvidia-ml.so.1 not found"))
    res = detect(snap.host())

    [gpu] = res.gpus
    assert (gpu.record.vendor, gpu.record.kernel_driver, gpu.record.pci_class) == ("amd", "amdgpu", "0380")
    assert gpu.record.compute_capability is None
    assert res.sources["nvml"].status == "unavailable"
    assert res.sources["nvml"].detail == "library-not-found: libnvidia-ml.so.1 not found"
    assert res.messages == ()  # no NVIDIA GPU, so a missing NVIDIA driver is not news


def test_lost_gpu_is_shown_while_others_are_listed(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:3b:00.0", "0x10de", "0x20b2", driver="nvidia")
    add_pci(snap, "0000:5e:00.0", "0x10de", "0x20b2", driver="nvidia")
    healthy = nvml_gpu(0, "00000000:3B:00.0", name="NVIDIA A100-SXM4-80GB", compute_capability="8.0")
    lost = {"index": 1, "vendor": "nvidia", "lost": True, "mig_devices": [], "processes": []}
    snap.set_probe("nvml", nvml_probe([healthy, lost]))
    res = detect(snap.host())

    assert len(res.gpus) == 2
    ok, bad = res.gpus
    assert (ok.record.pci_bus_id, ok.record.lost) == ("0000:3b:00.0", False)
    assert (bad.record.index, bad.record.pci_bus_id, bad.record.lost) == (1, "0000:5e:00.0", True)
    assert bad.record.compute_capability == "8.0"  # from the table via the PCI device id
    assert any("0000:5e:00.0 is lost" in m for m in res.messages)


def test_lost_gpu_named_by_nvidia_smi_error_text(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:3b:00.0", "0x10de", "0x20b2", driver="nvidia")
    snap.add_file("/usr/bin/nvidia-smi", "")
    snap.add_command(
        SMI_XML_ARGV,
        stdout="Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error\n",
        returncode=255,
    )
    res = detect(snap.host())

    [gpu] = res.gpus
    assert gpu.record.lost is True
    assert res.sources["nvidia-smi"].status == "error"
    assert "Xid" in res.sources["nvidia-smi"].detail
    assert "gpu-lost" in res.problems


def test_mig_devices_stay_under_their_parent(snap: SnapshotWriter) -> None:
    migs = [
        {
            "index": 0,
            "profile": "3g.40gb",
            "uuid": "MIG-11111111-2222-3333-4444-555555555555",
            "gpu_instance_id": 1,
            "compute_instance_id": 0,
            "memory_total_mib": 40192,
        },
        {
            "index": 1,
            "profile": "3g.40gb",
            "uuid": "MIG-66666666-2222-3333-4444-555555555555",
            "gpu_instance_id": 2,
            "compute_instance_id": 0,
            "memory_total_mib": 40192,
        },
    ]
    a100_in_mig_mode(snap, migs)
    res = detect(snap.host())

    [gpu] = res.gpus
    assert gpu.record.mig_mode is True
    assert [m.profile for m in gpu.record.mig_devices] == ["3g.40gb", "3g.40gb"]
    assert [m.gpu_instance_id for m in gpu.record.mig_devices] == [1, 2]
    assert gpu.record.architecture == "Ampere"


def test_driver_library_mismatch_keeps_gpus_from_pci(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:01:00.0", "0x10de", "0x1eb8", driver="nvidia")
    snap.set_probe(
        "nvml", nvml_probe([], status="driver-library-mismatch", detail="Driver/library version mismatch")
    )
    res = detect(snap.host())

    [gpu] = res.gpus
    assert (gpu.record.compute_capability, gpu.record.architecture) == ("7.5", "Turing")  # Tesla T4
    assert res.sources["nvml"].status == "error"
    assert res.messages == (
        "NVIDIA GPU 0000:01:00.0 is bound to nvidia but NVML does not answer "
        "(driver-library-mismatch: Driver/library version mismatch).",
    )


def test_nvidia_smi_timeout_means_wedged_driver(snap: SnapshotWriter) -> None:
    healthy_machine(snap, n=1)
    snap.add_command(SMI_XML_ARGV, error="timeout", timeout_s=15.0)
    res = detect(snap.host())

    assert res.sources["nvidia-smi"].status == "error"
    assert "no answer within 15 s" in res.sources["nvidia-smi"].detail
    assert "wedged" in res.sources["nvidia-smi"].detail
    assert len(res.gpus) == 1  # NVML and sysfs still list it


def test_lspci_names_a_gpu_sysfs_found(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:01:00.0", "0x10de", "0x26b9")
    snap.add_file("/usr/bin/lspci", "")
    snap.add_command(
        LSPCI_ARGV,
        stdout=(
            "Slot:\t0000:01:00.0\nClass:\t3D controller [0302]\nVendor:\tNVIDIA Corporation [10de]\n"
            "Device:\tAD102GL [L40S] [26b9]\nSVendor:\tNVIDIA Corporation [10de]\nSDevice:\tDevice [1851]\n"
            "Rev:\ta1\nNUMANode:\t0\nModule:\tnvidiafb\nModule:\tnouveau\n\n"
        ),
    )
    res = detect(snap.host())

    [gpu] = res.gpus
    assert gpu.record.name == "L40S"
    assert gpu.record.kernel_driver is None
    assert (gpu.record.compute_capability, gpu.record.architecture) == ("8.9", "Ada")
    assert res.sources["pci"].detail == "1 display controller in /sys/bus/pci/devices; names from lspci"


def test_container_without_sysfs_or_lspci(snap: SnapshotWriter) -> None:
    res = detect(snap.host())

    assert res.gpus == ()
    assert res.sources["pci"].status == "unavailable"
    assert res.sources["pci"].detail.startswith("no /sys/bus/pci (a container?)")
    assert res.messages == ("No GPU found (the PCI bus could not be read; see the sources below).",)


def test_lshw_fills_the_name_pci_could_not(snap: SnapshotWriter) -> None:
    add_pci(snap, "0000:01:00.0", "0x10de", "0x1eb8", driver="nvidia")
    snap.add_file("/usr/bin/lshw", "")
    snap.add_command(
        ["lshw", "-C", "display", "-json"],
        stdout=(
            '[{"id": "display", "class": "display", "claimed": true, "handle": "PCI:0000:01:00.0",\n'
            '  "description": "3D controller", "product": "TU104GL [Tesla T4]", "vendor": "NVIDIA Corporation",\n'
            '  "physid": "0", "businfo": "pci@0000:01:00.0", "version": "a1", "width": 64, "clock": 33000000,\n'
            '  "configuration": {"driver": "nvidia", "latency": "0"}}]\n'
        ),
        stderr="WARNING: you should run this program as super-user.\n",
    )
    res = detect(snap.host())

    [gpu] = res.gpus
    assert gpu.record.name == "Tesla T4"
    assert gpu.sources == ("sysfs", "lshw")
    assert res.sources["lshw"].status == "ok"
    assert res.sources["lshw"].detail == "1 display device in `lshw -C display -json`"
