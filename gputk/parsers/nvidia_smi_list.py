"""``nvidia-smi -L``: one line per GPU, MIG devices indented under their parent.

Samples::

    GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-5a8b0d63-1c4b-4bcb-a1c4-8e5f2b4c8d11)
      MIG 3g.40gb     Device  0: (UUID: MIG-0f6c4e38-fd8c-5b9d-a3b8-44d9c8e1ed3e)
      MIG 1g.5gb Device 0: (UUID: MIG-GPU-5a8b0d63-.../1/0)        (R450 drivers)
    GPU 1: Tesla V100-SXM2-16GB (UUID: GPU-2d5c3b94-...)

The list gives index, name, UUID and the MIG profile names, which the XML
log does not; no bus ids, so the merge matches these records by UUID.
"""

from __future__ import annotations

import re
from dataclasses import replace

from gputk.models.gpu import GpuRecord, MigDevice, ParseResult, vendor_from_name

SOURCE = "nvidia-smi-L"

_GPU = re.compile(r"^\s*GPU\s+(\d+):\s+(.*?)\s*\(UUID:\s*(GPU-[0-9A-Za-z-]+)\s*\)?\s*$")
# GPU line without UUID (some vGPU guests print "(UUID: N/A)")
_GPU_NO_UUID = re.compile(r"^\s*GPU\s+(\d+):\s+(.*?)\s*(?:\(UUID:\s*[^)]*\))?\s*$")
_MIG = re.compile(r"^\s+MIG\s+(\S+)\s+Device\s+(\d+):\s*\(UUID:\s*(MIG-[^)\s]+)\s*\)?")
# R450: "MIG-GPU-<gpu uuid>/<gi>/<ci>"
_OLD_MIG_UUID = re.compile(r"^MIG-GPU-[0-9a-fA-F-]+/(\d+)/(\d+)$")


def looks_like(text: str) -> bool:
    return any(_GPU.match(line) for line in text.splitlines()[:200])


def parse_nvidia_smi_list(text: str) -> ParseResult:
    """GPUs and MIG devices of ``nvidia-smi -L``; ``format=None`` when no ``GPU n:`` line is present."""
    gpus: list[GpuRecord] = []
    migs: list[list[MigDevice]] = []
    warnings: list[str] = []
    for line in text.splitlines():
        m = _GPU.match(line)
        if m:
            name = m.group(2).strip() or None
            gpus.append(
                GpuRecord(
                    source=SOURCE,
                    index=int(m.group(1)),
                    name=name,
                    uuid=m.group(3),
                    vendor=vendor_from_name(name) or "nvidia",
                )
            )
            migs.append([])
            continue
        mig = _MIG.match(line)
        if mig and gpus:
            gi = ci = None
            old = _OLD_MIG_UUID.match(mig.group(3))
            if old:
                gi, ci = int(old.group(1)), int(old.group(2))
            migs[-1].append(
                MigDevice(
                    index=int(mig.group(2)),
                    profile=mig.group(1),
                    uuid=mig.group(3),
                    gpu_instance_id=gi,
                    compute_instance_id=ci,
                )
            )
            continue
        bare = _GPU_NO_UUID.match(line)
        if bare and bare.group(2):
            name = bare.group(2).strip()
            gpus.append(
                GpuRecord(
                    source=SOURCE,
                    index=int(bare.group(1)),
                    name=name,
                    vendor=vendor_from_name(name) or "nvidia",
                )
            )
            migs.append([])
            warnings.append(f"nvidia-smi -L: GPU {bare.group(1)} has no UUID")
    if not gpus:
        return ParseResult(format=None)
    records = tuple(
        replace(g, mig_devices=tuple(ms), mig_mode=True if ms else None)
        for g, ms in zip(gpus, migs, strict=False)
    )
    return ParseResult(format="nvidia-smi-L", gpus=records, warnings=tuple(warnings))
