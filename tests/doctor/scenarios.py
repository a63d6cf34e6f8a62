"""Snapshot trees of whole machines for the doctor's scenario tests.

:func:`build` writes a :class:`Machine` into a SnapshotWriter: the files a live
run reads (/etc/os-release, /proc and /sys, /dev nodes, libraries, kernel
modules, toolkits, site-packages), the commands it runs (``nvidia-smi -q -x``,
``nvcc --version``, ``mokutil --sb-state``) and the in-process probes
(``probes.nvml``, ``probes.python``, ``probes.frameworks.<name>``). The
default Machine is healthy; each failure mode F1-F12 (docs/design.md)
is the healthy machine with the few facts that make it fail changed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gputk.snapshot import SnapshotWriter

SITE = "/home/user/venv/lib/python3.11/site-packages"
LIB = "/usr/lib/x86_64-linux-gnu"
UUID = "GPU-8f6c1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b"

OS_RELEASE = {
    "ubuntu": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
    "fedora": 'PRETTY_NAME="Fedora Linux 40 (Workstation Edition)"\nNAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n',
}

NVCC_OUT = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2024 NVIDIA Corporation
Built on Thu_Mar_28_02:18:24_PDT_2024
Cuda compilation tools, release {release}, V{full}
Build cuda_{release}.r{release}/compiler.34097967_0
"""


@dataclass(frozen=True)
class Gpu:
    name: str = "NVIDIA H100 80GB HBM3"
    device_id: str = "2330"
    cc: str = "9.0"
    bus: str = "0000:01:00.0"
    uuid: str = UUID
    bound: str | None = "nvidia"  # kernel driver bound in sysfs


def torch_ok(**over: Any) -> dict[str, Any]:
    base = {
        "status": "ok",
        "version": "2.4.0+cu124",
        "cuda_build": "12.4",
        "cpu_only_build": False,
        "cudnn_build": 90100,
        "gpu_count": 1,
        "gpus": ["NVIDIA H100 80GB HBM3"],
        "capabilities": ["9.0"],
        "arch_list": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
        "op_ok": True,
    }
    return {**base, **over}


def tf_ok(**over: Any) -> dict[str, Any]:
    base = {
        "status": "ok",
        "version": "2.17.0",
        "cuda_build": "12.3",
        "cudnn_build": "8",
        "cpu_only_build": False,
        "arch_list": ["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"],
        "gpu_count": 1,
        "gpus": ["/physical_device:GPU:0"],
        "op_ok": True,
    }
    return {**base, **over}


KERNEL_LOG_HEALTHY = (
    "2024-05-01T10:00:01+0000 gpubox kernel: nvidia: loading out-of-tree module taints kernel.\n"
    "2024-05-01T10:00:01+0000 gpubox kernel: nvidia-nvlink: Nvlink Core is being initialized, major device number 511\n"
    "2024-05-01T10:00:02+0000 gpubox kernel: NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15  "
    "Release Build  (dvs-builder@U16-I3-C01-1-1)  Tue Mar  5 22:23:56 UTC 2024\n"
)


