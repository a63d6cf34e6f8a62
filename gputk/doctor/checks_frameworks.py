"""Framework checks: framework.tensorflow, .cupy, .numba, .torch, .jax (docs/design.md F5, F7).

Each reads the result of a child-interpreter probe (:mod:`gputk.probes.frameworks`):
installed or not (not installed is ``skip``), version, the CUDA/cuDNN it was built
for, whether it sees the GPU and whether a tiny operation ran there. A probe that
hung or crashed is that check's ``error``. When a lower layer failed (no GPU, no
driver), the check reports what is installed and skips with ``blocked_by`` it.
"""

from __future__ import annotations

from typing import Any

from gputk.compat import cuda as cuda_compat
from gputk.compat import frameworks as fw_compat
from gputk.doctor import cuda_errors, fixes
from gputk.doctor.base import FunctionCheck, Outcome, check, ev, failed, passed, skipped
from gputk.doctor.checks_compat import build_fit
from gputk.doctor.context import Context
from gputk.models.doctor import Evidence, Fix
from gputk.parsers.cudnn import decode_cudnn_version
from gputk.probes.platform import PlatformInfo

ROOTS = (
    "platform.container",
    "platform.wsl",
    "hardware.gpu",
    "driver.kernel-module",
    "driver.nvml",
    "driver.device-nodes",
    "gpu.fabric",
    "gpu.compute-mode",
    "env.cuda-visible-devices",
    "env.forward-compat",
    "env.cudnn-skew",
)
# Read, not blocking: only this framework's own build failing there blocks it (see _own_root).
AFTER = (*ROOTS, "cuda.driver-compat", "cuda.arch")
TITLES = {"tensorflow": "TensorFlow", "cupy": "CuPy", "numba": "Numba CUDA", "torch": "PyTorch", "jax": "JAX"}


def _describe(name: str, r: dict[str, Any]) -> str:
    parts = [f"{name} {r.get('version') or '?'}"]
    built = []
    if r.get("cpu_only_build"):
        built.append("CPU-only build")
    elif r.get("cuda_build"):
        built.append(f"CUDA {r['cuda_build']}")
    elif r.get("cuda_major_build"):
        built.append(f"CUDA {r['cuda_major_build']}.x")
    cudnn = r.get("cudnn_build")
    if cudnn:
        built.append(f"cuDNN {decode_cudnn_version(cudnn) if isinstance(cudnn, int) else cudnn}")
    if r.get("numba_cuda"):
        built.append(f"numba-cuda {r['numba_cuda']}")
    if built:
        parts.append(f"({', '.join(built)})")
    return " ".join(parts)


def _reinstall(name: str, p: PlatformInfo, ctx: Context) -> Fix:
    """The install that gives ``name`` GPU support on this machine."""
    dcuda = ctx.driver_cuda()[0]
    drv = ctx.driver_version()[0]
    cc = next((g.cc for g in ctx.gpus() if g.cc), None)
    major = fw_compat.cuda_flavour(drv, cc)
    if name == "torch":
        wheel = fw_compat.pick_torch_wheel(dcuda, cc)
        url = wheel.index_url if wheel else None
        return Fix(
            f"Install a CUDA build of PyTorch that the driver (CUDA {dcuda or '?'}) runs; "
            "do not mix conda cudatoolkit with pip torch.",
            (fixes.pip_install(p, "torch", reinstall=True, index_url=url),),
        )
    if name == "tensorflow":
        cmds = (fixes.pip_install(p, "tensorflow[and-cuda]"),)
        text = "Install TensorFlow with its pip CUDA libraries (Linux/WSL2)."
        if p.env_kind == "conda":
            text += " In conda, keep LD_LIBRARY_PATH free of other CUDA copies."
        return Fix(text, cmds)
    spec = fw_compat.install_spec(name, major)
    return Fix(
        f"Install the CUDA {major} flavour of {name} (fits driver {drv or '?'} and the GPU).",
        (fixes.pip_install(p, spec),),
    )


def _own_root(name: str, r: dict[str, Any], ctx: Context) -> str | None:
    """The CUDA check that already failed because of *this* framework's build (driver too old
    for its CUDA, F3; no kernels for the GPU, F8), so the cause is told once."""
    result = ctx.result("cuda.driver-compat")
    if result is not None and result.status == "fail" and r.get("cuda_build"):
        drv, _ = ctx.driver_version()
        if cuda_compat.runtime_vs_driver(str(r["cuda_build"]), drv, ctx.driver_cuda()[0]).kind == "too-old":
            return "cuda.driver-compat"
    result = ctx.result("cuda.arch")
    archs = [str(a) for a in r.get("arch_list") or []]
    failed_arch = result is not None and result.status == "fail" and archs
    if failed_arch and any(g.cc and fw_compat.arch_covers(g.cc, archs) is False for g in ctx.gpus()):
        return "cuda.arch"
    return None


