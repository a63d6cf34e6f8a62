"""The NVIDIA kernel driver: loaded or not, which version, and the user-space libraries on disk.

Shell equivalents::

    cat /proc/driver/nvidia/version      # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05 ..."
    cat /sys/module/nvidia/version       # "535.104.05"
    ls /dev/nvidia*                      # nvidia0, nvidiactl, nvidia-uvm
    ls /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.*   # libnvidia-ml.so.550.54.14: the user-space version
    grep nvidia /lib/modules/$(uname -r)/modules.dep # the module built for the running kernel
    ls /sys/module/nouveau                            # nouveau loaded
    grep -B3 nvidia /var/log/apt/history.log          # "Upgrade: libnvidia-compute-535:amd64 (...)"

A loaded module whose version differs from ``libnvidia-ml.so.<version>`` is the
"Driver/library version mismatch" (docs/design.md F1): user space was upgraded
while the old module stays loaded until a reboot.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from gputk.compat.drivers import find_driver_version
from gputk.host import Host
from gputk.models.gpu import DriverInfo
from gputk.parsers.proc_driver import parse_proc_driver_version
from gputk.probes.capture import Capture

PROC_VERSION = "/proc/driver/nvidia/version"
SYS_MODULE_VERSION = "/sys/module/nvidia/version"
APT_HISTORY = "/var/log/apt/history.log"
LDCONFIG_ARGV = ("ldconfig", "-p")

LIB_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/lib64",
)
_LIB_VERSION = re.compile(r"\.so\.(\d{3}\.\d+(?:\.\d+)?)$")
_KO = re.compile(r"(?:^|/)nvidia(?:-current)?\.ko(?:\.[xgz]z|\.zst)?$")
_APT_NVIDIA = re.compile(r"^(Upgrade|Install|Remove|Purge):.*\b(?:nvidia|libnvidia|cuda-drivers)", re.I)


@dataclass(frozen=True)
class VersionedLib:
    path: str
    version: str  # "550.54.14": the suffix of the file name


@dataclass(frozen=True)
class KernelDriverState:
    kernel_release: str
    proc_version_line: str | None = None
    driver: DriverInfo | None = None  # version + open/proprietary from /proc/driver/nvidia/version
    sys_module_version: str | None = None
    dev_nodes: tuple[str, ...] = ()
    nvml_libs: tuple[VersionedLib, ...] = ()
    libcuda_libs: tuple[VersionedLib, ...] = ()
    modules_running_kernel: tuple[str, ...] = ()  # nvidia.ko paths for `uname -r`
    modules_other_kernels: tuple[str, ...] = ()  # nvidia.ko built for other kernels (DKMS not rebuilt)
    nouveau_loaded: bool = False
    nouveau_blacklisted: bool = False
    apt_history: tuple[str, ...] = ()  # recent nvidia package lines, newest last

    @property
    def loaded(self) -> bool:
        return self.loaded_version is not None or self.proc_version_line is not None

    @property
    def loaded_version(self) -> str | None:
        found = find_driver_version(
            sys_module=self.sys_module_version, proc_version=self.driver.version if self.driver else None
        )
        return str(found) if found else None

    @property
    def user_space_versions(self) -> tuple[str, ...]:
        """Distinct ``libnvidia-ml.so.<version>`` versions on disk, sorted."""
        return tuple(sorted({lib.version for lib in self.nvml_libs}))


def _versioned_libs(host: Host, stem: str) -> tuple[VersionedLib, ...]:
    found: list[VersionedLib] = []
    seen: set[str] = set()
    for d in LIB_DIRS:
        for path in host.glob(f"{d}/{stem}.so.*"):
            m = _LIB_VERSION.search(path)
            real = host.realpath(path)
            if m and real not in seen:
                seen.add(real)
                found.append(VersionedLib(path=path, version=m.group(1)))
    return tuple(found)


def _modules_for(host: Host, release: str) -> tuple[str, ...]:
    """nvidia.ko paths for a kernel release: modules.dep first, then the usual folders."""
    base = f"/lib/modules/{release}"
    found: list[str] = []
    dep = host.read_text(f"{base}/modules.dep") or ""
    for line in dep.splitlines():
        path = line.split(":", 1)[0].strip()
        if _KO.search(path):
            found.append(path if path.startswith("/") else posixpath.join(base, path))
    for depth in ("*", "*/*", "*/*/*", "*/*/*/*"):
        for path in host.glob(f"{base}/{depth}/nvidia*.ko*"):
            if _KO.search(path) and path not in found:
                found.append(path)
    return tuple(found)


def _apt_history(host: Host, limit: int = 6) -> tuple[str, ...]:
    text = host.read_text(APT_HISTORY) or ""
    out: list[str] = []
    date = ""
    for line in text.splitlines():
        if line.startswith("Start-Date:"):
            date = line.split(":", 1)[1].strip()
        elif _APT_NVIDIA.match(line):
            entry = line.strip()
            out.append(f"{date}: {entry[:300]}" if date else entry[:300])
    return tuple(out[-limit:])


def kernel_driver_state(host: Host) -> KernelDriverState:
    release = host.uname().get("release", "")
    proc_text = host.read_text(PROC_VERSION)
    driver = parse_proc_driver_version(proc_text) if proc_text else None
    first = proc_text.strip().splitlines()[0] if proc_text and proc_text.strip() else None
    sys_version = (host.read_text(SYS_MODULE_VERSION) or "").strip() or None
    others: list[str] = []
    for rel in host.listdir("/lib/modules"):
        if rel != release:
            others.extend(_modules_for(host, rel))
    blacklist = " ".join(host.read_text(p) or "" for p in host.glob("/etc/modprobe.d/*.conf"))
    return KernelDriverState(
        kernel_release=release,
        proc_version_line=first,
        driver=driver,
        sys_module_version=sys_version,
        dev_nodes=tuple(host.glob("/dev/nvidia*")),
        nvml_libs=_versioned_libs(host, "libnvidia-ml"),
        libcuda_libs=_versioned_libs(host, "libcuda"),
        modules_running_kernel=_modules_for(host, release) if release else (),
        modules_other_kernels=tuple(others),
        nouveau_loaded=host.is_dir("/sys/module/nouveau"),
        nouveau_blacklisted=bool(re.search(r"^[ \t]*blacklist[ \t]+nouveau\b", blacklist, re.M)),
        apt_history=_apt_history(host),
    )


CAPTURE = Capture(
    "driver",
    commands=((LDCONFIG_ARGV, 10.0),),
    files=(
        PROC_VERSION,
        "/proc/driver/nvidia/gpus/*/information",
        SYS_MODULE_VERSION,
        "/sys/module/nvidia_*/version",
        "/proc/modules",
        "/etc/modprobe.d/*nouveau*",
        "/etc/modprobe.d/*nvidia*",
    ),
    names=(
        "/dev/nvidia*",
        "/usr/lib/*-linux-gnu/libcuda.so*",
        "/usr/lib/*-linux-gnu/libnvidia-ml.so*",
        "/usr/lib/*-linux-gnu/libnvidia-*.so*",
        "/usr/lib64/libcuda.so*",
        "/usr/lib64/libnvidia-ml.so*",
        "/lib/modules/{release}/updates/dkms/nvidia*",
        "/lib/modules/{release}/kernel/drivers/video/nvidia*",
        "/lib/modules/{release}/extra/nvidia*",
        "/lib/modules/{release}/kernel/drivers/gpu/drm/nouveau*",
    ),
    tools=("ldconfig", "dkms"),
    entries=(kernel_driver_state,),
)
