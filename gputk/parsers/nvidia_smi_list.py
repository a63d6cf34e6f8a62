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

from gputk.models.gpu import GpuRecord, MigDevice, ParseResult

SOURCE = "nvidia-smi-L"

# Only the fixed head is a regex; the name and the UUID are cut out with string operations, so a
# line of any length is read in linear time (a ``.*?\s*\(`` chain backtracks cubically).
_GPU_HEAD = re.compile(r"[ \t]*GPU[ \t]+(\d+):[ \t]")
_UUID_VALUE = re.compile(r"GPU-[0-9A-Za-z-]+")
_MIG = re.compile(r"[ \t]+MIG[ \t]+(\S+)[ \t]+Device[ \t]+(\d+):[ \t]*\(UUID:[ \t]*(MIG-[^)\s]+)")
# R450: "MIG-GPU-<gpu uuid>/<gi>/<ci>"
_OLD_MIG_UUID = re.compile(r"^MIG-GPU-[0-9a-fA-F-]+/(\d+)/(\d+)$")


def _gpu_line(line: str) -> tuple[int, str, str | None, bool] | None:
    """``GPU 0: NAME (UUID: GPU-...)`` -> (index, name, uuid, had a UUID field); None for other lines."""
    head = _GPU_HEAD.match(line)
    if not head:
        return None
    rest = line[head.end() :].strip()
    cut = rest.rfind("(UUID:")
    if cut < 0:
        return int(head.group(1)), rest, None, False
    name = rest[:cut].strip()
    value = rest[cut + len("(UUID:") :].strip().removesuffix(")").strip()
    uuid = value if _UUID_VALUE.fullmatch(value) else None
    return int(head.group(1)), name, uuid, True


def looks_like(text: str) -> bool:
    for line in text.splitlines()[:200]:
        gpu = _gpu_line(line)
        if gpu and gpu[2]:
            return True
    return False


def parse_nvidia_smi_list(text: str) -> ParseResult:
    """GPUs and MIG devices of ``nvidia-smi -L``; ``format=None`` when no ``GPU n:`` line is present."""
    gpus: list[GpuRecord] = []
    migs: list[list[MigDevice]] = []
    warnings: list[str] = []
    for line in text.splitlines():
        gpu = _gpu_line(line)
        if gpu and gpu[2]:
            gpus.append(
                GpuRecord(source=SOURCE, index=gpu[0], name=gpu[1] or None, uuid=gpu[2], vendor="nvidia")
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
        if gpu and gpu[1]:
            gpus.append(GpuRecord(source=SOURCE, index=gpu[0], name=gpu[1], vendor="nvidia"))
            migs.append([])
            warnings.append(f"nvidia-smi -L: GPU {gpu[0]} has no UUID")
    if not gpus:
        return ParseResult(format=None)
    records = tuple(
        replace(g, mig_devices=tuple(ms), mig_mode=True if ms else None)
        for g, ms in zip(gpus, migs, strict=False)
    )
    return ParseResult(format="nvidia-smi-L", gpus=records, warnings=tuple(warnings))