@dataclass(frozen=True)
class Machine:
    distro: str = "ubuntu"
    kernel: str = "6.8.0-45-generic"
    gpus: tuple[Gpu, ...] = (Gpu(),)
    module_loaded: str | None = "550.54.15"  # version of the loaded nvidia module, None: not loaded
    open_module: bool = False
    dev_nodes: bool = True
    user_space: str | None = "550.54.15"  # libnvidia-ml.so.<version> on disk
    module_kernels: tuple[str, ...] | None = None  # kernels with nvidia.ko (default: the running one)
    cuda_driver: str = "12.4"
    nvml: str | None = "ok"  # NvmlResult status; None: not captured
    nvml_lost: tuple[int, ...] = ()  # indices NVML lists without a handle (GPU lost, no bus id)
    nvml_detail: str | None = None  # nvmlInit's detail when nvml is not "ok"
    smi: str | None = "ok"  # "ok" | "mismatch" | "no-driver" | "timeout" | "missing" | None: not captured
    smi_text: str | None = None  # a recorded `nvidia-smi -q -x` to use instead of the generated one
    toolkits: tuple[str, ...] = ("12.4.1",)  # /usr/local/cuda-X.Y.Z
    distro_nvcc: str | None = None  # /usr/bin/nvcc of the distro package, e.g. "11.5.119"
    nvcc_on_path: bool = True
    env: dict[str, str] = field(default_factory=dict)
    ld_library_path: str | None = None
    frameworks: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"torch": torch_ok(), "tensorflow": tf_ok()}
    )
    pip_wheels: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "cudnn": ("9.1.0.70", "libcudnn.so.9"),
            "nvjitlink": ("12.4.127", "libnvJitLink.so.12"),
        }
    )
    secure_boot: bool = False
    nouveau: bool = False
    wsl: bool = False
    container: bool = False
    apt_history: str | None = None
    extra_files: dict[str, str] = field(default_factory=dict)
    # New evidence (docs/snapshot.md): None leaves the command out of the snapshot.
    kernel_log: str | None = KERNEL_LOG_HEALTHY  # `journalctl -k -b ...` output (systemd present)
    units: str | None = None  # `systemctl show ...` output
    fm_version: str | None = None  # `nv-fabricmanager --version` -> "Fabric Manager version is : X"
    nvswitches: tuple[str, ...] = ()  # bus ids of NVSwitch bridges in sysfs
    ls_dev: str | None = None  # `ls -l /dev` output
    id_text: str | None = None  # `id` output
    modinfo: str | None = None  # `modinfo nvidia` output
    extra_commands: dict[tuple[str, ...], str] = field(default_factory=dict)

    def but(self, **changes: Any) -> Machine:
        return dataclasses.replace(self, **changes)


def smi_xml(m: Machine) -> str:
    gpus = "".join(
        f"""  <gpu id="0000{g.bus}">
    <product_name>{g.name}</product_name>
    <persistence_mode>Enabled</persistence_mode>
    <uuid>{g.uuid}</uuid>
    <pci><pci_bus_id>0000{g.bus}</pci_bus_id><pci_device_id>0x{g.device_id.upper()}10DE</pci_device_id></pci>
    <fb_memory_usage><total>81559 MiB</total><used>1 MiB</used></fb_memory_usage>
  </gpu>
"""
        for g in m.gpus
    )
    return f"""<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
  <driver_version>{m.module_loaded}</driver_version>
  <cuda_version>{m.cuda_driver}</cuda_version>
  <attached_gpus>{len(m.gpus)}</attached_gpus>
{gpus}</nvidia_smi_log>
"""


def _nvml(m: Machine) -> dict[str, Any]:
    if m.nvml != "ok":
        detail = m.nvml_detail or f"nvmlInit failed ({m.nvml})"
        return {"schema": 1, "status": m.nvml, "detail": detail, "gpus": []}
    return {
        "schema": 1,
        "status": "ok",
        "driver_version": m.module_loaded,
        "cuda_driver_version": m.cuda_driver,
        "nvml_version": f"12.{m.module_loaded}",
        "device_count": len(m.gpus),
        "gpus": [
            {
                "index": i,
                "name": g.name,
                "uuid": g.uuid,
                "pci_bus_id": g.bus,
                "compute_capability": g.cc,
                "pci_device_id": g.device_id,
                "vendor": "nvidia",
            }
            if i not in m.nvml_lost
            else {"index": i, "vendor": "nvidia", "lost": True}
            for i, g in enumerate(m.gpus)
        ],
    }


def _pci(w: SnapshotWriter, m: Machine) -> None:
    for g in m.gpus:
        d = f"/sys/bus/pci/devices/{g.bus}"
        w.add_file(f"{d}/class", "0x030200\n").add_file(f"{d}/vendor", "0x10de\n")
        w.add_file(f"{d}/device", f"0x{g.device_id}\n")
        if g.bound:
            w.add_dir(f"/sys/bus/pci/drivers/{g.bound}")
            w.add_symlink(f"{d}/driver", f"/sys/bus/pci/drivers/{g.bound}")
    # A BMC's VGA controller is on most servers too; it must never count as the GPU.
    d = "/sys/bus/pci/devices/0000:03:00.0"
    w.add_file(f"{d}/class", "0x030000\n").add_file(f"{d}/vendor", "0x102b\n").add_file(
        f"{d}/device", "0x0522\n"
    )


