"""Checks that compare the machine with gputk's compatibility data (:mod:`gputk.compat`).

- ``driver.gpu-support``: the driver that can exist for each GPU (Kepler's last branch
  is 470; Maxwell, Pascal and Volta stay on the 580 legacy branch; Blackwell needs a
  driver new enough for its CUDA release); a driver past a GPU's last branch fails.
- ``driver.module-flavour``: the open kernel module cannot drive pre-Turing GPUs (no
  GSP); Blackwell GPUs need it. Read from ``/proc/driver/nvidia/version`` ("Open
  Kernel Module") or ``modinfo nvidia``'s license line.
- :func:`build_fit`: an installed TensorFlow / PyTorch / JAX / CuPy / numba-cuda build
  against the GPU architecture, the driver and the cuDNN actually loaded, with the
  versions to pin when it does not fit.
"""

from __future__ import annotations

from typing import Any

from gputk.compat import cuda as cuda_compat
from gputk.compat import drivers as drv_compat
from gputk.compat import frameworks as fw_compat
from gputk.compat.version import Version
from gputk.doctor import fixes
from gputk.doctor.base import Outcome, check, ev, failed, passed, skipped
from gputk.doctor.context import Context, GpuView
from gputk.models.doctor import Evidence, Fix
from gputk.parsers.cudnn import decode_cudnn_version
from gputk.probes.platform import PlatformInfo

_DRIVER_AFTER = ("driver.kernel-module", "driver.nvml", "driver.nvidia-smi")


def _gpus_with_cc(ctx: Context) -> list[GpuView]:
    return [g for g in ctx.gpus() if g.cc]


def limited_gpus(ctx: Context) -> list[tuple[GpuView, drv_compat.DriverLimit]]:
    """GPUs whose driver support ended (a last branch), with that limit."""
    out = []
    for g in _gpus_with_cc(ctx):
        lim = drv_compat.driver_limit(g.cc)
        if lim is not None and lim.last_branch is not None:
            out.append((g, lim))
    return out


def no_driver_for(ctx: Context, need: object) -> list[tuple[GpuView, drv_compat.DriverLimit]]:
    """The GPUs for which no driver at or above ``need`` exists (their last branch is older)."""
    v = need.version if isinstance(need, cuda_compat.MinDriver) else Version.parse(str(need))
    return [(g, lim) for g, lim in limited_gpus(ctx) if v is not None and not lim.allows(v)]


def pins_text(
    ctx: Context, frameworks: tuple[str, ...] = ("torch", "tensorflow", "jax", "cupy")
) -> list[str]:
    """``torch==2.14.* (--index-url .../cu126)`` etc.: the newest builds that fit every GPU here."""
    gpus = _gpus_with_cc(ctx)
    cc = min((Version.of(g.cc) for g in gpus if g.cc), default=None)
    drv = ctx.driver_version()[0]
    dcuda = ctx.driver_cuda()[0]
    out = []
    for name in frameworks:
        pin = fw_compat.pin_for(name, cc, drv, dcuda)
        if pin is not None:
            out.append(pin.requirement + (f" --index-url {pin.index_url}" if pin.index_url else ""))
    return out


def pin_commands(p: PlatformInfo, ctx: Context, frameworks: tuple[str, ...]) -> tuple[str, ...]:
    gpus = _gpus_with_cc(ctx)
    cc = min((Version.of(g.cc) for g in gpus if g.cc), default=None)
    drv, dcuda = ctx.driver_version()[0], ctx.driver_cuda()[0]
    cmds = []
    for name in frameworks:
        pin = fw_compat.pin_for(name, cc, drv, dcuda)
        if pin is not None:
            cmds.append(fixes.pip_install(p, pin.requirement, index_url=pin.index_url))
    return tuple(cmds)


