"""``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]``.

Samples::

    name, pci.bus_id, driver_version, memory.total [MiB], compute_cap      header, units in the header
    NVIDIA H100 80GB HBM3, 00000000:18:00.0, 550.54.15, 81559 MiB, 9.0       --format=csv: units in values
    NVIDIA H100 80GB HBM3, 00000000:18:00.0, 550.54.15, 81559, 9.0           csv,noheader,nounits

Field names are the ones ``nvidia-smi --help-query-gpu`` lists (and their
aliases such as ``gpu_name``). Without a header the caller may pass the field
list; otherwise columns are recognised by the shape of their values where
that is unambiguous (UUID, bus id, driver version, compute capability, a
first integer index, a product name, a single memory column), and a warning
names the columns left unread.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from typing import Any

from gputk.models.gpu import GpuRecord, ParseResult, normalize_bus_id, vendor_from_name
from gputk.parsers._values import clean, split_pci_id, to_bool, to_float, to_int, to_mib

SOURCE = "nvidia-smi-csv"

_str: Callable[[str | None], Any] = clean

# query field (and aliases) -> (GpuRecord field, converter)
_FIELDS: dict[str, tuple[str, Callable[[str | None], Any]]] = {
    "index": ("index", to_int),
    "name": ("name", clean),
    "gpu_name": ("name", clean),
    "pci.bus_id": ("pci_bus_id", lambda v: normalize_bus_id(clean(v))),
    "gpu_bus_id": ("pci_bus_id", lambda v: normalize_bus_id(clean(v))),
    "uuid": ("uuid", clean),
    "gpu_uuid": ("uuid", clean),
    "serial": ("serial", clean),
    "gpu_serial": ("serial", clean),
    "driver_version": ("driver_version", clean),
    "memory.total": ("memory_total_mib", to_mib),
    "memory.used": ("memory_used_mib", to_mib),
    "compute_cap": ("compute_capability", clean),
    "vbios_version": ("vbios_version", clean),
    "utilization.gpu": ("utilization_gpu_pct", to_int),
    "temperature.gpu": ("temperature_c", to_int),
    "power.draw": ("power_draw_w", to_float),
    "power.draw.instant": ("power_draw_w", to_float),
    "power.limit": ("power_limit_w", to_float),
    "enforced.power.limit": ("power_limit_w", to_float),
    "persistence_mode": ("persistence_mode", to_bool),
    "compute_mode": ("compute_mode", clean),
    "mig.mode.current": ("mig_mode", to_bool),
    "driver_model.current": ("display_mode", clean),
    "display_mode": ("display_mode", clean),
    "virtualization_mode": ("virtualization_mode", clean),
    "pcie.link.gen.current": ("pcie_gen_current", to_int),
    "pcie.link.gen.gpucurrent": ("pcie_gen_current", to_int),
    "pcie.link.gen.max": ("pcie_gen_max", to_int),
    "pcie.link.width.current": ("pcie_width_current", to_int),
    "pcie.link.width.max": ("pcie_width_max", to_int),
}
# applied to stripped cells; one optional "[unit]" after the name (no two adjacent \s* runs)
_HEADER_FIELD = re.compile(r"([A-Za-z_][\w.]*)(?:[ \t]*\[([^\]]*)\])?")
_UUID = re.compile(r"^GPU-[0-9a-fA-F-]{8,}$")
_BUS = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
_DRIVER = re.compile(r"^\d{3}\.\d{1,3}(?:\.\d{1,3})?$")
_CC = re.compile(r"^\d{1,2}\.\d$")
_MEM = re.compile(r"^\d+\s*MiB$")
# nvidia-smi knows about 200 query fields; a line with more commas is not its CSV
_MAX_COLUMNS = 512


def _is_header(row: Sequence[str]) -> bool:
    """A header names fields: every cell is ``field.name`` or ``field.name [unit]``, and one is known."""
    names = [_HEADER_FIELD.fullmatch(c.strip()) for c in row]
    if not all(names):
        return False
    return any(m is not None and m.group(1).lower() in _FIELDS for m in names)


def _guess_fields(rows: list[list[str]]) -> tuple[list[str | None], list[int]]:
    """Column names from value shapes; returns the names (None = unread) and the unread columns."""
    width = len(rows[0])
    guessed: list[str | None] = [None] * width
    has_name = False
    mem_cols = [i for i in range(width) if all(_MEM.match(r[i].strip()) for r in rows if i < len(r))]
    for i in range(width):
        values = [r[i].strip() for r in rows if i < len(r)]
        if all(_UUID.match(v) for v in values):
            guessed[i] = "uuid"
        elif all(_BUS.match(v) for v in values):
            guessed[i] = "pci.bus_id"
        elif all(_DRIVER.match(v) for v in values):
            guessed[i] = "driver_version"
        elif all(_CC.match(v) for v in values):
            guessed[i] = "compute_cap"
        elif (
            i == 0
            and all(v.isdigit() for v in values)
            and [int(v) for v in values] == list(range(len(values)))
        ):
            guessed[i] = "index"
        elif len(mem_cols) == 1 and i == mem_cols[0]:
            guessed[i] = "memory.total"
        elif not has_name and all(vendor_from_name(v) for v in values):
            guessed[i] = "name"
            has_name = True
    unread = [i for i, g in enumerate(guessed) if g is None]
    return guessed, unread


def _record(fields: Sequence[str | None], units: Sequence[str | None], row: Sequence[str]) -> GpuRecord:
    values: dict[str, Any] = {}
    for name, unit, raw in zip(fields, units, row, strict=False):
        if name is None:
            continue
        key = name.lower()
        if key == "pci.device_id":  # "0x20B010DE"
            vid, did = split_pci_id(raw)
            values.setdefault("pci_vendor_id", vid)
            values.setdefault("pci_device_id", did)
            continue
        spec = _FIELDS.get(key)
        if spec is None:
            continue
        attr, convert = spec
        value = to_mib(raw, unit.lower()) if convert is to_mib and unit else convert(raw)
        if value is not None:
            values[attr] = value
    return GpuRecord(source=SOURCE, vendor="nvidia", **values)  # nvidia-smi lists NVIDIA GPUs only


def looks_like(text: str) -> bool:
    """Comma-separated rows whose first row is a known header, or whose values include a bus id or GPU UUID."""
    rows = _rows(text)
    if not rows:
        return False
    if _is_header(rows[0]):
        return True
    return len(rows[0]) >= 2 and any(_UUID.match(c.strip()) or _BUS.match(c.strip()) for c in rows[0])


def _rows(text: str, single_column: bool = False) -> list[list[str]]:
    """CSV rows; one-column text only when a field list is given or its first line is a header."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    if "," not in lines[0] and not (single_column or _is_header([lines[0].strip()])):
        return []
    if max(ln.count(",") for ln in lines) >= _MAX_COLUMNS:
        return []
    try:
        return [
            [c.strip() for c in row]
            for row in csv.reader(io.StringIO("\n".join(lines)), skipinitialspace=True)
        ]
    except csv.Error:
        return []


