"""CUDA releases vs drivers, and which compute capabilities each toolkit can target.

Decision for code built with CUDA runtime R on a driver D (NVIDIA's CUDA
compatibility guide): R <= the newest CUDA D supports -> ok; same major and D at
or above that major's minor-version-compatibility (MVC) floor -> ok in MVC mode
(code runs, but PTX JIT of code from the newer toolkit fails with
cudaErrorUnsupportedPtxVersion); otherwise the driver is too old.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from gputk.compat._data import load
from gputk.compat.version import Version


@dataclass(frozen=True)
class CudaRelease:
    """One CUDA toolkit release (GA or update) and the driver it bundles."""

    version: Version
    linux: Version | None  # None: not verified -> only the MVC floor applies
    windows: Version | None
    source: str
    verified: bool = True
    note: str = ""

    @property
    def release(self) -> str:
        return self.version.release


@lru_cache(maxsize=1)
def releases() -> tuple[CudaRelease, ...]:
    """Every CUDA release in the table, oldest first."""
    rows: list[CudaRelease] = []
    for r in load("cuda")["rows"]:
        rows.append(
            CudaRelease(
                Version.of(r["cuda"]),
                Version.parse(r["linux"]) if r["linux"] else None,
                Version.parse(r["windows"]) if r["windows"] else None,
                str(r["source"]),
                bool(r.get("verified", True)),
                str(r.get("note", "")),
            )
        )
    return tuple(sorted(rows, key=lambda r: r.version))


def release_names() -> list[str]:
    """``["9.0", ..., "13.5"]``: the distinct major.minor releases, oldest first."""
    return list(dict.fromkeys(r.release for r in releases()))


def mvc_floor(major: int, windows: bool = False) -> Version | None:
    """The lowest driver that runs every toolkit of CUDA ``major`` (minor-version compatibility)."""
    floors: dict[str, Any] = load("cuda")["mvc"]["floors"].get(str(major)) or {}
    value = floors.get("windows" if windows else "linux")
    return Version.parse(value) if value else None


def mvc_floors_text(windows: bool = False) -> str:
    """``"11.x >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580"``: every major's floor, for help texts."""
    majors = sorted(int(m) for m in load("cuda")["mvc"]["floors"])
    return ", ".join(f"{m}.x >= {mvc_floor(m, windows)}" for m in majors if mvc_floor(m, windows))


DriverKind = Literal["toolkit", "mvc"]


@dataclass(frozen=True)
class MinDriver:
    """The minimum driver for a CUDA version, and which rule gave it."""

    version: Version
    kind: DriverKind  # "toolkit": the toolkit's bundled driver; "mvc": the major's MVC floor only
    cuda: Version  # the table row (or major) it came from
    source: str

    def __str__(self) -> str:
        return str(self.version)

    def describe(self) -> str:
        if self.kind == "toolkit":
            return f">= {self.version} (the driver CUDA {self.cuda} ships with)"
        return f">= {self.version} (CUDA {self.cuda.major}.x minor-version-compatibility floor; toolkit minimum not in the table)"


def _rows_for(cuda: Version) -> list[CudaRelease]:
    """The table rows for ``cuda`` (an update missing from the table: its release's rows)."""
    for n in (min(len(cuda.parts), 3), 2):
        rows = [r for r in releases() if r.version.truncate(n) == cuda.truncate(n)]
        if rows:
            return rows
    return []


def min_driver(cuda: object, windows: bool = False) -> MinDriver | None:
    """The lowest driver that runs CUDA ``cuda`` with every feature (its toolkit-bundled driver).

    ``"12.4"`` means the 12.4 GA (the lowest of its rows); ``"12.4.1"`` that update. When the
    table has no verified toolkit minimum (or the CUDA version is newer than the table), the
    major's minor-version-compatibility floor is the answer, marked ``kind="mvc"``.
    """
    v = Version.parse(cuda)
    if v is None or v.release in load("cuda").get("missing_releases", {}):
        return None
    rows = _rows_for(v)
    if rows:
        first = rows[0]
        value = first.windows if windows else first.linux
        if value is not None:
            return MinDriver(value, "toolkit", first.version, first.source)
    floor = mvc_floor(v.major, windows)
    if floor is None:
        return None
    return MinDriver(floor, "mvc", v, str(load("cuda")["mvc"]["source"]))