@check(
    "driver.gpu-support",
    "The driver branches each GPU can run",
    depends_on=("hardware.gpu",),
    after=_DRIVER_AFTER,
)
def gpu_support(ctx: Context) -> Outcome:
    gpus = _gpus_with_cc(ctx)
    if not gpus:
        return skipped("compute capability of the GPU unknown")
    drv, drv_src = ctx.driver_version()
    if drv is None:  # not loaded: the installed user-space driver says which branch is on disk
        found = drv_compat.find_driver_version(user_space=ctx.kernel().user_space_versions)
        drv, drv_src = (str(found), f"{found.source} (installed, not loaded)") if found else (None, "")
    evidence: list[Evidence] = [ev(drv_src or "driver", f"driver {drv or 'not installed'}")]
    problems: list[str] = []
    fix: Fix | None = None
    p = ctx.platform()
    for g in gpus:
        lim = drv_compat.driver_limit(g.cc)
        if lim is None:
            continue
        gen = lim.generation
        evidence.append(ev(f"GPU {g.index} ({g.source})", _limit_text(g, lim)))
        if drv and not lim.allows(drv):
            problems.append(
                f"driver {drv} does not support {g.name} ({gen.name}): its last driver branch is {lim.last_branch}"
            )
            fix = Fix(
                f"Install the {lim.last_branch} (legacy) branch driver; newer drivers will never support "
                f"{gen.name}. Keep CUDA <= {lim.newest_target_cuda or '?'} builds for it.",
                fixes.install_driver(p, str(lim.last_branch)),
            )
            continue
        first = cuda_compat.first_cuda_for(g.cc)
        need = cuda_compat.min_driver(first) if first else None
        if need is None or need.kind != "toolkit":
            continue
        if (
            drv and Version.of(drv) < need.version and g.source == "pci"
        ):  # NVML / nvidia-smi listing the GPU proves the driver drives it
            problems.append(
                f"{g.name} ({gen.name}, sm_{g.cc.replace('.', '') if g.cc else '?'}) needs CUDA >= {first} "
                f"and so driver >= {need.version}; driver {drv} is older"
            )
            fix = Fix(f"Upgrade the driver to >= {need.version}.", fixes.install_driver(p))
    branch = drv_compat.branch_info(drv) if drv else None
    if branch is not None:
        ended = " (past its end of life)" if drv_compat.branch_ended(drv, drv_compat.as_of()) else ""
        evidence.append(
            ev(
                "driver branches (gputk/compat/data/generations.json)",
                f"R{branch.branch}: {branch.designation}, end of life {branch.eol}{ended}",
            )
        )
    if problems:
        return failed("; ".join(problems), evidence, fix)
    names = ", ".join(f"{g.name} ({_gen_name(g)})" for g in gpus)
    if not drv:
        return passed(f"no driver installed; {names} can run the current branches unless noted", *evidence)
    return passed(f"driver {drv} supports {names}", *evidence)


def _gen_name(g: GpuView) -> str:
    lim = drv_compat.driver_limit(g.cc)
    return lim.generation.name if lim else "?"


def _limit_text(g: GpuView, lim: drv_compat.DriverLimit) -> str:
    gen = lim.generation
    text = f"{g.name}: compute capability {g.cc}, {gen.name}"
    if lim.last_branch is not None:
        text += (
            f"; last driver branch {lim.last_branch} (runs CUDA {lim.newest_driver_cuda}.x code); "
            f"newest toolkit that compiles for it: CUDA {lim.newest_target_cuda}"
        )
    if gen.open_module == "required":
        text += "; needs the open kernel module"
    elif gen.open_module == "unsupported":
        text += "; proprietary kernel module only"
    return text


def _module_flavour(ctx: Context) -> tuple[str | None, str]:
    """("open" | "proprietary" | None, where it was read)."""
    k = ctx.kernel()
    if k.driver is not None and k.driver.kernel_module in ("open", "proprietary"):
        return k.driver.kernel_module, "/proc/driver/nvidia/version"
    flavour = ctx.module_config().flavour  # the installed module, also when it refused to load
    if flavour in ("open", "proprietary"):
        return flavour, "modinfo nvidia (license:)"
    return None, ""