def parse_nvidia_smi_csv(text: str, fields: Sequence[str] | None = None) -> ParseResult:
    """GPU rows of a ``--query-gpu`` CSV; ``fields`` names the columns when the CSV has no header."""
    rows = _rows(text, single_column=bool(fields))
    if not rows:
        return ParseResult(format=None)
    warnings: list[str] = []
    names: list[str | None]
    units: list[str | None]
    if _is_header(rows[0]):
        header = [_HEADER_FIELD.fullmatch(c.strip()) for c in rows[0]]
        names = [m.group(1) if m else None for m in header]
        units = [m.group(2) if m else None for m in header]
        rows = rows[1:]
    elif fields:
        names, units = list(fields), [None] * len(fields)
    elif looks_like(text):
        names, unread = _guess_fields(rows)
        units = [None] * len(names)
        if unread:
            warnings.append(
                f"nvidia-smi CSV without header: columns {', '.join(str(i + 1) for i in unread)} not identified "
                "(pass the --query-gpu field list)"
            )
    else:
        return ParseResult(format=None)
    gpus = []
    for row in rows:
        if len(row) != len(names):
            warnings.append(f"nvidia-smi CSV: a row has {len(row)} values for {len(names)} fields; skipped")
            continue
        gpus.append(_record(names, units, row))
    return ParseResult(format="nvidia-smi-csv", gpus=tuple(gpus), warnings=tuple(warnings))
