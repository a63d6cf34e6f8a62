"""``nvidia-smi -q -x``: the health half of the log (what a working GPU says about itself).

The inventory half (names, bus ids, memory) is :mod:`gputk.parsers.nvidia_smi_xml`;
this module reads, per ``<gpu>``::

    <ecc_errors><volatile><dram_uncorrectable>2</dram_uncorrectable>...      (R470+; older:
        <double_bit><total>2</total>) and the same under <aggregate>
    <retired_pages><pending_retirement>Yes</pending_retirement>              (older: <pending_blacklist>)
    <remapped_rows><remapped_row_unc>4</remapped_row_unc>
        <remapped_row_pending>Yes</remapped_row_pending><remapped_row_failure>No</...>
    <clocks_event_reasons><clocks_event_reason_hw_slowdown>Active</...>      (R535+; older:
        <clocks_throttle_reasons><clocks_throttle_reason_hw_slowdown>)
    <pci><pci_gpu_link_info><pcie_gen><max_link_gen>4</max_link_gen><current_link_gen>1</...>
        <link_widths><max_link_width>16x</max_link_width><current_link_width>8x</...>
    <compute_mode>Exclusive_Process</compute_mode> <persistence_mode>Enabled</persistence_mode>
    <fabric><state>Completed</state><status>Success</status></fabric>        (R530+, NVSwitch systems)
    <processes><process_info><pid>4242</pid><process_name>python</process_name>...

A value nvidia-smi writes as ``N/A`` is None. Pure: text in, :class:`GpuHealth` out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from gputk.models.gpu import normalize_bus_id
from gputk.parsers._values import clean, to_bool, to_int

_START = re.compile(r"<nvidia_smi_log\b")

# clocks_event_reason_<key> / clocks_throttle_reason_<key>: the keys gputk reads, in NVML's words.
CLOCK_REASONS: dict[str, str] = {
    "gpu_idle": "GPU idle",
    "applications_clocks_setting": "application clocks setting",
    "sw_power_cap": "SW power cap",
    "hw_slowdown": "HW slowdown",
    "hw_thermal_slowdown": "HW thermal slowdown",
    "hw_power_brake_slowdown": "HW power brake slowdown",
    "sync_boost": "sync boost",
    "sw_thermal_slowdown": "SW thermal slowdown",
    "display_clocks_setting": "display clocks setting",
}


@dataclass(frozen=True)
class Process:
    pid: int
    name: str | None = None
    used_memory: str | None = None


@dataclass(frozen=True)
class GpuHealth:
    """What one ``<gpu>`` of the log says about its health; None: not reported (N/A)."""

    index: int
    bus_id: str | None = None
    uuid: str | None = None
    name: str | None = None
    ecc_mode: bool | None = None
    ecc_volatile_uncorrectable: int | None = None
    ecc_aggregate_uncorrectable: int | None = None
    ecc_volatile_correctable: int | None = None
    retired_pages_sbe: int | None = None
    retired_pages_dbe: int | None = None
    retired_pending: bool | None = None
    remapped_correctable: int | None = None
    remapped_uncorrectable: int | None = None
    remap_pending: bool | None = None
    remap_failure: bool | None = None
    clock_reasons_active: tuple[str, ...] = ()  # keys of CLOCK_REASONS
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    utilization_pct: int | None = None
    compute_mode: str | None = None
    persistence_mode: bool | None = None
    fabric_state: str | None = None
    fabric_status: str | None = None
    processes: tuple[Process, ...] = ()


@dataclass(frozen=True)
class HealthLog:
    gpus: tuple[GpuHealth, ...] = ()
    driver_version: str | None = None
    warnings: tuple[str, ...] = ()


def _text(el: ET.Element, path: str) -> str | None:
    found = el.find(path)
    return clean(found.text) if found is not None and found.text is not None else None


def _first_int(el: ET.Element, *paths: str) -> int | None:
    for p in paths:
        v = to_int(_text(el, p))
        if v is not None:
            return v
    return None


def _sum_ints(el: ET.Element, *paths: str) -> int | None:
    values = [v for v in (to_int(_text(el, p)) for p in paths) if v is not None]
    return sum(values) if values else None


def _uncorrectable(el: ET.Element, scope: str) -> int | None:
    """DRAM + SRAM uncorrectable (R470+), else the double-bit total of older drivers."""
    new = _sum_ints(el, f"ecc_errors/{scope}/dram_uncorrectable", f"ecc_errors/{scope}/sram_uncorrectable")
    return new if new is not None else _first_int(el, f"ecc_errors/{scope}/double_bit/total")


def _correctable(el: ET.Element, scope: str) -> int | None:
    new = _sum_ints(el, f"ecc_errors/{scope}/dram_correctable", f"ecc_errors/{scope}/sram_correctable")
    return new if new is not None else _first_int(el, f"ecc_errors/{scope}/single_bit/total")


def _clock_reasons(el: ET.Element) -> tuple[str, ...]:
    active: list[str] = []
    for group in ("clocks_event_reasons", "clocks_throttle_reasons"):
        g = el.find(group)
        if g is None:
            continue
        for child in g:
            key = child.tag.split("_reason_", 1)[-1]
            if key in CLOCK_REASONS and clean(child.text) == "Active" and key not in active:
                active.append(key)
    return tuple(active)


def _processes(el: ET.Element) -> tuple[Process, ...]:
    out: list[Process] = []
    for p in el.findall("processes/process_info"):
        pid = to_int(_text(p, "pid"))
        if pid is not None:
            out.append(Process(pid, _text(p, "process_name"), _text(p, "used_memory")))
    return tuple(out)


def _gpu(el: ET.Element, index: int) -> GpuHealth:
    link = "pci/pci_gpu_link_info"
    return GpuHealth(
        index=index,
        bus_id=normalize_bus_id(_text(el, "pci/pci_bus_id") or el.get("id")),
        uuid=_text(el, "uuid"),
        name=_text(el, "product_name"),
        ecc_mode=to_bool(_text(el, "ecc_mode/current_ecc")),
        ecc_volatile_uncorrectable=_uncorrectable(el, "volatile"),
        ecc_aggregate_uncorrectable=_uncorrectable(el, "aggregate"),
        ecc_volatile_correctable=_correctable(el, "volatile"),
        retired_pages_sbe=_first_int(el, "retired_pages/multiple_single_bit_retirement/retired_count"),
        retired_pages_dbe=_first_int(el, "retired_pages/double_bit_retirement/retired_count"),
        retired_pending=to_bool(
            _text(el, "retired_pages/pending_retirement") or _text(el, "retired_pages/pending_blacklist")
        ),
        remapped_correctable=_first_int(el, "remapped_rows/remapped_row_corr"),
        remapped_uncorrectable=_first_int(el, "remapped_rows/remapped_row_unc"),
        remap_pending=to_bool(_text(el, "remapped_rows/remapped_row_pending")),
        remap_failure=to_bool(_text(el, "remapped_rows/remapped_row_failure")),
        clock_reasons_active=_clock_reasons(el),
        pcie_gen_current=_first_int(el, f"{link}/pcie_gen/current_link_gen"),
        pcie_gen_max=_first_int(el, f"{link}/pcie_gen/max_link_gen"),
        pcie_width_current=_first_int(el, f"{link}/link_widths/current_link_width"),
        pcie_width_max=_first_int(el, f"{link}/link_widths/max_link_width"),
        utilization_pct=_first_int(el, "utilization/gpu_util"),
        compute_mode=_text(el, "compute_mode"),
        persistence_mode=to_bool(_text(el, "persistence_mode")),
        fabric_state=_text(el, "fabric/state"),
        fabric_status=_text(el, "fabric/status"),
        processes=_processes(el),
    )


def parse_smi_health(text: str) -> HealthLog:
    """The health facts of every ``<gpu>`` in an ``nvidia-smi -q -x`` log (empty if it is not one)."""
    m = _START.search(text)
    if not m:
        return HealthLog()
    start = text.rfind("<?xml", 0, m.start())
    body = text[start if start >= 0 else m.start() :].strip()
    try:
        root = DET.fromstring(body)
    except (DefusedXmlException, ET.ParseError, ValueError) as exc:  # ValueError: unencodable text
        return HealthLog(warnings=(f"nvidia-smi XML unreadable for health facts: {type(exc).__name__}",))
    if root.tag != "nvidia_smi_log":
        return HealthLog()
    gpus = tuple(_gpu(g, i) for i, g in enumerate(root.findall("gpu")))
    return HealthLog(gpus, _text(root, "driver_version"))
