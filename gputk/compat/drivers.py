"""Driver versions: finding the loaded one, its branch, and which drivers a GPU can run.

``find_driver_version`` is the one place that decides which evidence names the
driver version, in this order: NVML, nvidia-smi, ``/sys/module/nvidia/version``,
``/proc/driver/nvidia/version``, ``modinfo nvidia``, the user-space library file
names (``libnvidia-ml.so.<version>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from gputk.compat import cuda
from gputk.compat._data import load
from gputk.compat.gpus import Generation, generation
from gputk.compat.version import Version

# (keyword, how the evidence is named to the user), highest precedence first.
DRIVER_EVIDENCE: tuple[tuple[str, str], ...] = (
    ("nvml", "NVML nvmlSystemGetDriverVersion"),
    ("nvidia_smi", "nvidia-smi <driver_version>"),
    ("sys_module", "/sys/module/nvidia/version"),
    ("proc_version", "/proc/driver/nvidia/version"),
    ("modinfo", "modinfo nvidia (version:)"),
    ("user_space", "libnvidia-ml.so.<version> file name"),
)


@dataclass(frozen=True)
class DriverVersion:
    version: Version
    source: str  # the evidence it came from, as DRIVER_EVIDENCE names it

    @property
    def branch(self) -> int:
        return self.version.major

    def __str__(self) -> str:
        return str(self.version)


def find_driver_version(
    *,
    nvml: str | None = None,
    nvidia_smi: str | None = None,
    sys_module: str | None = None,
    proc_version: str | None = None,
    modinfo: str | None = None,
    user_space: Iterable[str] = (),
) -> DriverVersion | None:
    """The driver version from the first evidence that gives one (see the module docstring).

    Each argument is a version string some probe read (``proc_version``: the version parsed
    from ``/proc/driver/nvidia/version``); ``user_space``: versions from library file names,
    used only when exactly one is on disk.
    """
    given = {
        "nvml": nvml,
        "nvidia_smi": nvidia_smi,
        "sys_module": sys_module,
        "proc_version": proc_version,
        "modinfo": modinfo,
    }
    libs = {v for v in (Version.parse(u, strict=True) for u in user_space) if v is not None}
    for key, label in DRIVER_EVIDENCE:
        if key == "user_space":
            if len(libs) == 1:
                return DriverVersion(next(iter(libs)), label)
            continue
        value = given[key]
        v = Version.parse(value.strip(), strict=True) if value else None
        if v is not None:
            return DriverVersion(v, label)
    return None


@dataclass(frozen=True)
class Branch:
    branch: int
    designation: str
    eol: str  # "2028-06"
    max_cuda_major: int


@lru_cache(maxsize=1)
def branches() -> tuple[Branch, ...]:
    rows = load("generations")["branches"]["rows"]
    return tuple(
        Branch(int(r["branch"]), str(r["designation"]), str(r["eol"]), int(r["max_cuda_major"])) for r in rows
    )


def branch_info(driver: object) -> Branch | None:
    v = Version.parse(driver)
    return next((b for b in branches() if v is not None and b.branch == v.major), None)


def branch_ended(driver: object, today: str) -> bool:
    """Is the driver's branch past its end of life on ``today`` (``"2026-11"``)?"""
    b = branch_info(driver)
    return b is not None and b.eol < today[:7]


def as_of() -> str:
    return str(load("generations")["as_of"])


@dataclass(frozen=True)
class DriverLimit:
    """What drivers a GPU can have, and what that means for CUDA."""

    generation: Generation
    last_branch: int | None  # None: current drivers support it
    newest_driver_cuda: Version | None  # newest CUDA a driver of that last branch runs (MVC included)
    newest_target_cuda: Version | None  # newest toolkit that can still compile for the GPU
    open_module: str  # "unsupported" | "supported" | "required"

    def allows(self, driver: object) -> bool:
        """Can this GPU run driver ``driver`` (branch not past its last one)?"""
        v = Version.parse(driver)
        return v is None or self.last_branch is None or v.major <= self.last_branch


def driver_limit(cc: object) -> DriverLimit | None:
    """The drivers that can exist for a GPU of compute capability ``cc``.

    Kepler: last branch 470 (CUDA 11.x by minor-version compatibility; toolkits up to 11.8);
    Maxwell, Pascal, Volta: the 580 legacy branch (runs CUDA 13 code, but CUDA 13 cannot
    compile for them: the newest toolkit is 12.9); Turing and newer: current branches.
    """
    gen = generation(cc)
    if gen is None:
        return None
    newest_driver_cuda = None
    if gen.last_driver_branch is not None:
        b = next((x for x in branches() if x.branch == gen.last_driver_branch), None)
        newest_driver_cuda = Version((b.max_cuda_major,)) if b else None
    return DriverLimit(
        gen, gen.last_driver_branch, newest_driver_cuda, cuda.newest_cuda_for(cc), gen.open_module
    )


def module_fits(cc: object, flavour: str) -> bool | None:
    """Can the ``flavour`` ("open" / "proprietary") kernel module drive a GPU of ``cc``?"""
    gen = generation(cc)
    if gen is None or flavour not in ("open", "proprietary"):
        return None
    if flavour == "open":
        return gen.open_module != "unsupported"
    return gen.open_module != "required"
