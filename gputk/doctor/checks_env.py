"""Environment checks: env.path (PATH, LD_LIBRARY_PATH, F6 shadowing) and
env.cuda-visible-devices (F12)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from gputk.doctor.base import Outcome, check, ev, failed, passed, warned
from gputk.doctor.context import Context
from gputk.models.doctor import Evidence, Fix
from gputk.parsers.nvidia_smi_list import parse_nvidia_smi_list
from gputk.probes.nvidia_smi import SMI_LIST_ARGV, SMI_TIMEOUT_S

_CUDAISH = re.compile(r"cuda|nvidia|cudnn|tensorrt", re.I)
# libnvJitLink.so.12.1.105 -> 12.1 ; libcusparse.so.12.0.0.76 carries the library's own version,
# so the CUDA release is read from the folder (/usr/local/cuda-12.1/lib64) when it says.
_FULL_SONAME = re.compile(r"^(lib[\w+-]+\.so\.\d+)\.(\d+)\.(\d+)")
_DIR_RELEASE = re.compile(r"cuda-(\d+\.\d+)")
_DIST_VERSION = re.compile(r"-(\d+)\.(\d+)[\d.]*\.dist-info$")


def _wheel_release(ctx: Context, site: str, component: str) -> str | None:
    """``nvidia_nvjitlink_cu12-12.4.127.dist-info`` -> ``"12.4"`` (the wheel's CUDA release)."""
    for dist in ctx.host.glob(f"{site}/nvidia_{component}_cu*.dist-info"):
        m = _DIST_VERSION.search(dist)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    return None


def _dir_release(ctx: Context, d: str, soname: str) -> str | None:
    m = _DIR_RELEASE.search(ctx.host.realpath(d))
    if m:
        return m.group(1)
    if soname.startswith("libnvJitLink") or soname.startswith("libcudart") or soname.startswith("libnvrtc"):
        for path in ctx.host.glob(f"{d}/{soname}.*"):
            fm = _FULL_SONAME.match(posixpath.basename(path))
            if fm:
                return f"{soname.rsplit('.', 1)[-1]}.{fm.group(2)}"
    return None


@dataclass(frozen=True)
class _Shadow:
    """A directory on LD_LIBRARY_PATH holding a library a pip CUDA wheel also provides."""

    dir: str
    soname: str
    dir_release: str | None
    wheel_release: str | None
    component: str


def _shadows(ctx: Context, ld: list[str]) -> list[_Shadow]:
    wheels = ctx.pip_wheels()
    wheel_dirs = {ctx.host.realpath(w.lib_dir) for w in wheels}
    out: list[_Shadow] = []
    for d in ld:
        if ctx.host.realpath(d) in wheel_dirs or not ctx.host.is_dir(d):
            continue
        for w in wheels:
            if w.component == "cudnn":  # env.cudnn-skew compares cuDNN versions
                continue
            for soname in w.sonames:
                if ctx.host.exists(f"{d}/{soname}"):
                    out.append(
                        _Shadow(
                            d,
                            soname,
                            _dir_release(ctx, d, soname),
                            _wheel_release(ctx, w.site_packages, w.component),
                            w.component,
                        )
                    )
    return out


def _ld_fix_commands(ctx: Context, ld: list[str], shadows: list[_Shadow]) -> tuple[str, ...]:
    clean_ld = ":".join(d for d in ld if d not in {s.dir for s in shadows})
    commands: tuple[str, ...] = (
        f'export LD_LIBRARY_PATH="{clean_ld}"' if clean_ld else "unset LD_LIBRARY_PATH",
    )
    if ctx.platform().env_kind == "conda":
        commands += ("grep -rl LD_LIBRARY_PATH $CONDA_PREFIX/etc/conda/activate.d  # remove it there too",)
    return commands


def _shadow_outcome(ctx: Context, ld: list[str], evidence: list[Evidence]) -> Outcome | None:
    shadows = _shadows(ctx, ld)
    if not shadows:
        return None
    fix_commands = _ld_fix_commands(ctx, ld, shadows)
    conflicting = [
        s for s in shadows if s.dir_release and s.wheel_release and s.dir_release != s.wheel_release
    ]
    if conflicting:
        c = conflicting[0]
        for s in conflicting:
            evidence.append(
                ev(
                    f"{s.dir}/{s.soname}",
                    f"CUDA {s.dir_release} copy, loaded before the pip wheel's {s.wheel_release} ({s.component})",
                )
            )
        return failed(
            f"LD_LIBRARY_PATH puts {c.dir} ({c.soname}, CUDA {c.dir_release}) ahead of the pip wheel "
            f"nvidia-{c.component} (CUDA {c.wheel_release}): "
            "frameworks load the wrong copy ('undefined symbol ... libnvJitLink.so.12', cuDNN version mismatch)",
            evidence,
            Fix(
                "Drop the system CUDA directories from LD_LIBRARY_PATH when frameworks use pip nvidia-* wheels.",
                fix_commands,
            ),
        )
    for s in shadows:
        evidence.append(ev(f"{s.dir}/{s.soname}", f"also provided by the pip wheel nvidia-{s.component}"))
    return warned(
        f"LD_LIBRARY_PATH directory {shadows[0].dir} holds {shadows[0].soname}, which pip wheels also provide; "
        "the system copy wins",
        evidence,
        Fix("Keep one source of CUDA libraries: drop the directory from LD_LIBRARY_PATH.", fix_commands),
    )


@check("env.path", "PATH and LD_LIBRARY_PATH", after=("cuda.toolkit",))
def env_path(ctx: Context) -> Outcome:
    env = ctx.host.env
    path = [d for d in env.get("PATH", "").split(":") if d]
    ld = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    evidence: list[Evidence] = [ev("$LD_LIBRARY_PATH", ":".join(ld) or "unset")]
    shadowed = _shadow_outcome(ctx, ld, evidence)
    if shadowed is not None:
        return shadowed
    # /usr/local/nvidia/{bin,lib,lib64}: where container runtimes mount the host driver; the
    # nvidia/cuda images name them whether or not anything is mounted there.
    missing = [
        d
        for d in path + ld
        if _CUDAISH.search(d)
        and not d.startswith("/usr/local/nvidia/")
        and not ctx.host.is_dir(d)
        # a runtime-only CUDA tree (no bin/ with tools) is an install, not a stale entry
        and not (
            posixpath.basename(d.rstrip("/")) == "bin" and ctx.host.is_dir(posixpath.dirname(d.rstrip("/")))
        )
    ]
    if missing:
        for d in missing:
            evidence.append(ev(d, "does not exist"))
        return warned(
            f"PATH/LD_LIBRARY_PATH name CUDA directories that do not exist: {', '.join(missing)}",
            evidence,
            Fix(
                "Remove them from your shell start-up files (~/.bashrc).",
                ("grep -n 'cuda' ~/.bashrc ~/.profile",),
            ),
        )
    return passed(
        "no missing CUDA directories; nothing shadows the pip CUDA wheels"
        if ctx.pip_wheels()
        else "no missing CUDA directories on PATH or LD_LIBRARY_PATH",
        *evidence,
    )


def parse_visible_devices(value: str) -> list[str]:
    """CUDA_VISIBLE_DEVICES as CUDA reads it: comma-separated, stops at the first invalid entry.

    ``"0,1"`` -> ``["0", "1"]``; ``"-1"`` / ``""`` / ``"NoDevFiles"`` -> ``[]``;
    ``"GPU-8f6c,1"`` -> ``["GPU-8f6c", "1"]`` (UUID prefixes and MIG- ids kept).
    """
    out: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if re.fullmatch(r"\d+", item) or item.startswith(("GPU-", "MIG-")):
            out.append(item)
            continue
        break
    return out


@dataclass(frozen=True)
class _Devices:
    """What CUDA_VISIBLE_DEVICES may name here."""

    n: int
    uuids: tuple[str, ...]
    mig_uuids: tuple[str, ...]
    mig_enabled: tuple[int, ...]  # indices of GPUs in MIG mode
    mig_by_gpu: dict[int, int]  # index -> MIG devices created


def _devices(ctx: Context, want_mig: bool) -> _Devices:
    gpus = ctx.gpus()
    merged = [m.record for m in ctx.merged() if m.record.index is not None]
    migs: dict[int, list[str]] = {
        r.index: [d.uuid for d in r.mig_devices if d.uuid] for r in merged if r.index is not None
    }
    enabled = tuple(r.index for r in merged if r.mig_mode and r.index is not None)
    if want_mig and not any(migs.values()):
        res = ctx.host.run(SMI_LIST_ARGV, timeout=SMI_TIMEOUT_S)
        if res.ok:
            listed = parse_nvidia_smi_list(res.stdout)
            for i, g in enumerate(listed.gpus):
                idx = g.index if g.index is not None else i
                migs[idx] = [d.uuid for d in g.mig_devices if d.uuid]
            enabled = enabled or tuple(i for i, uu in migs.items() if uu)
    return _Devices(
        len(gpus),
        tuple(g.uuid for g in gpus if g.uuid),
        tuple(u for uu in migs.values() for u in uu),
        enabled,
        {i: len(uu) for i, uu in migs.items()},
    )


def _bad_item(item: str, d: _Devices) -> str | None:
    """Why CUDA cannot find ``item``; None when it can."""
    if item.isdigit():
        if d.n and int(item) >= d.n:
            return f"index {item} is out of range ({d.n} GPU(s): indices 0-{d.n - 1})"
        if int(item) in d.mig_enabled and not d.mig_by_gpu.get(int(item)):
            return f"GPU {item} is in MIG mode with no MIG devices created: CUDA sees nothing on it"
        return None
    if item.startswith("GPU-"):
        if d.uuids and not any(u.startswith(item) for u in d.uuids):
            return f"no GPU has UUID {item}"
        return None
    if item.startswith("MIG-GPU-"):  # the R450-R460 form MIG-GPU-<uuid>/<gi>/<ci>
        parent = item[4:].split("/", 1)[0]
        if d.uuids and not any(u.startswith(parent) for u in d.uuids):
            return f"no GPU has UUID {parent} (named by {item})"
        return None
    if (
        item.startswith("MIG-")
        and (d.mig_uuids or d.uuids)
        and not any(u.startswith(item) for u in d.mig_uuids)
    ):
        return f"no MIG device has UUID {item}" + ("" if d.mig_uuids else " (no MIG devices exist here)")
    return None


def _visible_outcome(value: str, ctx: Context, evidence: list[Evidence], fix: Fix) -> Outcome | None:
    items = parse_visible_devices(value)
    if not items:
        return failed(
            f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU "
            "('CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected')",
            evidence,
            fix,
        )
    d = _devices(ctx, any(i.startswith("MIG-") for i in items))
    bad = [(i, why) for i in items if (why := _bad_item(i, d)) is not None]
    if bad:
        evidence += [ev("$CUDA_VISIBLE_DEVICES " + i, why) for i, why in bad]
        names = ", ".join(i for i, _ in bad)
        usable = [why for _, why in bad if "MIG mode" in why]
        what = (
            f"which CUDA cannot use: {usable[0]}"
            if usable
            else "which does not exist"
            + (
                f" ({d.n} GPU(s): indices 0-{d.n - 1})"
                if any(i.isdigit() for i, _ in bad)
                else f": {bad[0][1]}"
            )
        )
        return failed(f"CUDA_VISIBLE_DEVICES={value!r} names {names}, {what}", evidence, fix)
    if len(items) < len(value.split(",")):
        return warned(
            f"CUDA_VISIBLE_DEVICES={value!r}: CUDA stops reading at the first invalid entry; "
            f"only {','.join(items)} are visible",
            evidence,
            fix,
        )
    if sum(1 for i in items if i.startswith("MIG-")) > 1:
        return warned(
            f"CUDA_VISIBLE_DEVICES={value!r} names several MIG devices; a CUDA process uses only the first one",
            evidence,
            Fix("Start one process per MIG device, each with one MIG UUID.", ("nvidia-smi -L",)),
        )
    return None


def _nvidia_visible(ctx: Context, evidence: list[Evidence]) -> Outcome | None:
    """Inside a container, NVIDIA_VISIBLE_DEVICES naming UUIDs this container does not have."""
    nvd = ctx.host.env.get("NVIDIA_VISIBLE_DEVICES")
    if not nvd or not ctx.platform().container or nvd in ("all", "none", "void"):
        return None
    named = [i.strip() for i in nvd.split(",") if i.strip().startswith(("GPU-", "MIG-"))]
    d = _devices(ctx, any(i.startswith("MIG-") for i in named))
    missing = [i for i in named if _bad_item(i, d)]
    if not missing:
        return None
    evidence.append(ev("$NVIDIA_VISIBLE_DEVICES", nvd))
    return failed(
        f"NVIDIA_VISIBLE_DEVICES names {', '.join(missing)}, which this container does not have: the runtime "
        "passed other devices (or the host has no such GPU)",
        evidence,
        Fix(
            "List the host's GPU and MIG UUIDs and start the container with existing ones.",
            ("nvidia-smi -L  # on the host",),
        ),
    )


@check(
    "env.cuda-visible-devices",
    "CUDA_VISIBLE_DEVICES and device order",
    depends_on=("hardware.gpu",),
    after=("driver.nvml",),
)
def cuda_visible_devices(ctx: Context) -> Outcome:
    env = ctx.host.env
    gpus = ctx.gpus()
    n = len(gpus)
    value = env.get("CUDA_VISIBLE_DEVICES")
    order = env.get("CUDA_DEVICE_ORDER")
    evidence = [
        ev("$CUDA_VISIBLE_DEVICES", "unset" if value is None else repr(value)),
        ev("$CUDA_DEVICE_ORDER", order or "unset"),
        ev("GPUs found", str(n)),
    ]
    unset_fix = Fix(
        "Unset it (or list valid indices/UUIDs) where it is exported.",
        ("unset CUDA_VISIBLE_DEVICES", "grep -rn CUDA_VISIBLE_DEVICES ~/.bashrc ~/.profile"),
    )
    outcome = (
        _visible_outcome(value, ctx, evidence, unset_fix) if value is not None else None
    ) or _nvidia_visible(ctx, evidence)
    if outcome is not None:
        return outcome
    names = {g.name for g in gpus if not g.lost}  # a lost GPU shows another source's name
    if len(names) > 1 and order != "PCI_BUS_ID":
        return warned(
            "GPUs of different models: CUDA numbers them fastest-first, nvidia-smi by PCI bus; "
            "'cuda:0' may not be nvidia-smi's GPU 0",
            evidence,
            Fix("Make CUDA number GPUs like nvidia-smi.", ("export CUDA_DEVICE_ORDER=PCI_BUS_ID",)),
        )
    if value is None:
        return passed(f"not set: all {n} GPU(s) visible", *evidence)
    return passed(f"CUDA_VISIBLE_DEVICES={value} selects existing GPU(s)", *evidence)