def _driver(w: SnapshotWriter, m: Machine) -> None:
    if m.module_loaded:
        kind = "Open Kernel Module for x86_64" if m.open_module else "x86_64 Kernel Module"
        w.add_file(
            "/proc/driver/nvidia/version",
            f"NVRM version: NVIDIA UNIX {kind}  {m.module_loaded}  Release Build  Tue Mar  5 22:23:56 UTC 2024\n"
            "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n",
        )
        w.add_file("/sys/module/nvidia/version", m.module_loaded + "\n")
    if m.dev_nodes:
        for node in ("nvidiactl", "nvidia-uvm", *(f"nvidia{i}" for i in range(len(m.gpus)))):
            w.add_file(f"/dev/{node}")
    if m.user_space:
        w.add_file(f"{LIB}/libnvidia-ml.so.{m.user_space}", b"\x7fELF")
        w.add_symlink(f"{LIB}/libnvidia-ml.so.1", f"{LIB}/libnvidia-ml.so.{m.user_space}")
        w.add_file(f"{LIB}/libcuda.so.{m.user_space}", b"\x7fELF")
        w.add_file("/usr/bin/nvidia-smi", "#!/bin/sh\n")
    for k in (m.kernel,) if m.module_kernels is None else m.module_kernels:
        w.add_file(f"/lib/modules/{k}/updates/dkms/nvidia.ko", b"\x7fELF")
    w.add_dir(f"/lib/modules/{m.kernel}/kernel")
    if m.nouveau:
        w.add_dir("/sys/module/nouveau")
    if m.apt_history:
        w.add_file("/var/log/apt/history.log", m.apt_history)


def _smi(w: SnapshotWriter, m: Machine) -> None:
    argv = ["nvidia-smi", "-q", "-x"]
    if m.smi == "ok":
        w.add_command(argv, m.smi_text or smi_xml(m))
    elif m.smi == "mismatch":
        w.add_command(
            argv,
            "Failed to initialize NVML: Driver/library version mismatch\n"
            f"NVML library version: {m.user_space}\n",
            returncode=18,
        )
    elif m.smi == "no-driver":
        w.add_command(
            argv,
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
            "Make sure that the latest NVIDIA driver is installed and running.\n",
            returncode=9,
        )
    elif m.smi == "timeout":
        w.add_command(argv, error="timeout", timeout_s=15.0)
    elif m.smi == "missing":
        w.add_command(argv, error="not-found")


def _toolkits(w: SnapshotWriter, m: Machine) -> list[str]:
    path_dirs: list[str] = []
    for v in m.toolkits:
        release = ".".join(v.split(".")[:2])
        root = f"/usr/local/cuda-{release}"
        w.add_file(f"{root}/bin/nvcc", "#!/bin/sh\n")
        w.add_file(f"{root}/version.json", f'{{"cuda": {{"name": "CUDA SDK", "version": "{v}"}}}}\n')
        w.add_dir(f"{root}/lib64")
    if m.toolkits:
        newest = ".".join(m.toolkits[-1].split(".")[:2])
        w.add_symlink("/usr/local/cuda", f"/usr/local/cuda-{newest}")
        if m.nvcc_on_path:
            path_dirs.append("/usr/local/cuda/bin")
    nvcc_version = m.toolkits[-1] if m.toolkits else None
    if m.distro_nvcc:
        w.add_file("/usr/bin/nvcc", "#!/bin/sh\n")
        nvcc_version = m.distro_nvcc
    if nvcc_version and (m.nvcc_on_path or m.distro_nvcc):
        release = ".".join(nvcc_version.split(".")[:2])
        w.add_command(["nvcc", "--version"], NVCC_OUT.format(release=release, full=nvcc_version))
    return path_dirs


