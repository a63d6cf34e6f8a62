r"""Error messages the GPU tools print instead of (or along with) their output.

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
    cat: /proc/driver/nvidia/version: No such file or directory        (module not loaded)
    Failed to initialize NVML: GPU access blocked by the operating system   (WSL)
    Message: No PCI device data found.                                  (inxi without a PCI bus)

Every pattern starts with a literal (no leading ``\s*`` or ``.*``), so a search is linear in the text.
:data:`MEANING` says in one sentence what each problem means for the machine.
"""

from __future__ import annotations

import re

from gputk.models.gpu import DriverInfo, GpuRecord, ParseResult, ToolProblem, normalize_bus_id

SOURCE = "tool-errors"

# (problem, a lower-case literal the message cannot lack, the pattern). The texts are mostly healthy
# output (a 100 kB+ `nvidia-smi -q -x` of an 8-GPU machine), where a substring test is ~100x cheaper
# than a case-insensitive regex search, so each pattern runs only where its literal occurs.
_PATTERNS: tuple[tuple[ToolProblem, str, re.Pattern[str]], ...] = (
    (
        "driver-not-loaded",
        "couldn't communicate",
        re.compile(r"couldn't communicate with the NVIDIA driver", re.I),
    ),
    (
        "driver-not-loaded",
        "failed to initialize nvml",
        re.compile(r"Failed to initialize NVML: Driver Not Loaded", re.I),
    ),
    (
        "nvml-unknown-error",
        "failed to initialize nvml",
        re.compile(r"Failed to initialize NVML: Unknown Error", re.I),
    ),
    (
        "driver-not-loaded",
        "/proc/driver/nvidia/version",
        re.compile(r"/proc/driver/nvidia/version: No such file or directory", re.I),
    ),
    ("driver-not-loaded", "nvml error", re.compile(r"nvml error: driver not loaded", re.I)),
    ("driver-library-mismatch", "version mismatch", re.compile(r"Driver/library version mismatch", re.I)),
    ("no-devices", "no devices were found", re.compile(r"^[ \t]*No devices were found", re.I | re.M)),
    ("nvml-library-not-found", "nvml shared library", re.compile(r"NVML Shared Library Not Found", re.I)),
    (
        "nvml-library-not-found",
        "couldn't find libnvidia-ml",
        re.compile(r"couldn't find libnvidia-ml\.so", re.I),
    ),
    (
        "nvml-library-not-found",
        "libnvidia-ml.so",
        re.compile(r"libnvidia-ml\.so(?:\.1)?: cannot open shared object file", re.I),
    ),
    ("nvml-library-not-found", "could not load nvml", re.compile(r"could not load NVML library", re.I)),
    (
        "gpu-access-blocked",
        "gpu access blocked",
        re.compile(r"GPU access blocked by the operating system", re.I),
    ),
    (
        "driver-not-installed",
        "module nvidia",
        re.compile(r"(?:FATAL|ERROR): Module nvidia(?:-current)? not found", re.I),
    ),
    ("no-pci-devices", "no pci device data", re.compile(r"No PCI device data found", re.I)),
    ("no-pci-devices", "working access method", re.compile(r"Cannot find any working access method", re.I)),
    ("no-pci-devices", "pcilib", re.compile(r"pcilib: Cannot open /proc/bus/pci", re.I)),
    (
        "container-gpu-unavailable",
        "could not select device driver",
        re.compile(r"could not select device driver \"[^\"\n]{0,64}\" with capabilities: \[\[gpu\]\]", re.I),
    ),
    (
        "container-cuda-too-new",
        "unsatisfied condition: cuda",
        re.compile(r"requirement error: unsatisfied condition: cuda ?>= ?\d", re.I),
    ),
    (
        "gpu-lost",
        "device handle for",
        re.compile(r"Unable to (?:determine|detect) the device handle for (?:GPU|gpu)", re.I),
    ),
    ("gpu-lost", "gpu is lost", re.compile(r"GPU is lost\. Reboot the system", re.I)),
    (
        "insufficient-permissions",
        "insufficient permissions",
        re.compile(r"Failed to initialize NVML: Insufficient Permissions", re.I),
    ),
    (
        "command-not-found",
        "command not found:",
        re.compile(r"command not found:[ \t]*(?:nvidia-smi|lspci|lshw|inxi|hwinfo|nvcc)", re.I),
    ),
    (
        "command-not-found",
        "is not recognized",
        re.compile(
            r"'nvidia-smi(?:\.exe)?' is not recognized as (?:an internal or external command|the name)", re.I
        ),
    ),
    (
        "command-not-found",
        "command 'nvidia-smi' not found",
        re.compile(r"Command 'nvidia-smi' not found", re.I),
    ),
    (
        "command-not-found",
        "no such file or directory: '",
        re.compile(r"No such file or directory: '(?:nvidia-smi|lspci|lshw|inxi|hwinfo|nvcc)'", re.I),
    ),
)
_TOOLS = ("nvidia-smi", "lspci", "lshw", "inxi", "hwinfo", "nvcc")
# "bash: nvidia-smi: command not found", "sh: 1: nvidia-smi: not found",
# "-bash: /usr/bin/nvidia-smi: No such file or directory": read line by line (no pattern spans a line).
_MISSING_TAILS = ("command not found", ": not found", "no such file or directory")