def newest_cuda(driver: object) -> Version | None:
    """The newest CUDA release (``12.4``) whose toolkit minimum is <= ``driver``; None if unknown.

    Rows without a verified minimum are skipped, so for drivers newer than the table this
    under-reports; NVML / nvidia-smi say it exactly and are read first.
    """
    d = Version.parse(driver)
    if d is None:
        return None
    ok = [r for r in releases() if r.linux is not None and r.linux <= d]
    if not ok:
        return None
    return Version.of(max(ok, key=lambda r: r.version).release)


CompatKind = Literal["ok", "mvc", "too-old", "unknown"]


@dataclass(frozen=True)
class Compat:
    kind: CompatKind
    reason: str
    need: MinDriver | None = None


def runtime_vs_driver(runtime: object, driver: object, driver_cuda: object = None) -> Compat:
    """Can a driver run code built with CUDA ``runtime``? (see the module docstring)."""
    rt = Version.parse(runtime)
    drv = Version.parse(driver)
    dc = Version.parse(driver_cuda) or newest_cuda(drv)
    if rt is None or dc is None:
        return Compat("unknown", "driver CUDA version unknown")
    need = min_driver(rt)
    if rt.truncate(2) <= dc.truncate(2):
        return Compat("ok", f"CUDA {rt.release} <= driver's CUDA {dc.release}", need)
    floor = mvc_floor(rt.major)
    if rt.major == dc.major and floor is not None and drv is not None and drv >= floor:
        return Compat(
            "mvc",
            f"CUDA {rt.release} is newer than the driver's CUDA {dc.release}; runs by minor-version "
            f"compatibility (driver >= {floor}) but PTX JIT of its code fails",
            need,
        )
    return Compat(
        "too-old",
        f"CUDA {rt.release} needs driver {need.describe() if need else '(newer)'}; "
        f"driver {drv or '?'} supports CUDA {dc.release}",
        need,
    )


@dataclass(frozen=True)
class TargetRange:
    cc: Version
    since: Version
    until: Version | None
    source: str


@lru_cache(maxsize=1)
def _targets() -> tuple[TargetRange, ...]:
    return tuple(
        TargetRange(
            Version.of(t["cc"]),
            Version.of(t["since"]),
            Version.parse(t["until"]) if t["until"] else None,
            str(t["source"]),
        )
        for t in load("cuda")["targets"]
    )


def can_target(cc: object, cuda: object) -> bool | None:
    """Can toolkit ``cuda`` compile for compute capability ``cc``? None when ``cc`` is unknown."""
    c, tk = Version.parse(cc), Version.parse(cuda)
    if c is None or tk is None:
        return None
    for t in _targets():
        if t.cc == c:
            rel = tk.truncate(2)
            return rel >= t.since and not (t.until is not None and rel >= t.until)
    return None


def targets(cuda: object) -> list[str]:
    """The compute capabilities toolkit ``cuda`` can compile for (``["7.5", "8.0", ...]``)."""
    return [str(t.cc) for t in _targets() if can_target(t.cc, cuda)]


def newest_cuda_for(cc: object) -> Version | None:
    """The newest CUDA release that can still target ``cc`` (``"6.1"`` -> 12.9); None if it still can."""
    c = Version.parse(cc)
    hit = next((t for t in _targets() if t.cc == c), None)
    if hit is None or hit.until is None:
        return None
    older = [Version.of(name) for name in release_names() if Version.of(name) < hit.until]
    return max(older) if older else None


def first_cuda_for(cc: object) -> Version | None:
    """The first CUDA release that can target ``cc`` (``"12.0"`` -> 12.8)."""
    c = Version.parse(cc)
    hit = next((t for t in _targets() if t.cc == c), None)
    return hit.since if hit else None
