"""Builders for detect's snapshot trees: sysfs PCI functions, NVML probe results, nvidia-smi XML.

The sysfs layout is the kernel's (``/sys/bus/pci/devices/0000:01:00.0/{class,vendor,device,...}``
with a ``driver`` link to ``/sys/bus/pci/drivers/<name>``); the XML follows
``nvsmi_device_v12.dtd`` as printed by driver 535; the NVML dictionaries follow
docs/snapshot-nvml.md.
"""

from __future__ import annotations

from typing import Any

from gputk.snapshot import SnapshotWriter

SMI_XML_ARGV = ["nvidia-smi", "-q", "-x"]
LSPCI_ARGV = ["lspci", "-vmm", "-nn", "-k", "-D"]


def add_pci(
    snap: SnapshotWriter,
    bus: str,
    vendor: str,
    device: str,
    cls: str = "0x030200",
    driver: str | None = None,
    sub: tuple[str, str] = ("0x10de", "0x1463"),
) -> SnapshotWriter:
    base = f"/sys/bus/pci/devices/{bus}"
    snap.add_file(f"{base}/class", cls + "\n")
    snap.add_file(f"{base}/vendor", vendor + "\n")
    snap.add_file(f"{base}/device", device + "\n")
    snap.add_file(f"{base}/subsystem_vendor", sub[0] + "\n")
    snap.add_file(f"{base}/subsystem_device", sub[1] + "\n")
    if driver:
        snap.add_symlink(f"{base}/driver", f"/sys/bus/pci/drivers/{driver}")
    return snap


def nvml_gpu(index: int, bus: str, **over: Any) -> dict[str, Any]:
    """One entry of probes.nvml.gpus (an H100 SXM by default)."""
    gpu: dict[str, Any] = {
        "index": index,
        "vendor": "nvidia",
        "name": "NVIDIA H100 80GB HBM3",
        "pci_bus_id": bus,
        "pci_vendor_id": "10de",
        "pci_device_id": "2330",
        "kernel_driver": "nvidia",
        "uuid": f"GPU-0000000{index}-aaaa-bbbb-cccc-ddddeeeeffff",
        "memory_total_mib": 81559,
        "memory_used_mib": 0,
        "driver_version": "535.104.05",
        "cuda_driver_version": "12.2",
        "compute_capability": "9.0",
        "utilization_gpu_pct": 0,
        "temperature_c": 31,
        "power_draw_w": 70.5,
        "power_limit_w": 700.0,
        "mig_mode": False,
        "lost": False,
        "mig_devices": [],
        "processes": [],
    }
    gpu.update(over)
    return gpu


def nvml_probe(gpus: list[dict[str, Any]], status: str = "ok", detail: str | None = None) -> dict[str, Any]:
    return {
        "schema": 1,
        "status": status,
        "detail": detail,
        "driver_version": "535.104.05" if status == "ok" else None,
        "cuda_driver_version": "12.2" if status == "ok" else None,
        "nvml_version": "12.535.104.05" if status == "ok" else None,
        "device_count": len(gpus) if status == "ok" else None,
        "gpus": gpus,
    }


_XML_GPU = """    <gpu id="{bus_smi}">
        <product_name>{name}</product_name>
        <product_architecture>Hopper</product_architecture>
        <serial>165{index:07d}</serial>
        <uuid>GPU-0000000{index}-aaaa-bbbb-cccc-ddddeeeeffff</uuid>
        <vbios_version>96.00.5E.00.01</vbios_version>
        <pci>
            <pci_bus>{bus_hex}</pci_bus>
            <pci_device_id>233010DE</pci_device_id>
            <pci_bus_id>{bus_smi}</pci_bus_id>
            <pci_sub_system_id>16C110DE</pci_sub_system_id>
        </pci>
        <fb_memory_usage>
            <total>{mem} MiB</total>
            <used>0 MiB</used>
            <free>{mem} MiB</free>
        </fb_memory_usage>
        <utilization><gpu_util>0 %</gpu_util></utilization>
        <temperature><gpu_temp>31 C</gpu_temp></temperature>
        <gpu_power_readings>
            <power_draw>70.50 W</power_draw>
            <current_power_limit>700.00 W</current_power_limit>
        </gpu_power_readings>
        <processes>
        </processes>
    </gpu>
"""


def smi_xml(buses: list[str], name: str = "NVIDIA H100 80GB HBM3", mem: int = 81559) -> str:
    """An ``nvidia-smi -q -x`` log (driver 535, DTD v12) listing one H100 per bus id."""
    gpus = "".join(
        _XML_GPU.format(
            bus_smi="0000" + b.upper(), bus_hex=b.split(":")[1].upper(), name=name, index=i, mem=mem
        )
        for i, b in enumerate(buses)
    )
    return (
        '<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n<nvidia_smi_log>\n'
        "    <timestamp>Tue Oct 10 10:00:00 2023</timestamp>\n    <driver_version>535.104.05</driver_version>\n"
        f"    <cuda_version>12.2</cuda_version>\n    <attached_gpus>{len(buses)}</attached_gpus>\n"
        + gpus
        + "</nvidia_smi_log>\n"
    )


def healthy_machine(snap: SnapshotWriter, n: int = 2) -> list[str]:
    """``n`` H100s with a working driver: sysfs, NVML probe and nvidia-smi XML. Returns the bus ids."""
    buses = [f"0000:{0x18 + 0x10 * i:02x}:00.0" for i in range(n)]
    for b in buses:
        add_pci(snap, b, "0x10de", "0x2330", driver="nvidia")
    snap.set_probe("nvml", nvml_probe([nvml_gpu(i, b) for i, b in enumerate(buses)]))
    snap.add_command(SMI_XML_ARGV, stdout=smi_xml(buses))
    snap.add_file("/usr/bin/nvidia-smi", "")
    return buses


def a100_in_mig_mode(
    snap: SnapshotWriter, migs: list[dict[str, Any]], processes: list[dict[str, Any]] | None = None
) -> None:
    """One A100 SXM4 80GB at 0000:07:00.0 in MIG mode, seen by sysfs and NVML."""
    add_pci(snap, "0000:07:00.0", "0x10de", "0x20b2", driver="nvidia")
    gpu = nvml_gpu(
        0,
        "00000000:07:00.0",
        name="NVIDIA A100-SXM4-80GB",
        pci_device_id="20b2",
        compute_capability="8.0",
        mig_mode=True,
        mig_devices=migs,
        processes=processes or [],
    )
    snap.set_probe("nvml", nvml_probe([gpu]))
