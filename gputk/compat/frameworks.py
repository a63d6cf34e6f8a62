"""What each framework build was made with, whether it fits this machine, and what to pin.

Tables in ``data/frameworks.json``: TensorFlow's tested CUDA/cuDNN and wheel
architectures per release, PyTorch wheel variants (CUDA version and arch list) and
the releases that ship them, JAX / CuPy / numba-cuda flavours per CUDA major.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gputk.compat import cuda
from gputk.compat._data import load
from gputk.compat.version import Version


def table(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load("frameworks")[name]
    return data


def arch_covers(cc: object, arch_list: list[str]) -> bool | None:
    """Does a build's arch list run on ``cc``?

    ``sm_XY`` (SASS) runs on the same major with minor >= Y; ``compute_XY`` (PTX) is
    JIT-compiled for any CC >= X.Y; plain ``"8.6"`` entries mean ``sm_86``, ``"8.6+PTX"``
    adds ``compute_86``. Arch-specific ``sm_90a`` / ``sm_100f`` count as ``sm_90`` / ``sm_100``.
    None when the list is empty (unknown).
    """
    want = Version.parse(cc)
    if not arch_list or want is None:
        return None
    for entry in arch_list:
        e = entry.strip().lower()
        ptx = e.endswith("+ptx")
        e = e.removesuffix("+ptx")
        kind, _, num = e.partition("_")
        if not num:  # "8.6" style (TORCH_CUDA_ARCH_LIST)
            v = Version.parse(kind, strict=True)
            if v is None:
                continue
            have, kinds = v.truncate(2), {"sm"} | ({"compute"} if ptx else set())
        else:
            num = num.rstrip("af")
            if not num.isdigit() or len(num) < 2:
                continue
            have, kinds = Version((int(num[:-1]), int(num[-1]))), {kind}
        if "sm" in kinds and have.major == want.major and have.minor <= want.minor:
            return True
        if "compute" in kinds and have <= want:
            return True
    return False


def cudnn_fits(built: object, loaded: object) -> bool | None:
    """TensorFlow's rule (and cuDNN's): same major, loaded minor >= built minor."""
    b, lo = Version.parse(built), Version.parse(loaded)
    if b is None or lo is None:
        return None
    return lo.major == b.major and lo.minor >= b.minor


# -- CUDA flavour (12 or 13) for pip packages -------------------------------------


def cuda_flavour(driver: object, cc: object, driver_cuda: object = None) -> int:
    """The CUDA major whose pip wheels fit this driver and GPU.

    13 when the driver is >= the CUDA 13 floor (580; or says it runs CUDA 13) and CUDA 13 can
    compile for the GPU (Turing and newer); else 12. Unknown driver or GPU count as fitting.
    """
    d, c, dc = Version.parse(driver), Version.parse(cc), Version.parse(driver_cuda)
    floor13 = cuda.mvc_floor(13)
    if d is not None and floor13 is not None and d < floor13:
        return 12
    if dc is not None and dc.major < 13:
        return 12
    if c is not None and cuda.can_target(c, "13.0") is False:
        return 12
    return 13


def install_spec(package: str, major: int) -> str:
    """The pip requirement for ``package`` ("cupy", "numba", "jax") in CUDA ``major``'s flavour."""
    key = {"numba": "numba_cuda", "numba-cuda": "numba_cuda"}.get(package, package)
    flavours: dict[str, Any] = table(key)["flavours"]
    row = flavours.get(str(major)) or flavours[max(flavours)]
    return str(row["install"])


def gputk_extra(major: int) -> str:
    """``gputk[gpu-cu12]`` / ``gputk[gpu-cu13]``."""
    return str(table("extras").get(str(major), table("extras")["12"]))


def pip_lib_dir(major: int, component: str = "cudart") -> str:
    """Where a CUDA ``major`` pip wheel puts its libraries, relative to site-packages."""
    layout = table("pip_layout")
    return str(layout.get(str(major), layout["12"])).format(component=component)


# -- TensorFlow -------------------------------------------------------------------


@dataclass(frozen=True)
class TfBuild:
    tf: str  # "2.21"
    cuda: Version
    cudnn: Version
    arch: tuple[str, ...]  # () when the table does not know
    source: str


@lru_cache(maxsize=1)
def _tf_rows() -> tuple[TfBuild, ...]:
    out = []
    for r in table("tensorflow")["rows"]:
        for tf in r["tf"]:
            out.append(
                TfBuild(
                    tf, Version.of(r["cuda"]), Version.of(r["cudnn"]), tuple(r.get("arch") or ()), r["source"]
                )
            )
    return tuple(sorted(out, key=lambda b: Version.of(b.tf), reverse=True))


def tf_build(tf_version: object) -> TfBuild | None:
    """The tested CUDA/cuDNN (and wheel arch list) of a TensorFlow release (``"2.17.0"``)."""
    v = Version.parse(tf_version)
    if v is None:
        return None
    return next((b for b in _tf_rows() if Version.of(b.tf) == v.truncate(2)), None)


def tf_has_cuda13() -> bool:
    return bool(table("tensorflow")["cuda13"])