def _flavour_fix(p: PlatformInfo, want: str, branch: str | None) -> tuple[str, ...]:
    if p.package_manager == "apt" and p.distro_id == "ubuntu":
        pkg = f"nvidia-driver-{branch or '<branch>'}" + ("-open" if want == "open" else "")
        return ("sudo apt-get update", f"sudo apt-get install -y {pkg}", "sudo reboot")
    if p.package_manager == "dnf":
        stream = f"{branch or 'latest'}-{'open' if want == 'open' else 'dkms'}"
        return (f"sudo dnf module install -y nvidia-driver:{stream}", "sudo reboot")
    return (f"sudo sh NVIDIA-Linux-$(uname -m)-<version>.run --kernel-module-type={want} --dkms",)


@check(
    "driver.module-flavour",
    "Open or proprietary kernel module, as the GPU generation needs",
    depends_on=("hardware.gpu",),
    after=("driver.kernel-module",),
)
def module_flavour(ctx: Context) -> Outcome:
    flavour, src = _module_flavour(ctx)
    gpus = _gpus_with_cc(ctx)
    if flavour is None:
        return skipped("kernel module flavour unknown (no /proc/driver/nvidia/version, no modinfo nvidia)")
    if not gpus:
        return skipped("compute capability of the GPU unknown")
    evidence = [ev(src, f"{flavour} kernel module")]
    evidence += [ev(f"GPU {g.index} ({g.source})", f"{g.name}: {_gen_name(g)}") for g in gpus]
    wrong = [g for g in gpus if drv_compat.module_fits(g.cc, flavour) is False]
    if not wrong:
        return passed(
            f"the {flavour} kernel module drives {', '.join(_gen_name(g) for g in gpus)}", *evidence
        )
    drv = ctx.driver_version()[0] or ctx.module_config().version
    branch = str(Version.of(drv).major) if Version.parse(drv) else None
    state = "loaded" if src.startswith("/proc") else "installed"
    if flavour == "open":
        gens = ", ".join(sorted({_gen_name(g) for g in wrong}))
        newer = [g for g in gpus if drv_compat.module_fits(g.cc, "proprietary") is False]
        summary = (
            f"the open kernel module is {state}, but it cannot drive {wrong[0].name} ({gens}): "
            "open modules need the GPU System Processor, first in Turing"
        )
        if newer:
            summary += f"; {newer[0].name} needs the open module, so these GPUs cannot share one driver"
        lim = drv_compat.driver_limit(wrong[0].cc)
        keep = (
            str(lim.last_branch)
            if lim and lim.last_branch and branch and int(branch) > lim.last_branch
            else branch
        )
        return failed(
            summary,
            evidence,
            Fix(
                f"Install the proprietary flavour of the driver (branch {keep or 'yours'}).",
                _flavour_fix(ctx.platform(), "proprietary", keep),
            ),
        )
    summary = f"the proprietary kernel module is {state}, but {wrong[0].name} ({_gen_name(wrong[0])}) needs the open module"
    return failed(
        summary,
        evidence,
        Fix("Install the open flavour of the driver.", _flavour_fix(ctx.platform(), "open", branch)),
    )


# -- framework builds ---------------------------------------------------------------


def _cudnn_text(value: Any) -> str | None:
    if isinstance(value, int):
        return decode_cudnn_version(value)
    return str(value) if value else None


def build_fit(name: str, r: dict[str, Any], ctx: Context) -> Outcome | None:
    """A failure when an installed build cannot fit this GPU / driver / loaded cuDNN; else None.

    Adds the table's facts as evidence via the returned outcome only when something is wrong;
    the framework check reports the rest.
    """
    if name == "tensorflow":
        return _tensorflow_fit(r, ctx)
    if name in ("jax", "cupy", "numba"):
        return _cuda_build_fit(name, r, ctx)
    return None


