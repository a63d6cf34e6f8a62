"""``nvidia-smi -q -x``: the XML log, every schema version.

Old drivers (2xx-3xx) print no DOCTYPE and ``<memory_usage>``; later ones
``<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v4.dtd">`` through
``nvsmi_device_v13.dtd`` (R580+). Sample::

    <nvidia_smi_log>
        <driver_version>535.54.03</driver_version>
        <cuda_version>12.2</cuda_version>
        <gpu id="00000000:01:00.0">
            <product_name>NVIDIA A100-SXM4-80GB</product_name>
            <mig_mode><current_mig>Enabled</current_mig></mig_mode>
            <pci><pci_device_id>20B210DE</pci_device_id> ...</pci>
            <fb_memory_usage><total>81920 MiB</total> ...</fb_memory_usage>
            <gpu_power_readings><power_draw>67.03 W</power_draw> ...

Parsed with defusedxml (entities and external references refused). A
truncated or damaged log still yields every complete ``<gpu>`` element plus a
warning; text printed before the XML (``2>&1`` pastes) is read for tool errors.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from gputk.models.gpu import (
    DriverInfo,
    GpuProcess,
    GpuRecord,
    MigDevice,
    ParseResult,
    ToolProblem,
    normalize_bus_id,
)
from gputk.parsers._values import clean, is_lost_marker, split_pci_id, to_bool, to_float, to_int, to_mib
from gputk.parsers.tool_errors import find_problems

FORMAT = "nvidia-smi-xml"
SOURCE = "nvidia-smi-xml"

_START = re.compile(r"<\?xml|<!DOCTYPE\s+nvidia_smi_log|<nvidia_smi_log\b")
_TOP_FIELD = re.compile(r"<(driver_version|cuda_version)>([^<]*)</\1>")
_SCHEMA = re.compile(r"nvsmi_device_(v\d+)\.dtd")
# The name is forced to be whole ((?![\w.-])), so it and the attributes cannot trade characters
# (that trade made a long unclosed tag quadratic).
_TAG = re.compile(r"<(/?)([A-Za-z_][\w.-]*)(?![\w.-])([^<>]*)>")
# Driver 270 wrote <gpu id="0:1:0"> (domain:bus:device) and <pci_bus>1</pci_bus>.
_OLD_ID = re.compile(r"^([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})$")


def _bus_id(gpu: ET.Element) -> str | None:
    """``<pci_bus_id>00000000:01:00.0`` or ``<gpu id=...>``; else built from domain/bus/device."""
    for raw in (clean(_text(gpu, "pci/pci_bus_id")), gpu.get("id")):
        bus_id = normalize_bus_id(raw)
        if bus_id:
            return bus_id
        m = _OLD_ID.match(raw or "")
        if m:
            return normalize_bus_id(f"{m.group(1)}:{m.group(2)}:{m.group(3)}.0")
    parts = [clean(_text(gpu, f"pci/pci_{k}")) for k in ("domain", "bus", "device")]
    if parts[1] is not None:
        return normalize_bus_id(f"{parts[0] or '0'}:{parts[1]}:{parts[2] or '0'}.0")
    return None


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text


def _first(el: ET.Element, *paths: str) -> str | None:
    """The first of ``paths`` with a value that is not N/A (schemas renamed fields)."""
    for p in paths:
        v = clean(_text(el, p))
        if v is not None:
            return v
    return None


def _mig_devices(gpu: ET.Element) -> tuple[MigDevice, ...]:
    """``<mig_devices><mig_device><index>0</index><gpu_instance_id>3</gpu_instance_id>``...

    The XML gives no profile name; ``nvidia-smi -L`` does.
    """
    out = []
    for md in gpu.findall("mig_devices/mig_device"):
        out.append(
            MigDevice(
                index=to_int(_text(md, "index")),
                gpu_instance_id=to_int(_text(md, "gpu_instance_id")),
                compute_instance_id=to_int(_text(md, "compute_instance_id")),
                memory_total_mib=to_mib(_text(md, "fb_memory_usage/total")),
                uuid=clean(_text(md, "uuid")),
                profile=clean(_text(md, "profile")),
            )
        )
    return tuple(out)


def _processes(gpu: ET.Element) -> tuple[GpuProcess, ...]:
    """``<processes><process_info><pid>1234</pid><type>C</type><process_name>python</process_name>
    <used_memory>1234 MiB</used_memory>``."""
    out = []
    for p in gpu.findall("processes/process_info"):
        out.append(
            GpuProcess(
                pid=to_int(_text(p, "pid")),
                name=clean(_text(p, "process_name")),
                used_memory_mib=to_mib(_text(p, "used_memory")),
                type=clean(_text(p, "type")),
            )
        )
    return tuple(out)


# v4-v11: power_readings/power_draw and power_limit; v12: gpu_power_readings/power_draw and
# current_power_limit; v13 (R570+): instant_power_draw and average_power_draw.
_POWER_DRAW = tuple(
    f"{group}/{field}"
    for group in ("gpu_power_readings", "power_readings")
    for field in ("instant_power_draw", "power_draw", "average_power_draw")
)
_POWER_LIMIT = tuple(
    f"{group}/{field}"
    for group in ("gpu_power_readings", "power_readings")
    for field in ("current_power_limit", "enforced_power_limit", "power_limit")
)


def _first_float(gpu: ET.Element, paths: tuple[str, ...]) -> float | None:
    for path in paths:
        v = to_float(_text(gpu, path))
        if v is not None:
            return v
    return None


def _is_lost(gpu: ET.Element) -> bool:
    """A lost GPU answers ``Unknown Error`` / ``[GPU is lost]`` for its identity fields."""
    return any(is_lost_marker(_text(gpu, path)) for path in ("product_name", "uuid", "pci/pci_bus_id"))


def _display_mode(gpu: ET.Element) -> str | None:
    """On Windows the driver model (``WDDM``/``TCC``); elsewhere ``Enabled``/``Disabled``."""
    dm = _first(gpu, "driver_model/current_dm")
    if dm is not None:
        return dm
    return _first(gpu, "display_mode")


def _compute_capability(gpu: ET.Element) -> str | None:
    # Not in NVIDIA's DTDs up to v13; some builds and wrappers add it.
    v = _first(gpu, "compute_cap", "compute_capability", "cuda_compute_capability")
    if v and re.fullmatch(r"\d+\.\d+", v):
        return v
    return None


def _gpu_record(gpu: ET.Element, index: int, driver: DriverInfo) -> GpuRecord:
    vendor_id, device_id = split_pci_id(_text(gpu, "pci/pci_device_id"))
    sub_vendor, sub_device = split_pci_id(_text(gpu, "pci/pci_sub_system_id"))
    bus_id = _bus_id(gpu)
    name = _first(gpu, "product_name")
    mig = _first(gpu, "mig_mode/current_mig")
    virt = clean(_text(gpu, "gpu_virtualization_mode/virtualization_mode"))
    return GpuRecord(
        source=SOURCE,
        index=index,
        vendor="nvidia",  # nvidia-smi lists NVIDIA GPUs only, whatever the name or a vGPU's ids say
        name=name,
        pci_bus_id=bus_id,
        pci_vendor_id=vendor_id,
        pci_device_id=device_id,
        pci_subsystem_id=f"{sub_vendor}:{sub_device}" if sub_vendor else None,
        uuid=_first(gpu, "uuid"),
        serial=_first(gpu, "serial"),
        memory_total_mib=to_mib(_first(gpu, "fb_memory_usage/total", "memory_usage/total")),
        memory_used_mib=to_mib(_first(gpu, "fb_memory_usage/used", "memory_usage/used")),
        driver_version=driver.version,
        cuda_driver_version=driver.cuda_driver_version,
        compute_capability=_compute_capability(gpu),
        architecture=_first(gpu, "product_architecture"),
        vbios_version=_first(gpu, "vbios_version"),
        utilization_gpu_pct=to_int(_text(gpu, "utilization/gpu_util")),
        temperature_c=to_int(_text(gpu, "temperature/gpu_temp")),
        power_draw_w=_first_float(gpu, _POWER_DRAW),
        power_limit_w=_first_float(gpu, _POWER_LIMIT),
        persistence_mode=to_bool(_text(gpu, "persistence_mode")),
        compute_mode=_first(gpu, "compute_mode"),
        mig_mode=to_bool(mig),
        display_mode=_display_mode(gpu),
        virtualization_mode=virt,
        pcie_gen_current=to_int(_text(gpu, "pci/pci_gpu_link_info/pcie_gen/current_link_gen")),
        pcie_gen_max=to_int(_text(gpu, "pci/pci_gpu_link_info/pcie_gen/max_link_gen")),
        pcie_width_current=to_int(_text(gpu, "pci/pci_gpu_link_info/link_widths/current_link_width")),
        pcie_width_max=to_int(_text(gpu, "pci/pci_gpu_link_info/link_widths/max_link_width")),
        lost=_is_lost(gpu),
        mig_devices=_mig_devices(gpu),
        processes=_processes(gpu),
    )


def _driver(root_text: str, root: ET.Element | None) -> DriverInfo:
    if root is not None:
        version = clean(_text(root, "driver_version"))
        cuda = clean(_text(root, "cuda_version"))
    else:
        fields = {k: clean(v) for k, v in _TOP_FIELD.findall(root_text)}
        version, cuda = fields.get("driver_version"), fields.get("cuda_version")
    return DriverInfo(version=version, cuda_driver_version=cuda, source=SOURCE)


def _gpu_spans(body: str) -> list[tuple[int, int]]:
    """(start, end) of each complete ``<gpu ...>...</gpu>``, found in one pass (no regex backtracking)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        start = body.find("<gpu", pos)
        if start < 0 or not re.match(r"<gpu[\s>]", body[start : start + 5]):
            if start < 0:
                return spans
            pos = start + 4
            continue
        stop = body.find("</gpu>", start)
        if stop < 0:
            return spans
        spans.append((start, stop + len("</gpu>")))
        pos = stop + len("</gpu>")