def newest_tf_for(cc: object, driver: object = None, driver_cuda: object = None) -> TfBuild | None:
    """The newest TensorFlow whose wheels carry kernels for ``cc`` and whose CUDA the driver runs."""
    for b in _tf_rows():
        if not b.arch or arch_covers(cc, list(b.arch)) is not True:
            continue
        known = driver is not None or driver_cuda is not None
        if known and cuda.runtime_vs_driver(b.cuda, driver, driver_cuda).kind == "too-old":
            continue
        return b
    return None


# -- PyTorch ----------------------------------------------------------------------


@dataclass(frozen=True)
class TorchWheel:
    tag: str  # "cu126"
    cuda: Version
    arch: tuple[str, ...]  # TORCH_CUDA_ARCH_LIST entries ("8.6", "12.0+PTX")
    source: str
    torch: str | None = None  # the newest release shipping it ("2.14")

    @property
    def index_url(self) -> str:
        return str(table("torch")["index_url"]).format(tag=self.tag)


@lru_cache(maxsize=1)
def torch_wheels() -> tuple[TorchWheel, ...]:
    """Every PyTorch CUDA wheel variant, newest CUDA first, with the newest release shipping it."""
    t = table("torch")
    newest: dict[str, str] = {}
    for rel in sorted(t["releases"], key=lambda r: Version.of(r["torch"])):
        for tag in rel["variants"]:
            newest[tag] = rel["torch"]
    out = []
    for v in t["variants"]:
        arch = [*v["arch"]]
        if v.get("ptx"):
            arch[-1] = arch[-1] + "+PTX"
        out.append(
            TorchWheel(v["tag"], Version.of(v["cuda"]), tuple(arch), v["source"], newest.get(v["tag"]))
        )
    return tuple(sorted(out, key=lambda w: w.cuda, reverse=True))


def torch_wheel(tag: str) -> TorchWheel | None:
    return next((w for w in torch_wheels() if w.tag == tag), None)


def torch_release_variants(torch_version: object) -> list[str]:
    v = Version.parse(torch_version)
    for rel in table("torch")["releases"]:
        if v is not None and Version.of(rel["torch"]) == v.truncate(2):
            return [str(x) for x in rel["variants"]]
    return []


def pick_torch_wheel(driver_cuda: object, cc: object) -> TorchWheel | None:
    """The PyTorch CUDA wheel to install: its arch list covers ``cc`` and the driver runs it.

    Preference: the newest wheel of the driver's CUDA major at or below the driver's CUDA;
    else one of that major by minor-version compatibility (the one in the newest PyTorch
    release); else the newest wheel of an older major. Unknown driver: the newest release.
    """
    dc = Version.parse(driver_cuda)
    fits = [w for w in torch_wheels() if cc is None or arch_covers(cc, list(w.arch))]

    def newest_release(w: TorchWheel) -> tuple[Version, Version]:
        return (Version.parse(w.torch) or Version((0,)), w.cuda)

    if dc is None:
        return max(fits, key=newest_release, default=None)
    same = [w for w in fits if w.cuda.major == dc.major]
    below = [w for w in same if w.cuda.truncate(2) <= dc.truncate(2)]
    if below:
        return max(below, key=lambda w: w.cuda)
    if same:
        return max(same, key=newest_release)
    older = [w for w in fits if w.cuda.major < dc.major]
    return max(older, key=lambda w: w.cuda, default=None)


# -- what to pin ------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """A framework build that fits this GPU and driver: the requirement and how to get it."""

    framework: str  # "torch" | "tensorflow" | "jax" | "cupy" | "numba"
    requirement: str  # "torch==2.14.*", "jax[cuda12]"
    index_url: str | None
    why: str


def pin_for(framework: str, cc: object, driver: object, driver_cuda: object) -> Pin | None:
    """The newest build of ``framework`` that runs on a GPU of ``cc`` with this driver."""
    major = cuda_flavour(driver, cc)
    if framework == "torch":
        w = pick_torch_wheel(driver_cuda or cuda.newest_cuda(driver), cc)
        if w is None:
            return None
        req = f"torch=={w.torch}.*" if w.torch else "torch"
        return Pin("torch", req, w.index_url, f"{w.tag} wheels (CUDA {w.cuda}) carry {', '.join(w.arch)}")
    if framework == "tensorflow":
        b = newest_tf_for(cc, driver, driver_cuda) if cc is not None else _tf_rows()[0]
        if b is None:
            return None
        return Pin(
            "tensorflow",
            f"tensorflow[and-cuda]=={b.tf}.*",
            None,
            f"TensorFlow {b.tf} is built with CUDA {b.cuda}, cuDNN {b.cudnn}"
            + (f" for {', '.join(b.arch)}" if b.arch else ""),
        )
    if framework in ("jax", "cupy", "numba"):
        key = {"numba": "numba_cuda"}.get(framework, framework)
        row = table(key)["flavours"].get(str(major)) or {}
        c = Version.parse(cc)
        if c is not None and row.get("cc_min") and c < Version.of(row["cc_min"]):
            return None  # not even the CUDA 12 flavour has code for this GPU
        spec = install_spec(framework, major)
        return Pin(
            framework, spec, None, f"the CUDA {major} flavour fits driver {driver or '?'} and CC {cc or '?'}"
        )
    return None
