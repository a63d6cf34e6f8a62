"""``inxi -G`` (with or without ``-x``/``-xx``): the Graphics section's devices.

Samples (lines wrap; continuation lines are indented)::

    Graphics:  Device-1: NVIDIA GP102 [GeForce GTX 1080 Ti] vendor: ASUSTeK driver: nouveau v: kernel bus ID: 01:00.0
               chip ID: 10de:1b06
               Display: x11 server: X.Org 1.20.8 driver: modesetting unloaded: fbdev,vesa
    Graphics:  Device-1: NVIDIA TU116 [GeForce GTX 1660] driver: nvidia v: 460.32.03
    Graphics:  Card-1: NVIDIA [Quadro FX 880M]                                  (inxi 2.x)
    Graphics:  Card: NVIDIA GF108 [GeForce GT 430] bus-ID: 01:00.0 chip-ID: 10de:0de1   (inxi 2.x -xx)
      Device-1: NVIDIA GA106 driver: nvidia v: 515.43.04 non-free: 515.xx+ status: current   (inxi 3.3+)
    Graphics:  Message: No PCI device data found.                       (no PCI bus: container, WSL, ARM)

``Display:``, ``OpenGL:``, ``API:`` and ``Message:`` items are not devices; USB cameras
(``type: USB``) are skipped. Each field's value runs to the next ``key:``, whatever the key
(``non-free:``, ``status:`` and keys of later versions included).
"""

from __future__ import annotations

import re

from gputk.models.gpu import (
    GpuRecord,
    ParseResult,
    ToolProblem,
    normalize_bus_id,
    vendor_from_name,
    vendor_from_pci_id,
)
from gputk.parsers.lspci import product_name
from gputk.parsers.paste import strip_ansi

SOURCE = "inxi"

# ">>" and "(1)" prefixes come from quoted mail and annotated pastes.
_PREFIX = re.compile(r"^[ \t>]*(?:\(\d+\)[ \t]*)?")
_SECTION = re.compile(r"^[ \t>]*(?:\(\d+\)[ \t]*)?Graphics:(?:[ \t]|$)", re.M)
_NEXT_SECTION = re.compile(r"^[A-Z][A-Za-z]+:(?:[ \t]{2}|$)")
_ITEM = re.compile(
    r"\b(Device|Card|Display Server|Display|OpenGL|API|Message|Monitor|Screen|Info|GLX Renderer|Resolution)"
    r"(?:-\d+)?:(?:\s|$)"
)
# A key starts a word: "bus ID", "chip-ID" or any lower-case word ending in ":" ("v:", "non-free:").
_KEY = re.compile(r"(?<![\w-])(bus ID|chip ID|class ID|[a-z][a-z_-]{0,30}(?:-ID)?):(?=\s|$)")
_NO_PCI = "no pci device data found"
_UNNAMED = re.compile(r"\bDevice ([0-9a-fA-F]{4})$")
_VENDOR_WORDS = re.compile(
    r"^(?:NVIDIA|Advanced Micro Devices \[AMD/ATI\]|Advanced Micro Devices \[AMD\]|AMD/ATI|AMD|ATI|Intel|Matrox|ASPEED)\s*"
)


def _fields(item: str) -> tuple[str, dict[str, str]]:
    """The text before the first key (the device name) and each ``key: value``, first one kept."""
    keys = list(_KEY.finditer(item))
    name_part = item[: keys[0].start()] if keys else item
    fields: dict[str, str] = {}
    for k, nxt in zip(keys, [*keys[1:], None], strict=False):
        value = item[k.end() : nxt.start() if nxt else len(item)]
        fields.setdefault(k.group(1).replace("-", " "), " ".join(value.split()))
    return name_part.strip(), fields


def _device(item: str) -> GpuRecord | None:
    name_part, fields = _fields(item)
    if not name_part or name_part.lower().startswith("failed to detect"):
        return None
    if fields.get("type", "").upper() == "USB":
        return None
    chip = re.match(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", fields.get("chip ID", ""))
    vid, did = (chip.group(1).lower(), chip.group(2).lower()) if chip else (None, None)
    rest = _VENDOR_WORDS.sub("", name_part)
    if rest.startswith("[") and rest.endswith("]"):
        rest = rest[1:-1]
    unnamed = _UNNAMED.search(name_part)  # "NVIDIA Device 1b00": a device id the kernel had no name for
    if did is None and unnamed:
        did = unnamed.group(1).lower()
    driver = fields.get("driver")
    version = fields.get("v")
    return GpuRecord(
        source=SOURCE,
        vendor=vendor_from_pci_id(vid) or vendor_from_name(name_part) or "other",
        name=product_name(rest) if rest else None,
        pci_bus_id=normalize_bus_id(fields.get("bus ID")),
        pci_vendor_id=vid,
        pci_device_id=did,
        kernel_driver=driver if driver and driver != "N/A" else None,
        driver_version=version if driver == "nvidia" and version and version[0].isdigit() else None,
    )


def looks_like(text: str) -> bool:
    return bool(_SECTION.search(text)) and (
        bool(re.search(r"\b(?:Device|Card)(?:-\d+)?:\s", text)) or _NO_PCI in text.lower()
    )


def parse_inxi(text: str) -> ParseResult:
    """GPUs of inxi's Graphics section; ``format=None`` when there is none."""
    text = strip_ansi(text)
    m = _SECTION.search(text)
    if not m:
        return ParseResult(format=None)
    lines = text[m.end() :].split("\n")
    kept = [lines[0]] if lines else []
    for line in lines[1:]:
        # continuation lines are indented; the next section ("Audio:  ...") or any flush-left text ends it
        if not line[:1].isspace() and not line.startswith(">"):
            break
        body = _PREFIX.sub("", line)
        if _NEXT_SECTION.match(body):
            break
        kept.append(body)
    joined = " ".join(part.strip() for part in kept)
    parts = _ITEM.split(joined)
    gpus = []
    problems: tuple[ToolProblem, ...] = ()
    # split() yields [before, kind, text, kind, text, ...]
    for kind, item in zip(parts[1::2], parts[2::2], strict=False):
        if kind in ("Device", "Card"):
            rec = _device(item.strip())
            if rec is not None:
                gpus.append(rec)
        elif kind == "Message" and _NO_PCI in item.lower() and not gpus:
            problems = ("no-pci-devices",)
    return ParseResult(format="inxi", gpus=tuple(gpus), problems=problems)
