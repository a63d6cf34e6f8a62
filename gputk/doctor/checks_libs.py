"""Which copy of a library the loader finds first: env.forward-compat (a libcuda from a
cuda-compat package ahead of the driver's) and env.cudnn-skew (a cuDNN on LD_LIBRARY_PATH
ahead of the one the framework's pip wheels bring)."""

from __future__ import annotations

import posixpath
import re

from gputk.doctor.base import Outcome, check, ev, failed, passed
from gputk.doctor.context import Context
from gputk.models.doctor import Evidence, Fix
from gputk.parsers.cudnn import decode_cudnn_version
from gputk.probes.cudnn import CudnnInstall

_LIBCUDA_VERSION = re.compile(r"libcuda\.so\.(\d{3}\.\d+(?:\.\d+)?)$")
# Forward compatibility is supported on data-center boards, not on GeForce/TITAN (CUDA
# compatibility guide: "NVIDIA Data Center GPUs and select NGC Server Ready SKUs of RTX cards").
_CONSUMER = re.compile(r"GeForce|TITAN", re.I)


def _ld_dirs(ctx: Context) -> list[str]:
    return [d for d in ctx.host.env.get("LD_LIBRARY_PATH", "").split(":") if d]


def _first_libcuda(ctx: Context) -> tuple[str, str] | None:
    """(path, how it is found) of the libcuda.so.1 a CUDA program loads first, when that is
    not the system's default: LD_LIBRARY_PATH first, then the loader cache order."""
    for d in _ld_dirs(ctx):
        path = f"{d}/libcuda.so.1"
        if ctx.host.lexists(path):
            return path, f"$LD_LIBRARY_PATH entry {d}"
    first = next((p for name, p in ctx.ldconfig() if name == "libcuda.so.1"), None)
    if first and "compat" in first:
        return first, "the loader cache (ldconfig -p) lists it first"
    return None


def _version_of(ctx: Context, path: str) -> str | None:
    m = _LIBCUDA_VERSION.search(ctx.host.realpath(path))
    if m:
        return m.group(1)
    d = posixpath.dirname(path)
    for p in ctx.host.glob(f"{d}/libcuda.so.*"):
        m = _LIBCUDA_VERSION.search(p)
        if m:
            return m.group(1)
    return None


def _major_minor(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".")[:2])


@check("env.forward-compat", "No foreign libcuda ahead of the driver's", after=("driver.nvml",))
def forward_compat(ctx: Context) -> Outcome:
    found = _first_libcuda(ctx)
    module = ctx.kernel().loaded_version or ctx.driver_version()[0]
    if found is None or module is None or ctx.platform().wsl:
        return passed("libcuda comes from the driver itself")
    path, how = found
    lib = _version_of(ctx, path)
    evidence: list[Evidence] = [ev(path, f"libcuda {lib or '?'} ({how})"), ev("kernel module", module)]
    if lib is None or lib == module:
        return passed(
            f"libcuda {lib or ''} found first matches the kernel module {module}".replace("  ", " "),
            *evidence,
        )
    d = posixpath.dirname(path)
    fix_cmds = (
        f'export LD_LIBRARY_PATH="{":".join(x for x in _ld_dirs(ctx) if x != d)}"',
        "sudo apt-get remove 'cuda-compat-*'  # or the dnf equivalent, if the package left it",
    )
    if _major_minor(lib) < _major_minor(module):
        return failed(
            f"a forward-compatibility libcuda {lib} ({d}) is loaded instead of the driver's own {module}: left over "
            "from before a driver upgrade, CUDA fails with error 803 ('system has unsupported display driver / "
            "cuda driver combination')",
            evidence,
            Fix(
                "Stop loading the old compat library; the installed driver is newer and needs none.", fix_cmds
            ),
        )
    consumer = [g.name for g in ctx.gpus() if _CONSUMER.search(g.name)]
    if consumer:
        return failed(
            f"forward-compatibility libcuda {lib} ({d}) on {consumer[0]}, which does not support it: CUDA fails with "
            "error 804 ('forward compatibility was attempted on non supported HW')",
            evidence,
            Fix(
                "Remove the compat directory from the library path; use a CUDA build the driver supports.",
                fix_cmds,
            ),
        )
    return passed(
        f"forward-compatibility libcuda {lib} over driver {module} on data-center GPUs (supported)", *evidence
    )


# -- cuDNN --------------------------------------------------------------------------------------


def _ahead(ctx: Context, pip: CudnnInstall) -> list[tuple[CudnnInstall, str]]:
    """(copy, LD_LIBRARY_PATH entry) for each cuDNN with the pip copy's soname but another
    version in a directory LD_LIBRARY_PATH puts first."""
    out: list[tuple[CudnnInstall, str]] = []
    for d in _ld_dirs(ctx):
        real = ctx.host.realpath(d)
        for inst in ctx.cudnn():
            if (
                inst.source == "pip"
                or not inst.version
                or inst.major != pip.major
                or inst.version == pip.version
            ):
                continue
            homes = {
                ctx.host.realpath(x)
                for x in (inst.location, f"{inst.location}/lib", f"{inst.location}/lib64")
            }
            if real in homes and not any(o[1] == d for o in out):
                out.append((inst, d))
    return out


def _framework_cudnn(ctx: Context) -> list[Evidence]:
    """What the frameworks say about cuDNN (torch: the version it loaded; errors naming both)."""
    out = []
    for name in ("torch", "tensorflow"):
        if not ctx.frameworks_enabled:
            break
        r = ctx.framework(name)
        loaded = r.get("cudnn_build")
        if name == "torch" and isinstance(loaded, int):
            out.append(ev("torch.backends.cudnn.version()", decode_cudnn_version(loaded) or str(loaded)))
        for key in ("cudnn_error", "gpu_error", "op_error"):
            text = str(r.get(key) or "")
            if "cudnn" in text.lower():
                out.append(ev(f"{name} {key.replace('_', ' ')}", text[:240]))
    return out


@check("env.cudnn-skew", "The cuDNN the framework needs is the one loaded", after=("cudnn.install",))
def cudnn_skew(ctx: Context) -> Outcome:
    pip = next((i for i in ctx.cudnn() if i.source == "pip" and i.version), None)
    if pip is None:
        return passed("no pip cuDNN wheel to be shadowed")
    ahead = _ahead(ctx, pip)
    if not ahead:
        return passed(
            f"the pip cuDNN {pip.version} is the one the loader finds", ev(pip.location, pip.version)
        )
    a, where = ahead[0]
    evidence = [
        ev(pip.evidence or pip.location, f"cuDNN {pip.version}: the framework's pip wheel (what it needs)"),
        *(
            ev(d, f"cuDNN {i.version} ({i.evidence or i.location}), on LD_LIBRARY_PATH: loaded first")
            for i, d in ahead
        ),
        *_framework_cudnn(ctx),
    ]
    shadowing = {d for _, d in ahead}
    keep = ":".join(x for x in _ld_dirs(ctx) if x not in shadowing)
    return failed(
        f"the framework needs cuDNN {pip.version} (pip) but the loader finds cuDNN {a.version} in {where} first "
        "(LD_LIBRARY_PATH): 'cuDNN version incompatibility' or CUDNN_STATUS errors at the first convolution",
        evidence,
        Fix(
            "Take that directory off LD_LIBRARY_PATH so the framework loads its own cuDNN.",
            (f'export LD_LIBRARY_PATH="{keep}"' if keep else "unset LD_LIBRARY_PATH",),
        ),
    )
