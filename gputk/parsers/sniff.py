"""Recognise a pasted tool output by its content and parse it with the right parser.

``gputk detect --from FILE`` takes any of the outputs below without a flag;
:func:`identify` names the format, :func:`parse_any` returns the facts. The
checks run from the most specific marker to the loosest (a ``GPU 0:`` line or an
lspci slot could appear inside other outputs), and the error messages the tools
print are read from every text, so a table pasted with a warning above it keeps
both. Before that, the layers a paste adds (prompt and command lines, code fences,
quote marks, colour codes, CRLF) are removed (:mod:`gputk.parsers.paste`); a
``--query-gpu=...`` on a pasted command line names the columns of a CSV without header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gputk.models.gpu import DriverInfo, GpuRecord, ParseResult, ToolProblem
from gputk.parsers import (
    hwinfo,
    inxi,
    lshw,
    lspci,
    nvidia_smi_csv,
    nvidia_smi_list,
    nvidia_smi_q,
    nvidia_smi_table,
    nvidia_smi_xml,
)
from gputk.parsers.nvcc import parse_nvcc_version
from gputk.parsers.paste import clean_paste, query_fields
from gputk.parsers.proc_driver import SOURCE as PROC_SOURCE
from gputk.parsers.proc_driver import parse_nvrm
from gputk.parsers.tool_errors import find_problems, parse_tool_errors, required_cuda

_MAX_CHARS = 5_000_000  # a pasted output is small; a bigger file is cut, and said so


def _parse_nvcc(text: str) -> ParseResult:
    v = parse_nvcc_version(text)
    if v is None:
        return ParseResult(format=None)
    return ParseResult(format="nvcc", toolkit_version=v.release, extra={"nvcc_full": v.full})


def _parse_proc(text: str) -> ParseResult:
    nvrm = parse_nvrm(text)
    if nvrm is None:
        return ParseResult(format=None)
    extra = {"arch": nvrm.arch}
    if nvrm.gcc_version:
        extra["gcc"] = nvrm.gcc_version
    return ParseResult(
        format="proc-driver-version",
        driver=DriverInfo(version=nvrm.version, kernel_module=nvrm.kernel_module, source=PROC_SOURCE),
        extra=extra,
    )


# (format name, recogniser, parser), most specific first
_FORMATS: tuple[tuple[str, Callable[[str], bool], Callable[[str], ParseResult]], ...] = (
    ("nvidia-smi-xml", nvidia_smi_xml.looks_like, nvidia_smi_xml.parse_nvidia_smi_xml),
    ("lshw-json", lambda t: lshw.looks_like(t) == "lshw-json", lshw.parse_lshw),
    ("nvidia-smi-table", nvidia_smi_table.looks_like, nvidia_smi_table.parse_nvidia_smi_table),
    ("nvidia-smi-q", nvidia_smi_q.looks_like, nvidia_smi_q.parse_nvidia_smi_q),
    ("lspci-vmm", lambda t: lspci.looks_like(t) == "lspci-vmm", lspci.parse_lspci),
    ("hwinfo", hwinfo.looks_like, hwinfo.parse_hwinfo),
    ("lshw", lambda t: lshw.looks_like(t) == "lshw", lshw.parse_lshw),
    ("inxi", inxi.looks_like, inxi.parse_inxi),
    ("nvidia-smi-L", nvidia_smi_list.looks_like, nvidia_smi_list.parse_nvidia_smi_list),
    ("proc-driver-version", lambda t: parse_nvrm(t) is not None, _parse_proc),
    ("nvcc", lambda t: parse_nvcc_version(t) is not None, _parse_nvcc),
    ("nvidia-smi-csv", nvidia_smi_csv.looks_like, nvidia_smi_csv.parse_nvidia_smi_csv),
    ("lspci", lambda t: lspci.looks_like(t) in ("lspci", "lspci-mm"), lspci.parse_lspci),
)


def _csv_from_command(text: str, commands: tuple[str, ...]) -> ParseResult | None:
    """A ``--query-gpu`` CSV read with the field list of its pasted command line; None otherwise."""
    query = query_fields(commands)
    if query is None or find_problems(text):  # "No devices were found" is no CSV row
        return None
    fields, _noheader = query
    result = nvidia_smi_csv.parse_nvidia_smi_csv(text, fields)
    return result if result.format is not None and result.gpus else None


def _with_lost(result: ParseResult, text: str) -> tuple[GpuRecord, ...]:
    """The output's GPUs plus those an error line beside it names as lost ("Unable to determine the
    device handle for GPU 0000:65:00.0") when the output itself does not list them."""
    if "gpu-lost" not in find_problems(text):
        return result.gpus
    known = {g.pci_bus_id for g in result.gpus if g.pci_bus_id}
    lost = tuple(g for g in parse_tool_errors(text).gpus if g.pci_bus_id not in known)
    return result.gpus + lost


def _requirement_note(result: ParseResult, text: str, problems: tuple[ToolProblem, ...]) -> list[str]:
    """A container's CUDA requirement beside the driver's own CUDA version from the same paste."""
    need = required_cuda(text) if "container-cuda-too-new" in problems else None
    have = result.driver.cuda_driver_version if result.driver else None
    if not need or not have:
        return []
    return [f"the container image requires CUDA {need}; the driver in this output supports CUDA {have}"]


def identify(text: str) -> str | None:
    """The format name of ``text`` (``"nvidia-smi-xml"``, ``"lspci-vmm"``, ``"tool-error"``, ...) or None."""
    result = parse_any(text)
    return result.format


def parse_any(text: str, name: str | None = None) -> ParseResult:
    """Facts from any supported output; ``format=None`` (with a warning naming ``name``) when unrecognised."""
    label = name or "input"
    warnings: list[str] = []
    if len(text) > _MAX_CHARS:
        text = text[:_MAX_CHARS]
        warnings.append(f"{label}: only the first {_MAX_CHARS} characters were read")
    paste = clean_paste(text)
    text = paste.text
    problems: tuple[ToolProblem, ...] = find_problems(text)
    csv = _csv_from_command(text, paste.commands)
    if csv is not None:
        return replace(
            csv, problems=tuple(dict.fromkeys(csv.problems + problems)), warnings=(*csv.warnings, *warnings)
        )
    for _fmt, recognise, parse in _FORMATS:
        try:
            if not recognise(text):
                continue
        except (ValueError, RecursionError):
            continue
        result = parse(text)
        if result.format is None:
            continue
        merged = tuple(dict.fromkeys(result.problems + problems))
        warnings.extend(_requirement_note(result, text, merged))
        return replace(
            result, gpus=_with_lost(result, text), problems=merged, warnings=result.warnings + tuple(warnings)
        )
    if problems:
        errors = parse_tool_errors(text)
        return replace(errors, warnings=errors.warnings + tuple(warnings))
    return ParseResult(format=None, warnings=(*warnings, f"{label}: not a GPU tool output gputk can read"))
