"""``lspci`` in its common shapes, whole or cut by ``grep``; display controllers only.

Shapes read (one parser, recognised per line or per record)::

    01:00.0 VGA compatible controller: NVIDIA Corporation GA102 [GeForce RTX 3090] (rev a1)     plain
    0000:01:00.0 3D controller [0302]: NVIDIA Corporation GA100 [A100 SXM4 80GB] [10de:20b2] (rev a1)   -D -nn
    01:00.0 0302: 10de:20b2 (rev a1)                                                                -n
        Subsystem: NVIDIA Corporation Device 147f       -k / -v continuation lines (tab-indented)
        Kernel driver in use: nvidia
    01:00.0 "VGA compatible controller [0300]" "NVIDIA Corporation [10de]" "GA102 [GeForce RTX 3090] [2204]" -ra1 "ASUSTeK Computer Inc. [1043]" "Device [87b3]"   -mm (-nn)
    Slot:\t0000:01:00.0         -vmm (records separated by blank lines; -k adds Driver:/Module:)
    Class:\tVGA compatible controller [0300]
    Vendor:\tNVIDIA Corporation [10de]

Only PCI class 03xx (VGA 0300, XGA 0301, 3D 0302, display 0380) becomes a
:class:`GpuRecord`; bridges, audio functions of the same card and the rest are skipped.
"""

from __future__ import annotations

import re
import shlex

from gputk.models.gpu import (
    GpuRecord,
    ParseResult,
    Vendor,
    normalize_bus_id,
    vendor_from_name,
    vendor_from_pci_id,
)

SOURCE = "lspci"

# Class names lspci prints (from pci.ids "C 03"), for output without -nn.
_DISPLAY_CLASSES = {
    "vga compatible controller": "0300",
    "xga compatible controller": "0301",
    "3d controller": "0302",
    "display controller": "0380",
}
_SLOT = r"(?:[0-9a-fA-F]{4,5}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
# "01:00.0 VGA compatible controller [0300]: NVIDIA ... [10de:2204] (rev a1)"; grep -n/-H prefixes allowed.
# Only the slot is matched by a regex; class and description are cut at the first ":" (a lazy class
# pattern next to optional spaces backtracked cubically on a long line).
_PLAIN_HEAD = re.compile(rf"(?:[^\s:]+:\d+[:-])?[ \t]*(?P<slot>{_SLOT})[ \t]+")
# "01:00.0 0300: 10de:2204 (rev a1)" (lspci -n)
_NUMERIC = re.compile(
    rf"^[ \t]*(?P<slot>{_SLOT})[ \t]+(?P<clsid>[0-9a-fA-F]{{4}}):[ \t]*(?P<vid>[0-9a-fA-F]{{4}}):(?P<did>[0-9a-fA-F]{{4}})"
)
_MM = re.compile(rf'^[ \t]*(?P<slot>{_SLOT})[ \t]+"')
# searched patterns start with a literal; the text around them is stripped afterwards
_IDS = re.compile(r"\[(?P<vid>[0-9a-fA-F]{4}):(?P<did>[0-9a-fA-F]{4})\]")
_REV = re.compile(r"\(rev [0-9a-fA-F]+\)\s*$")
_PROGIF = re.compile(r"\(prog-if [^()]*\)")
_TRAILING_ID = re.compile(r"\[(?P<id>[0-9a-fA-F]{4})\]\s*$")
_HEX = frozenset("0123456789abcdefABCDEF")
_BRACKETED = re.compile(r"\[([^\[\]]+)\]")
_UNNAMED = re.compile(r"^Device(?: [0-9a-fA-F]{4})?$")
_VENDOR_PREFIXES = (
    "NVIDIA Corporation",
    "Advanced Micro Devices, Inc. [AMD/ATI]",
    "Advanced Micro Devices, Inc. [AMD]",
    "Advanced Micro Devices, Inc.",
    "ATI Technologies Inc",
    "Intel Corporation",
    "Matrox Electronics Systems Ltd.",
    "ASPEED Technology, Inc.",
    "Red Hat, Inc.",
    "VMware",
    "Microsoft Corporation",
    "Cirrus Logic",
    "InnoTek Systemberatung GmbH",
)


