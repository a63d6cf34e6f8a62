"""Error messages the GPU tools print instead of (or along with) their output.

Each pattern is the text a real tool prints; the problem names are
:data:`gputk.models.gpu.ToolProblem`. Samples::

    NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that
    the latest NVIDIA driver is installed and running.
    Failed to initialize NVML: Driver/library version mismatch
    NVML library version: 550.144
    No devices were found
    NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. ...   (NVML Shared Library Not Found)
    Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error
    bash: nvidia-smi: command not found
    Failed to initialize NVML: Insufficient Permissions
"""

from __future__ import annotations

import re

from gputk.models.gpu import DriverInfo, GpuRecord, ParseResult, ToolProblem, normalize_bus_id

SOURCE = "tool-errors"

_PATTERNS: tuple[tuple[ToolProblem, re.Pattern[str]], ...] = (
    ("driver-not-loaded", re.compile(r"couldn't communicate with the NVIDIA driver", re.I)),
    (
        "driver-not-loaded",
        re.compile(r"Failed to initialize NVML: (?:Unknown Error|Driver Not Loaded)", re.I),
    ),
    ("driver-library-mismatch", re.compile(r"Driver/library version mismatch", re.I)),
    ("no-devices", re.compile(r"^\s*No devices were found", re.I | re.M)),
    ("nvml-library-not-found", re.compile(r"NVML Shared Library Not Found", re.I)),
    ("nvml-library-not-found", re.compile(r"couldn't find libnvidia-ml\.so", re.I)),
    ("gpu-lost", re.compile(r"Unable to determine the device handle for (?:GPU|gpu)", re.I)),
    ("gpu-lost", re.compile(r"GPU is lost\. Reboot the system", re.I)),
    ("insufficient-permissions", re.compile(r"Failed to initialize NVML: Insufficient Permissions", re.I)),
    (
        "command-not-found",
        re.compile(r"(?:nvidia-smi|lspci|lshw|inxi|hwinfo|nvcc)[^\n]*command not found", re.I),
    ),
    (
        "command-not-found",
        re.compile(r"command not found:\s*(?:nvidia-smi|lspci|lshw|inxi|hwinfo|nvcc)", re.I),
    ),
    (
        "command-not-found",
        re.compile(r"'nvidia-smi' is not recognized as an internal or external command", re.I),
    ),
)

# A literal each pattern above cannot match without (lowercase, same order): the texts are mostly
# healthy output (a 100 kB+ `nvidia-smi -q -x` of an 8-GPU machine), where a plain substring test
# is ~100x cheaper than a case-insensitive regex search.
_NEEDLES: tuple[str, ...] = (
    "couldn't communicate",
    "failed to initialize nvml",
    "version mismatch",
    "no devices were found",
    "nvml shared library",
    "couldn't find libnvidia-ml",
    "device handle for",
    "gpu is lost",
    "insufficient permissions",
    "command not found",
    "command not found",
    "is not recognized",
)
assert len(_NEEDLES) == len(_PATTERNS)

# "NVML library version: 550.144" follows the mismatch message on R5xx drivers.
_NVML_VERSION = re.compile(r"NVML library version:\s*(\d+\.\d+(?:\.\d+)?)", re.I)
# "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error"
_LOST_BUS = re.compile(r"device handle for GPU\s*([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])")


def find_problems(text: str) -> tuple[ToolProblem, ...]:
    """The problems named in ``text``, in first-seen order, without duplicates."""
    found: list[tuple[int, ToolProblem]] = []
    low = text.lower()
    for (problem, pattern), needle in zip(_PATTERNS, _NEEDLES, strict=True):
        if needle not in low:
            continue
        m = pattern.search(text)
        if m and problem not in (p for _, p in found):
            found.append((m.start(), problem))
    return tuple(p for _, p in sorted(found))


def parse_tool_errors(text: str) -> ParseResult:
    """Problems, the NVML library version after a mismatch, and the bus ids of lost GPUs.

    Returns ``format=None`` when the text names no known problem.
    """
    problems = find_problems(text)
    if not problems:
        return ParseResult(format=None)
    driver = None
    m = _NVML_VERSION.search(text)
    if m:
        driver = DriverInfo(nvml_version=m.group(1), source=SOURCE)
    lost: list[GpuRecord] = []
    for bus in _LOST_BUS.findall(text):
        bus_id = normalize_bus_id(bus)
        if bus_id and all(g.pci_bus_id != bus_id for g in lost):
            lost.append(GpuRecord(source=SOURCE, pci_bus_id=bus_id, vendor="nvidia", lost=True))
    return ParseResult(format="tool-error", gpus=tuple(lost), driver=driver, problems=problems)
