"""The platform under the GPU stack: distro, kernel, WSL, container, Secure Boot, Python env.

Shell equivalents::

    cat /etc/os-release; uname -srm
    grep -i microsoft /proc/version; ls /dev/dxg /usr/lib/wsl/lib     # WSL2
    ls /.dockerenv /run/.containerenv; cat /proc/1/cgroup             # container
    mokutil --sb-state                                                 # "SecureBoot enabled"

Nothing here raises: an absent file is an answer (None / False).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gputk.host import Host
from gputk.parsers.os_release import parse_os_release
from gputk.probes.capture import Capture
from gputk.probes.python_env import python_env

# efivars entry for Secure Boot: 4 attribute bytes then one data byte (1 = on).
_SB_EFIVAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

# ID / ID_LIKE in /etc/os-release -> the package manager that installs drivers there.
_PKG_BY_DISTRO = (
    (("ubuntu", "debian", "linuxmint", "pop"), "apt"),
    (("fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn"), "dnf"),
    (("opensuse", "sles", "suse", "opensuse-leap", "opensuse-tumbleweed"), "zypper"),
    (("arch", "manjaro", "endeavouros"), "pacman"),
)
_PKG_PROGRAMS = (
    ("apt-get", "apt"),
    ("dnf", "dnf"),
    ("yum", "yum"),
    ("zypper", "zypper"),
    ("pacman", "pacman"),
)
_CGROUP_MARKERS = (
    ("kubepods", "kubernetes"),
    ("docker", "docker"),
    ("containerd", "containerd"),
    ("libpod", "podman"),
    ("lxc", "lxc"),
)


@dataclass(frozen=True)
class PlatformInfo:
    system: str
    kernel: str  # uname -r
    machine: str
    distro_id: str | None = None  # "ubuntu"
    distro_like: tuple[str, ...] = ()
    distro_version: str | None = None  # "22.04"
    distro_name: str | None = None  # PRETTY_NAME
    package_manager: str | None = None  # apt | dnf | yum | zypper | pacman
    wsl: bool = False
    wsl2: bool = False
    wsl_dxg: bool = False  # /dev/dxg: the GPU paravirtualisation device
    wsl_lib: bool = False  # /usr/lib/wsl/lib/libcuda.so* (injected by the Windows driver)
    container: str | None = None  # docker | podman | kubernetes | containerd | lxc | container
    container_evidence: tuple[str, ...] = ()
    secure_boot: bool | None = None
    secure_boot_source: str | None = None
    python: dict[str, Any] = field(default_factory=dict)

    @property
    def env_kind(self) -> str:
        """``conda``, ``venv`` or ``system``: how packages get into the target interpreter."""
        if self.python.get("conda"):
            return "conda"
        if self.python.get("in_venv"):
            return "venv"
        return "system"


def _package_manager(host: Host, ids: tuple[str, ...]) -> str | None:
    for names, pm in _PKG_BY_DISTRO:
        if any(i in names for i in ids):
            if pm == "dnf" and host.which("dnf") is None and host.which("yum") is not None:
                return "yum"
            return pm
    for prog, pm in _PKG_PROGRAMS:
        if host.which(prog):
            return pm
    return None


def _container(host: Host) -> tuple[str | None, tuple[str, ...]]:
    evidence: list[str] = []
    kind: str | None = None
    if host.lexists("/.dockerenv"):
        kind = "docker"
        evidence.append("/.dockerenv exists")
    if host.lexists("/run/.containerenv"):
        kind = kind or "podman"
        evidence.append("/run/.containerenv exists")
    cgroup = host.read_text("/proc/1/cgroup") or ""
    for marker, name in _CGROUP_MARKERS:
        if re.search(rf"[/-]{marker}\b", cgroup) or f"/{marker}/" in cgroup:
            kind = kind or name
            evidence.append(f"/proc/1/cgroup mentions {marker}")
            break
    marker_env = host.env.get("container")
    if marker_env:
        kind = kind or marker_env
        evidence.append(f"$container={marker_env}")
    if host.env.get("KUBERNETES_SERVICE_HOST"):
        kind = kind or "kubernetes"
        evidence.append("$KUBERNETES_SERVICE_HOST is set")
    return kind, tuple(evidence)


def _secure_boot(host: Host) -> tuple[bool | None, str | None]:
    """``mokutil --sb-state`` ("SecureBoot enabled"), else the efivars byte."""
    res = host.run(["mokutil", "--sb-state"], timeout=5)
    text = (res.stdout + res.stderr).lower()
    if res.ran and "secureboot enabled" in text:
        return True, "mokutil --sb-state: SecureBoot enabled"
    if res.ran and "secureboot disabled" in text:
        return False, "mokutil --sb-state: SecureBoot disabled"
    data = host.read_bytes(_SB_EFIVAR)
    if data is not None and len(data) >= 5:
        return data[4] == 1, f"{_SB_EFIVAR}: {data[4]}"
    return None, None


def platform_info(host: Host) -> PlatformInfo:
    u = host.uname()
    osr = parse_os_release(host.read_text("/etc/os-release") or host.read_text("/usr/lib/os-release") or "")
    distro_id = osr.get("ID") or None
    like = tuple(osr.get("ID_LIKE", "").split())
    ids = ((distro_id,) if distro_id else ()) + like
    proc_version = host.read_text("/proc/version") or ""
    release = u.get("release", "")
    wsl = "microsoft" in proc_version.lower() or "microsoft" in release.lower()
    dxg = host.lexists("/dev/dxg")
    wsl_lib = bool(host.glob("/usr/lib/wsl/lib/libcuda.so*"))
    wsl2 = wsl and ("wsl2" in (proc_version + release).lower() or dxg)
    container, cevidence = _container(host)
    sb, sb_src = _secure_boot(host) if not wsl and not container else (None, None)
    py = python_env(host)
    return PlatformInfo(
        system=u.get("system", ""),
        kernel=release,
        machine=u.get("machine", ""),
        distro_id=distro_id,
        distro_like=like,
        distro_version=osr.get("VERSION_ID") or None,
        distro_name=osr.get("PRETTY_NAME") or None,
        package_manager=_package_manager(host, ids),
        wsl=wsl,
        wsl2=wsl2,
        wsl_dxg=dxg,
        wsl_lib=wsl_lib,
        container=container,
        container_evidence=cevidence,
        secure_boot=sb,
        secure_boot_source=sb_src,
        python=py,
    )


CAPTURE = Capture(
    "platform",
    commands=((("mokutil", "--sb-state"), 10.0),),
    files=("/proc/version", "/proc/1/cgroup", "/etc/os-release"),
    names=("/dev/dxg", "/.dockerenv", "/run/.containerenv", "/usr/lib/wsl/lib/*"),
    tools=("python3", "python", "mokutil", "docker", "nvidia-ctk", "nvidia-container-cli"),
    entries=(platform_info,),
)
