"""``hwinfo --gfxcard`` (also ``--display``): one record per graphics card.

Sample::

    29: PCI 100.0: 0300 VGA compatible controller (VGA)
      SysFS BusID: 0000:01:00.0
      Hardware Class: graphics card
      Model: "ATI Thames [Radeon HD 7550M/7570M/7650M]"
      Vendor: pci 0x1002 "ATI Technologies Inc"
      Device: pci 0x6841 "Thames [Radeon HD 7550M/7570M/7650M]"
      SubVendor: pci 0x103c "Hewlett-Packard Company"
      SubDevice: pci 0x179d
      Driver: "radeon"
"""

from __future__ import annotations

import re

from gputk.models.gpu import GpuRecord, ParseResult, normalize_bus_id, vendor_from_name, vendor_from_pci_id
from gputk.parsers.lspci import product_name

SOURCE = "hwinfo"

_HEAD = re.compile(r"^\d+:\s+PCI\s+[0-9a-fA-F.]+:\s+(?P<cls>[0-9a-fA-F]{4})\s")
_KEY = re.compile(r"^\s+(?P<key>[A-Za-z][A-Za-z /#0-9]*?):\s*(?P<value>.*)$")
_PCI_ID = re.compile(r'^pci\s+0x(?P<id>[0-9a-fA-F]{4})\s*(?:"(?P<name>[^"]*)")?')


def _record(cls: str | None, fields: dict[str, str]) -> GpuRecord:
    vendor = _PCI_ID.match(fields.get("Vendor", ""))
    device = _PCI_ID.match(fields.get("Device", ""))
    svendor = _PCI_ID.match(fields.get("SubVendor", ""))
    sdevice = _PCI_ID.match(fields.get("SubDevice", ""))
    vid = vendor.group("id").lower() if vendor else None
    model = fields.get("Model", "").strip('"')
    name = product_name(device.group("name")) if device and device.group("name") else None
    driver = fields.get("Driver", "").split('"')
    return GpuRecord(
        source=SOURCE,
        vendor=vendor_from_pci_id(vid) or vendor_from_name(model) or "other",
        name=name,
        pci_bus_id=normalize_bus_id(fields.get("SysFS BusID")),
        pci_vendor_id=vid,
        pci_device_id=device.group("id").lower() if device else None,
        pci_subsystem_id=f"{svendor.group('id').lower()}:{sdevice.group('id').lower()}"
        if svendor and sdevice
        else None,
        pci_class=cls,
        kernel_driver=driver[1] if len(driver) > 2 and driver[1] else None,
    )


def looks_like(text: str) -> bool:
    return "Hardware Class: graphics card" in text or bool(
        re.search(r"^\d+: PCI [0-9a-f.]+: 03\d\d ", text, re.M) and "SysFS BusID" in text
    )


def parse_hwinfo(text: str) -> ParseResult:
    """Graphics cards of ``hwinfo --gfxcard``; ``format=None`` when none is described."""
    if not looks_like(text):
        return ParseResult(format=None)
    gpus: list[GpuRecord] = []
    cls: str | None = None
    fields: dict[str, str] | None = None

    def flush() -> None:
        if fields is not None and (
            fields.get("Hardware Class") == "graphics card" or (cls or "").startswith("03")
        ):
            gpus.append(_record(cls, fields))

    for line in text.splitlines():
        head = _HEAD.match(line)
        if head:
            flush()
            cls, fields = head.group("cls").lower(), {}
            continue
        if line.strip() == "" and fields is not None and gpus is not None:
            continue
        m = _KEY.match(line)
        if m:
            if fields is None:  # a pasted piece without the "NN: PCI ..." head line
                fields, cls = {}, None
            fields.setdefault(m.group("key").strip(), m.group("value").strip())
    flush()
    return ParseResult(format="hwinfo", gpus=tuple(gpus))