def _python(w: SnapshotWriter, m: Machine) -> None:
    w.set_probe(
        "python",
        {
            "status": "ok",
            "executable": "/home/user/venv/bin/python",
            "version": "3.11.9",
            "implementation": "CPython",
            "prefix": "/home/user/venv",
            "base_prefix": "/usr",
            "in_venv": True,
            "conda": False,
            "site_packages": [SITE],
            "user_site": None,
        },
    )
    w.add_file("/home/user/venv/bin/python", "")
    for comp, (version, soname) in m.pip_wheels.items():
        w.add_file(f"{SITE}/nvidia/{comp}/lib/{soname}", b"\x7fELF")
        w.add_dir(f"{SITE}/nvidia_{comp}_cu12-{version}.dist-info")
        if comp == "cudnn":
            major, minor, patch = version.split(".")[:3]
            w.add_file(
                f"{SITE}/nvidia/cudnn/include/cudnn_version.h",
                f"#define CUDNN_MAJOR {major}\n#define CUDNN_MINOR {minor}\n#define CUDNN_PATCHLEVEL {patch}\n",
            )
    for name in ("tensorflow", "cupy", "numba", "torch", "jax"):
        result = m.frameworks.get(name, {"status": "not-installed"})
        w.set_probe(f"frameworks.{name}", result)
        if result.get("status") != "not-installed":
            w.add_file(f"{SITE}/{name}/__init__.py", "")


def _system(w: SnapshotWriter, m: Machine) -> None:
    """The kernel log, service units, device node listing, id, modinfo and NVSwitches."""
    from gputk.probes import kernel_log, system

    if m.kernel_log is not None:
        w.add_dir(kernel_log.SYSTEMD_MARKER)
        w.add_command(list(kernel_log.JOURNAL_ARGV), m.kernel_log)
    if m.units is not None:
        w.add_command(list(system.SYSTEMCTL_ARGV), m.units)
    if m.fm_version is not None:
        w.add_file("/usr/bin/nv-fabricmanager", "#!/bin/sh\n")
        w.add_command(list(system.FM_VERSION_ARGV), f"Fabric Manager version is : {m.fm_version}\n")
    for bus in m.nvswitches:
        d = f"/sys/bus/pci/devices/{bus}"
        w.add_file(f"{d}/class", "0x068000\n").add_file(f"{d}/vendor", "0x10de\n").add_file(
            f"{d}/device", "0x22a3\n"
        )
    if m.ls_dev is not None:
        w.add_command(list(system.LS_DEV_ARGV), m.ls_dev)
    if m.id_text is not None:
        w.add_command(list(system.ID_ARGV), m.id_text)
    if m.modinfo is not None:
        w.add_command(list(system.MODINFO_ARGV), m.modinfo)
    for argv, out in m.extra_commands.items():
        w.add_command(list(argv), out)


def build(w: SnapshotWriter, m: Machine) -> SnapshotWriter:
    """Write machine ``m`` into the snapshot ``w`` (returns ``w``; call ``w.host()`` to read it)."""
    release = f"{m.kernel.split('-')[0]}.0-microsoft-standard-WSL2" if m.wsl else m.kernel
    w.set_platform(system="Linux", node="gpubox", release=release, version="#1 SMP", machine="x86_64")
    w.add_file("/etc/os-release", OS_RELEASE[m.distro])
    if m.wsl:
        w.add_file("/proc/version", f"Linux version {release} (root@1ab2) #1 SMP Microsoft WSL2\n")
        w.add_file("/dev/dxg").add_file("/usr/lib/wsl/lib/libcuda.so.1", b"\x7fELF")
    else:
        w.add_file("/proc/version", f"Linux version {release} (buildd@lcy02) #45-Ubuntu SMP\n")
        _pci(w, m)
        _driver(w, m)
    if m.container:
        w.add_file("/.dockerenv", "")
        w.add_file("/proc/1/cgroup", "0::/docker/4f1c2a\n")
    w.add_command(["mokutil", "--sb-state"], f"SecureBoot {'enabled' if m.secure_boot else 'disabled'}\n")
    w.add_file("/usr/bin/mokutil", "#!/bin/sh\n")
    path_dirs = _toolkits(w, m)
    _smi(w, m)
    if m.nvml is not None:
        w.set_probe("nvml", _nvml(m))
    _python(w, m)
    for path, text in m.extra_files.items():
        w.add_file(path, text)
    _system(w, m)
    env = {
        "PATH": ":".join(
            [
                "/home/user/venv/bin",
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                *path_dirs,
                "/sbin",
                "/bin",
            ]
        ),
        "HOME": "/home/user",
        "USER": "user",
        "VIRTUAL_ENV": "/home/user/venv",
    }
    if m.ld_library_path is not None:
        env["LD_LIBRARY_PATH"] = m.ld_library_path
    env.update(m.env)
    w.set_env(env)
    return w


HEALTHY = Machine()