def _close_open_tags(fragment: str) -> str:
    """Cut a truncated fragment after its last complete tag and close what is still open."""
    last = fragment.rfind(">")
    fragment = fragment[: last + 1] if last >= 0 else ""
    stack: list[str] = []
    for m in _TAG.finditer(fragment):
        closing, name, selfclosing = m.group(1), m.group(2), m.group(3).endswith("/")
        if selfclosing:
            continue
        if closing:
            if name in stack:
                while stack and stack.pop() != name:
                    pass
        else:
            stack.append(name)
    return fragment + "".join(f"</{name}>" for name in reversed(stack))


def _salvage(body: str) -> tuple[list[ET.Element], list[str]]:
    """Every complete ``<gpu>`` element of a damaged log, then the cut-off one closed by hand."""
    gpus: list[ET.Element] = []
    warnings: list[str] = []
    end = 0
    for start, stop in _gpu_spans(body):
        end = stop
        try:
            gpus.append(DET.fromstring(body[start:stop]))
        except (ET.ParseError, DefusedXmlException):
            warnings.append("nvidia-smi XML: one <gpu> element is damaged and was skipped")
    tail = body.find("<gpu", end)
    if tail >= 0 and re.match(r"<gpu\b", body[tail:]):
        try:
            gpus.append(DET.fromstring(_close_open_tags(body[tail:])))
            warnings.append("nvidia-smi XML: the last <gpu> element is cut off; its first fields were read")
        except (ET.ParseError, DefusedXmlException):
            warnings.append("nvidia-smi XML: the last <gpu> element is cut off and unreadable")
    return gpus, warnings


