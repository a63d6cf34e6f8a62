"""``lshw -C display`` as text and as ``-json``.

Text sample::

      *-display
           description: VGA compatible controller
           product: GK208B [GeForce GT 710]
           vendor: NVIDIA Corporation
           bus info: pci@0000:06:00.0
           configuration: driver=nvidia latency=0

JSON sample (a list in lshw B.02.19+; one object, or objects separated by commas
without brackets, in older versions)::

    {"id": "display", "class": "display", "description": "VGA compatible controller",
     "product": "TU102 [GeForce RTX 2080 Ti]", "vendor": "NVIDIA Corporation",
     "businfo": "pci@0000:00:06.0", "configuration": {"driver": "nvidia", "latency": "0"}}

With ``-numeric`` the ids follow the names: ``"UHD Graphics 620 (Whiskey Lake) [8086:3ea0]"``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gputk.models.gpu import GpuRecord, ParseResult, normalize_bus_id, vendor_from_name, vendor_from_pci_id
from gputk.parsers.lspci import product_name

SOURCE = "lshw"

_CLASS_BY_DESCRIPTION = {
    "vga compatible controller": "0300",
    "xga compatible controller": "0301",
    "3d controller": "0302",
    "display controller": "0380",
}
# Patterns searched in a value start with a literal (no leading \s*), so a long run of spaces is
# scanned once, not once per position; values are stripped before they are searched.
_IDS = re.compile(r"\[(?P<vid>[0-9a-fA-F]{4}):(?P<did>[0-9a-fA-F]{4})\]$")
_VENDOR_ID = re.compile(r"\[(?P<vid>[0-9a-fA-F]{4})\]$")
_ENTRY = re.compile(r"^[ \t]*\*-(?P<id>[\w:]+)(?P<unclaimed>[ \t]+UNCLAIMED)?[ \t]*$")
_FIELD = re.compile(r"^[ \t]+(?P<key>[a-z][a-z ]*?):[ \t]*(?P<value>.*)$")
_CONFIG = re.compile(r"(?<!\w)(\w+)=(\S+)")


def _record(fields: dict[str, str], driver: str | None) -> GpuRecord:
    product = fields.get("product", "").strip()
    vendor = fields.get("vendor", "").strip()
    vid = did = None
    m = _IDS.search(product)
    if m:
        vid, did = m.group("vid").lower(), m.group("did").lower()
        product = product[: m.start()].rstrip()
    v = _VENDOR_ID.search(vendor)
    if v:
        vid = vid or v.group("vid").lower()
        vendor = vendor[: v.start()].rstrip()
    # lshw's "size:" of a display device is a PCI memory window, not the GPU's memory: not read.
    name = product_name(product) if product and product.strip() != vendor.strip() else None
    return GpuRecord(
        source=SOURCE,
        vendor=vendor_from_pci_id(vid) or vendor_from_name(vendor) or vendor_from_name(product) or "other",
        name=name,
        pci_bus_id=normalize_bus_id(fields.get("bus info") or fields.get("businfo")),
        pci_vendor_id=vid,
        pci_device_id=did,
        pci_class=_CLASS_BY_DESCRIPTION.get(fields.get("description", "").strip().lower()),
        kernel_driver=driver,
    )


def _from_json_objects(objs: list[Any]) -> tuple[list[GpuRecord], list[GpuRecord]]:
    """(display devices, those no driver claimed: ``"claimed": false``)."""
    out: list[GpuRecord] = []
    unclaimed: list[GpuRecord] = []
    stack = list(objs)
    while stack:
        o = stack.pop(0)
        if not isinstance(o, dict):
            continue
        children = o.get("children")
        if isinstance(children, list):
            stack.extend(children)
        if o.get("class") != "display":
            continue
        raw_conf = o.get("configuration")
        conf: dict[str, Any] = raw_conf if isinstance(raw_conf, dict) else {}
        fields = {
            k: str(o[k]) for k in ("product", "vendor", "description", "businfo") if isinstance(o.get(k), str)
        }
        driver = conf.get("driver") if isinstance(conf.get("driver"), str) else None
        out.append(_record(fields, driver))
        if o.get("claimed") is False:
            unclaimed.append(out[-1])
    return out, unclaimed


def _load_json(text: str) -> list[Any] | None:
    """A list, one object, or old lshw's comma-separated objects; text before the JSON is skipped."""
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    if not starts:
        return None
    body = text[min(starts) :].strip().rstrip(",")
    for candidate in (body, f"[{body}]"):
        try:
            data = json.loads(candidate)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested brackets
            continue
        return data if isinstance(data, list) else [data]
    return None


def _from_text(text: str) -> tuple[list[GpuRecord], list[GpuRecord]]:
    """(display entries, those marked ``UNCLAIMED``: no driver bound)."""
    gpus: list[GpuRecord] = []
    unclaimed: list[GpuRecord] = []
    fields: dict[str, str] | None = None
    claimed = True

    def flush() -> None:
        if fields is not None:
            config = dict(_CONFIG.findall(fields.get("configuration", "")))
            gpus.append(_record(fields, config.get("driver")))
            if not claimed:
                unclaimed.append(gpus[-1])

    for line in text.splitlines():
        entry = _ENTRY.match(line)
        if entry:
            flush()
            fields = {} if entry.group("id").split(":")[0] == "display" else None
            claimed = entry.group("unclaimed") is None
            continue
        f = _FIELD.match(line)
        if f and fields is not None:
            fields.setdefault(f.group("key").strip(), f.group("value").strip())
    flush()
    return gpus, unclaimed


def looks_like(text: str) -> str | None:
    """``"lshw-json"``, ``"lshw"`` or None."""
    head = text[:20000]
    if (
        '"class"' in head
        and ('"businfo"' in head or '"id"' in head)
        and _load_json(head if len(text) <= 20000 else text)
    ):
        return "lshw-json"
    if re.search(r"^[ \t]*\*-display", head, re.M) or (
        re.search(r"^[ \t]*\*-\w", head, re.M) and "bus info:" in head
    ):
        return "lshw"
    return None


def parse_lshw(text: str) -> ParseResult:
    """Display devices of ``lshw -C display`` (text or ``-json``); ``format=None`` for other text."""
    fmt = looks_like(text)
    if fmt == "lshw-json":
        gpus, unclaimed = _from_json_objects(_load_json(text) or [])
        gpus = [g for g in gpus if g.pci_bus_id or g.name]
    elif fmt == "lshw":
        gpus, unclaimed = _from_text(text)
    else:
        return ParseResult(format=None)
    warnings = tuple(
        f"lshw: {g.name or 'a display device'}{f' ({g.pci_bus_id})' if g.pci_bus_id else ''} is UNCLAIMED: no kernel "
        "driver is bound to it" + (" (the NVIDIA driver is not loaded, or does not support it)" if g.vendor == "nvidia" else "")
        for g in unclaimed
    )
    return ParseResult(format=fmt, gpus=tuple(gpus), warnings=warnings)
