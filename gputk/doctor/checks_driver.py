"""Driver checks: driver.kernel-module, driver.nvml, driver.nvidia-smi (docs/design.md F1, F2)."""

from __future__ import annotations

from gputk.doctor import fixes
from gputk.doctor.base import Outcome, check, ev, failed, passed, skipped, warned
from gputk.doctor.context import Context
from gputk.models.doctor import Evidence, Fix
from gputk.probes.driver import PROC_VERSION, SYS_MODULE_VERSION, KernelDriverState

DRIVER_DEPS = ("hardware.gpu", "platform.container", "platform.wsl")


def _kernel_evidence(k: KernelDriverState) -> list[Evidence]:
    return [
        ev(PROC_VERSION, k.proc_version_line or "absent"),
        ev(SYS_MODULE_VERSION, k.sys_module_version or "absent"),
        ev("/dev/nvidia*", " ".join(k.dev_nodes) or "none"),
    ]


def _nouveau(ctx: Context, k: KernelDriverState, evidence: list[Evidence]) -> Outcome | None:
    nouveau_bound = [g.pci_bus_id or "?" for g in ctx.nvidia_pci() if g.kernel_driver == "nouveau"]
    if not (nouveau_bound or (k.nouveau_loaded and not k.loaded)):
        return None
    evidence.append(
        ev("/sys/bus/pci/devices/*/driver", f"nouveau bound to {', '.join(nouveau_bound) or 'the GPU'}")
    )
    stale = " (nouveau is blacklisted but still loaded: the initramfs was not rebuilt)"
    return failed(
        "the open-source nouveau driver owns the GPU, so the NVIDIA module cannot"
        + (stale if k.nouveau_blacklisted else ""),
        evidence,
        Fix("Blacklist nouveau, rebuild the initramfs and reboot.", fixes.blacklist_nouveau(ctx.platform())),
    )


def _loaded(ctx: Context, k: KernelDriverState, evidence: list[Evidence]) -> Outcome | None:
    p = ctx.platform()
    if not k.loaded:
        if p.container and k.dev_nodes:
            return passed("inside a container: the host's module serves /dev/nvidia*", *evidence)
        return None
    flavour = k.driver.kernel_module if k.driver else None
    kind = {"open": "open kernel module", "proprietary": "proprietary kernel module"}.get(flavour or "", "")
    summary = f"nvidia {k.loaded_version or '(version unread)'} loaded" + (f" ({kind})" if kind else "")
    if not k.dev_nodes and not p.container:
        return warned(
            summary + "; no /dev/nvidia* device nodes",
            evidence,
            Fix(
                "Create the device nodes (nvidia-modprobe does it on first use as root).",
                ("sudo nvidia-modprobe -u -c=0", "ls -l /dev/nvidia*"),
            ),
        )
    return passed(summary, *evidence)


def _installed_not_loaded(ctx: Context, k: KernelDriverState, evidence: list[Evidence]) -> Outcome | None:
    if not k.modules_running_kernel:
        return None
    p = ctx.platform()
    disabling = ctx.module_config().disabling("nvidia")
    if disabling:
        evidence += [ev(r.source, r.text) for r in disabling]
        files = sorted({r.source.rsplit(":", 1)[0] for r in disabling if r.source != "/proc/cmdline"})
        return failed(
            f"the nvidia module is installed for kernel {k.kernel_release} but configuration stops it loading "
            f"({disabling[0].text} in {disabling[0].source}); the GPU and driver are fine",
            evidence,
            Fix(
                "Remove the line that blacklists nvidia, rebuild the initramfs and reboot.",
                (
                    *(f"sudo sed -i '/nvidia/s/^/# /' {f}  # review it first" for f in files),
                    fixes.update_initramfs(p),
                    "sudo reboot",
                )
                if files
                else (
                    "sudo grubby --update-kernel=ALL --remove-args='modprobe.blacklist=nvidia'  # or edit GRUB_CMDLINE_LINUX",
                    "sudo reboot",
                ),
            ),
        )
    if p.secure_boot:
        evidence.append(ev("Secure Boot", p.secure_boot_source or "enabled"))
        return failed(
            "the nvidia module is installed but not loaded: Secure Boot is on and rejects the unsigned module "
            "('Key was rejected by service')",
            evidence,
            Fix(
                "Enroll the DKMS signing key (MOK) and reboot, or disable Secure Boot in the firmware.",
                fixes.enroll_mok(p),
            ),
        )
    return failed(
        f"the nvidia module is installed for kernel {k.kernel_release} but not loaded",
        evidence,
        Fix(
            "Load it and read the kernel log if it refuses.",
            ("sudo modprobe nvidia", "sudo dmesg | grep -i nvrm | tail"),
        ),
    )


