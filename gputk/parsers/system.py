"""Small system tools the doctor reads: ``systemctl show``, ``modinfo``, modprobe
configuration and the kernel command line, ``id``, ``ls -l /dev`` and the fabric
manager's ``--version``. Pure: text in, facts out; unreadable lines are skipped.

Samples::

    systemctl show -p Id,LoadState,ActiveState,SubState,Result,ExecMainStatus nvidia-fabricmanager.service
        Id=nvidia-fabricmanager.service\\nLoadState=loaded\\nActiveState=failed\\nSubState=failed\\nResult=exit-code
    modinfo nvidia            version:        550.54.15 / license:        NVIDIA  (open flavour: Dual MIT/GPL)
    /etc/modprobe.d/*.conf    blacklist nvidia / install nvidia /bin/false / options nvidia NVreg_...=1
    /proc/cmdline             ... modprobe.blacklist=nouveau,nvidia rd.driver.blacklist=nvidia ...
    id                        uid=1000(ana) gid=1000(ana) groups=1000(ana),27(sudo),44(video)
    ls -l /dev                crw-rw-rw- 1 root root 195,   0 May  1 10:00 nvidia0
    nv-fabricmanager --version    Fabric Manager version is : 535.104.05
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEYVAL = re.compile(r"^([A-Za-z][\w]{0,63})=(.{0,2000})$")
_MODINFO = re.compile(r"^([a-z_]{1,32}):\s{0,40}(.{0,2000})$")
_ID_PART = re.compile(r"(\d{1,10})\(([^)]{1,64})\)")
_LS = re.compile(
    r"^([bcdlps-][rwxsStT-]{9})[.+]?\s+\d+\s+(\S{1,64})\s+(\S{1,64})\s+(?:(\d{1,4}),\s*(\d{1,4})|\d+)\s+"
    r"\w{3}\s+\d{1,2}\s+[\d:]{4,5}\s+(\S.{0,200})$"
)
_FM_VERSION = re.compile(r"version is\s*:\s*(\d+\.\d+(?:\.\d+)?)", re.I)


def parse_systemctl_show(text: str) -> dict[str, dict[str, str]]:
    """``systemctl show -p Id,...  a.service b.service``: unit id -> its properties (blocks
    separated by blank lines; a block without ``Id=`` is dropped)."""
    units: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        props: dict[str, str] = {}
        for line in block.splitlines():
            m = _KEYVAL.match(line.strip())
            if m:
                props[m.group(1)] = m.group(2)
        if props.get("Id"):
            units[props["Id"]] = props
    return units


def parse_modinfo(text: str) -> dict[str, str]:
    """``modinfo nvidia``: the first value of each field (``version``, ``license``, ``filename``...)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _MODINFO.match(line.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).strip()
    return out


def module_flavour(license_text: str | None) -> str | None:
    """The nvidia module's licence says which flavour it is: ``NVIDIA`` proprietary,
    ``Dual MIT/GPL`` the open kernel module."""
    if not license_text:
        return None
    low = license_text.lower()
    if "mit" in low or "gpl" in low:
        return "open"
    if "nvidia" in low:
        return "proprietary"
    return None


@dataclass(frozen=True)
class ModprobeRule:
    source: str  # "/etc/modprobe.d/x.conf:3" or "/proc/cmdline"
    kind: str  # "blacklist" | "install-false" | "options" | "cmdline-blacklist" | "cmdline"
    module: str
    text: str


_DISABLING_INSTALL = re.compile(r"^install\s+(\S+)\s+(?:/usr)?/bin/(?:false|true)\b")


def parse_modprobe_conf(path: str, text: str) -> list[ModprobeRule]:
    """``blacklist M``, ``install M /bin/false`` (or ``/bin/true``), ``alias M off`` (all stop M
    loading) and ``options M ...`` lines of one modprobe.d file."""
    rules: list[ModprobeRule] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        where = f"{path}:{n}"
        if words[0] == "blacklist" and len(words) > 1:
            rules.append(ModprobeRule(where, "blacklist", words[1], line))
        elif _DISABLING_INSTALL.match(line) or (words[0] == "alias" and len(words) == 3 and words[2] == "off"):
            rules.append(ModprobeRule(where, "install-false", words[1], line))
        elif words[0] == "options" and len(words) > 2:
            rules.append(ModprobeRule(where, "options", words[1], line))
    return rules


def parse_cmdline(text: str) -> list[ModprobeRule]:
    """``/proc/cmdline``: ``modprobe.blacklist=a,b`` / ``rd.driver.blacklist=`` /
    ``module_blacklist=`` stop modules loading; ``nvidia*.`` / ``nouveau.`` options are kept too."""
    rules: list[ModprobeRule] = []
    for word in text.split():
        key, _, value = word.partition("=")
        if key in ("modprobe.blacklist", "rd.driver.blacklist", "module_blacklist"):
            for mod in filter(None, value.split(",")):
                rules.append(ModprobeRule("/proc/cmdline", "cmdline-blacklist", mod, word))
        elif key.startswith(("nvidia", "nouveau.")) and "." in key:
            rules.append(ModprobeRule("/proc/cmdline", "cmdline", key.split(".", 1)[0], word))
    return rules


@dataclass(frozen=True)
class Identity:
    uid: int | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()


def parse_id(text: str) -> Identity:
    """``id``: ``uid=1000(ana) gid=1000(ana) groups=1000(ana),44(video)``."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    uid_m = _ID_PART.match(fields.get("uid", ""))
    groups = tuple(m.group(2) for m in _ID_PART.finditer(fields.get("groups", "")))
    return Identity(
        int(uid_m.group(1)) if uid_m else None,
        uid_m.group(2) if uid_m else None,
        groups,
    )


@dataclass(frozen=True)
class DeviceNode:
    name: str  # "nvidia0"
    mode: str  # "crw-rw-rw-"
    owner: str
    group: str
    major: int | None = None
    minor: int | None = None

    @property
    def world_rw(self) -> bool:
        return self.mode[7:9] == "rw"

    @property
    def group_rw(self) -> bool:
        return self.mode[4:6] == "rw"


def parse_ls_dev(text: str, prefixes: tuple[str, ...] = ("nvidia", "dxg")) -> list[DeviceNode]:
    """``ls -l /dev``: the nodes whose names start with ``prefixes``."""
    out: list[DeviceNode] = []
    for line in text.splitlines():
        m = _LS.match(line.strip())
        if not m or not m.group(6).startswith(prefixes):
            continue
        name = m.group(6).split(" -> ", 1)[0]
        out.append(
            DeviceNode(
                name,
                m.group(1),
                m.group(2),
                m.group(3),
                int(m.group(4)) if m.group(4) else None,
                int(m.group(5)) if m.group(5) else None,
            )
        )
    return out


def parse_fm_version(text: str) -> str | None:
    """``nv-fabricmanager --version``: ``Fabric Manager version is : 535.104.05``."""
    m = _FM_VERSION.search(text)
    return m.group(1) if m else None


_LDCONFIG = re.compile(r"^\s*(\S{1,200}) \(([^)]{0,80})\) => (\S{1,1000})$")


def parse_ldconfig(text: str) -> list[tuple[str, str]]:
    """``ldconfig -p``: (soname, path) in the cache's order (the loader's order for a name)."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _LDCONFIG.match(line)
        if m:
            out.append((m.group(1), m.group(3)))
    return out
