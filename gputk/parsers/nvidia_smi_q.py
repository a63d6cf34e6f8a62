"""``nvidia-smi -q`` in plain text: the indented ``Key : Value`` log, every driver since 3xx.

Sample (one GPU; sections are indented by four spaces per level)::

    ==============NVSMI LOG==============

    Timestamp                                 : Wed Jan 22 04:28:41 2025
    Driver Version                            : 550.127.05
    CUDA Version                              : 12.4

    Attached GPUs                             : 1
    GPU 00000000:06:00.0
        Product Name                          : NVIDIA A10
        Product Architecture                  : Ampere
        MIG Mode
            Current                           : Enabled
        MIG Device
            Index                             : 0
            GPU Instance ID                   : 1
            FB Memory Usage
                Total                         : 9856 MiB          <- the MIG device's, not the GPU's
        GPU UUID                              : GPU-...
        PCI
            Bus Id                            : 00000000:06:00.0
            Device Id                         : 0x223610DE
        FB Memory Usage
            Total                             : 23028 MiB
        Driver Model
            Current                           : WDDM                (Windows)

The text is read into a tree by indentation, and each fact is taken by its path
(``FB Memory Usage/Total`` directly under the GPU), so a MIG device's memory
block before the GPU's own is never taken for the GPU's. Drivers 600+ name the
top lines ``KMD Version`` and ``CUDA UMD Version``. ``N/A``, ``[N/A]``, ``ERR!``,
``Not Supported`` and ``Unknown Error`` values become unknown (``Unknown Error``
in the identity fields marks the GPU as lost). A paste cut off anywhere keeps
what came before the cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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

SOURCE = "nvidia-smi-q"
FORMAT = "nvidia-smi-q"

_GPU_LINE = re.compile(r"GPU[ \t]+([0-9A-Fa-f]{1,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])")
_BANNER = "NVSMI LOG"


@dataclass
class _Node:
    key: str
    value: str | None = None
    children: list[_Node] = field(default_factory=list)

    def get(self, path: str) -> _Node | None:
        node: _Node | None = self
        for part in path.lower().split("/"):
            if node is None:
                return None
            node = next((c for c in node.children if c.key.lower() == part), None)
        return node

    def value_of(self, *paths: str) -> str | None:
        """The first of ``paths`` with a known value (``N/A`` and friends count as unknown)."""
        for p in paths:
            n = self.get(p)
            v = clean(n.value) if n is not None else None
            if v is not None and v != "ERR!":
                return v
        return None

    def raw(self, path: str) -> str | None:
        n = self.get(path)
        return n.value if n is not None else None

    def all(self, key: str) -> list[_Node]:
        return [c for c in self.children if c.key.lower() == key.lower()]


def _split(line: str) -> tuple[int, str, str | None] | None:
    """(indent, key, value) of one line; value None for a section head."""
    body = line.lstrip(" ")
    if not body:
        return None
    indent = len(line) - len(body)
    key, sep, value = body.partition(" : ")
    if sep:
        # R610+: "Driver Version : 610.47 [Deprecated; will be removed in CUDA 14.0. Use KMD Version instead]"
        value = value.split(" [Deprecated", 1)[0]
        return indent, key.strip(), value.strip()
    if body.endswith(":"):  # "Name :" with an empty value
        return indent, body.rstrip(":").strip(), ""
    return indent, body.strip(), None


def _tree(text: str) -> _Node:
    """Indentation -> tree; a top-level ``GPU <bus id>`` line starts a GPU node."""
    root = _Node("root")
    stack: list[tuple[int, _Node]] = [(-1, root)]
    for raw in text.split("\n"):
        line = raw.replace("\t", "    ").rstrip()
        parsed = _split(line)
        if parsed is None:
            continue
        indent, key, value = parsed
        while len(stack) > 1 and stack[-1][0] >= indent:
            stack.pop()
        node = _Node(key, value)
        stack[-1][1].children.append(node)
        stack.append((indent, node))
    return root


def looks_like(text: str) -> bool:
    head = text[:20000]
    if _BANNER in head:
        return True
    has_gpu_line = any(_GPU_LINE.match(line.strip()) for line in head.split("\n") if line.startswith("GPU"))
    return (("Product Name" in head or "Attached GPUs" in head) and has_gpu_line) or _fragment_bus(head) is not None


# "        Bus Id                            : 00000000:82:00.0" inside the PCI section
_BUS_LINE = re.compile(r"^[ \t]*Bus Id[ \t]*:[ \t]*([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])", re.M)


def _fragment_bus(text: str) -> str | None:
    """The bus id of a part of one GPU's log pasted without the banner and its ``GPU <bus id>`` line
    (it must still say ``GPU UUID`` or ``Product Name``), or None."""
    if "GPU UUID" not in text and "Product Name" not in text:
        return None
    if any(_GPU_LINE.match(line.strip()) for line in text.split("\n") if line.startswith("GPU")):
        return None
    m = _BUS_LINE.search(text)
    return m.group(1) if m else None


def _as_one_gpu(text: str, bus: str) -> str:
    """The fragment under a ``GPU <bus id>`` line, its lines indented one level below it."""
    lines = text.split("\n")
    indents = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    pad = " " * max(0, 4 - min(indents, default=4))
    return f"GPU {bus}\n" + "\n".join(pad + line for line in lines)


def _mig_devices(gpu: _Node) -> tuple[MigDevice, ...]:
    """``MIG Device`` blocks (directly under the GPU, or under ``MIG Devices``)."""
    blocks = gpu.all("MIG Device")
    holder = gpu.get("MIG Devices")
    if holder is not None:
        blocks += holder.all("MIG Device")
    return tuple(
        MigDevice(
            index=to_int(b.value_of("Index")),
            gpu_instance_id=to_int(b.value_of("GPU Instance ID")),
            compute_instance_id=to_int(b.value_of("Compute Instance ID")),
            memory_total_mib=to_mib(b.value_of("FB Memory Usage/Total")),
            uuid=b.value_of("MIG UUID", "UUID"),
        )
        for b in blocks
    )


def _processes(gpu: _Node) -> tuple[GpuProcess, ...]:
    procs = gpu.get("Processes")
    if procs is None:
        return ()
    out = []
    for p in procs.children:
        # "Process ID : 1234" is both a head (older drivers indent the rest under it) and a field.
        fields = p if p.children else None
        if p.key.lower() == "process id" and fields is not None:
            out.append(
                GpuProcess(
                    pid=to_int(p.value),
                    name=fields.value_of("Name", "Process Name"),
                    type=fields.value_of("Type"),
                    used_memory_mib=to_mib(fields.value_of("Used GPU Memory", "Used Memory")),
                )
            )
    if not out:  # R5xx+: the fields of one process are siblings, each process starting at "GPU instance ID"
        current: dict[str, str | None] = {}
        for p in procs.children:
            k = p.key.lower()
            if k in ("gpu instance id", "process id") and "process id" in current:
                out.append(_proc(current))
                current = {}
            current[k] = p.value
        if "process id" in current:
            out.append(_proc(current))
    return tuple(out)


def _proc(f: dict[str, str | None]) -> GpuProcess:
    return GpuProcess(
        pid=to_int(f.get("process id")),
        name=clean(f.get("name") or f.get("process name")),
        type=clean(f.get("type")),
        used_memory_mib=to_mib(f.get("used gpu memory") or f.get("used memory")),
    )


def _gpu(node: _Node, index: int, driver: DriverInfo) -> GpuRecord:
    bus_raw = node.value_of("PCI/Bus Id") or (node.value or "").strip() or node.key[3:].strip()
    vendor_id, device_id = split_pci_id(node.value_of("PCI/Device Id"))
    sub_vendor, sub_device = split_pci_id(node.value_of("PCI/Sub System Id"))
    lost = any(is_lost_marker(node.raw(p)) for p in ("Product Name", "GPU UUID", "PCI/Bus Id"))
    return GpuRecord(
        source=SOURCE,
        index=index,
        vendor="nvidia",  # nvidia-smi lists NVIDIA GPUs only
        name=node.value_of("Product Name"),
        pci_bus_id=normalize_bus_id(bus_raw) or normalize_bus_id(node.key[3:].strip()),
        pci_vendor_id=vendor_id,
        pci_device_id=device_id,
        pci_subsystem_id=f"{sub_vendor}:{sub_device}" if sub_vendor else None,
        uuid=node.value_of("GPU UUID"),
        serial=node.value_of("Serial Number"),
        memory_total_mib=to_mib(node.value_of("FB Memory Usage/Total", "Memory Usage/Total")),
        memory_used_mib=to_mib(node.value_of("FB Memory Usage/Used", "Memory Usage/Used")),
        driver_version=driver.version,
        cuda_driver_version=driver.cuda_driver_version,
        architecture=node.value_of("Product Architecture"),
        vbios_version=node.value_of("VBIOS Version"),
        utilization_gpu_pct=to_int(node.value_of("Utilization/Gpu")),
        temperature_c=to_int(node.value_of("Temperature/GPU Current Temp", "Temperature/Gpu")),
        power_draw_w=to_float(
            node.value_of(
                "GPU Power Readings/Instant Power Draw",
                "GPU Power Readings/Power Draw",
                "GPU Power Readings/Average Power Draw",
                "Power Readings/Power Draw",
            )
        ),
        power_limit_w=to_float(
            node.value_of(
                "GPU Power Readings/Current Power Limit",
                "Power Readings/Power Limit",
                "Power Readings/Enforced Power Limit",
            )
        ),
        persistence_mode=to_bool(node.value_of("Persistence Mode")),
        compute_mode=node.value_of("Compute Mode"),
        mig_mode=to_bool(node.value_of("MIG Mode/Current")),
        display_mode=node.value_of("Driver Model/Current") or node.value_of("Display Mode"),
        virtualization_mode=node.value_of("GPU Virtualization Mode/Virtualization Mode"),
        pcie_gen_current=to_int(node.value_of("PCI/GPU Link Info/PCIe Generation/Current")),
        pcie_gen_max=to_int(node.value_of("PCI/GPU Link Info/PCIe Generation/Max")),
        pcie_width_current=to_int(node.value_of("PCI/GPU Link Info/Link Width/Current")),
        pcie_width_max=to_int(node.value_of("PCI/GPU Link Info/Link Width/Max")),
        lost=lost,
        mig_devices=_mig_devices(node),
        processes=_processes(node),
    )


def parse_nvidia_smi_q(text: str) -> ParseResult:
    """Every GPU of an ``nvidia-smi -q`` log; ``format=None`` if the text is not one."""
    if not looks_like(text):
        return ParseResult(format=None)
    bus = _fragment_bus(text[:20000]) if _BANNER not in text[:20000] else None
    fragment_warning = []
    if bus is not None:
        text = _as_one_gpu(text, bus)
        fragment_warning = [f"nvidia-smi -q: a part of one GPU's log (GPU {bus}) without its header"]
    root = _tree(text)
    version = root.value_of("KMD Version", "Driver Version")  # the new names first (R610+ prints both)
    cuda = root.value_of("CUDA UMD Version", "CUDA Version", "CUDA Driver Version")
    driver = DriverInfo(version=version, cuda_driver_version=cuda, source=SOURCE)
    gpu_nodes = [c for c in root.children if _GPU_LINE.fullmatch(c.key) and c.value is None]
    gpus = tuple(_gpu(n, i, driver) for i, n in enumerate(gpu_nodes))
    problems: list[ToolProblem] = list(find_problems(text))
    warnings: list[str] = fragment_warning
    attached = to_int(root.value_of("Attached GPUs"))
    if any(g.lost for g in gpus) and "gpu-lost" not in problems:
        problems.append("gpu-lost")
    if attached is not None and attached > len(gpus):
        warnings.append(
            f"nvidia-smi -q: {attached} GPUs attached, {len(gpus)} listed (cut off, or one GPU asked with -i)"
        )
    if attached == 0 and not gpus and "no-devices" not in problems:
        problems.append("no-devices")
    extra = {"attached_gpus": str(attached)} if attached is not None else {}
    return ParseResult(
        format=FORMAT,
        gpus=gpus,
        driver=driver if (version or cuda) else None,
        problems=tuple(problems),
        warnings=tuple(warnings),
        extra=extra,
    )
