"""GPU facts as every source reports them, before and after merging.

Each source (NVML, ``nvidia-smi -q -x``, the nvidia-smi table, ``-L``, the CSV
query, lspci, sysfs, lshw, inxi, hwinfo) yields :class:`GpuRecord` values with
only the fields it knows; the detect service merges the records of one GPU
by PCI bus id (normalised to lspci's ``0000:01:00.0``). Unknown is ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Vendor = Literal["nvidia", "amd", "intel", "other"]

PCI_VENDORS: dict[str, Vendor] = {
    "10de": "nvidia",
    "1002": "amd",
    "1022": "amd",
    "8086": "intel",
}

_BUS_ID = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<dev>[0-9a-fA-F]{1,2})\.(?P<fn>[0-7])$"
)


def normalize_bus_id(raw: str | None) -> str | None:
    """``00000000:01:00.0`` / ``01:00.0`` / ``PCI:1:0:0`` -> ``0000:01:00.0``; None if unreadable.

    nvidia-smi prints an 8-digit domain (kept whole when it does not fit in 4), lspci without ``-D`` none, Xorg's
    ``PCI:bus:dev:fn`` is decimal.
    """
    if not raw:
        return None
    s = raw.strip()
    if s.lower().startswith("pci:"):
        parts = s[4:].split(":")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            bus, dev, fn = (int(p) for p in parts)
            if bus < 256 and dev < 32 and fn < 8:
                return f"0000:{bus:02x}:{dev:02x}.{fn}"
        return None
    if s.lower().startswith("pci@"):
        s = s[4:]
    m = _BUS_ID.match(s)
    if not m:
        return None
    # Hyper-V (Azure) guests have 32-bit PCI domains: nvidia-smi prints "GPU 3E3F8E05:00:00.0".
    domain = int(m.group("domain") or "0", 16)
    return f"{domain:04x}:{int(m.group('bus'), 16):02x}:{int(m.group('dev'), 16):02x}.{m.group('fn')}"


def vendor_from_pci_id(vendor_id: str | None) -> Vendor | None:
    if not vendor_id:
        return None
    return PCI_VENDORS.get(vendor_id.lower().removeprefix("0x").zfill(4), "other")


def vendor_from_name(name: str | None) -> Vendor | None:
    """Best guess from a product or vendor string ("NVIDIA Corporation", "Radeon", "Intel UHD")."""
    if not name:
        return None
    n = name.lower()
    if any(k in n for k in ("nvidia", "geforce", "quadro", "tesla", "rtx", "gtx")):
        return "nvidia"
    if any(k in n for k in ("amd", "ati ", "radeon", "advanced micro devices", "instinct")):
        return "amd"
    if "intel" in n:
        return "intel"
    return None


@dataclass(frozen=True)
class MigDevice:
    """A MIG instance of a parent GPU (``nvidia-smi -L``: ``MIG 3g.40gb Device 0: (UUID: MIG-...)``)."""

    index: int | None = None
    profile: str | None = None  # "3g.40gb"
    uuid: str | None = None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    memory_total_mib: int | None = None


@dataclass(frozen=True)
class GpuProcess:
    pid: int | None = None
    name: str | None = None
    used_memory_mib: int | None = None
    type: str | None = None  # "C", "G", "C+G"


@dataclass(frozen=True)
class GpuRecord:
    """What one source says about one GPU. Every field but ``source`` may be None."""

    source: str
    index: int | None = None
    vendor: Vendor | None = None
    name: str | None = None
    pci_bus_id: str | None = None
    pci_vendor_id: str | None = None  # "10de"
    pci_device_id: str | None = None  # "2330"
    pci_subsystem_id: str | None = None
    pci_class: str | None = None  # "0302"
    kernel_driver: str | None = None  # bound driver: nvidia, nouveau, vfio-pci, amdgpu, i915 ...
    uuid: str | None = None
    serial: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # "12.2": the newest CUDA the driver supports
    compute_capability: str | None = None  # "8.0"
    architecture: str | None = None  # "Ampere"
    vbios_version: str | None = None
    utilization_gpu_pct: int | None = None
    temperature_c: int | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    persistence_mode: bool | None = None
    compute_mode: str | None = None
    mig_mode: bool | None = None
    display_mode: str | None = None  # "WDDM", "TCC" on Windows; "Enabled"/"Disabled" display active
    virtualization_mode: str | None = None  # "None", "Pass-Through", "VGPU", "Host VGPU"
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    lost: bool = False
    mig_devices: tuple[MigDevice, ...] = ()
    processes: tuple[GpuProcess, ...] = ()


@dataclass(frozen=True)
class DriverInfo:
    """Driver-wide facts (one per machine)."""

    version: str | None = None  # "535.104.05"
    cuda_driver_version: str | None = None  # "12.2"
    nvml_version: str | None = None
    kernel_module: Literal["open", "proprietary"] | None = None
    source: str | None = None


# Problems a tool reported instead of (or along with) facts.
ToolProblem = Literal[
    "driver-not-loaded",  # "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
    "driver-library-mismatch",  # "Failed to initialize NVML: Driver/library version mismatch"
    "no-devices",  # "No devices were found"
    "nvml-library-not-found",  # "NVML Shared Library Not Found"
    "gpu-lost",  # "Unable to determine the device handle for GPU ...: Unknown Error"
    "insufficient-permissions",
    "command-not-found",
    "driver-not-installed",  # "modprobe: FATAL: Module nvidia not found in directory /lib/modules/..."
    "no-pci-devices",  # inxi "No PCI device data found", lspci "Cannot find any working access method"
    "gpu-access-blocked",  # WSL: "Failed to initialize NVML: GPU access blocked by the operating system"
    "container-gpu-unavailable",  # docker: could not select device driver "" with capabilities: [[gpu]]
    "nvml-unknown-error",  # "Failed to initialize NVML: Unknown Error" (a container that lost its device access)
    "container-cuda-too-new",  # nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8
]


@dataclass(frozen=True)
class ParseResult:
    """What a parser read from one text: GPUs, driver facts, reported problems, warnings.

    ``format`` names what the text was recognised as (``"nvidia-smi-xml"``,
    ``"lspci-vmm"``, ...) or is None when it was not recognised at all.
    """

    format: str | None
    gpus: tuple[GpuRecord, ...] = ()
    driver: DriverInfo | None = None
    problems: tuple[ToolProblem, ...] = ()
    warnings: tuple[str, ...] = ()
    toolkit_version: str | None = None  # from `nvcc --version`
    extra: dict[str, str] = field(default_factory=dict)
