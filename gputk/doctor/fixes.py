"""Fix commands tailored to the machine: apt vs dnf vs zypper vs pacman vs a .run install,
venv vs conda, WSL2, containers.

Commands come from the vendors' install guides and the fixes users converged on
(the failure modes F1-F12 in docs/design.md); each function says which.
"""

from __future__ import annotations

import shlex

from gputk.compat.version import Version
from gputk.models.doctor import Fix
from gputk.probes.platform import PlatformInfo

MODPROBE_BLACKLIST = "/etc/modprobe.d/blacklist-nouveau.conf"


def list_nvidia_pci(has_lspci: bool) -> str:
    """A command that lists the NVIDIA devices on the PCI bus, with a tool the machine has:
    ``lspci`` when installed, else sysfs, which needs no tool (0x10de is NVIDIA's vendor id)."""
    if has_lspci:
        return "lspci -nn | grep -i nvidia"
    return "grep -l 0x10de /sys/bus/pci/devices/*/vendor"


def branch_of(version: str | None) -> str | None:
    """``"535.104.05"`` -> ``"535"``: the driver branch packages are named after."""
    v = Version.parse(version)
    return str(v.major) if v is not None and v.major >= 100 else None


def install_driver(plat: PlatformInfo, branch: str | None = None) -> tuple[str, ...]:
    """Install (or upgrade to) an NVIDIA driver with the distro's package manager.

    Ubuntu: ``ubuntu-drivers`` / ``nvidia-driver-<branch>``; Fedora/RHEL: NVIDIA's
    CUDA repository ``cuda-drivers``; openSUSE: ``cuda-drivers`` too; Arch: ``nvidia``;
    anything else: the .run installer with ``--dkms`` (docs.nvidia.com/datacenter/tesla/driver-installation-guide).
    """
    if plat.wsl:
        # F10: a Linux driver inside WSL breaks the Windows-injected libcuda; drivers live on Windows.
        return (
            "# WSL2: update the NVIDIA driver on Windows (nvidia.com/drivers), never inside WSL",
            "wsl --shutdown  # in Windows PowerShell, then reopen the WSL terminal",
        )
    if plat.container:
        return (
            "# inside a container: the driver is the host's; upgrade it on the host, then restart the container",
        )
    pm = plat.package_manager
    if pm == "apt":
        if plat.distro_id == "ubuntu":
            pkg = (
                f"nvidia-driver-{branch}"
                if branch
                else "$(ubuntu-drivers devices | awk '/recommended/{print $3}')"
            )
            return ("sudo apt-get update", f"sudo apt-get install -y {pkg}", "sudo reboot")
        return (
            "sudo apt-get update",
            "sudo apt-get install -y nvidia-driver firmware-misc-nonfree",
            "sudo reboot",
        )
    if pm in ("dnf", "yum"):
        return (
            f"sudo {pm} install -y kernel-devel-$(uname -r) kernel-headers",
            f"sudo {pm} install -y cuda-drivers",
            "sudo reboot",
        )
    if pm == "zypper":
        return ("sudo zypper install -y cuda-drivers", "sudo reboot")
    if pm == "pacman":
        return ("sudo pacman -S --needed nvidia nvidia-utils", "sudo reboot")
    ver = f"{branch}.xx.yy" if branch else "<version>"
    return (f"sudo sh NVIDIA-Linux-$(uname -m)-{ver}.run --dkms", "sudo reboot")


def install_package(plat: PlatformInfo, name: str) -> str:
    """One distro package, with the detected package manager."""
    pm = plat.package_manager
    if pm == "apt":
        return f"sudo apt-get install -y {name}"
    if pm in ("dnf", "yum", "zypper"):
        return f"sudo {pm} install -y {name}"
    if pm == "pacman":
        return f"sudo pacman -S --needed {name}"
    return f"install the {name} package"


def kernel_headers(plat: PlatformInfo) -> str:
    pm = plat.package_manager
    if pm == "apt":
        return "sudo apt-get install -y linux-headers-$(uname -r) dkms"
    if pm in ("dnf", "yum"):
        return f"sudo {pm} install -y kernel-devel-$(uname -r) kernel-headers dkms"
    if pm == "zypper":
        return "sudo zypper install -y kernel-default-devel dkms"
    if pm == "pacman":
        return "sudo pacman -S --needed linux-headers dkms"
    return "install the headers of the running kernel (linux-headers-$(uname -r)) and dkms"


def rebuild_module(plat: PlatformInfo, version: str | None) -> tuple[str, ...]:
    """Build the nvidia module for the running kernel (F2: kernel updated, DKMS did not rebuild)."""
    dkms = f"sudo dkms install -m nvidia -v {version} -k $(uname -r)" if version else "sudo dkms autoinstall"
    return (kernel_headers(plat), dkms, "sudo modprobe nvidia", "nvidia-smi")