def _not_for_this_kernel(ctx: Context, k: KernelDriverState, evidence: list[Evidence]) -> Outcome | None:
    p = ctx.platform()
    running = k.kernel_release
    version = k.user_space_versions[-1] if k.user_space_versions else None
    if k.modules_other_kernels:
        evidence.append(ev("/lib/modules/*", ", ".join(k.modules_other_kernels)))
        return failed(
            f"the nvidia module was built for another kernel, not the running {running} "
            "(kernel updated, DKMS did not rebuild it)",
            evidence,
            Fix(
                f"Build the module for kernel {running} (or boot the kernel it was built for).",
                fixes.rebuild_module(p, version),
            ),
        )
    if k.nvml_libs:
        evidence += [ev(lib.path, "driver user-space library") for lib in k.nvml_libs]
        return failed(
            f"driver libraries {version or ''} are installed but no nvidia kernel module exists for {running}",
            evidence,
            Fix("Build the module for the running kernel.", fixes.rebuild_module(p, version)),
        )
    return None


@check("driver.kernel-module", "NVIDIA kernel module loaded", depends_on=DRIVER_DEPS)
def kernel_module(ctx: Context) -> Outcome:
    """The first rule that recognises the state answers: nouveau, loaded, installed but not
    loaded, built for another kernel, and last "no driver at all"."""
    p = ctx.platform()
    k = ctx.kernel()
    if p.wsl2:
        return passed(
            "WSL2: no Linux kernel module; the Windows driver serves /dev/dxg", ev("/dev/dxg", "present")
        )
    evidence = _kernel_evidence(k)
    for rule in (_nouveau, _loaded):
        outcome = rule(ctx, k, evidence)
        if outcome is not None:
            return outcome
    evidence.append(
        ev(f"/lib/modules/{k.kernel_release}", ", ".join(k.modules_running_kernel) or "no nvidia.ko")
    )
    for rule in (_installed_not_loaded, _not_for_this_kernel):
        outcome = rule(ctx, k, evidence)
        if outcome is not None:
            return outcome
    return failed(
        "no NVIDIA driver is installed", evidence, Fix("Install the NVIDIA driver.", fixes.install_driver(p))
    )


def _mismatch(ctx: Context) -> tuple[str, str] | None:
    """(loaded module version, user-space version) when they differ."""
    k = ctx.kernel()
    loaded = k.loaded_version
    libs = k.user_space_versions
    nv = ctx.nvml()
    if nv.status == "ok":  # NVML initialised: whatever the file names say, the pair works
        return None
    if loaded and libs and loaded not in libs:
        return loaded, libs[-1]
    smi = ctx.smi()
    if nv.status == "driver-library-mismatch" or "driver-library-mismatch" in smi.problems:
        lib = (smi.driver.nvml_version if smi.driver else None) or (libs[-1] if libs else "?")
        return loaded or "?", lib
    return None


def _mismatch_outcome(ctx: Context) -> Outcome | None:
    mm = _mismatch(ctx)
    if mm is None:
        return None
    loaded, lib = mm
    k, p = ctx.kernel(), ctx.platform()
    evidence = [ev(SYS_MODULE_VERSION if k.sys_module_version else PROC_VERSION, f"loaded module {loaded}")]
    evidence += [ev(lib_.path, f"user-space library {lib_.version}") for lib_ in k.nvml_libs]
    evidence += [ev("/var/log/apt/history.log", line) for line in k.apt_history]
    if ctx.nvml().status == "driver-library-mismatch":
        evidence.append(ev("NVML nvmlInit", "Driver/library version mismatch"))
    commands = fixes.reload_modules()
    text = "Reboot so the module matches the libraries (or reload the nvidia modules)."
    if k.apt_history:
        text += " The upgrade came from the package manager; hold the driver packages to stop it recurring."
        commands += fixes.hold_driver_packages(p)
    return failed(
        f"Driver/library version mismatch: kernel module {loaded} is loaded but the libraries are {lib}",
        evidence,
        Fix(text, commands),
    )


