"""Compute capability and architecture of an NVIDIA GPU without asking the driver.

NVML (``nvmlDeviceGetCudaComputeCapability``) is the authority when it answers.
When it cannot (no driver, broken driver, a snapshot without NVML, pasted
``lspci`` output), this table answers from the PCI device id (``10de:2330``) or
the product name (``NVIDIA H100 80GB HBM3``). The data lives in
``gputk/data/gpu_arch.json`` with the source of every row: device ids and
names from pci.ids (vendor 10de section), compute capabilities from
developer.nvidia.com/cuda-gpus, architecture names from cuda-samples
``helper_cuda.h`` (``_ConvertSMVer2ArchName``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "gpu_arch.json"


@dataclass(frozen=True)
class ArchTable:
    devices: dict[str, tuple[str, str]]  # "2330" -> ("GH100 [H100 SXM5 80GB]", "9.0")
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    architectures: dict[str, str]  # "9" / "7.5" -> name


@lru_cache(maxsize=1)
def table() -> ArchTable:
    """The table from ``gpu_arch.json`` (read once)."""
    raw: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    devices = {str(r["id"]).lower(): (str(r["name"]), str(r["cc"])) for r in raw["devices"]}
    patterns = tuple((re.compile(str(r["pattern"]), re.I), str(r["cc"])) for r in raw["name_patterns"])
    archs = {str(k): str(v) for k, v in raw["architectures"].items()}
    return ArchTable(devices, patterns, archs)


def _norm_device_id(pci_device_id: str | None) -> str | None:
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


def arch_name(cc: str | None) -> str | None:
    """``"8.0"`` -> ``"Ampere"``, ``"8.9"`` -> ``"Ada"``, ``"12.0"`` -> ``"Blackwell"``; None if unknown."""
    if not cc:
        return None
    m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", cc)
    if not m:
        return None
    archs = table().architectures
    major, minor = m.group(1), m.group(2)
    return archs.get(f"{major}.{minor}") or archs.get(major)


def cc_from_device_id(pci_device_id: str | None) -> str | None:
    key = _norm_device_id(pci_device_id)
    hit = table().devices.get(key) if key else None
    return hit[1] if hit else None


def cc_from_name(name: str | None) -> str | None:
    if not name:
        return None
    for pattern, cc in table().patterns:
        if pattern.search(name):
            return cc
    return None


def lookup(pci_device_id: str | None, name: str | None) -> tuple[str | None, str | None]:
    """``(compute_capability, architecture)`` by PCI device id, else by product name.

    >>> lookup("20b2", None)
    ('8.0', 'Ampere')
    >>> lookup(None, "NVIDIA GeForce RTX 4090")
    ('8.9', 'Ada')
    """
    cc = cc_from_device_id(pci_device_id) or cc_from_name(name)
    return cc, arch_name(cc)


def pci_name(pci_device_id: str | None) -> str | None:
    """The pci.ids name the table holds for an NVIDIA device id (``"GH100 [H100 SXM5 80GB]"``)."""
    key = _norm_device_id(pci_device_id)
    hit = table().devices.get(key) if key else None
    return hit[0] if hit else None