def update_initramfs(plat: PlatformInfo) -> str:
    """Rebuild the initramfs so modprobe.d changes reach early boot."""
    if plat.package_manager in ("dnf", "yum", "zypper"):
        return "sudo dracut --force"
    if plat.package_manager == "pacman":
        return "sudo mkinitcpio -P"
    return "sudo update-initramfs -u"


def blacklist_nouveau(plat: PlatformInfo) -> tuple[str, ...]:
    """Keep nouveau off the GPU (NVIDIA installation guide, "Disabling Nouveau")."""
    return (
        f"printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee {MODPROBE_BLACKLIST}",
        update_initramfs(plat),
        "sudo reboot",
    )


def enroll_mok(plat: PlatformInfo) -> tuple[str, ...]:
    """Sign-and-enroll for Secure Boot: DKMS's key (Ubuntu/Debian path; Fedora akmods uses
    /etc/pki/akmods/certs/public_key.der). ``mokutil --import`` asks for a one-time password
    that the firmware's MOK manager asks for at the next boot."""
    key = (
        "/etc/pki/akmods/certs/public_key.der"
        if plat.package_manager in ("dnf", "yum")
        else "/var/lib/dkms/mok.pub"
    )
    return (
        f"sudo mokutil --import {key}",
        "sudo reboot  # choose 'Enroll MOK' in the blue MOK manager screen",
    )


def wedged_driver() -> Fix:
    """A GPU tool or NVML stopped answering: the kernel log says why; a reset or a reboot clears it."""
    return Fix(
        "The driver is wedged: read the kernel log (an Xid or 'fallen off the bus' names the GPU), "
        "then reset the GPU or reboot; drain the node first on a cluster.",
        (
            "sudo dmesg | grep -iE 'xid|nvrm' | tail",
            "sudo nvidia-smi -r   # when no process uses the GPU",
            "sudo reboot",
        ),
    )


def reload_modules() -> tuple[str, ...]:
    """F1: load the new module without a reboot (only when no process holds the GPU)."""
    return (
        "sudo reboot",
        "# or, with no process using the GPU (see `sudo lsof /dev/nvidia*`):",
        "sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia",
    )


def hold_driver_packages(plat: PlatformInfo) -> tuple[str, ...]:
    """Stop unattended upgrades from replacing the user-space driver under a loaded module (F1)."""
    if plat.package_manager == "apt":
        return (
            "sudo apt-mark hold $(dpkg-query -W -f='${Package}\\n' 'nvidia-*' 'libnvidia-*' 2>/dev/null)",
        )
    if plat.package_manager in ("dnf", "yum"):
        return (
            f"sudo {plat.package_manager} install -y 'dnf-command(versionlock)'",
            f"sudo {plat.package_manager} versionlock add 'nvidia-*' 'cuda-drivers*'",
        )
    return ()


def container_gpu(plat: PlatformInfo) -> Fix:
    """F11: start the container with the GPUs and the NVIDIA runtime on the host."""
    if plat.container == "kubernetes":
        return Fix(
            "Request GPUs in the pod spec (resources.limits nvidia.com/gpu) and run the NVIDIA device plugin "
            "or GPU operator on the node.",
            ("kubectl describe node <node> | grep nvidia.com/gpu",),
        )
    if plat.container == "podman":
        return Fix(
            "Start the container with the GPUs through CDI; on the host, nvidia-container-toolkit generates the spec.",
            (
                "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml  # on the host",
                "podman run --device nvidia.com/gpu=all ...",
            ),
        )
    return Fix(
        "Start the container with the GPUs (`--gpus all`); on the host, install nvidia-container-toolkit and "
        "register its runtime with Docker.",
        (
            "docker run --gpus all ...",
            "# on the host, once:",
            "sudo apt-get install -y nvidia-container-toolkit  # or dnf/zypper, from NVIDIA's repository",
            "sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker",
        ),
    )


def pip_install(
    plat: PlatformInfo, *specs: str, index_url: str | None = None, reinstall: bool = False
) -> str:
    """``python -m pip install ...`` for the target interpreter (its full path outside a venv/conda env)."""
    exe = "python" if plat.env_kind in ("venv", "conda") else str(plat.python.get("executable") or "python3")
    flags = " --force-reinstall" if reinstall else ""
    idx = f" --index-url {index_url}" if index_url else ""
    return f"{exe} -m pip install{flags} {' '.join(shlex.quote(s) for s in specs)}{idx}"


def wsl_remove_linux_driver(plat: PlatformInfo) -> tuple[str, ...]:
    """F10: a Linux driver inside WSL overrides the Windows-injected libcuda."""
    if plat.package_manager == "apt":
        return (
            "sudo apt-get remove --purge '^nvidia-.*' '^libnvidia-.*' cuda-drivers",
            "sudo apt-get autoremove",
            "# install only the toolkit from NVIDIA's wsl-ubuntu repository: sudo apt-get install cuda-toolkit-12-x",
        )
    return ("remove every nvidia driver package inside WSL; keep only the Windows driver",)