def _nvml_ok(ctx: Context) -> Outcome:
    nv = ctx.nvml()
    drv = nv.driver
    n = nv.device_count if nv.device_count is not None else len(nv.gpus)
    lost = ctx.lost_gpus() if any(g.lost for g in nv.gpus) else []
    evidence = [
        ev(
            "NVML",
            f"driver {drv.version if drv else '?'}, CUDA {drv.cuda_driver_version if drv else '?'}, {n} device(s)",
        )
    ]
    if lost:
        evidence += [
            ev(f"kernel log: Xid {x.code}", x.line[:200]) for x in ctx.kernel_log().log.xids if x.code == 79
        ][:3]
        return failed(
            f"NVML answers but GPU {', '.join(lost)} is lost (fallen off the bus)",
            evidence,
            Fix(
                "The GPU stopped answering on PCIe: reboot (a reset rarely brings it back); if it recurs, check "
                "its power cables, cooling and seating. Reinstalling the driver does not help.",
                ("sudo dmesg | grep -iE 'xid|fallen off'", "sudo reboot"),
            ),
        )
    version = f"NVML {drv.nvml_version}" if drv and drv.nvml_version else "NVML"
    return passed(
        f"{version}: driver {drv.version if drv else '?'}, CUDA {drv.cuda_driver_version if drv else '?'}, {n} GPU(s)",
        *evidence,
    )


def _nvml_not_asked(ctx: Context) -> Outcome | None:
    """NVML itself was not asked (not captured, or no Python binding): nvidia-smi speaks for it."""
    nv = ctx.nvml()
    if not (nv.status == "not-captured" or (nv.detail and "nvidia-ml-py" in nv.detail)):
        return None
    smi = ctx.smi()
    why = (
        "not captured in the snapshot"
        if nv.status == "not-captured"
        else "the nvidia-ml-py binding is missing"
    )
    if smi.status == "ok":
        return passed(
            f"NVML {why}; nvidia-smi (same library) answered: {smi.detail}",
            ev("NVML", nv.detail or nv.status),
            ev("nvidia-smi -q -x", smi.detail),
        )
    if smi.status == "unavailable":
        return skipped(f"NVML {why} and nvidia-smi not available", ev("NVML", nv.detail or nv.status))
    return failed(
        f"NVML {why}; nvidia-smi failed: {smi.detail}",
        [ev("nvidia-smi -q -x", smi.detail)],
        _reinstall_or_log(
            ctx, "See the driver checks above; reinstalling the driver usually fixes a broken user space."
        ),
    )


def _reinstall_or_log(ctx: Context, text: str) -> Fix:
    """ "Reinstall" only when nothing more specific is known: an NVRM message that explains the
    failure (kernel.nvrm) or an Xid (gpu.xid) names the cause and its fix instead."""
    for cid in ("kernel.nvrm", "gpu.xid"):
        r = ctx.result(cid)
        if r is not None and r.status in ("fail", "warn") and r.fix is not None:
            return Fix(f"The kernel log explains it ({cid}: {r.summary}). {r.fix.text}", r.fix.commands)
    return Fix(text, fixes.install_driver(ctx.platform(), fixes.branch_of(ctx.kernel().loaded_version)))


def _nvml_init_failed(ctx: Context) -> Outcome:
    nv, k, p = ctx.nvml(), ctx.kernel(), ctx.platform()
    evidence = [ev("NVML nvmlInit", f"{nv.status}: {nv.detail or ''}")]
    if nv.status == "hung":
        return failed(nv.detail or "NVML gave no answer", evidence, fixes.wedged_driver())
    branch = fixes.branch_of(k.loaded_version)
    if nv.status == "library-not-found":
        if p.container:
            return failed("libnvidia-ml.so.1 is not in this container", evidence, fixes.container_gpu(p))
        return failed(
            "libnvidia-ml.so.1 not found: the driver's user-space libraries are missing",
            evidence,
            Fix(
                f"Install the user-space half of driver {k.loaded_version or ''} (same version as the module).",
                fixes.install_driver(p, branch),
            ),
        )
    if nv.status == "no-permission":
        return failed(
            "no permission to open /dev/nvidia*",
            evidence,
            Fix(
                "Give your user access to the GPU devices (video group) and log in again.",
                ("ls -l /dev/nvidia*", "sudo usermod -aG video $USER"),
            ),
        )
    smi = ctx.smi()
    unknown = "Unknown Error" in f"{nv.detail} {smi.detail} {smi.command.stdout if smi.command else ''}"
    if p.container and k.dev_nodes and unknown:
        evidence.append(ev("/dev/nvidia*", " ".join(k.dev_nodes)))
        return failed(
            "this container lost access to its GPUs ('Failed to initialize NVML: Unknown Error' with the device "
            "nodes present): the host's cgroup device rules were reset (systemctl daemon-reload on the host), "
            "the host driver is fine",
            evidence,
            Fix(
                "Restart the container; to stop it recurring, start containers with CDI devices or pass the "
                "/dev/nvidia* nodes explicitly.",
                (
                    "docker restart <container>  # on the host",
                    "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml  # on the host",
                    "docker run --device nvidia.com/gpu=all ...",
                ),
            ),
        )
    return failed(
        f"NVML failed: {nv.detail or nv.status}",
        evidence,
        _reinstall_or_log(ctx, "Reinstall one consistent driver."),
    )


