"""CUDA checks: cuda.toolkit, cuda.driver-compat, cuda.arch, cudnn.install (docs/design.md F3, F4, F8, F9)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gputk.compat import cuda as cuda_compat
from gputk.compat import frameworks as fw_compat
from gputk.compat.version import Version, release_of
from gputk.doctor import checks_compat, fixes
from gputk.doctor.base import Outcome, check, ev, failed, passed, skipped, warned
from gputk.doctor.context import Context, GpuView
from gputk.models.cuda import Toolkit
from gputk.models.doctor import Evidence, Fix
from gputk.probes.frameworks import FRAMEWORKS


def toolkit_in_use(ctx: Context) -> Toolkit | None:
    """The toolkit of the nvcc on PATH, else the one CUDA_HOME names, else the newest."""
    tks = ctx.toolkits()
    if not tks:
        return None
    nvcc = ctx.nvcc()
    home = ctx.cuda_home()
    for root in (nvcc.toolkit_root, home.toolkit_root):
        hit = next((t for t in tks if root and t.root == root), None)
        if hit:
            return hit
    return tks[-1]


def _env_fix(release: str) -> Fix:
    return Fix(
        f"Put CUDA {release} first on PATH (and set CUDA_HOME) in your shell.",
        (f'eval "$(gputk env --cuda {release})"', f"gputk env --cuda {release} >> ~/.bashrc"),
    )


@check("cuda.toolkit", "CUDA toolkits and the nvcc on PATH")
def cuda_toolkit(ctx: Context) -> Outcome:
    tks = ctx.toolkits()
    nvcc = ctx.nvcc()
    home = ctx.cuda_home()
    evidence: list[Evidence] = [ev(t.root, f"CUDA {t.version or '?'} ({t.kind}; {t.evidence})") for t in tks]
    evidence.append(
        ev(
            "command -v nvcc",
            f"{nvcc.path} -> {nvcc.version or '?'} ({nvcc.evidence})" if nvcc.path else "not found",
        )
    )
    if home.variable:
        evidence.append(ev(f"${home.variable}", f"{home.path} ({'exists' if home.exists else 'missing'})"))
    if not tks and nvcc.status == "not-found":
        return skipped(
            "no CUDA toolkit installed (not needed for pip-installed frameworks; "
            "`gputk env --cuda X.Y` sets one up)",
            *evidence,
        )
    listing = ", ".join(f"{t.version or '?'} ({t.root})" for t in tks)
    newest = tks[-1] if tks else None
    if nvcc.status == "not-found" and newest is not None:
        return warned(f"CUDA {listing} installed but nvcc is not on PATH", evidence, _env_fix(newest.release))
    active = toolkit_in_use(ctx)
    if (
        newest is not None
        and nvcc.version
        and newest.kind != "distro"
        and active is not None
        and active.kind == "distro"
        and (newest.parsed or Version((0,))) > (Version.parse(nvcc.version) or Version((0,)))
    ):
        return warned(
            f"the distro's nvcc {nvcc.version} ({nvcc.path}) shadows CUDA {newest.version} in {newest.root}",
            evidence,
            Fix(
                f"Put {newest.root}/bin first on PATH, or remove the distro toolkit "
                "(nvidia-smi's 'CUDA Version' is the driver's maximum, not an installed toolkit).",
                (*_env_fix(newest.release).commands, "sudo apt-get remove nvidia-cuda-toolkit  # optional"),
            ),
        )
    if home.variable and (
        not home.exists
        or (home.toolkit_root and nvcc.toolkit_root and home.toolkit_root != nvcc.toolkit_root)
    ):
        what = (
            "does not exist" if not home.exists else f"is another toolkit than the nvcc on PATH ({nvcc.path})"
        )
        return warned(
            f"${home.variable}={home.path} {what}",
            evidence,
            _env_fix(release_of(nvcc.version) or (newest.release if newest else "X.Y")),
        )
    where = f" in {active.root}" if active is not None else ""
    summary = f"CUDA {nvcc.version or '?'}{where}; nvcc on PATH: {nvcc.path}"
    others = [t for t in tks if t.root != (active.root if active else None)]
    if others:
        summary += "; also installed: " + ", ".join(f"{t.version} ({t.root})" for t in others)
    return passed(summary, *evidence)


def _cuda_in_use(ctx: Context) -> list[tuple[str, str, str]]:
    """(what, CUDA version, evidence) for the toolkit, framework builds and pip runtime wheels."""
    items: list[tuple[str, str, str]] = []
    nvcc = ctx.nvcc()
    tk = toolkit_in_use(ctx)
    if nvcc.version:
        items.append(("toolkit", nvcc.version, f"nvcc {nvcc.path}"))
    elif tk is not None and tk.version:
        items.append(("toolkit", tk.version, tk.evidence))
    if ctx.frameworks_enabled:
        for name in FRAMEWORKS:
            r = ctx.framework(name)
            if r.get("status") == "ok" and r.get("cuda_build"):
                items.append((name, str(r["cuda_build"]), f"{name} {r.get('version')} build"))
    majors = sorted({w.cuda_major for w in ctx.pip_wheels() if w.cuda_major})
    for m in majors:
        if not any((pv := Version.parse(v)) is not None and pv.major == m for _, v, _ in items):
            items.append((f"pip nvidia-*-cu{m} wheels", f"{m}.0", "site-packages/nvidia"))
    return items


def _driver_too_old(
    ctx: Context, drv: str | None, dcuda: str | None, too_old: list[tuple[str, str]], evidence: list[Evidence]
) -> Outcome:
    """The driver is older than a toolkit or framework build needs: upgrade it, unless no driver
    for this GPU can be new enough (then: the builds that still run here)."""
    p = ctx.platform()
    newest = max((v for _, v in too_old), key=lambda v: Version.parse(v) or Version((0,)))
    need = cuda_compat.min_driver(newest, windows=p.wsl) or cuda_compat.min_driver(newest) or "a newer driver"
    names = ", ".join(f"{w} (CUDA {release_of(v)})" for w, v in too_old)
    stuck = checks_compat.no_driver_for(ctx, need)
    if stuck:  # never advise a driver upgrade that no driver for this GPU satisfies
        g, lim = stuck[0]
        summary = f"driver {drv} (CUDA {dcuda}) is too old for {names}, and no newer driver supports {g.name}"
        text = (
            f"{g.name} ({lim.generation.name}) cannot have a driver >= {need}: its last branch is "
            f"{lim.last_branch}. Install builds the driver runs: "
            + (
                ", ".join(checks_compat.pins_text(ctx))
                or f"builds for CUDA <= {dcuda} whose arch list has sm_{(g.cc or '').replace('.', '')} "
                "(none in gputk's tables)"
            )
            + "."
        )
        frameworks = tuple(w for w, _ in too_old if w in ("torch", "tensorflow", "jax", "cupy", "numba"))
        return failed(summary, evidence, Fix(text, checks_compat.pin_commands(p, ctx, frameworks)))
    commands = fixes.install_driver(p)
    text = (
        f"Upgrade the driver to >= {need}, or install builds for CUDA {dcuda or 'the driver supports'}."
    )
    if any(w == "torch" for w, _ in too_old):
        wheel = fw_compat.pick_torch_wheel(dcuda, None)
        if wheel:
            commands += (fixes.pip_install(p, "torch", reinstall=True, index_url=wheel.index_url),)
    return failed(f"driver {drv} (CUDA {dcuda}) is too old for {names}", evidence, Fix(text, commands))


@check(
    "cuda.driver-compat",
    "CUDA versions in use vs the driver",
    depends_on=("driver.nvml",),
    after=("cuda.toolkit",),
)
def driver_compat(ctx: Context) -> Outcome:
    drv, drv_src = ctx.driver_version()
    dcuda, dcuda_src = ctx.driver_cuda()
    if not drv and not dcuda:
        return skipped("driver version unknown (no NVML, nvidia-smi or /proc answer)")
    evidence = [
        ev(drv_src or "driver", f"driver {drv or '?'}"),
        ev(dcuda_src or "driver CUDA", f"supports CUDA {dcuda or '?'}"),
    ]
    items = _cuda_in_use(ctx)
    if not items:
        return passed(
            f"driver {drv} supports CUDA {dcuda}; no toolkit or framework build to compare", *evidence
        )
    p = ctx.platform()
    too_old: list[tuple[str, str]] = []
    mvc: list[tuple[str, str]] = []
    ok: list[tuple[str, str]] = []
    for what, version, src in items:
        c = cuda_compat.runtime_vs_driver(version, drv, dcuda)
        evidence.append(ev(src, f"{what}: CUDA {release_of(version) or version} -> {c.kind}: {c.reason}"))
        (too_old if c.kind == "too-old" else mvc if c.kind == "mvc" else ok).append((what, version))
    if too_old:
        return _driver_too_old(ctx, drv, dcuda, too_old, evidence)
    tk_mvc = [v for w, v in mvc if w == "toolkit"]
    if tk_mvc:
        return warned(
            f"CUDA toolkit {release_of(tk_mvc[0])} is newer than the driver's CUDA {dcuda}: programs run by "
            "minor-version compatibility, but PTX JIT of code built here fails "
            "('the provided PTX was compiled with an unsupported toolchain')",
            evidence,
            Fix(
                f"Upgrade the driver to >= {cuda_compat.min_driver(tk_mvc[0]) or 'the toolkit’s minimum'}, or build with "
                f"CUDA <= {dcuda} / ship SASS for your GPU (-arch=sm_XY).",
                fixes.install_driver(p),
            ),
        )
    listed = ", ".join(f"{w} {release_of(v)}" for w, v in ok + mvc)
    return passed(f"driver {drv} (CUDA {dcuda}) runs {listed}", *evidence)


@check(
    "cuda.arch",
    "GPU architecture vs toolkit and framework builds",
    depends_on=("hardware.gpu",),
    after=("driver.nvml", "cuda.toolkit"),
)
def cuda_arch(ctx: Context) -> Outcome:
    gpus = [g for g in ctx.gpus() if g.cc]
    if not gpus:
        return skipped("compute capability of the GPU unknown")
    found = _ArchFindings([ev(f"GPU {g.index} ({g.source})", f"{g.name}: compute capability {g.cc}") for g in gpus])
    tk = toolkit_in_use(ctx)
    for g in gpus:
        _arch_of_toolkit(found, g, tk)
        if ctx.frameworks_enabled:
            _arch_of_frameworks(ctx, found, g)
            _arch_of_numba(ctx, found, g, tk)
    if found.problems:
        return failed(
            "; ".join(found.problems),
            found.evidence,
            Fix(" ".join(dict.fromkeys(found.fix_text)), tuple(dict.fromkeys(found.fix_cmds))),
        )
    names = ", ".join(f"{g.name} (sm_{_sm(g)})" for g in gpus)
    return passed(f"{names}: supported by the toolkit and framework builds found", *found.evidence)


@dataclass
class _ArchFindings:
    evidence: list[Evidence]
    problems: list[str] = field(default_factory=list)
    fix_text: list[str] = field(default_factory=list)
    fix_cmds: list[str] = field(default_factory=list)


def _sm(g: GpuView) -> str:
    return (g.cc or "").replace(".", "")


def _arch_of_toolkit(found: _ArchFindings, g: GpuView, tk: Toolkit | None) -> None:
    if tk is None or not tk.version or g.cc is None:
        return
    ok = cuda_compat.can_target(g.cc, tk.version)
    found.evidence.append(ev(tk.root, f"CUDA {tk.release} targets sm_{_sm(g)}: {ok}"))
    if ok is False:
        found.problems.append(f"CUDA {tk.release} cannot compile for {g.name} (sm_{_sm(g)})")
        newest = cuda_compat.newest_cuda_for(g.cc)
        bound = f"<= {newest}" if newest else f">= {cuda_compat.first_cuda_for(g.cc)}"
        found.fix_text.append(f"Use a toolkit that targets this GPU (CUDA {bound}).")


def _arch_of_frameworks(ctx: Context, found: _ArchFindings, g: GpuView) -> None:
    """PyTorch and TensorFlow report the SASS/PTX targets they were built with."""
    p = ctx.platform()
    for name in ("torch", "tensorflow"):
        r = ctx.framework(name)
        archs = [str(a) for a in r.get("arch_list") or []]
        if r.get("status") != "ok" or not archs or g.cc is None:
            continue
        found.evidence.append(ev(f"{name} {r.get('version')}", f"arch list {' '.join(archs)}"))
        if fw_compat.arch_covers(g.cc, archs) is not False:
            continue
        found.problems.append(
            f"{name} {r.get('version')} has no kernels for {g.name} (sm_{_sm(g)}; built for {' '.join(archs)})"
        )
        if name == "torch":
            pin = fw_compat.pin_for("torch", g.cc, ctx.driver_version()[0], ctx.driver_cuda()[0])
            if pin:
                found.fix_cmds.append(fixes.pip_install(p, pin.requirement, reinstall=True, index_url=pin.index_url))
            found.fix_text.append(
                "Install a PyTorch build whose arch list covers the GPU "
                "('no kernel image is available for execution on the device')."
            )
        else:
            found.fix_cmds.append(fixes.pip_install(p, "tensorflow[and-cuda]", reinstall=True))
            found.fix_text.append("Install a TensorFlow release built for this GPU.")


def _arch_of_numba(ctx: Context, found: _ArchFindings, g: GpuView, tk: Toolkit | None) -> None:
    """numba-cuda's CUDA flavour supports a range of compute capabilities."""
    r = ctx.framework("numba")
    if r.get("status") != "ok" or not r.get("numba_cuda"):
        return
    major = tk.major if tk else None
    rng = fw_compat.table("numba_cuda")["flavours"].get(str(major))
    cc_v = Version.parse(g.cc)
    if rng and cc_v and not (Version.of(rng["cc_min"]) <= cc_v <= Version.of(rng["cc_max"])):
        found.problems.append(f"numba-cuda with CUDA {major} supports CC {rng['cc_min']}-{rng['cc_max']}, not {g.cc}")
        fit = fw_compat.cuda_flavour(ctx.driver_version()[0], g.cc)
        found.fix_cmds.append(fixes.pip_install(ctx.platform(), fw_compat.install_spec("numba", fit)))
        found.fix_text.append(f"numba-cuda's CUDA {fit} flavour supports this GPU.")


