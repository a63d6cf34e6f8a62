"""Platform and hardware checks: platform.os, platform.wsl, platform.container, hardware.gpu."""

from __future__ import annotations

from gputk.doctor import fixes
from gputk.doctor.base import Outcome, check, ev, failed, passed, warned
from gputk.doctor.context import Context
from gputk.models.doctor import Evidence, Fix
from gputk.models.gpu import GpuRecord
from gputk.parsers.kernel_log import bus_uuids


@check("platform.os", "Operating system and Python environment")
def platform_os(ctx: Context) -> Outcome:
    p = ctx.platform()
    py = p.python
    evidence = [
        ev("/etc/os-release", p.distro_name or "not found"),
        ev("uname -srm", f"{p.system} {p.kernel} {p.machine}"),
        ev("package manager", p.package_manager or "unknown"),
    ]
    where = {"venv": "venv", "conda": "conda env", "system": "system interpreter"}[p.env_kind]
    if py.get("status") == "ok":
        evidence.append(
            ev("target python", f"{py.get('executable')} ({py.get('version')}, prefix {py.get('prefix')})")
        )
        py_text = f"Python {py.get('version')} ({where} {py.get('prefix')})"
    else:
        evidence.append(ev("target python", py.get("detail") or py.get("status", "unknown")))
        py_text = (
            "Python: not captured"
            if py.get("status") == "not-captured"
            else "Python: the target interpreter did not answer"
        )
    summary = f"{p.distro_name or p.system or 'unknown OS'}, kernel {p.kernel or '?'}, {p.machine or '?'}; {py_text}"
    if p.system and p.system != "Linux":
        return warned(summary + f"; gputk diagnoses Linux and WSL2, not {p.system}", evidence)
    if py.get("status") in ("unavailable", "error"):
        return warned(
            summary,
            evidence,
            Fix(
                "Point gputk at the interpreter you use for deep learning.",
                ("export GPUTK_PYTHON=/path/to/your/env/bin/python",),
            ),
        )
    return passed(summary, *evidence)


@check("platform.wsl", "WSL2 uses the Windows driver")
def platform_wsl(ctx: Context) -> Outcome:
    p = ctx.platform()
    if not p.wsl:
        return passed("not WSL", ev("/proc/version", "no 'microsoft' in it"))
    evidence = [
        ev("/proc/version", "Microsoft kernel (WSL)"),
        ev("/dev/dxg", "present" if p.wsl_dxg else "absent"),
    ]
    if not p.wsl2:
        return failed(
            "WSL1 has no GPU support",
            evidence,
            Fix(
                "Convert the distribution to WSL2 (in Windows PowerShell).", ("wsl --set-version <distro> 2",)
            ),
        )
    k = ctx.kernel()
    linux_libcuda = [lib for lib in k.libcuda_libs if not lib.path.startswith("/usr/lib/wsl/")]
    linux_ko = list(k.modules_running_kernel)
    if linux_libcuda or linux_ko:
        evidence += [ev(lib.path, f"a Linux driver's libcuda {lib.version}") for lib in linux_libcuda]
        evidence += [ev(path, "a Linux nvidia kernel module") for path in linux_ko]
        return failed(
            "a Linux NVIDIA driver is installed inside WSL2; it overrides the libcuda the Windows driver provides",
            evidence,
            Fix(
                "Inside WSL use only the Windows driver: remove the Linux driver packages, keep the toolkit.",
                fixes.wsl_remove_linux_driver(p),
            ),
        )
    if not p.wsl_lib:
        return failed(
            "WSL2 without /usr/lib/wsl/lib/libcuda.so: the Windows NVIDIA driver does not expose the GPU",
            evidence,
            Fix(
                "Install or update the NVIDIA driver on Windows (not inside WSL), then restart WSL.",
                ("wsl --shutdown  # in Windows PowerShell",),
            ),
        )
    evidence.append(ev("/usr/lib/wsl/lib", "libcuda.so from the Windows driver"))
    return passed("WSL2: the GPU is served by the Windows driver through /dev/dxg", *evidence)


@check("platform.container", "Container has the GPUs passed in")
def platform_container(ctx: Context) -> Outcome:
    p = ctx.platform()
    if not p.container:
        return passed("not in a container")
    evidence = [ev("container markers", "; ".join(p.container_evidence))]
    nodes = ctx.kernel().dev_nodes
    nvd = ctx.host.env.get("NVIDIA_VISIBLE_DEVICES")
    evidence.append(ev("/dev/nvidia*", " ".join(nodes) if nodes else "none"))
    evidence.append(ev("$NVIDIA_VISIBLE_DEVICES", nvd if nvd is not None else "unset"))
    if nodes and nvd not in ("void", "none", ""):
        return passed(
            f"inside {p.container}; GPU devices passed in ({len(nodes)} /dev/nvidia* nodes)", *evidence
        )
    if p.wsl and p.wsl_dxg:
        return passed(f"inside {p.container} on WSL2; /dev/dxg passed in", *evidence)
    pci = ctx.pci()
    if pci.status == "ok" and not ctx.nvidia_pci():
        return passed(f"inside {p.container}; no NVIDIA GPU on this host to pass in", *evidence)
    return failed(
        f"inside a {p.container} container without GPU access (no /dev/nvidia*"
        + (", NVIDIA_VISIBLE_DEVICES unset)" if nvd is None else f", NVIDIA_VISIBLE_DEVICES={nvd})"),
        evidence,
        fixes.container_gpu(p),
    )


