"""CUDA toolkit facts: installed toolkits, the nvcc that wins on PATH, CUDA_HOME, pip CUDA wheels.

Filled by :mod:`gputk.probes.cuda`; read by ``gputk env`` and the doctor. Every
record carries ``evidence``: the file or command its version came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from gputk.compat import cuda as cuda_compat
from gputk.compat.version import Version, release_of

ToolkitKind = Literal["local", "distro", "conda", "pip"]

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
    def parsed(self) -> Version | None:
        return Version.parse(self.version, strict=True)

    @property
    def major(self) -> int | None:
        v = self.parsed
        return v.major if v else None

    def sort_key(self) -> tuple[Version, str]:
        return (self.parsed or Version((0,)), self.root)

    def matches(self, wanted: str) -> bool:
        """``"12"``, ``"12.3"`` or ``"12.3.2"`` names this toolkit (prefix match on components)."""
        want = Version.parse(wanted, strict=True)
        have = self.parsed
        return want is not None and have is not None and have.parts[: len(want.parts)] == want.parts

    def min_driver(self) -> cuda_compat.MinDriver | None:
        """The lowest Linux driver that runs this toolkit fully (the same answer the doctor gives)."""
        return cuda_compat.min_driver(self.parsed) if self.parsed else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["release"] = self.release
        d["links"] = list(self.links)
        need = self.min_driver()
        d["min_driver"] = str(need) if need else None
        d["min_driver_kind"] = need.kind if need else None
        major = self.major
        floor = cuda_compat.mvc_floor(major) if major is not None else None
        d["mvc_floor"] = str(floor) if floor else None
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
