"""System facts around the driver: service units, the module on disk and its
configuration, who the user is, the device nodes, NVSwitches on the bus.

Shell equivalents (none needs root)::

    systemctl show -p Id,LoadState,ActiveState,SubState,Result,ExecMainStatus,UnitFileState \\
        nvidia-fabricmanager.service nvidia-persistenced.service
    nv-fabricmanager --version          # "Fabric Manager version is : 535.104.05"
    modinfo nvidia                      # version:, license: NVIDIA | Dual MIT/GPL (open module)
    cat /etc/modprobe.d/*.conf /lib/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf /proc/cmdline
    id                                  # groups: video, render
    ls -l /dev                          # the nvidia* nodes: mode, owner, group
    grep -l 0x0680 /sys/bus/pci/devices/*/class   # NVSwitch bridges (vendor 0x10de)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal

from gputk.host import Host
from gputk.models.core import CommandResult
from gputk.parsers.system import (
    DeviceNode,
    Identity,
    ModprobeRule,
    module_flavour,
    parse_cmdline,
    parse_fm_version,
    parse_id,
    parse_ls_dev,
    parse_modinfo,
    parse_modprobe_conf,
    parse_systemctl_show,
)
from gputk.probes.capture import Capture

UNITS = ("nvidia-fabricmanager.service", "nvidia-persistenced.service")
SYSTEMCTL_ARGV = (
    "systemctl",
    "show",
    "-p",
    "Id,LoadState,ActiveState,SubState,Result,ExecMainStatus,UnitFileState",
    *UNITS,
)
FM_VERSION_ARGV = ("nv-fabricmanager", "--version")
MODINFO_ARGV = ("modinfo", "nvidia")
ID_ARGV = ("id",)
LS_DEV_ARGV = ("ls", "-l", "/dev")
TIMEOUT_S = 5.0
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d")
CMDLINE = "/proc/cmdline"
NVSWITCH_CLASS = "0x0680"

Answer = Literal["ok", "not-captured", "unavailable", "error"]


def _answer(res: CommandResult) -> Answer:
    if res.error == "not-captured":
        return "not-captured"
    if res.error == "not-found":
        return "unavailable"
    return "ok" if res.ok else "error"


@dataclass(frozen=True)
class Units:
    status: Answer
    detail: str
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    fm_version: str | None = None

    def state(self, unit: str) -> str | None:
        """``active`` / ``failed`` / ``inactive`` / ``not-found`` (not installed); None: unknown."""
        props = self.units.get(unit)
        if props is None:
            return None
        if props.get("LoadState") == "not-found":
            return "not-found"
        return props.get("ActiveState")


@dataclass(frozen=True)
class ModuleConfig:
    modinfo_status: Answer
    modinfo: dict[str, str] = field(default_factory=dict)
    rules: tuple[ModprobeRule, ...] = ()
    cmdline: str | None = None

    @property
    def version(self) -> str | None:
        return self.modinfo.get("version")

    @property
    def flavour(self) -> str | None:
        return module_flavour(self.modinfo.get("license"))

    def disabling(self, module: str) -> list[ModprobeRule]:
        """The rules that stop ``module`` from loading."""
        kinds = ("blacklist", "install-false", "cmdline-blacklist")
        return [r for r in self.rules if r.module == module and r.kind in kinds]


@dataclass(frozen=True)
class Access:
    id_status: Answer
    identity: Identity = field(default_factory=Identity)
    dev_status: Answer = "not-captured"
    nodes: tuple[DeviceNode, ...] = ()


def units(host: Host) -> Units:
    res = host.run(SYSTEMCTL_ARGV, timeout=TIMEOUT_S)
    status = _answer(res)
    parsed = parse_systemctl_show(res.stdout) if res.ran else {}
    fm = None
    if host.which("nv-fabricmanager"):
        fm_res = host.run(FM_VERSION_ARGV, timeout=TIMEOUT_S)
        fm = parse_fm_version(fm_res.stdout + fm_res.stderr) if fm_res.ran else None
    return Units("ok" if parsed else status, res.describe(), parsed, fm)


def module_config(host: Host) -> ModuleConfig:
    res = host.run(MODINFO_ARGV, timeout=TIMEOUT_S)
    rules: list[ModprobeRule] = []
    for d in MODPROBE_DIRS:
        for path in host.glob(f"{d}/*.conf"):
            rules += parse_modprobe_conf(path, host.read_text(path, max_bytes=256 * 1024) or "")
    cmdline = host.read_text(CMDLINE, max_bytes=64 * 1024)
    if cmdline:
        rules += parse_cmdline(cmdline)
    info = parse_modinfo(res.stdout) if res.ok else {}
    return ModuleConfig(_answer(res), info, tuple(rules), cmdline.strip() if cmdline else None)


def access(host: Host) -> Access:
    id_res = host.run(ID_ARGV, timeout=TIMEOUT_S)
    ls_res = host.run(LS_DEV_ARGV, timeout=TIMEOUT_S)
    return Access(
        _answer(id_res),
        parse_id(id_res.stdout) if id_res.ok else Identity(),
        _answer(ls_res),
        tuple(parse_ls_dev(ls_res.stdout)) if ls_res.ran else (),
    )


def nvswitches(host: Host) -> tuple[str, ...]:
    """Bus ids of NVIDIA bridge-class functions (NVSwitches) in sysfs."""
    out = []
    for cls_path in host.glob("/sys/bus/pci/devices/*/class"):
        d = posixpath.dirname(cls_path)
        cls = (host.read_text(cls_path) or "").strip().lower()
        if (
            cls.startswith(NVSWITCH_CLASS)
            and (host.read_text(f"{d}/vendor") or "").strip().lower() == "0x10de"
        ):
            out.append(posixpath.basename(d))
    return tuple(out)


CAPTURE = Capture(
    "system",
    commands=(
        (SYSTEMCTL_ARGV, TIMEOUT_S),
        (MODINFO_ARGV, TIMEOUT_S),
        (ID_ARGV, TIMEOUT_S),
        (LS_DEV_ARGV, TIMEOUT_S),
    ),
    files=(*(f"{d}/*.conf" for d in MODPROBE_DIRS), CMDLINE),
    tools=("systemctl", "nv-fabricmanager", "modinfo"),
    entries=(units, module_config, access, nvswitches),
)
