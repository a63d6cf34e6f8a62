"""GPUs on the PCI bus, whatever state the driver is in.

Shell equivalent::

    for d in /sys/bus/pci/devices/*; do
        cat $d/class $d/vendor $d/device           # 0x030200 0x10de 0x2330
        basename "$(readlink $d/driver)"           # nvidia | nouveau | vfio-pci | (none)
    done
    lspci -vmm -nn -k -D                           # names: "Device: GH100 [H100 SXM5 80GB] [2330]"

sysfs gives the ids, the class and the bound kernel driver of every function;
only display controllers (class ``0x03xxxx``) are kept. ``lspci`` adds names
when it is installed; otherwise names come from the pci.ids database where the
system has one. In a container without ``/sys/bus/pci`` lspci alone answers;
with neither, the scan says why.
"""

from __future__ import annotations

import dataclasses
import posixpath
from dataclasses import dataclass, field
from typing import Literal

from gputk.host import Host
from gputk.models.gpu import GpuRecord, normalize_bus_id, vendor_from_pci_id
from gputk.parsers.lspci import parse_lspci
from gputk.parsers.pci_ids import hex_id, pci_ids_names
from gputk.probes.capture import Capture

SYSFS_PCI = "/sys/bus/pci/devices"
LSPCI_ARGV = ("lspci", "-vmm", "-nn", "-k", "-D")
LSPCI_TIMEOUT_S = 10.0
PCI_IDS_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")

PciStatus = Literal["ok", "unavailable", "error"]


@dataclass(frozen=True)
class PciScan:
    """What the PCI bus shows.

    ``records``: one :class:`GpuRecord` per display-class function (NVIDIA, AMD,
    Intel and others), with ``pci_bus_id``, ids, ``pci_class``, ``kernel_driver``
    (None when no driver is bound) and ``name`` where lspci or pci.ids knew it.
    ``source``: ``"sysfs"`` when sysfs enumerated the bus, ``"lspci"`` when only
    lspci could, None when neither. ``status``: ``"ok"`` (the bus was read, even
    if it holds no GPU), ``"unavailable"`` (no sysfs and no lspci), ``"error"``
    (lspci failed and there is no sysfs). ``detail``: one line for the user.
    ``names_from``: ``"lspci"``, ``"pci.ids"`` or None.
    """

    records: tuple[GpuRecord, ...] = ()
    source: str | None = None
    status: PciStatus = "ok"
    detail: str = ""
    names_from: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _sysfs_records(host: Host) -> list[GpuRecord] | None:
    """Display functions from sysfs; None when sysfs has no PCI bus (a container, a snapshot without it)."""
    if not host.is_dir(SYSFS_PCI):
        return None
    records = []
    for path in host.glob(f"{SYSFS_PCI}/*"):
        cls = hex_id(host.read_text(f"{path}/class"), 6)
        if cls is None or not cls.startswith("03"):
            continue
        vendor_id = hex_id(host.read_text(f"{path}/vendor"))
        sub_vendor = hex_id(host.read_text(f"{path}/subsystem_vendor"))
        sub_device = hex_id(host.read_text(f"{path}/subsystem_device"))
        link = host.readlink(f"{path}/driver")
        records.append(
            GpuRecord(
                source="sysfs",
                vendor=vendor_from_pci_id(vendor_id) or "other",
                pci_bus_id=normalize_bus_id(posixpath.basename(path)),
                pci_vendor_id=vendor_id,
                pci_device_id=hex_id(host.read_text(f"{path}/device")),
                pci_subsystem_id=f"{sub_vendor}:{sub_device}" if sub_vendor and sub_device else None,
                pci_class=cls[:4],
                kernel_driver=posixpath.basename(link.rstrip("/")) if link else None,
            )
        )
    return records


def _name_from_pci_ids(host: Host, records: list[GpuRecord]) -> tuple[list[GpuRecord], bool]:
    wanted: set[tuple[str, str]] = {
        (r.pci_vendor_id, r.pci_device_id) for r in records if r.pci_vendor_id and r.pci_device_id
    }
    if not wanted:
        return records, False
    for path in PCI_IDS_PATHS:
        text = host.read_text(path)
        if text is None:
            continue
        names = pci_ids_names(text, wanted)
        out = [
            dataclasses.replace(r, name=names.get((r.pci_vendor_id or "", r.pci_device_id or ""), r.name))
            for r in records
        ]
        return out, True
    return records, False


def _merge_lspci(records: list[GpuRecord], lspci: list[GpuRecord]) -> list[GpuRecord]:
    """sysfs records, each named from lspci's record of the same bus id (lspci-only ones appended)."""
    by_bus = {r.pci_bus_id: r for r in lspci if r.pci_bus_id}
    out = []
    for r in records:
        other = by_bus.pop(r.pci_bus_id, None) if r.pci_bus_id else None
        if other is not None:
            r = dataclasses.replace(
                r,
                name=r.name or other.name,
                kernel_driver=r.kernel_driver or other.kernel_driver,
                pci_device_id=r.pci_device_id or other.pci_device_id,
            )
        out.append(r)
    return out + list(by_bus.values())


def pci_gpus(host: Host) -> PciScan:
    """Display controllers on the PCI bus, from sysfs and lspci (see module docstring)."""
    sysfs = _sysfs_records(host)
    res = host.run(LSPCI_ARGV, timeout=LSPCI_TIMEOUT_S)
    lspci: list[GpuRecord] | None = None
    notes: list[str] = []
    if res.ok:
        lspci = list(parse_lspci(res.stdout).gpus)
    elif res.error == "not-found":
        notes.append("lspci: not installed; apt install pciutils")
    elif res.error != "not-captured":
        notes.append(f"lspci failed: {res.describe()}")

    if sysfs is None and lspci is None:
        if res.error in ("not-found", "not-captured"):
            return PciScan(
                status="unavailable",
                detail="no /sys/bus/pci (a container?) and " + (notes[0] if notes else "lspci not captured"),
                notes=tuple(notes),
            )
        return PciScan(status="error", detail=notes[0] if notes else res.describe(), notes=tuple(notes))

    names_from: str | None = None
    if sysfs is None:
        records = lspci or []
        source = "lspci"
        names_from = "lspci"
    else:
        source = "sysfs"
        records = _merge_lspci(sysfs, lspci) if lspci is not None else sysfs
        if lspci is not None:
            names_from = "lspci"
        else:
            records, had_ids = _name_from_pci_ids(host, records)
            names_from = "pci.ids" if had_ids else None
    where = "/sys/bus/pci/devices" if source == "sysfs" else "`lspci -vmm -nn -k -D`"
    n = len(records)
    detail = f"{n} display controller{'s' if n != 1 else ''} in {where}"
    if names_from and source == "sysfs":
        detail += f"; names from {names_from}"
    elif names_from is None and records:
        detail += "; no lspci or pci.ids for names (apt install pciutils)"
    return PciScan(tuple(records), source, "ok", detail, names_from, tuple(notes))


CAPTURE = Capture(
    "pci",
    commands=((LSPCI_ARGV, LSPCI_TIMEOUT_S),),
    files=tuple(
        f"{SYSFS_PCI}/*/{attr}"
        for attr in ("vendor", "device", "class", "subsystem_vendor", "subsystem_device")
    ),
    names=(f"{SYSFS_PCI}/*/driver",),
    tools=("lspci",),
    entries=(pci_gpus,),
)
