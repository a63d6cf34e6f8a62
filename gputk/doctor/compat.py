"""The compatibility tables in ``gputk/data/compat/*.json`` and the decisions made from them.

Each file names its source; see gpu-facts.md section 6. Decision logic for a
CUDA runtime R against a driver (gpu-facts 6.1, "Recommended decision logic"):
R <= the CUDA version the driver supports -> ok; same major and driver >= the
minor-version-compatibility floor -> ok in MVC mode (no PTX JIT from the newer
toolkit, F4); otherwise the driver is too old (F3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from gputk.models.cuda import release_of, version_tuple

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "compat"


@lru_cache(maxsize=8)
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


def vt(version: str | None) -> tuple[int, ...]:
    """Dotted version -> tuple; tolerant of suffixes ("12.4.1", "2.3.0+cu121" -> (2, 3, 0))."""
    if not version:
        return ()
    head = version.split("+")[0].split("-")[0]
    parts = []
    for p in head.split("."):
        if not p.isdigit():
            break
        parts.append(int(p))
    return version_tuple(".".join(str(p) for p in parts)) if parts else ()


def min_driver(cuda: str, windows: bool = False) -> str | None:
    """The lowest driver for a CUDA release (``"12.4"`` -> ``"550.54.14"``), from cuda_driver.json."""
    want = vt(cuda)[:2]
    key = "windows" if windows else "linux"
    rows = [r for r in load("cuda_driver")["rows"] if vt(r["cuda"])[:2] == want and r.get(key)]
    if not rows:
        return None
    return str(min(rows, key=lambda r: vt(r["cuda"]))[key])


def driver_cuda(driver: str | None) -> str | None:
    """The newest CUDA release (``"12.4"``) whose minimum driver is <= ``driver``; None if unknown."""
    drv = vt(driver)
    if not drv:
        return None
    ok = [r for r in load("cuda_driver")["rows"] if vt(r["linux"]) <= drv]
    if not ok:
        return None
    return release_of(max(ok, key=lambda r: vt(r["cuda"]))["cuda"])


def mvc_floor(major: int, windows: bool = False) -> str | None:
    floors = load("cuda_driver")["mvc"]["floors"].get(str(major)) or {}
    value = floors.get("windows" if windows else "linux")
    return str(value) if value else None


CompatKind = Literal["ok", "mvc", "too-old", "unknown"]


@dataclass(frozen=True)
class Compat:
    kind: CompatKind
    reason: str


def runtime_vs_driver(runtime: str, driver_version: str | None, driver_cuda_version: str | None) -> Compat:
    """Can a driver run code built with CUDA ``runtime``? (see module docstring)."""
    rt = vt(runtime)[:2]
    dc = vt(driver_cuda_version or driver_cuda(driver_version))[:2]
    if not rt or not dc:
        return Compat("unknown", "driver CUDA version unknown")
    if rt <= dc:
        return Compat("ok", f"CUDA {release_of(runtime)} <= driver's CUDA {'.'.join(map(str, dc))}")
    floor = mvc_floor(rt[0])
    if rt[0] == dc[0] and floor and driver_version and vt(driver_version) >= vt(floor):
        return Compat(
            "mvc",
            f"CUDA {release_of(runtime)} is newer than the driver's CUDA {'.'.join(map(str, dc))}; "
            f"runs by minor-version compatibility (driver >= {floor}) but PTX JIT of its code fails",
        )
    need = min_driver(runtime) or (floor or "a newer driver")
    return Compat(
        "too-old",
        f"CUDA {release_of(runtime)} needs driver >= {need}; "
        f"driver {driver_version or '?'} supports CUDA {'.'.join(map(str, dc))}",
    )


def tf_tested(tf_version: str | None) -> dict[str, Any] | None:
    """The tested CUDA/cuDNN row for a TensorFlow version (``"2.17.0"`` -> cuda 12.3, cudnn 8.9)."""
    mm = ".".join(str(p) for p in vt(tf_version)[:2])
    for row in load("tensorflow")["rows"]:
        if mm in row["tf"]:
            return dict(row)
    return None


def sm_supported(cc: str, toolkit: str) -> bool | None:
    """Can toolkit ``toolkit`` compile for ``cc``? None when the table does not know ``cc``."""
    for row in load("sm_support")["rows"]:
        if row["cc"] == cc:
            tk = vt(toolkit)[:2]
            if tk < vt(row["since"]):
                return False
            return not (row["until"] and tk >= vt(row["until"]))
    return None


def framework_table(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load("frameworks")[name]
    return data


def arch_covers(cc: str, arch_list: list[str]) -> bool | None:
    """Does a build's arch list run on ``cc``? ``sm_XY`` runs on the same major with minor >= Y
    (binary compatibility within a major); ``compute_XY`` (PTX) JIT-compiles for any CC >= X.Y.
    None when the list is empty (unknown)."""
    if not arch_list:
        return None
    want = vt(cc)
    for entry in arch_list:
        e = entry.strip().lower().removesuffix("+ptx")
        kind, _, num = e.partition("_")
        if not num:
            continue
        num = num.rstrip("af")
        if not num.isdigit() or len(num) < 2:
            continue
        have = (int(num[:-1]), int(num[-1]))
        if kind == "sm" and have[0] == want[0] and have[1] <= want[1]:
            return True
        if kind == "compute" and have <= want:
            return True
    return False


def pick_torch_wheel(driver_cuda_version: str | None, cc: str | None) -> dict[str, Any] | None:
    """The newest PyTorch CUDA wheel whose arch list covers ``cc`` and that the driver runs:
    CUDA <= the driver's first, else the same major (minor-version compatibility)."""
    dc = vt(driver_cuda_version)[:2]
    wheels = framework_table("torch")["wheels"]

    def covers(w: dict[str, Any]) -> bool:
        if not cc:
            return True
        archs = ["sm_" + a.replace(".", "") for a in w["arch"]]
        if w.get("ptx"):
            archs.append("compute_" + w["arch"][-1].replace(".", ""))
        return bool(arch_covers(cc, archs))

    for strict in (True, False):
        for w in wheels:
            wc = vt(w["cuda"])[:2]
            if dc and (wc > dc if strict else wc[0] != dc[0]):
                continue
            if covers(w):
                return dict(w)
    return None
