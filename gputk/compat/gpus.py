"""The GPU table: PCI device id or product name -> compute capability and architecture.

NVML (``nvmlDeviceGetCudaComputeCapability``) is the authority when it answers;
this table answers when it cannot (no driver, a snapshot without NVML, pasted
``lspci`` output). Data: ``data/gpus.json`` (ids and names from pci.ids,
compute capabilities from NVIDIA's CUDA GPUs list) and ``data/generations.json``
(the compute-capability range of each architecture).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from gputk.compat._data import load
from gputk.compat.version import Version


@dataclass(frozen=True)
class Generation:
    name: str  # "Pascal"
    cc_min: Version
    cc_max: Version
    open_module: str  # "unsupported" | "supported" | "required"
    last_driver_branch: int | None  # 470 for Kepler, 580 for Maxwell/Pascal/Volta, None: current
    note: str = ""

    def contains(self, cc: Version) -> bool:
        return self.cc_min <= cc <= self.cc_max


@dataclass(frozen=True)
class GpuInfo:
    """What the table knows about one GPU."""

    cc: str  # "8.6"
    architecture: str | None  # "Ampere"
    name: str | None  # the pci.ids name for a device-id hit ("GA102 [GeForce RTX 3090]")
    matched: str  # "pci-id" | "name"
    source: str


@lru_cache(maxsize=1)
def generations() -> tuple[Generation, ...]:
    out = []
    for g in load("generations")["generations"]:
        branch = g.get("last_driver_branch")
        out.append(
            Generation(
                str(g["name"]),
                Version.of(g["cc_min"]),
                Version.of(g["cc_max"]),
                str(g["open_module"]),
                int(branch) if branch else None,
                str(g.get("note", "")),
            )
        )
    return tuple(out)


def generation(cc: object) -> Generation | None:
    """The generation of a compute capability (``"6.1"`` -> Pascal); None if unknown."""
    v = Version.parse(cc, strict=True) if isinstance(cc, str) else Version.parse(cc)
    if v is None:
        return None
    return next((g for g in generations() if g.contains(v)), None)


def arch_name(cc: object) -> str | None:
    """``"8.0"`` -> ``"Ampere"``, ``"8.9"`` -> ``"Ada"``, ``"12.0"`` -> ``"Blackwell"``; None if unknown."""
    g = generation(cc.strip() if isinstance(cc, str) else cc)
    return g.name if g else None


@dataclass(frozen=True)
class _Table:
    devices: dict[str, tuple[str, str]]  # "2330" -> ("GH100 [H100 SXM5 80GB]", "9.0")
    patterns: tuple[tuple[re.Pattern[str], str], ...]


@lru_cache(maxsize=1)
def _table() -> _Table:
    raw = load("gpus")
    devices = {str(r["id"]).lower(): (str(r["name"]), str(r["cc"])) for r in raw["devices"]}
    patterns = tuple((re.compile(str(r["pattern"]), re.I), str(r["cc"])) for r in raw["name_patterns"])
    return _Table(devices, patterns)


def normalize_device_id(pci_device_id: str | None) -> str | None:
    """``"0x2330"`` / ``"2330"`` / ``"10de:2330"`` / ``"233010DE"`` (nvidia-smi) -> ``"2330"``."""
    if not pci_device_id:
        return None
    s = pci_device_id.strip().lower().removeprefix("0x")
    if ":" in s:
        s = s.split(":")[-1]
    if len(s) == 8 and s.endswith("10de"):  # nvidia-smi <pci_device_id>20B210DE</pci_device_id>
        s = s[:4]
    s = s.zfill(4)
    return s if re.fullmatch(r"[0-9a-f]{4}", s) else None


def by_pci_id(pci_device_id: str | None) -> GpuInfo | None:
    """The GPU with this NVIDIA PCI device id, or None."""
    key = normalize_device_id(pci_device_id)
    hit = _table().devices.get(key) if key else None
    if hit is None:
        return None
    return GpuInfo(hit[1], arch_name(hit[1]), hit[0], "pci-id", "pci.ids + developer.nvidia.com/cuda-gpus")


def by_name(name: str | None) -> GpuInfo | None:
    """The GPU whose product name matches (``"NVIDIA GeForce RTX 2050"`` -> 8.6, Ampere), or None."""
    if not name:
        return None
    text = name[:300]
    for pattern, cc in _table().patterns:
        if pattern.search(text):
            return GpuInfo(cc, arch_name(cc), None, "name", "developer.nvidia.com/cuda-gpus")
    return None


def lookup(pci_device_id: str | None, name: str | None) -> tuple[str | None, str | None]:
    """``(compute_capability, architecture)`` by PCI device id, else by product name.

    >>> lookup("20b2", None)
    ('8.0', 'Ampere')
    >>> lookup(None, "NVIDIA GeForce RTX 4090")
    ('8.9', 'Ada')
    """
    info = by_pci_id(pci_device_id) or by_name(name)
    return (info.cc, info.architecture) if info else (None, None)


def pci_name(pci_device_id: str | None) -> str | None:
    """The pci.ids name the table holds for an NVIDIA device id (``"GH100 [H100 SXM5 80GB]"``)."""
    info = by_pci_id(pci_device_id)
    return info.name if info else None
