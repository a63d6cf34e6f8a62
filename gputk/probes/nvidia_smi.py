"""``nvidia-smi -q -x``: what the driver's own tool reports, and why it failed when it did.

Shell equivalent::

    timeout 15 nvidia-smi -q -x        # XML log, parsed by gputk.parsers.nvidia_smi_xml

nvidia-smi hangs in uninterruptible calls on a wedged driver (Xid 79, a GPU
fallen off the bus), so the timeout is not optional and a timeout is itself a
finding. Its error messages ("couldn't communicate with the NVIDIA driver",
"Driver/library version mismatch", "No devices were found") are recognised by
gputk.parsers.tool_errors and kept as ``problems``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gputk.host import Host
from gputk.models.core import CommandResult
from gputk.models.gpu import DriverInfo, GpuRecord, ParseResult, ToolProblem
from gputk.parsers.nvidia_smi_xml import parse_nvidia_smi_xml
from gputk.parsers.tool_errors import find_problems, parse_tool_errors
from gputk.probes.capture import Capture

SMI_XML_ARGV = ("nvidia-smi", "-q", "-x")
SMI_LIST_ARGV = ("nvidia-smi", "-L")
SMI_TIMEOUT_S = 15.0

SmiStatus = Literal["ok", "unavailable", "error"]

# What each problem means for the user, with what to do.
PROBLEM_DETAILS: dict[str, str] = {
    "driver-not-loaded": "nvidia-smi cannot talk to the driver: the nvidia kernel module is not loaded "
    "(`sudo modprobe nvidia`; after a kernel update reinstall the driver / DKMS module)",
    "driver-library-mismatch": "Driver/library version mismatch: the kernel module and the user-space "
    "driver differ (a driver upgrade without reboot); reboot",
    "no-devices": "nvidia-smi found no devices: the GPU is not visible (check `lspci`, the container's "
    "--gpus flag, or a GPU bound to vfio-pci/nouveau)",
    "nvml-library-not-found": "nvidia-smi cannot find libnvidia-ml.so: the driver install is incomplete",
    "gpu-lost": "a GPU stopped answering (GPU is lost / Unknown Error): check `dmesg` for Xid errors; "
    "a reset or reboot is needed",
    "insufficient-permissions": "no permission to open /dev/nvidia*",
    "command-not-found": "not installed (nvidia-smi comes with the NVIDIA driver)",
    "nvml-unknown-error": "NVML could not start (Unknown Error): in a container, its device access was lost "
    "when the host reloaded systemd (recreate the container); on a host, see the kernel log",
}


@dataclass(frozen=True)
class SmiResult:
    """nvidia-smi's answer.

    ``status``: ``"ok"`` (XML parsed), ``"unavailable"`` (not installed / not
    captured), ``"error"`` (it ran and failed, or timed out). ``detail``: one
    line with what to do. ``problems``: the tool errors it printed
    (:data:`gputk.models.gpu.ToolProblem`), kept even when the XML parsed.
    ``gpus``/``driver``: parsed facts. ``timed_out``: the wedged-driver sign.
    ``command``: the raw :class:`CommandResult` (evidence).
    """

    status: SmiStatus
    detail: str
    gpus: tuple[GpuRecord, ...] = ()
    driver: DriverInfo | None = None
    problems: tuple[ToolProblem, ...] = ()
    warnings: tuple[str, ...] = ()
    timed_out: bool = False
    command: CommandResult | None = None


def describe_problems(problems: tuple[ToolProblem, ...]) -> str | None:
    """The user-facing line for the first problem that has one."""
    for p in problems:
        if p in PROBLEM_DETAILS:
            return PROBLEM_DETAILS[p]
    return None


def smi_query(host: Host) -> SmiResult:
    """Run ``nvidia-smi -q -x`` on ``host`` and classify the outcome."""
    res = host.run(SMI_XML_ARGV, timeout=SMI_TIMEOUT_S)
    if res.error == "not-found":
        return SmiResult("unavailable", PROBLEM_DETAILS["command-not-found"], command=res)
    if res.error == "not-captured":
        return SmiResult("unavailable", "`nvidia-smi -q -x` was not captured in the snapshot", command=res)
    if res.error == "timeout":
        return SmiResult(
            "error",
            f"`nvidia-smi -q -x` gave no answer within {res.timeout_s or SMI_TIMEOUT_S:g} s: the driver looks "
            "wedged (check `dmesg` for Xid errors; a GPU reset or reboot is usually needed)",
            timed_out=True,
            command=res,
        )
    if res.error is not None:
        return SmiResult("error", res.describe(), command=res)
    parsed: ParseResult = parse_nvidia_smi_xml(res.stdout)
    # Tool errors are printed around the XML, never inside it: on an 8-GPU log (~100 kB) scanning
    # the XML body for them cost more than parsing it.
    body_at = res.stdout.find("<nvidia_smi_log") if parsed.format is not None else -1
    outside = (res.stdout if body_at < 0 else res.stdout[:body_at]) + "\n" + res.stderr
    errors = parse_tool_errors(outside)
    problems = tuple(dict.fromkeys(parsed.problems + find_problems(outside)))
    # "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error": a lost GPU by bus id.
    seen = {g.pci_bus_id for g in parsed.gpus}
    lost = tuple(g for g in errors.gpus if g.pci_bus_id not in seen)
    if parsed.format is not None and parsed.gpus:
        detail = f"{len(parsed.gpus)} GPU{'s' if len(parsed.gpus) != 1 else ''} in `nvidia-smi -q -x`"
        gpus = parsed.gpus + lost
        return SmiResult("ok", detail, gpus, parsed.driver, problems, parsed.warnings, command=res)
    if parsed.format is not None and res.ok and not problems:
        return SmiResult(
            "ok", "`nvidia-smi -q -x` lists no GPU", (), parsed.driver, problems, parsed.warnings, command=res
        )
    detail = describe_problems(problems) or res.describe()
    return SmiResult("error", detail, lost, parsed.driver, problems, parsed.warnings, command=res)


CAPTURE = Capture(
    "nvidia-smi",
    commands=((SMI_XML_ARGV, 20.0), (("nvidia-smi",), 20.0), (SMI_LIST_ARGV, 20.0)),
    tools=("nvidia-smi",),
    entries=(smi_query,),
)