@check("cudnn.install", "cuDNN installs and their CUDA major", after=("cuda.toolkit",))
def cudnn_install(ctx: Context) -> Outcome:
    installs = ctx.cudnn()
    if not installs:
        return skipped("no cuDNN found (pip frameworks bring their own: nvidia-cudnn-cu12)")
    evidence = [
        ev(
            i.evidence or i.location,
            f"cuDNN {i.version or '?'} ({i.source}"
            + (f", for CUDA {i.cuda_major})" if i.cuda_major else ")"),
        )
        for i in installs
    ]
    tk = toolkit_in_use(ctx)
    tk_major = tk.major if tk else None
    mismatched = [
        i
        for i in installs
        if tk_major
        and i.cuda_major
        and i.cuda_major != tk_major
        and i.source in ("toolkit", "distro", "ld-path")
    ]
    listing = ", ".join(
        f"{i.version or 'lib ' + ' '.join(i.sonames)} ({i.source} {i.location})" for i in installs
    )
    if mismatched:
        i = mismatched[0]
        return warned(
            f"cuDNN {i.version} in {i.location} is built for CUDA {i.cuda_major}, but the toolkit in use is "
            f"CUDA {tk.release if tk else '?'}",
            evidence,
            Fix(
                f"Install the cuDNN build for CUDA {tk_major}.",
                (f"sudo apt-get install -y cudnn9-cuda-{tk_major}",)
                if ctx.platform().package_manager == "apt"
                else (fixes.pip_install(ctx.platform(), f"nvidia-cudnn-cu{tk_major}"),),
            ),
        )
    majors = sorted({i.major for i in installs if i.major})
    if len(majors) > 1:
        return warned(
            f"several cuDNN majors installed: {listing}",
            evidence,
            Fix(
                "Make sure each framework loads the cuDNN it was built for (see env.path for LD_LIBRARY_PATH).",
                (),
            ),
        )
    return passed(f"cuDNN {listing}", *evidence)