def _class_id(name: str | None, clsid: str | None) -> str | None:
    if clsid:
        return clsid.lower()
    if name:
        return _DISPLAY_CLASSES.get(name.strip().lower())
    return None


def _strip_id(value: str) -> tuple[str, str | None]:
    """``"NVIDIA Corporation [10de]"`` -> (``"NVIDIA Corporation"``, ``"10de"``)."""
    m = _TRAILING_ID.search(value)
    if m:
        return value[: m.start()].strip(), m.group("id").lower()
    return value.strip(), None


def product_name(device: str | None) -> str | None:
    """``"GA102 [GeForce RTX 3090]"`` -> ``"GeForce RTX 3090"``; ``"Device 2330"`` -> None."""
    if not device:
        return None
    device = device.strip()
    if _UNNAMED.match(device):
        return None
    # AMD writes "Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]", NVIDIA "GA100 [A100 SXM4 80GB]".
    names = _BRACKETED.findall(device)
    if names and not device.startswith("["):
        return str(names[-1]).strip()
    head, bracket, cut = device.rpartition("[")
    if bracket and head.strip() and "]" not in cut and cut.strip():  # a paste cut inside the bracket
        return cut.strip()
    return device or None


def _split_vendor(desc: str) -> tuple[str | None, str]:
    low = desc.lower()
    for prefix in _VENDOR_PREFIXES:
        if low.startswith(prefix.lower()):  # pciutils before 2009 wrote "nVidia Corporation"
            return prefix, desc[len(prefix) :].strip()
    return None, desc


def _vendor(vendor_id: str | None, vendor_name: str | None, desc: str | None) -> Vendor:
    return vendor_from_pci_id(vendor_id) or vendor_from_name(vendor_name) or vendor_from_name(desc) or "other"


class _Dev:
    """Fields gathered for one PCI function while reading lines."""

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.pci_class: str | None = None
        self.vendor_id: str | None = None
        self.device_id: str | None = None
        self.vendor_name: str | None = None
        self.device_name: str | None = None
        self.desc: str | None = None
        self.subsystem: str | None = None
        self.svendor_id: str | None = None
        self.sdevice_id: str | None = None
        self.driver: str | None = None
        self.rev: str | None = None

    def record(self) -> GpuRecord:
        sub = f"{self.svendor_id}:{self.sdevice_id}" if self.svendor_id and self.sdevice_id else None
        return GpuRecord(
            source=SOURCE,
            vendor=_vendor(self.vendor_id, self.vendor_name, self.desc),
            name=product_name(self.device_name),
            pci_bus_id=normalize_bus_id(self.slot),
            pci_vendor_id=self.vendor_id,
            pci_device_id=self.device_id,
            pci_subsystem_id=sub,
            pci_class=self.pci_class,
            kernel_driver=self.driver,
        )


def _plain(line: str) -> tuple[str, str, str | None, str] | None:
    """(slot, class name, class id, description) of a plain/-nn/-D line; None for other lines."""
    head = _PLAIN_HEAD.match(line)
    if not head:
        return None
    cls, sep, desc = line[head.end() :].partition(":")
    if not sep or not cls or '"' in cls:
        return None
    clsid = None
    if "[" in cls:  # "VGA compatible controller [0300]"
        name, _, bracket = cls.partition("[")
        clsid = bracket.rstrip().removesuffix("]")
        if len(clsid) != 4 or not all(c in _HEX for c in clsid):
            return None
        cls = name
    if not cls.strip():
        return None
    return head.group("slot"), cls.strip(), clsid, desc.strip()


