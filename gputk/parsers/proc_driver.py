"""``/proc/driver/nvidia/version``: the loaded kernel module's version and flavour.

Samples (one per flavour)::

    NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.216.03  Thu Apr  3 01:14:19 UTC 2025
    NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  555.58.02  Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Jun 25 01:26:03 UTC 2024
    NVRM version: NVIDIA UNIX aarch64 Kernel Module  550.120  Fri Sep 13 11:01:10 UTC 2024
    NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  550.144.03  Release Build  (dvs-builder@...)
    GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)

The file exists only while the nvidia module is loaded, so its presence alone
says "driver loaded"; a version different from the user-space NVML's is the
driver/library mismatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gputk.models.gpu import DriverInfo

SOURCE = "proc-driver-version"

_OPEN = re.compile(r"^NVRM version:\s*NVIDIA UNIX Open Kernel Module for (\S+)\s+(\d+(?:\.\d+)+)", re.M)
# "NVIDIA UNIX x86_64 Kernel Module  535..." and Jetson's "NVIDIA UNIX Kernel Module for aarch64  34.1.1"
_PROPRIETARY = re.compile(
    r"^NVRM version:\s*NVIDIA UNIX (?:(\S+) Kernel Module|Kernel Module for (\S+))\s+(\d+(?:\.\d+)+)", re.M
)
_GCC = re.compile(r"^GCC version:\s*(?:gcc version\s+)?(\S+)", re.M)


@dataclass(frozen=True)
class NvrmVersion:
    version: str  # "555.58.02"
    kernel_module: Literal["open", "proprietary"]
    arch: str  # "x86_64", "aarch64", "ppc64le"
    gcc_version: str | None


def parse_nvrm(text: str) -> NvrmVersion | None:
    """Every fact of the file, or None when the text is not it."""
    gcc = _GCC.search(text)
    gcc_version = gcc.group(1) if gcc else None
    m = _OPEN.search(text)
    if m:
        return NvrmVersion(m.group(2), "open", m.group(1), gcc_version)
    m = _PROPRIETARY.search(text)
    if m:
        return NvrmVersion(m.group(3), "proprietary", m.group(1) or m.group(2), gcc_version)
    return None


def parse_proc_driver_version(text: str) -> DriverInfo | None:
    """The driver version and module flavour; None when the text is not the file."""
    nvrm = parse_nvrm(text)
    if nvrm is None:
        return None
    return DriverInfo(version=nvrm.version, kernel_module=nvrm.kernel_module, source=SOURCE)
