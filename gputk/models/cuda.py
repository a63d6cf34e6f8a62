"""CUDA toolkit facts: installed toolkits, the nvcc that wins on PATH, CUDA_HOME, pip CUDA wheels.

Filled by :mod:`gputk.probes.cuda`; read by ``gputk env`` and the doctor. Every
record carries ``evidence``: the file or command its version came from.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

ToolkitKind = Literal["local", "distro", "conda", "pip"]

_NUM = re.compile(r"^\d+(?:\.\d+)*$")

# Minor-version-compatibility floor per CUDA major, Linux x86_64: a driver at or
# above it runs every toolkit of that major (docs.nvidia.com/deploy/cuda-compatibility/
# minor-version-compatibility.html; the same floor in arrayfire device_manager.cpp).
# Newer drivers are backward compatible, so "driver >= floor" is the whole rule.
MVC_DRIVER_FLOOR: dict[int, str] = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}


def version_tuple(version: str | None) -> tuple[int, ...]:
    """``"12.3.2"`` -> ``(12, 3, 2)``; ``()`` when not a dotted number."""
    if not version or not _NUM.match(version):
        return ()
    return tuple(int(p) for p in version.split("."))


def release_of(version: str | None) -> str:
    """``"12.3.2"`` -> ``"12.3"``; ``"12"`` -> ``"12"``; ``""`` when unknown."""
    parts = version_tuple(version)
    return ".".join(str(p) for p in parts[:2])


def min_driver_for(version: str | None) -> str | None:
    """The lowest Linux driver that runs this toolkit (MVC floor of its major), None if unknown."""
    parts = version_tuple(version)
    return MVC_DRIVER_FLOOR.get(parts[0]) if parts else None


def driver_supports(driver: str | None, version: str | None) -> bool | None:
    """True/False when both are known and the major has a known floor; None otherwise."""
    floor = min_driver_for(version)
    drv = version_tuple(driver)
    if floor is None or not drv:
        return None
    return drv >= version_tuple(floor)


@dataclass(frozen=True)
class Toolkit:
    """One installed CUDA toolkit.

    ``root`` is the toolkit's own directory (links resolved, so one toolkit is
    listed once); ``links`` are the aliases pointing at it (``/usr/local/cuda``,
    ``/usr/local/cuda-12``); ``evidence`` says where ``version`` was read
    (``/usr/local/cuda-12.3/version.json``, ``/usr/local/cuda-12.3/bin/nvcc --version``).
    """

    version: str  # "12.3.2"; "" when nothing said
    root: str
    bin_dir: str
    lib_dir: str | None
    nvcc: str | None
    kind: ToolkitKind
    links: tuple[str, ...] = ()
    evidence: str = ""

    @property
    def release(self) -> str:
        return release_of(self.version)

    @property
    def major(self) -> int | None:
        parts = version_tuple(self.version)
        return parts[0] if parts else None

    def sort_key(self) -> tuple[tuple[int, ...], str]:
        return (version_tuple(self.version), self.root)

    def matches(self, wanted: str) -> bool:
        """``"12"``, ``"12.3"`` or ``"12.3.2"`` names this toolkit (prefix match on components)."""
        want = version_tuple(wanted)
        have = version_tuple(self.version)
        return bool(want) and have[: len(want)] == want

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["release"] = self.release
        d["links"] = list(self.links)
        d["min_driver"] = min_driver_for(self.version)
        return d


@dataclass(frozen=True)
class NvccInfo:
    """The nvcc a shell would run: ``command -v nvcc`` and ``nvcc --version``.

    ``status``: ``"ok"``; ``"not-found"`` (no nvcc on PATH); ``"unknown-version"``
    (found, but neither ``nvcc --version`` nor its toolkit told the version).
    ``shadowed`` lists the other nvcc found later on PATH, which lose.
    """

    status: Literal["ok", "not-found", "unknown-version"]
    path: str | None = None
    realpath: str | None = None
    version: str = ""
    toolkit_root: str | None = None
    evidence: str = ""
    shadowed: tuple[str, ...] = ()

    @property
    def release(self) -> str:
        return release_of(self.version)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["release"] = self.release
        d["shadowed"] = list(self.shadowed)
        return d


@dataclass(frozen=True)
class CudaHome:
    """``$CUDA_HOME`` (else ``$CUDA_PATH``): what it names and whether that is a toolkit."""

    variable: str | None  # "CUDA_HOME" | "CUDA_PATH" | None when neither is set
    path: str | None
    exists: bool = False
    nvcc: str | None = None
    toolkit_root: str | None = None
    others: tuple[tuple[str, str], ...] = ()  # the other variable when both are set

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["others"] = dict(self.others)
        return d


@dataclass(frozen=True)
class PipCudaLib:
    """One pip ``nvidia-*`` wheel's library directory in the target environment.

    ``component`` is the folder under ``site-packages/nvidia`` (``cublas``,
    ``cudnn``, ``cuda_runtime``; ``cu13`` for the CUDA 13 merged layout);
    ``cuda_major`` comes from the wheel name (``nvidia_cublas_cu12-*.dist-info``)
    or the ``cu13`` folder, None when neither says.
    """

    component: str
    lib_dir: str
    sonames: tuple[str, ...]
    cuda_major: int | None
    site_packages: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sonames"] = list(self.sonames)
        return d