def _evaluate(name: str, ctx: Context) -> Outcome:
    r = ctx.framework(name)
    status = r.get("status")
    if status == "not-installed":
        return skipped(f"{name} not installed")
    if status == "not-probed":
        return skipped(f"{name} not probed (--no-frameworks)")
    if status == "not-captured":
        return skipped(f"{name}: not captured in the snapshot")
    p = ctx.platform()
    if status in ("timeout", "crash", "error"):
        return Outcome(
            "error",
            f"the {name} probe failed ({status}): {r.get('detail') or ''}".rstrip(": "),
            (ev(f"{p.python.get('executable', 'python')} -c 'import {name}'", r.get("detail") or status),),
        )
    if status == "import-error":
        return failed(
            f"import {name} fails: {r.get('detail')}",
            [ev(f"import {name}", r.get("detail") or "")],
            _reinstall(name, p, ctx),
        )
    desc = _describe(name, r)
    evidence: list[Evidence] = [ev(f"import {name}", desc)]
    if r.get("gpus"):
        evidence.append(ev("GPUs it sees", ", ".join(str(g) for g in r["gpus"])))
    for key in ("gpu_error", "op_error", "build_error", "runtime_error", "log_error"):
        if r.get(key):
            evidence.append(ev(key.replace("_", " "), r[key]))
    for lib in r.get("missing_libs") or []:
        evidence.append(ev("dso_loader", f"Could not load dynamic library '{lib}'"))
    root = ctx.failed_root(*ROOTS) or _own_root(name, r, ctx)
    if root:
        return skipped(f"{desc} installed; GPU use not checked: {root} failed", *evidence, blocked_by=root)
    misfit = build_fit(name, r, ctx)  # the build vs this GPU / driver / loaded cuDNN (gputk.compat)
    if misfit is not None:
        return Outcome(misfit.status, misfit.summary, (*evidence, *misfit.evidence), misfit.fix)
    return _gpu_use(name, r, desc, evidence, ctx)


def _gpu_use(name: str, r: dict[str, Any], desc: str, evidence: list[Evidence], ctx: Context) -> Outcome:
    """The framework's own answer once no lower layer explains it: a CPU-only build, no GPU seen
    (a CUDA error code named with its meaning), a failed operation, or a pass."""
    p = ctx.platform()
    gpu_count = int(r.get("gpu_count") or 0)
    if r.get("cpu_only_build"):
        return failed(
            f"{desc} cannot use the GPU: it is a CPU-only build", evidence, _reinstall(name, p, ctx)
        )
    explained = _cuda_error(r, evidence)
    if name == "numba" and not r.get("numba_cuda") and gpu_count == 0 and explained is None:
        return failed(
            f"{desc} sees no GPU; numba-cuda (the maintained CUDA target) is not installed",
            evidence,
            _reinstall(name, p, ctx),
        )
    missing = r.get("missing_libs") or []
    if explained is not None and not missing and (gpu_count == 0 or r.get("op_ok") is False):
        what = "sees no GPU" if gpu_count == 0 else f"sees {gpu_count} GPU(s) but a tiny operation failed"
        return failed(f"{desc} {what}: {explained.describe()}", evidence, Fix(explained.fix + ".", ()))
    if gpu_count == 0:
        why = f"cannot load {', '.join(missing)}" if missing else r.get("gpu_error") or "no GPU device listed"
        return failed(f"{desc} sees no GPU: {why}", evidence, _reinstall(name, p, ctx))
    if r.get("op_ok") is False:
        return failed(
            f"{desc} sees {gpu_count} GPU(s) but a tiny operation on it failed: {r.get('op_error')}",
            evidence,
            _reinstall(name, p, ctx),
        )
    op = "; a 64x64 operation ran on it" if r.get("op_ok") else ""
    return passed(f"{desc} sees {gpu_count} GPU(s){op}", *evidence)


def _cuda_error(r: dict[str, Any], evidence: list[Evidence]) -> cuda_errors.CudaError | None:
    """A CUDA error code in the probe's errors, with its meaning and layer as evidence."""
    text = " ".join(str(r.get(k) or "") for k in ("gpu_error", "op_error", "runtime_error", "log_error"))
    explained = cuda_errors.explain(text)
    if explained is not None:
        label = explained.name if explained.code is None else f"CUDA error {explained.code}"
        evidence.append(ev(label, f"{explained.name}: {explained.text} ({explained.layer})"))
    return explained


def _make(name: str) -> FunctionCheck:
    def run(ctx: Context) -> Outcome:
        return _evaluate(name, ctx)

    return check(f"framework.{name}", f"{TITLES[name]} uses the GPU", after=AFTER, framework=True)(run)


FRAMEWORK_CHECKS = tuple(_make(n) for n in ("tensorflow", "cupy", "numba", "torch", "jax"))