def looks_like(text: str) -> bool:
    """The text holds an nvidia-smi XML log (DOCTYPE or root element)."""
    return "<nvidia_smi_log" in text[:4096] or "nvsmi_device_v" in text[:4096]


def parse_nvidia_smi_xml(text: str) -> ParseResult:
    """Every GPU of an ``nvidia-smi -q -x`` log; ``format=None`` if the text is not one."""
    # A lone surrogate (text decoded with surrogateescape) cannot reach the XML parser.
    text = text.encode("utf-8", "replace").decode("utf-8")
    m = _START.search(text)
    if not m or "<nvidia_smi_log" not in text:
        return ParseResult(format=None)
    prefix, body = text[: m.start()], text[m.start() :]
    warnings: list[str] = []
    problems: list[ToolProblem] = list(find_problems(prefix)) if prefix.strip() else []
    extra: dict[str, str] = {}
    schema = _SCHEMA.search(body[:512])
    extra["schema"] = schema.group(1) if schema else "none"
    root: ET.Element | None
    try:
        root = DET.fromstring(body.strip())
    except DefusedXmlException as exc:
        return ParseResult(
            format=FORMAT,
            warnings=(
                f"nvidia-smi XML refused: it declares entities or external references ({type(exc).__name__})",
            ),
            extra=extra,
        )
    except ET.ParseError as exc:
        root = None
        warnings.append(f"nvidia-smi XML is damaged ({exc}); read the complete <gpu> elements only")
    if root is not None and root.tag != "nvidia_smi_log":
        return ParseResult(format=None)
    driver = _driver(body, root)
    if root is not None:
        gpu_elements = root.findall("gpu")
    else:
        gpu_elements, salvage_warnings = _salvage(body)
        warnings.extend(salvage_warnings)
    gpus = tuple(_gpu_record(g, i, driver) for i, g in enumerate(gpu_elements))
    attached = to_int(_text(root, "attached_gpus")) if root is not None else None
    if attached is not None:
        # `nvidia-smi -q -x -i 0` lists one GPU of many: a fact, not damage.
        extra["attached_gpus"] = str(attached)
    if any(g.lost for g in gpus) and "gpu-lost" not in problems:
        problems.append("gpu-lost")
    if root is not None and attached == 0 and not gpus and "no-devices" not in problems:
        problems.append("no-devices")
    return ParseResult(
        format=FORMAT,
        gpus=gpus,
        driver=driver if (driver.version or driver.cuda_driver_version) else None,
        problems=tuple(problems),
        warnings=tuple(warnings),
        extra=extra,
    )