def _from_plain(slot: str, cls: str, clsid: str | None, raw_desc: str) -> _Dev:
    dev = _Dev(slot)
    dev.pci_class = _class_id(cls, clsid)
    rev = re.search(r"\(rev ([0-9a-fA-F]+)\)", raw_desc)
    dev.rev = rev.group(1).lower() if rev else None
    desc = " ".join(_PROGIF.sub(" ", _REV.sub("", _PROGIF.sub(" ", raw_desc))).split())
    ids = _IDS.search(desc)
    if ids:
        dev.vendor_id, dev.device_id = ids.group("vid").lower(), ids.group("did").lower()
        desc = (desc[: ids.start()].rstrip() + " " + desc[ids.end() :].lstrip()).strip()
    dev.desc = desc
    dev.vendor_name, dev.device_name = _split_vendor(desc)
    return dev


def _from_mm(line: str, slot: str) -> _Dev | None:
    """``-mm``: slot, then quoted class, vendor, device, ``-rXX``/``-pXX`` options, subsystem vendor/device."""
    try:
        parts = shlex.split(line.strip())
    except ValueError:
        return None
    fields = [p for p in parts[1:] if not re.fullmatch(r"-[rp][0-9a-fA-F]+", p)]
    if len(fields) < 3:
        return None
    dev = _Dev(slot)
    cls_name, cls_id = _strip_id(fields[0])
    if re.fullmatch(r"[0-9a-fA-F]{4}", cls_name):  # -n -mm: "0300" "10de" "2204"
        cls_id, cls_name = cls_name.lower(), ""
    dev.pci_class = _class_id(cls_name, cls_id)
    vname, vid = _strip_id(fields[1])
    dname, did = _strip_id(fields[2])
    if vid is None and re.fullmatch(r"[0-9a-fA-F]{4}", vname):
        vid, vname = vname.lower(), ""
    if did is None and re.fullmatch(r"[0-9a-fA-F]{4}", dname):
        did, dname = dname.lower(), ""
    dev.vendor_id, dev.device_id = vid, did
    dev.vendor_name, dev.device_name = vname or None, dname or None
    dev.desc = f"{vname} {dname}".strip()
    if len(fields) >= 5:
        dev.svendor_id = _strip_id(fields[3])[1]
        dev.sdevice_id = _strip_id(fields[4])[1]
    return dev


def _apply_continuation(dev: _Dev, key: str, value: str) -> None:
    """``Subsystem:`` / ``Kernel driver in use:`` lines of ``-k``/``-v``."""
    k = key.strip().lower()
    if k == "kernel driver in use":
        dev.driver = value.strip() or None
    elif k == "subsystem":
        dev.subsystem = value.strip()
        ids = _IDS.search(value)
        if ids:
            dev.svendor_id, dev.sdevice_id = ids.group("vid").lower(), ids.group("did").lower()


def _parse_lines(text: str) -> tuple[list[_Dev], bool, bool]:
    """Line-oriented shapes (plain, -n, -nn, -k, -v, -D, -mm). Returns devices, saw_mm, saw_any."""
    devs: list[_Dev] = []
    current: _Dev | None = None
    saw_mm = False
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.strip() == "--":
            continue
        if raw[:1] in ("\t", " ") and current is not None and not _MM.match(line):
            key, sep, value = line.strip().partition(":")
            if sep:
                _apply_continuation(current, key, value)
            continue
        mm = _MM.match(line)
        if mm:
            current = _from_mm(line, mm.group("slot"))
            if current is not None:
                saw_mm = True
                devs.append(current)
            continue
        n = _NUMERIC.match(line)
        if n:
            current = _Dev(n.group("slot"))
            current.pci_class = n.group("clsid").lower()
            current.vendor_id, current.device_id = n.group("vid").lower(), n.group("did").lower()
            devs.append(current)
            continue
        p = _plain(line)
        if p:
            current = _from_plain(*p)
            devs.append(current)
            continue
        current = None
    return devs, saw_mm, bool(devs)


_VMM_KEY = re.compile(
    r"^(Slot|Class|Vendor|Device|SVendor|SDevice|Rev|ProgIf|Driver|Module|PhySlot|NUMANode|IOMMUGroup):\s*(.*)$"
)