@check(
    "driver.nvml", "NVML initialises", depends_on=("driver.kernel-module",), after=("kernel.nvrm", "gpu.xid")
)
def nvml(ctx: Context) -> Outcome:
    """A version mismatch first (whatever NVML said), then NVML's own answer."""
    mismatch = _mismatch_outcome(ctx)
    if mismatch is not None:
        return mismatch
    if ctx.nvml().status == "ok":
        return _nvml_ok(ctx)
    return _nvml_not_asked(ctx) or _nvml_init_failed(ctx)


def _smi_unavailable(ctx: Context, evidence: list[Evidence]) -> Outcome:
    smi = ctx.smi()
    cmd = smi.command
    if cmd is not None and cmd.error == "not-captured":
        return skipped("nvidia-smi output not captured in the snapshot", *evidence)
    p = ctx.platform()
    if p.wsl2 and ctx.host.exists("/usr/lib/wsl/lib/nvidia-smi"):
        return warned(
            "nvidia-smi is in /usr/lib/wsl/lib but not on PATH",
            evidence,
            Fix("Add the WSL driver directory to PATH.", ('export PATH="$PATH:/usr/lib/wsl/lib"',)),
        )
    branch = fixes.branch_of(ctx.driver_version()[0]) or "<branch>"
    return warned(
        "nvidia-smi is not installed (NVML works without it)",
        evidence,
        Fix(
            "Install the driver utilities package of the same branch.",
            (f"sudo apt-get install -y nvidia-utils-{branch}",)
            if p.package_manager == "apt"
            else fixes.install_driver(p),
        ),
    )


def _smi_vs_nvml(ctx: Context, summary: str, evidence: list[Evidence]) -> Outcome:
    smi, nv = ctx.smi(), ctx.nvml()
    if nv.status != "ok":
        return passed(summary, *evidence)
    drv = smi.driver
    nv_drv = nv.driver.version if nv.driver else None
    disagree = []
    if drv and drv.version and nv_drv and drv.version != nv_drv:
        disagree.append(f"driver {drv.version} vs NVML {nv_drv}")
    if len(smi.gpus) != len(nv.gpus):
        disagree.append(f"{len(smi.gpus)} GPUs vs NVML {len(nv.gpus)}")
    if disagree:
        return warned(
            summary + "; disagrees with NVML: " + ", ".join(disagree),
            evidence,
            Fix(
                "Two driver installs are visible (e.g. .run plus packages, or a container's libraries); keep one.",
                ("which -a nvidia-smi", "ls -l /usr/lib/x86_64-linux-gnu/libnvidia-ml.so*"),
            ),
        )
    return passed(summary + "; agrees with NVML", *evidence)


@check(
    "driver.nvidia-smi",
    "nvidia-smi answers and agrees with NVML",
    depends_on=("driver.nvml",),
    after=("kernel.nvrm", "gpu.xid"),
)
def nvidia_smi(ctx: Context) -> Outcome:
    smi = ctx.smi()
    cmd = smi.command
    evidence = [ev("nvidia-smi -q -x", cmd.describe() if cmd else smi.detail)]
    if smi.timed_out:
        return failed(smi.detail, evidence, fixes.wedged_driver())
    if smi.status == "unavailable":
        return _smi_unavailable(ctx, evidence)
    if smi.status == "error":
        return failed(
            f"nvidia-smi failed: {smi.detail}",
            evidence,
            _reinstall_or_log(
                ctx, "See driver.nvml; reinstalling one consistent driver fixes a broken user space."
            ),
        )
    drv = smi.driver
    summary = (
        f"nvidia-smi: driver {drv.version if drv else '?'}, CUDA {drv.cuda_driver_version if drv else '?'}, "
        f"{len(smi.gpus)} GPU(s)"
    )
    return _smi_vs_nvml(ctx, summary, evidence)
