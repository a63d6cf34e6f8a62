"""``gputk detect``: every GPU of a machine (or of pasted outputs), from every source, merged.

Sources, best first: NVML (gputk.probes.nvml), ``nvidia-smi -q -x``
(gputk.probes.nvidia_smi), the PCI bus (sysfs + lspci, gputk.probes.pci) and
``lshw -C display -json`` (gputk.probes.lshw). They are merged per GPU by PCI
bus id (gputk.services.merge); each source gets a status with an actionable
detail. The service never prints; the CLI renders :class:`DetectResult`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gputk.errors import InputError
from gputk.files import read_input_file
from gputk.host import Host
from gputk.models.gpu import DriverInfo, GpuRecord, ParseResult, ToolProblem
from gputk.parallel import gather
from gputk.services.merge import MergedGpu, merge_records

SourceState = Literal["ok", "unavailable", "error"]
MAX_INPUT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SourceStatus:
    status: SourceState
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class DetectResult:
    """GPUs found, the driver, what each source said, and the headline messages.

    ``messages``: plain sentences for the user ("No GPU found ...", "NVIDIA GPU
    0000:01:00.0 has no driver bound ..."), most important first.
    """

    gpus: tuple[MergedGpu, ...]
    driver: DriverInfo
    sources: dict[str, SourceStatus]
    problems: tuple[ToolProblem, ...] = ()
    warnings: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    origin: str = "this machine"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def nvidia_gpus(self) -> tuple[MergedGpu, ...]:
        return tuple(g for g in self.gpus if g.record.vendor == "nvidia")

    def to_dict(self) -> dict[str, Any]:
        """The ``gputk.detect/1`` payload (the CLI adds the envelope)."""
        return {
            "origin": self.origin,
            "gpus": [gpu_json(g) for g in self.gpus],
            "driver": {
                "version": self.driver.version,
                "cuda_driver_version": self.driver.cuda_driver_version,
                "nvml_version": self.driver.nvml_version,
                "kernel_module": self.driver.kernel_module,
            },
            "sources": {k: v.to_dict() for k, v in self.sources.items()},
            "problems": list(self.problems),
            "findings": [{"problem": p, "meaning": _meaning(p)} for p in self.problems],
            "messages": list(self.messages),
            "warnings": list(self.warnings),
        }


def _meaning(problem: str) -> str | None:
    from gputk.parsers.tool_errors import MEANING

    return MEANING.get(problem)


def gpu_json(g: MergedGpu) -> dict[str, Any]:
    r = g.record
    return {
        "index": r.index,
        "vendor": r.vendor or "other",
        "name": r.name,
        "pci_bus_id": r.pci_bus_id,
        "uuid": r.uuid,
        "memory_total_mib": r.memory_total_mib,
        "memory_used_mib": r.memory_used_mib,
        "driver_version": r.driver_version,
        "cuda_driver_version": r.cuda_driver_version,
        "compute_capability": r.compute_capability,
        "compute_capability_source": g.cc_source,
        "architecture": r.architecture,
        "kernel_driver": r.kernel_driver,
        "pci_vendor_id": r.pci_vendor_id,
        "pci_device_id": r.pci_device_id,
        "utilization_gpu_pct": r.utilization_gpu_pct,
        "temperature_c": r.temperature_c,
        "power_draw_w": r.power_draw_w,
        "power_limit_w": r.power_limit_w,
        "mig_mode": r.mig_mode,
        "lost": r.lost,
        "mig_devices": [dataclasses.asdict(m) for m in r.mig_devices],
        "processes": [dataclasses.asdict(p) for p in r.processes],
        "sources": list(g.sources),
    }


# -- live / snapshot ---------------------------------------------------------------------------

_NVML_STATE: dict[str, SourceState] = {
    "ok": "ok",
    "library-not-found": "unavailable",
    "not-captured": "unavailable",
    "driver-not-loaded": "error",
    "driver-library-mismatch": "error",
    "no-permission": "error",
    "error": "error",
}

_DRIVER_WORDS = {
    "nouveau": "is bound to nouveau, the open-source driver; CUDA needs the NVIDIA driver "
    "(install it and blacklist nouveau)",
    "vfio-pci": "is bound to vfio-pci (reserved for passthrough to a virtual machine)",
    "pci-stub": "is held by pci-stub (reserved for passthrough)",
}


def _fill_driver(records: list[GpuRecord], driver: DriverInfo) -> list[GpuRecord]:
    """Give NVIDIA GPUs driven by nvidia the machine-wide driver facts the per-GPU source lacked."""
    if not (driver.version or driver.cuda_driver_version):
        return records
    out = []
    for r in records:
        pci_only = r.source.startswith(("sysfs", "lspci", "lshw", "inxi", "hwinfo"))
        if r.vendor == "nvidia" and (
            r.kernel_driver == "nvidia" or (r.kernel_driver is None and not pci_only)
        ):
            r = dataclasses.replace(
                r,
                driver_version=r.driver_version or driver.version,
                cuda_driver_version=r.cuda_driver_version or driver.cuda_driver_version,
            )
        out.append(r)
    return out


def _messages(gpus: Sequence[MergedGpu], sources: dict[str, SourceStatus], driver_ok: bool) -> list[str]:
    msgs: list[str] = []
    if not gpus:
        pci = sources.get("pci")
        if pci is not None and pci.status == "ok":
            msgs.append("No GPU found: the PCI bus shows no display controller.")
        else:
            msgs.append("No GPU found (the PCI bus could not be read; see the sources below).")
        return msgs
    for g in gpus:
        r = g.record
        where = r.pci_bus_id or f"GPU {r.index}"
        if r.lost:
            msgs.append(
                f"GPU {where} is lost (it stopped answering): check `dmesg` for Xid errors; reset or reboot."
            )
        if r.vendor != "nvidia" or driver_ok:
            continue
        if r.kernel_driver in _DRIVER_WORDS:
            msgs.append(f"NVIDIA GPU {where} {_DRIVER_WORDS[r.kernel_driver]}.")
        elif r.kernel_driver is None:
            msgs.append(
                f"NVIDIA GPU {where} has no driver bound: the NVIDIA driver is missing or not loaded."
            )
        else:
            nvml = sources.get("nvml")
            why = f" ({nvml.detail})" if nvml and nvml.detail else ""
            msgs.append(f"NVIDIA GPU {where} is bound to {r.kernel_driver} but NVML does not answer{why}.")
    return msgs


def detect(host: Host) -> DetectResult:
    """Every GPU of ``host`` (this machine or a snapshot), merged from all sources."""
    from gputk.probes.lshw import lshw_query
    from gputk.probes.nvidia_smi import smi_query
    from gputk.probes.nvml import nvml_query
    from gputk.probes.pci import pci_gpus

    # Asked together: hung tools are cut off in parallel (the slowest timeout, not the sum).
    nvml, smi, pci, lshw = gather(
        lambda: nvml_query(host), lambda: smi_query(host), lambda: pci_gpus(host), lambda: lshw_query(host)
    )

    nvml_detail = nvml.detail or (
        f"{len(nvml.gpus)} GPU{'s' if len(nvml.gpus) != 1 else ''} via NVML" if nvml.status == "ok" else ""
    )
    if nvml.status != "ok":
        nvml_detail = f"{nvml.status}: {nvml_detail}" if nvml_detail else nvml.status
    sources = {
        "nvml": SourceStatus(_NVML_STATE[nvml.status], nvml_detail),
        "nvidia-smi": SourceStatus(smi.status, smi.detail),
        "pci": SourceStatus(pci.status, pci.detail),
        "lshw": SourceStatus(lshw.status, lshw.detail),
    }
    driver = _first_driver([nvml.driver, smi.driver, _proc_driver(host)])
    records = [*nvml.gpus, *smi.gpus, *pci.records, *lshw.records]
    records = _fill_driver(records, driver)
    gpus = merge_records(records)
    driver_ok = nvml.status == "ok" or smi.status == "ok"
    problems = tuple(dict.fromkeys(smi.problems))
    warnings = tuple(smi.warnings) + tuple(lshw.warnings)
    return DetectResult(
        tuple(gpus),
        driver,
        sources,
        problems,
        warnings,
        tuple(_messages(gpus, sources, driver_ok)),
        host.label,
    )


def _proc_driver(host: Host) -> DriverInfo | None:
    """``/proc/driver/nvidia/version``: the loaded kernel module's version and flavour (open/proprietary)."""
    from gputk.parsers.proc_driver import parse_proc_driver_version

    text = host.read_text("/proc/driver/nvidia/version")
    return parse_proc_driver_version(text) if text else None


def _first_driver(candidates: Sequence[DriverInfo | None]) -> DriverInfo:
    present = [d for d in candidates if d is not None]
    if not present:
        return DriverInfo()
    pick = {
        f.name: next((getattr(d, f.name) for d in present if getattr(d, f.name) is not None), None)
        for f in dataclasses.fields(DriverInfo)
    }
    return DriverInfo(**pick)


# -- pasted outputs ------------------------------------------------------------------------------


def _read_input(path: Path) -> str:
    # A regular file only: a FIFO or a device is refused, never waited on or read forever.
    data = read_input_file(path, MAX_INPUT_BYTES, what="saved tool output")
    return data.decode("utf-8", errors="replace")


def detect_from_files(paths: Sequence[str | Path]) -> DetectResult:
    """GPUs described by saved tool outputs (``gputk detect --from FILE...``), recognised by content.

    A file that is not recognised raises :class:`InputError` naming it; a
    damaged one contributes what could be read plus a warning.
    """
    from gputk.parsers.sniff import parse_any

    records: list[GpuRecord] = []
    drivers: list[DriverInfo | None] = []
    sources: dict[str, SourceStatus] = {}
    problems: list[ToolProblem] = []
    warnings: list[str] = []
    for raw in paths:
        path = Path(raw)
        text = _read_input(path)
        if not text.strip():
            raise InputError(f"{path}: is empty", "save the tool's output into the file, then try again")
        parsed: ParseResult = parse_any(text, path.name)
        if parsed.format is None:
            raise InputError(
                f"{path}: not a GPU tool output gputk recognises",
                "supported: nvidia-smi (table, -q, -q -x, -L, --query-gpu csv), lspci, lshw, inxi -G, hwinfo, "
                "nvcc --version, /proc/driver/nvidia/version and their error messages",
            )
        n = len(parsed.gpus)
        detail = f"read as {parsed.format}: {n} GPU{'s' if n != 1 else ''}"
        if parsed.problems:
            detail += "; reports " + ", ".join(parsed.problems)
        sources[path.name] = SourceStatus("ok", detail)
        warnings.extend(f"{path.name}: {w}" for w in parsed.warnings)
        problems.extend(parsed.problems)
        drivers.append(parsed.driver)
        records.extend(parsed.gpus)
    known: list[DriverInfo] = [d for d in drivers if d is not None]
    known.sort(key=lambda d: _driver_rank(d.source))
    driver = _first_driver(known)
    records = _fill_driver(records, driver)
    gpus = merge_records(records)
    # A pasted lspci without -k shows no driver; only a tool's own error message says it is broken.
    driver_ok = not any(p in _DRIVER_BROKEN for p in problems)
    msgs = _messages(gpus, {"pci": SourceStatus("ok", "")}, driver_ok) if gpus else []
    msgs += _problem_messages(tuple(dict.fromkeys(problems)), bool(gpus))
    return DetectResult(
        tuple(gpus),
        driver,
        sources,
        tuple(dict.fromkeys(problems)),
        tuple(warnings),
        tuple(msgs),
        "files: " + ", ".join(Path(p).name for p in paths),
    )


_DRIVER_BROKEN = frozenset(
    {
        "driver-not-loaded",
        "driver-library-mismatch",
        "no-devices",
        "driver-not-installed",
        "gpu-access-blocked",
        "nvml-library-not-found",
        "container-gpu-unavailable",
        "nvml-unknown-error",
        "container-cuda-too-new",
    }
)


def _problem_messages(problems: tuple[ToolProblem, ...], have_gpus: bool) -> list[str]:
    """What each reported problem means, one sentence each; "no GPU described" when nothing was said."""
    from gputk.parsers.tool_errors import MEANING

    if not problems:
        return [] if have_gpus else ["No GPU described in the given files."]
    out = [f"{MEANING[p][0].upper()}{MEANING[p][1:]}." for p in problems if p in MEANING]
    if not have_gpus and not any(p in ("no-devices", "no-pci-devices") for p in problems):
        out.insert(0, "No GPU listed: the tool failed before it could list any.")
    return out


def _driver_rank(source: str | None) -> int:
    from gputk.services.merge import source_rank

    return source_rank(source or "")