def _on_the_bus(ctx: Context, gpus: list[GpuRecord], evidence: list[Evidence]) -> Outcome:
    """NVIDIA GPUs were found on the bus: name each (the merged view's name) and its bound driver."""
    views = {v.bus_id: v for v in ctx.gpus()}
    lines = []
    for g in gpus:
        view = views.get(g.pci_bus_id)
        name = (view.name if view else None) or g.name or f"10de:{g.pci_device_id}"
        lines.append(f"{name} ({g.pci_bus_id}, driver {g.kernel_driver or 'none bound'})")
        evidence.append(
            ev(
                f"/sys/bus/pci/devices/{g.pci_bus_id}",
                f"10de:{g.pci_device_id} class {g.pci_class} driver={g.kernel_driver or 'none'}",
            )
        )
    n = len(gpus)
    summary = f"{n} NVIDIA GPU{'s' if n > 1 else ''}: " + "; ".join(lines)
    vfio = [g for g in gpus if g.kernel_driver == "vfio-pci"]
    if vfio and len(vfio) == n:
        return warned(
            summary + " - bound to vfio-pci (reserved for a VM), not usable here",
            evidence,
            Fix(
                "Unbind the GPU from vfio-pci (remove it from the vfio-pci ids= option) if this host should use it.",
                ("grep -r vfio /etc/modprobe.d /etc/default/grub",),
            ),
        )
    return passed(summary, *evidence)


def _gone_from_the_bus(ctx: Context, evidence: list[Evidence]) -> Outcome | None:
    """No NVIDIA GPU on the bus now, but this boot's kernel log shows the driver had one: it fell
    off the bus (or was removed), which is not "this machine has no GPU"."""
    kl = ctx.kernel_log()
    seen = sorted({x.bus_id for x in kl.log.xids if x.bus_id} | set(bus_uuids(kl.log)))
    if not seen:
        return None
    evidence += [ev(f"kernel log ({kl.source})", x.line[:200]) for x in kl.log.xids[-3:]]
    return failed(
        f"no NVIDIA GPU on the PCI bus now, but the kernel log of this boot shows {', '.join(seen)}: "
        "the GPU dropped off the bus (power, seating, riser, firmware), it is not missing from the machine",
        evidence,
        Fix(
            "Reboot; if it does not come back, power off and reseat the GPU and its power cables.",
            ("sudo dmesg | grep -iE 'xid|fallen off|NVRM'", "sudo reboot"),
        ),
    )


@check("hardware.gpu", "NVIDIA GPU on the PCI bus", after=("platform.wsl",))
def hardware_gpu(ctx: Context) -> Outcome:
    pci = ctx.pci()
    gpus = ctx.nvidia_pci()
    evidence: list[Evidence] = [ev(f"PCI bus ({pci.source or 'unreadable'})", pci.detail or pci.status)]
    if gpus:
        return _on_the_bus(ctx, gpus, evidence)
    p = ctx.platform()
    if p.wsl2 and p.wsl_dxg and p.wsl_lib:
        return passed(
            "WSL2: the GPU is paravirtualised through /dev/dxg (not on a PCI bus here)",
            ev("/dev/dxg", "present"),
        )
    smi_gpus = ctx.smi().gpus
    nvml = ctx.nvml()
    if pci.status != "ok" and (nvml.gpus or smi_gpus):
        count = len(nvml.gpus or smi_gpus)
        return passed(f"{count} NVIDIA GPU(s) reported by the driver (PCI bus not readable here)", *evidence)
    if pci.status != "ok":
        return warned(
            "could not read the PCI bus: " + (pci.detail or pci.status),
            evidence,
            Fix("Install pciutils so `lspci` can list the devices.", (fixes.install_package(p, "pciutils"),)),
        )
    others = [r.name or f"{r.pci_vendor_id}:{r.pci_device_id}" for r in pci.records]
    if others:
        evidence.append(ev("other display devices", "; ".join(others)))
    gone = _gone_from_the_bus(ctx, evidence)
    if gone is not None:
        return gone
    return failed(
        "no GPU found on the PCI bus" + (f" (display devices: {', '.join(others)})" if others else ""),
        evidence,
        Fix(
            "This machine has no NVIDIA GPU. Run on a GPU machine; in a VM, have the GPU passed through "
            "(PCI passthrough) or pick a GPU instance type.",
            (fixes.list_nvidia_pci(ctx.host.which("lspci") is not None),),
        ),
    )
