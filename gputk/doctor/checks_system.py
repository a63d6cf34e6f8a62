"""The system around the driver: kernel.nvrm (driver messages that explain a failure),
driver.device-nodes (the nodes CUDA opens and who may open them), gpu.fabric
(NVSwitch systems and their fabric manager)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gputk.doctor import fixes
from gputk.doctor.base import Outcome, check, ev, failed, passed, skipped, warned
from gputk.doctor.context import Context
from gputk.models.doctor import Evidence, Fix
from gputk.probes.kernel_log import KernelLogResult

# -- kernel.nvrm ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NvrmRule:
    pattern: re.Pattern[str]
    summary: str  # may use {0}, {1} for the pattern's groups and {gpus} for the GPUs that failed to initialise
    fix: str
    commands: tuple[str, ...]


_INIT_FAILED = re.compile(r"GPU ([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): RmInitAdapter failed")


NVRM_RULES: tuple[NvrmRule, ...] = (
    NvrmRule(
        re.compile(
            r"API mismatch: the client (?:'[^']{0,64}' \(pid \d{1,10}\) )?has the version (\d[\w.]*\d),? but\s+"
            r"this kernel module has\s+the version (\d[\w.]*\d)"
        ),
        "user-space driver {0} talks to kernel module {1} (API mismatch): the driver was upgraded, "
        "the old module is still loaded",
        "Reboot (or reload the nvidia modules) so module and libraries match; do not reinstall.",
        fixes.reload_modules(),
    ),
    NvrmRule(
        re.compile(
            r"GPU (\S+) \(PCI ID: ([0-9a-fA-F]{4}:[0-9a-fA-F]{4})\)\s+installed in this system is not supported by "
            r"open\s+nvidia\.ko"
        ),
        "the open kernel module cannot drive GPU {0} ({1}): it has no GPU System Processor (GSP), which open "
        "modules need (GPUs before Turing)",
        "Install the proprietary kernel module of the same driver branch (the package without '-open'); "
        "reinstalling the open one does not help.",
        (
            "modinfo nvidia | grep -i license  # 'Dual MIT/GPL' is the open module, 'NVIDIA' the proprietary one",
            "sudo apt-get install nvidia-driver-<branch>  # not nvidia-driver-<branch>-open",
        ),
    ),
    NvrmRule(
        re.compile(r"not supported by the\s+(?:NVIDIA\s+)?(\d[\w.]*\d)\s+(?:NVIDIA\s+)?driver release"),
        "the loaded driver release {0} does not support this GPU (the branch dropped it or is too old for it)",
        "Install a driver branch that supports this GPU (a legacy branch for old boards, a newer one for new ones).",
        ("lspci -nn -d 10de:", "ubuntu-drivers devices  # on Ubuntu: the branches that support it"),
    ),
    NvrmRule(
        re.compile(r"This PCI I/O region assigned to your NVIDIA device is invalid"),
        "the firmware did not give the GPU a valid memory window (PCI BAR): the driver cannot map it",
        "Enable 'Above 4G decoding' (and Resizable BAR) in the system firmware, or boot with pci=realloc.",
        ("sudo dmesg | grep -iE 'BAR|NVRM'", "cat /proc/cmdline"),
    ),
    NvrmRule(
        re.compile(r"GPU does not have the necessary power cables connected"),
        "the GPU's auxiliary power cables are not connected",
        "Power the machine off and connect the GPU's PCIe power cables.",
        (),
    ),
    NvrmRule(
        re.compile(r"WPR2 already up"),
        "the firmware (GSP) of {gpus} cannot boot: the GPU is in a bad state left by an earlier driver "
        "(WPR2 already up)",
        "Reset the GPU: power the machine off and on (a cold boot, not a warm reboot); reinstalling the driver "
        "does not help.",
        ("sudo dmesg | grep -iE 'GSP|WPR2|RmInitAdapter'",),
    ),
    NvrmRule(
        re.compile(r"(?:Cannot initialize GSP firmware RM|failed to wait for GFW.?BOOT)"),
        "the firmware (GSP) of {gpus} did not start, so the driver could not initialise it",
        "Power-cycle the machine (cold boot). A GPU that never finishes its own boot (GFW_BOOT) lacks power or "
        "is faulty: check its power cables and reseat it. If it recurs on a Turing/Ampere/Ada GPU with the "
        "proprietary module, boot with the GSP firmware off (NVreg_EnableGpuFirmware=0; the open module needs it).",
        (
            "echo 'options nvidia NVreg_EnableGpuFirmware=0' | sudo tee /etc/modprobe.d/nvidia-gsp.conf",
            "sudo update-initramfs -u  # dracut -f on Fedora/RHEL",
        ),
    ),
    NvrmRule(
        re.compile(r"GPU (\S+): RmInitAdapter failed!?\s*(\(\S+\))?"),
        "the driver could not initialise {gpus} (RmInitAdapter failed {1}): power, GPU firmware (GSP) or hardware, "
        "not a missing driver",
        "Read the NVRM lines before it; check power cables and cooling, reboot; a recurring failure on one GPU is hardware.",
        ("sudo dmesg | grep -B5 RmInitAdapter", "nvidia-smi -q -d POWER,TEMPERATURE"),
    ),
    NvrmRule(
        re.compile(r"The NVIDIA probe routine was not called for (\d+) device"),
        "another driver claimed {0} NVIDIA device(s) before nvidia could (nouveau or vfio-pci)",
        "Find the driver bound to the GPU and stop it claiming the device.",
        ("lspci -nnk -d 10de:", "grep -rE 'nouveau|vfio' /etc/modprobe.d /proc/cmdline"),
    ),
    NvrmRule(
        re.compile(r"(?:Key was rejected by service|Loading of unsigned module is rejected)"),
        "Secure Boot rejected the unsigned nvidia module",
        "Enroll the module signing key (MOK) and reboot, or disable Secure Boot.",
        ("sudo mokutil --import /var/lib/dkms/mok.pub", "sudo reboot"),
    ),
    NvrmRule(  # last: the rules above name why, when the log says
        re.compile(r"No NVIDIA (?:graphics adapter|GPU) found"),
        "the nvidia module loaded but found no NVIDIA GPU it can drive",
        "If the machine has no NVIDIA GPU, remove the NVIDIA driver packages. If it has one, another driver "
        "(nouveau, vfio-pci) holds it, it is switched off, or this driver release does not support it: see "
        "hardware.gpu and driver.gpu-support.",
        ("lspci -nnk -d 10de:",),
    ),
)


def kernel_log_unread(kl: KernelLogResult) -> Outcome | None:
    if kl.status == "ok":
        return None
    if kl.status == "needs-root":
        return skipped(
            "the kernel log needs root here (sudo dmesg | grep -i nvrm)",
            ev(kl.source, "refused: needs root (kernel.dmesg_restrict or journal group)"),
        )
    return skipped(f"kernel log not read: {kl.detail}", ev(kl.source, kl.detail))


def _init_failed_buses(texts: list[str]) -> list[str]:
    """The bus ids of the GPUs the driver could not initialise, first-seen order."""
    return list(dict.fromkeys(m.group(1).lower() for t in texts for m in _INIT_FAILED.finditer(t)))


@check("kernel.nvrm", "Driver messages in the kernel log")
def nvrm(ctx: Context) -> Outcome:
    kl = ctx.kernel_log()
    unread = kernel_log_unread(kl)
    if unread is not None:
        return unread
    texts = [*kl.log.nvrm, *(line for line in kl.log.lines if "NVRM" not in line)]
    for rule in NVRM_RULES:
        for text in texts:
            m = rule.pattern.search(text)
            if m:
                groups = [g or "" for g in m.groups()]
                buses = _init_failed_buses(texts) if "{gpus}" in rule.summary else []
                gpus = ("GPU " if len(buses) == 1 else "GPUs ") + ", ".join(buses) if buses else "the GPU"
                summary = rule.summary.format(*groups, gpus=gpus).replace(" ()", "")
                return failed(summary, [ev(f"kernel log ({kl.source})", text[:300])], Fix(rule.fix, rule.commands))
    return passed(f"no NVRM message that explains a failure ({kl.detail})", ev(kl.source, kl.detail))


# -- driver.device-nodes --------------------------------------------------------------------------------


def _access_outcome(ctx: Context, evidence: list[Evidence]) -> Outcome | None:
    acc = ctx.access()
    ident = acc.identity
    if acc.id_status != "ok" or acc.dev_status != "ok" or ident.uid in (None, 0):
        return None
    for node in acc.nodes:
        if not node.name.startswith("nvidia") or node.world_rw:
            continue
        if node.owner == ident.user or (node.group_rw and node.group in ident.groups):
            continue
        evidence += [
            ev("ls -l /dev", f"{node.name} {node.mode} {node.owner} {node.group}"),
            ev("id", f"{ident.user}: groups {', '.join(ident.groups) or 'none'}"),
        ]
        return failed(
            f"{ident.user} may not open /dev/{node.name} ({node.mode}, group {node.group}; "
            f"{ident.user} is not in it): CUDA and NVML fail with 'insufficient permissions'",
            evidence,
            Fix(
                f"Add the user to group {node.group} and log in again (the driver itself is fine).",
                (f"sudo usermod -aG {node.group} $USER", "newgrp " + node.group),
            ),
        )
    return None


@check(
    "driver.device-nodes",
    "GPU device nodes exist and this user may open them",
    depends_on=("driver.kernel-module",),
)
def device_nodes(ctx: Context) -> Outcome:
    p, k = ctx.platform(), ctx.kernel()
    if p.wsl2:
        return passed(
            "WSL2: CUDA goes through /dev/dxg", ev("/dev/dxg", "present" if p.wsl_dxg else "absent")
        )
    names = {n.rsplit("/", 1)[-1] for n in k.dev_nodes}
    evidence = [ev("/dev/nvidia*", " ".join(sorted(names)) or "none")]
    gpu_nodes = [n for n in names if re.fullmatch(r"nvidia\d+", n)]
    if gpu_nodes and "nvidia-uvm" not in names:
        where = "into the container (the runtime normally passes it)" if p.container else ""
        return failed(
            "/dev/nvidia-uvm is missing: nvidia-smi works but CUDA fails to initialise "
            "(cuInit error 999 'unknown error' / 'no CUDA-capable device')",
            evidence,
            Fix(
                f"Load nvidia-uvm and create its node {where}".rstrip() + ".",
                ("sudo modprobe nvidia-uvm", "sudo nvidia-modprobe -u -c=0", "ls -l /dev/nvidia-uvm"),
            ),
        )
    access = _access_outcome(ctx, evidence)
    if access is not None:
        return access
    return passed(
        f"{len(gpu_nodes)} GPU node(s), nvidiactl and nvidia-uvm present"
        if gpu_nodes
        else "no GPU nodes yet (created on first use)",
        *evidence,
    )


# -- gpu.fabric ---------------------------------------------------------------------------------------

FM_UNIT = "nvidia-fabricmanager.service"


def _fm_fix(ctx: Context, driver: str | None) -> Fix:
    p = ctx.platform()
    branch = fixes.branch_of(driver) or "<branch>"
    if p.container:
        return Fix("The fabric manager runs on the host: start it there (same version as the driver).", ())
    if p.package_manager == "apt":
        install = f"sudo apt-get install -y nvidia-fabricmanager-{branch}" + (
            f"={driver}-1" if driver else ""
        )
    elif p.package_manager in ("dnf", "yum"):
        install = f"sudo {p.package_manager} install -y nvidia-fabric-manager-{driver or branch}"
    else:
        install = f"install NVIDIA Fabric Manager {driver or branch} (the driver's exact version)"
    return Fix(
        "Run the fabric manager of exactly the driver's version; CUDA waits for it on NVSwitch systems.",
        (
            install,
            "sudo systemctl enable --now nvidia-fabricmanager",
            "journalctl -u nvidia-fabricmanager -b --no-pager | tail -n 30",
        ),
    )


def _fabric_evidence(ctx: Context, switches: tuple[str, ...]) -> list[Evidence]:
    u = ctx.units()
    evidence = [ev("NVSwitches in /sys/bus/pci/devices", ", ".join(switches) or "none")]
    evidence.append(ev("systemctl show " + FM_UNIT, u.state(FM_UNIT) or u.detail))
    if u.fm_version:
        evidence.append(ev("nv-fabricmanager --version", u.fm_version))
    for g in ctx.health():
        if g.fabric_state or g.fabric_status:
            evidence.append(
                ev(
                    f"nvidia-smi -q -x GPU {g.bus_id or g.index} fabric",
                    f"{g.fabric_state} / {g.fabric_status}",
                )
            )
    return evidence


@check("gpu.fabric", "NVSwitch fabric manager running and ready", after=("driver.nvidia-smi",))
def fabric(ctx: Context) -> Outcome:
    switches = ctx.nvswitches()
    health = ctx.health()
    pending = [g for g in health if g.fabric_state and g.fabric_state != "Completed"]
    bad_status = [g for g in health if g.fabric_status and g.fabric_status != "Success"]
    if not switches and not pending and not bad_status:
        return passed("no NVSwitch on the bus: no fabric manager needed")
    driver, _ = ctx.driver_version()
    u = ctx.units()
    state = u.state(FM_UNIT)
    evidence = _fabric_evidence(ctx, switches)
    fix = _fm_fix(ctx, driver)
    err802 = "; CUDA fails with error 802 'system not yet initialized' until it runs"
    if u.fm_version and driver and u.fm_version != driver:
        return failed(
            f"fabric manager {u.fm_version} differs from driver {driver}: it refuses to start{err802}",
            evidence,
            fix,
        )
    ready = bool(health) and all(
        g.fabric_state == "Completed" and g.fabric_status == "Success" for g in health
    )
    if switches and state in ("failed", "inactive", "not-found") and not ready:
        what = "is not installed" if state == "not-found" else f"is {state}"
        return failed(f"{len(switches)} NVSwitch(es) but the fabric manager {what}{err802}", evidence, fix)
    if pending or bad_status:
        g = (pending or bad_status)[0]
        return failed(
            f"GPU {g.bus_id or g.index}: NVLink fabric {g.fabric_state or '?'} / {g.fabric_status or '?'}, not "
            f"Completed/Success{err802}",
            evidence,
            fix,
        )
    how = (
        "fabric Completed"
        if any(g.fabric_state == "Completed" for g in health)
        else "fabric state not reported"
    )
    return passed(
        f"{len(switches)} NVSwitch(es); fabric manager {state or 'state unknown (no systemd here)'}; {how}",
        *evidence,
    )


# -- gpu.persistence ------------------------------------------------------------------------------

PERSISTENCED = "nvidia-persistenced.service"
# Data-center boards (Tesla, A/H/B/L series, T4, V100, ...), not GeForce/TITAN/Quadro/RTX workstation cards,
# which usually drive a display that keeps the driver up anyway.
_DATA_CENTER = re.compile(r"Tesla|\b(?:[ABHL]\d{1,3}[A-Z]?|T4|V100|P100|P40|P4|K80|GH200|GB200|GB300)\b")
_DESKTOP = re.compile(r"GeForce|TITAN|Quadro|RTX", re.I)


@check("gpu.persistence", "Persistence mode on headless data-center GPUs", after=("driver.nvidia-smi",))
def persistence(ctx: Context) -> Outcome:
    """Without persistence mode the driver tears a GPU down when its last client exits: every CUDA
    start (and every nvidia-smi) initialises it again, seconds per GPU on a large box, and settings
    such as application clocks are lost. NVIDIA's answer on Linux servers is nvidia-persistenced."""
    p = ctx.platform()
    if p.wsl or p.container:
        where = "WSL (the Windows driver keeps the GPU)" if p.wsl else "a container (the host's daemon's job)"
        return skipped(f"not checked in {where}")
    health = ctx.health()
    dc = [g for g in health if g.name and _DATA_CENTER.search(g.name) and not _DESKTOP.search(g.name)]
    if not dc:
        return skipped("no data-center GPU in nvidia-smi -q -x" if health else "no nvidia-smi -q -x health facts")
    state = ctx.units().state(PERSISTENCED)
    words = {True: "Enabled", False: "Disabled", None: "not reported"}
    evidence = [
        ev(f"nvidia-smi -q -x GPU {g.bus_id or g.index}", f"{g.name}: persistence mode {words[g.persistence_mode]}")
        for g in dc[:8]
    ]
    evidence.append(ev(f"systemctl show {PERSISTENCED}", state or ctx.units().detail))
    off = [g for g in dc if g.persistence_mode is False]
    if state == "active":
        return passed(f"nvidia-persistenced active for {len(dc)} data-center GPU(s)", *evidence)
    if all(g.persistence_mode is None for g in dc):
        return skipped("nvidia-smi -q -x does not report persistence mode", *evidence)
    if not off:
        return passed(f"persistence mode on for {len(dc)} data-center GPU(s) (set on the GPUs)", *evidence)
    if state is None:
        return skipped(
            f"persistence mode is off on {len(off)} data-center GPU(s); nvidia-persistenced's state was not read",
            *evidence,
        )
    install: tuple[str, ...] = ()
    if state == "not-found":
        install = ("sudo apt-get install nvidia-compute-utils-<branch>  # the package that ships nvidia-persistenced",)
    return warned(
        f"persistence mode is off on {len(off)} of {len(dc)} data-center GPU(s) and nvidia-persistenced is "
        f"{'not installed' if state == 'not-found' else state}: the driver tears the GPUs down whenever no "
        "program uses them, so each CUDA start initialises them again (seconds per GPU) and clock settings are lost",
        evidence,
        Fix(
            "Run the NVIDIA persistence daemon (it keeps the GPUs initialised without a client).",
            (*install, "sudo systemctl enable --now nvidia-persistenced", "nvidia-smi -q | grep -i 'Persistence Mode'"),
        ),
    )