def _parse_vmm(text: str) -> list[_Dev]:
    devs: list[_Dev] = []
    current: _Dev | None = None
    for raw in text.splitlines():
        m = _VMM_KEY.match(raw.strip())
        if not m:
            if not raw.strip():
                current = None
            continue
        key, value = m.group(1), m.group(2).strip()
        if key == "Slot" or (key == "Device" and current is None and re.fullmatch(_SLOT, value)):
            current = _Dev(value)
            devs.append(current)
            continue
        if current is None:
            continue
        if key == "Class":
            name, cid = _strip_id(value)
            if cid is None and re.fullmatch(r"[0-9a-fA-F]{4}", name):
                cid, name = name, ""
            current.pci_class = _class_id(name, cid)
        elif key in ("Vendor", "Device", "SVendor", "SDevice"):
            name, vid = _strip_id(value)
            if vid is None and re.fullmatch(r"[0-9a-fA-F]{4}", name):
                vid, name = name.lower(), ""
            if key == "Vendor":
                current.vendor_id, current.vendor_name = vid, name or None
            elif key == "Device":
                current.device_id, current.device_name = vid, name or None
            elif key == "SVendor":
                current.svendor_id = vid
            else:
                current.sdevice_id = vid
        elif key == "Driver":
            current.driver = value or None
        elif key == "Rev":
            current.rev = value.lower() or None
    return devs


def looks_like(text: str) -> str | None:
    """``"lspci-vmm"`` / ``"lspci-mm"`` / ``"lspci"`` when the text holds lspci lines, else None."""
    head = text[:20000]
    if re.search(rf"^(?:Slot|Device):[ \t]*{_SLOT}[ \t]*$", head, re.M) and re.search(
        r"^Class:\s", head, re.M
    ):
        return "lspci-vmm"
    devs, saw_mm, saw_any = _parse_lines(head)
    if saw_mm:
        return "lspci-mm"
    if saw_any and any(d.pci_class or d.vendor_id for d in devs):
        return "lspci"
    return None


def parse_lspci(text: str) -> ParseResult:
    """Display controllers from lspci output; ``format=None`` if the text has no lspci line."""
    fmt = looks_like(text)
    if fmt is None:
        return ParseResult(format=None)
    if fmt == "lspci-vmm":
        devs = _parse_vmm(text)
    else:
        devs, _, _ = _parse_lines(text)
    gpus: list[GpuRecord] = []
    seen: set[str] = set()
    warnings: list[str] = []
    for d in devs:
        if not (d.pci_class or "").startswith("03"):
            continue
        rec = d.record()
        if rec.pci_bus_id is None:
            warnings.append(f"lspci: unreadable slot {d.slot!r}")
            continue
        if rec.pci_bus_id in seen:
            continue
        seen.add(rec.pci_bus_id)
        gpus.append(rec)
        if d.rev == "ff":
            # Config space reads all ones: the device is powered off (Optimus) or fell off the bus.
            warnings.append(
                f"lspci: {rec.pci_bus_id} reads rev ff: the device does not answer (powered off or off the bus)"
            )
        if _is_wsl_gpu_pv(d):
            warnings.append(
                f"lspci: {rec.pci_bus_id} is WSL2's GPU paravirtualisation device (Microsoft {d.device_name or '008e'}): "
                "the GPU itself stays with Windows and is not on this PCI bus; nvidia-smi inside WSL lists it"
            )
    return ParseResult(format=fmt, gpus=tuple(gpus), warnings=tuple(warnings))


def _is_wsl_gpu_pv(d: _Dev) -> bool:
    """Microsoft's dxgkrnl device (1414:008e), which lspci names "Basic Render Driver" or "Device 008e"."""
    microsoft = d.vendor_id == "1414" or (d.vendor_name or "").startswith("Microsoft")
    name = (d.device_name or "").lower()
    return microsoft and (d.device_id == "008e" or "basic render driver" in name or name == "device 008e")