def _tf_built_cudnn(r: dict[str, Any], row: fw_compat.TfBuild) -> str:
    """The cuDNN TensorFlow was built with: the probe's, or the tested table's when the probe
    names the major only ("9", as TensorFlow's build info often does)."""
    probed = Version.parse(r.get("cudnn_compiled")) or Version.parse(_cudnn_text(r.get("cudnn_build")))
    if probed and (len(probed.parts) > 1 or probed.major != row.cudnn.major):
        return str(probed)
    return str(row.cudnn)


def _tensorflow_fit(r: dict[str, Any], ctx: Context) -> Outcome | None:
    version = str(r.get("version") or "?")
    row = fw_compat.tf_build(version)
    if row is None:
        return None
    p = ctx.platform()
    evidence = [
        ev(
            "tested build (gputk/compat/data/frameworks.json)",
            f"TensorFlow {row.tf}: CUDA {row.cuda}, cuDNN {row.cudnn}"
            + (f", {' '.join(row.arch)}" if row.arch else ""),
        )
    ]
    problems: list[str] = []
    built_cudnn = _tf_built_cudnn(r, row)
    loaded = _cudnn_text(r.get("cudnn_loaded"))
    cudnn_fix = None
    if loaded and fw_compat.cudnn_fits(built_cudnn, loaded) is False:
        where = str(r.get("cudnn_loaded_path") or "")
        problems.append(
            f"TensorFlow {version} needs cuDNN {built_cudnn} (same major, >= minor) but loads "
            f"cuDNN {loaded}" + (f" from {where}" if where else "")
        )
        spec = f"nvidia-cudnn-cu{row.cuda.major}>={built_cudnn}"
        cudnn_fix = Fix(
            f"Make TensorFlow load cuDNN >= {built_cudnn} (major {Version.of(built_cudnn).major}): "
            + (f"take {where.rsplit('/', 1)[0]} off LD_LIBRARY_PATH, or " if where else "")
            + f"install {spec}.",
            (fixes.pip_install(p, spec),),
        )
    archs = [str(a) for a in r.get("arch_list") or []] or list(row.arch)
    for g in _gpus_with_cc(ctx):
        if fw_compat.arch_covers(g.cc, archs) is False:
            problems.append(
                f"TensorFlow {version} has no kernels for {g.name} (sm_{(g.cc or '').replace('.', '')}; "
                f"built for {' '.join(archs)})"
            )
    if not problems:
        return None
    fix = cudnn_fix if cudnn_fix and len(problems) == 1 else _pin_fix(ctx, p, "tensorflow", problems)
    return failed("; ".join(problems), evidence, fix)


def _cuda_build_fit(name: str, r: dict[str, Any], ctx: Context) -> Outcome | None:
    """JAX, CuPy and numba name the CUDA major they were built for: its GPUs and driver floor."""
    major = r.get("cuda_major_build")
    if not isinstance(major, int):
        return None
    version = str(r.get("version") or "?")
    problems: list[str] = []
    for g in _gpus_with_cc(ctx):
        if major >= 13 and cuda_compat.can_target(g.cc, f"{major}.0") is False:
            problems.append(
                f"{name} {version} is the CUDA {major} build; CUDA {major} has no code for "
                f"{g.name} ({_gen_name(g)})"
            )
    drv = ctx.driver_version()[0]
    floor = cuda_compat.mvc_floor(major)
    if drv and floor is not None and Version.of(drv) < floor:
        problems.append(f"{name} {version} is the CUDA {major} build; it needs driver >= {floor}, this is {drv}")
    if not problems:
        return None
    return failed("; ".join(problems), [], _pin_fix(ctx, ctx.platform(), name, problems))


def _pin_fix(ctx: Context, p: PlatformInfo, name: str, problems: list[str]) -> Fix:
    cmds = pin_commands(p, ctx, (name,))
    what = pins_text(ctx, (name,))
    text = (
        f"Install {what[0]}: the newest build that fits this GPU and driver."
        if what
        else ("No build in gputk's table fits this GPU; build from source for its architecture.")
    )
    return Fix(text, cmds)