MEANING: dict[str, str] = {
    "driver-not-loaded": "the NVIDIA driver is not loaded (no kernel module answers)",
    "driver-library-mismatch": "the loaded kernel module and the user-space driver differ (reboot after the "
    "driver upgrade)",
    "no-devices": "0 GPUs: the driver is loaded but sees no NVIDIA GPU",
    "nvml-library-not-found": "the driver's user-space library (libnvidia-ml.so) is missing",
    "gpu-lost": "a GPU stopped answering (lost): check the kernel log for Xid errors; reset or reboot",
    "insufficient-permissions": "no permission to open the GPU device files (/dev/nvidia*)",
    "command-not-found": "the tool is not installed (nvidia-smi comes with the NVIDIA driver)",
    "driver-not-installed": "the NVIDIA kernel module is not installed for the running kernel",
    "no-pci-devices": "0 GPUs known: the PCI bus could not be read (a container, WSL or a board without PCI)",
    "gpu-access-blocked": "the operating system blocks GPU access (WSL: GPU paravirtualisation is off or "
    "the Windows driver is too old)",
    "container-gpu-unavailable": "the container runtime has no GPU support (install the NVIDIA Container "
    "Toolkit and restart the daemon)",
    "container-cuda-too-new": "the container image needs a newer CUDA than the host's driver supports: update the "
    "host driver, or run an image built for the CUDA the driver reports",
    "nvml-unknown-error": "NVML could not start (Unknown Error): inside a container this is lost device access "
    "after the host reloaded systemd (recreate the container); on the host itself, read the kernel log for "
    "Xid/NVRM messages",
}


# "unsatisfied condition: cuda>=12.8, please update your driver" (nvidia-container-cli)
_REQUIRED_CUDA = re.compile(r"unsatisfied condition: cuda ?>= ?(\d{1,3}\.\d{1,3})", re.I)
# "NVML library version: 550.144" follows the mismatch message on R5xx drivers.
_NVML_VERSION = re.compile(r"NVML library version:\s*(\d+\.\d+(?:\.\d+)?)", re.I)
# "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error"; newer drivers name the
# index first: "... for GPU1: 0000:E1:00.0: Unknown Error"
_LOST_BUS = re.compile(
    r"device handle for GPU[ \t]?(?:(\d{1,3}):[ \t]+)?([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])"
)


def _missing_tool(text: str) -> int | None:
    """Offset of the first "<tool>: command not found"-style line, or None."""
    low = text.lower()
    if not any(t in low for t in _MISSING_TAILS):
        return None
    pos = 0
    for line in low.split("\n"):
        if any(t in line for t in _MISSING_TAILS):
            head = line.split("not found")[0].split("no such file")[0]
            if any(tool in head for tool in _TOOLS) and "/proc/driver" not in head:
                return pos
        pos += len(line) + 1
    return None


def find_problems(text: str) -> tuple[ToolProblem, ...]:
    """The problems named in ``text``, in first-seen order, without duplicates."""
    found: list[tuple[int, ToolProblem]] = []
    low = text.lower()
    for problem, needle, pattern in _PATTERNS:
        if needle not in low:
            continue
        m = pattern.search(text)
        if m and problem not in (p for _, p in found):
            found.append((m.start(), problem))
    missing = _missing_tool(text)
    if missing is not None and "command-not-found" not in (p for _, p in found):
        found.append((missing, "command-not-found"))
    problems = tuple(p for _, p in sorted(found))
    if "gpu-lost" in problems:
        # nvidia-smi ends with "No devices were found" when every handle failed: the GPUs are
        # there but lost, which is the more specific finding
        problems = tuple(p for p in problems if p != "no-devices")
    return problems


def required_cuda(text: str) -> str | None:
    """The CUDA version an nvidia-container-cli requirement error asks for ("cuda>=12.8" -> "12.8")."""
    m = _REQUIRED_CUDA.search(text) if "unsatisfied condition" in text else None
    return m.group(1) if m else None


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
    for index, bus in _LOST_BUS.findall(text):
        bus_id = normalize_bus_id(bus)
        if bus_id and all(g.pci_bus_id != bus_id for g in lost):
            idx = int(index) if index else None
            lost.append(GpuRecord(source=SOURCE, index=idx, pci_bus_id=bus_id, vendor="nvidia", lost=True))
    required = required_cuda(text) if "container-cuda-too-new" in problems else None
    extra = {"container_requires_cuda": required} if required else {}
    return ParseResult(format="tool-error", gpus=tuple(lost), driver=driver, problems=problems, extra=extra)
