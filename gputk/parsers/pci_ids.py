"""PCI identity values as the kernel and the pci.ids database write them.

``/sys/bus/pci/devices/*/{vendor,device,class}`` hold ``0x10de``-style hex;
pci.ids lists device names under their vendor (tab-indented)::

    10de  NVIDIA Corporation
    \t2330  GH100 [H100 SXM5 80GB]
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"\[([^\[\]]+)\]")


def hex_id(raw: str | None, digits: int = 4) -> str | None:
    """``"0x10de\\n"`` -> ``"10de"``; None when the text is not hex."""
    if raw is None:
        return None
    s = raw.strip().lower().removeprefix("0x")
    return s.zfill(digits)[-digits:] if re.fullmatch(r"[0-9a-f]+", s) else None


def product_name(device: str) -> str:
    """``"GH100 [H100 SXM5 80GB]"`` -> ``"H100 SXM5 80GB"`` (lspci's naming, see parsers.lspci)."""
    names = _BRACKETED.findall(device)
    return str(names[-1]).strip() if names and not device.startswith("[") else device.strip()


def pci_ids_names(text: str, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Names of ``(vendor_id, device_id)`` pairs from a pci.ids database (format above)."""
    vendors = {v for v, _ in wanted}
    found: dict[tuple[str, str], str] = {}
    vendor: str | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("C "):  # the class section follows the vendors
            break
        if not line.startswith("\t"):
            vendor = line[:4].lower()
            continue
        if vendor in vendors and not line.startswith("\t\t"):
            dev = line[1:5].lower()
            if (vendor, dev) in wanted:
                found[(vendor, dev)] = product_name(line[5:].strip())
                if len(found) == len(wanted):
                    break
    return found
