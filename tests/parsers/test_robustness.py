"""Property tests: every parser, fed mutated real outputs or random text, returns a result and never raises.

Mutations: truncation at any point, deleted and duplicated lines, flipped characters,
and text made of random characters. The outcome is either facts (whatever survived)
or a clean result with ``format=None``; bus ids that come out are always normalised.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gputk.models.gpu import ParseResult
from gputk.parsers.hwinfo import parse_hwinfo
from gputk.parsers.inxi import parse_inxi
from gputk.parsers.lshw import parse_lshw
from gputk.parsers.lspci import parse_lspci
from gputk.parsers.nvidia_smi_csv import parse_nvidia_smi_csv
from gputk.parsers.nvidia_smi_list import parse_nvidia_smi_list
from gputk.parsers.nvidia_smi_q import parse_nvidia_smi_q
from gputk.parsers.nvidia_smi_table import parse_nvidia_smi_table
from gputk.parsers.nvidia_smi_xml import parse_nvidia_smi_xml
from gputk.parsers.paste import clean_paste
from gputk.parsers.proc_driver import parse_proc_driver_version
from gputk.parsers.sniff import parse_any
from gputk.parsers.tool_errors import parse_tool_errors
from tests.conftest import FIXTURES

PARSERS: list[Callable[[str], object]] = [
    parse_nvidia_smi_xml,
    parse_lspci,
    parse_lshw,
    parse_inxi,
    parse_hwinfo,
    parse_nvidia_smi_list,
    parse_nvidia_smi_csv,
    parse_nvidia_smi_table,
    parse_nvidia_smi_q,
    clean_paste,
    parse_tool_errors,
    parse_proc_driver_version,
    parse_any,
]
# The fixture folders of GPU tool outputs (others hold snapshots, /proc/cpuinfo, GPU-check logs).
GPU_TOOL_DIRS = (
    "nvidia-smi-xml",
    "nvidia-smi-table",
    "nvidia-smi-q",
    "nvidia-smi-L",
    "nvidia-smi-csv",
    "proc-driver-version",
    "lspci",
    "lshw",
    "inxi",
    "hwinfo",
    "errors",
    "pastes",
)
REAL = sorted(p.read_text() for d in GPU_TOOL_DIRS for p in (FIXTURES / d).glob("*") if p.is_file())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(result: object) -> None:
    if result is None:
        return
    if isinstance(result, ParseResult):
        for g in result.gpus:
            bus = g.pci_bus_id
            # 0000:01:00.0, or a 32-bit Hyper-V domain kept whole (3e3f8e05:00:00.0)
            assert bus is None or (len(bus) in (12, 16) and bus == bus.lower()), bus
        if result.format is None:
            assert result.gpus == ()


def _run_all(text: str) -> None:
    for parse in PARSERS:
        _check(parse(text))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(REAL))
    lines = text.splitlines(keepends=True)
    kind = draw(st.sampled_from(["truncate", "delete", "duplicate", "flip", "shuffle-two"]))
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if not lines:
        return text
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "shuffle-two":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        chars = list(text)
        for _ in range(draw(st.integers(1, 20))):
            k = draw(st.integers(0, max(0, len(chars) - 1)))
            if chars:
                chars[k] = draw(st.characters())
        return "".join(chars)
    return "".join(lines)


@SETTINGS
@given(mutated())
def test_mutated_real_outputs_never_raise(text: str) -> None:
    _run_all(text)


@SETTINGS
@given(st.text(max_size=2000))
def test_random_text_never_raises(text: str) -> None:
    _run_all(text)


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_decoded_never_raise(data: bytes) -> None:
    _run_all(data.decode("utf-8", errors="replace"))


@SETTINGS
@given(st.lists(st.sampled_from(REAL), min_size=2, max_size=3))
def test_concatenated_outputs_never_raise(texts: list[str]) -> None:
    _run_all("\n".join(texts))


# Inputs of other parsers (the CPU ceilings, the GPU readiness check, the doctor's kernel log):
# parse_any recognises the GPU-listing tools' outputs, not these.
def test_each_real_output_is_recognised_by_parse_any() -> None:
    # GPU_TOOL_DIRS names the folders of GPU-listing outputs; other folders (cpuinfo, GPU-check and
    # framework logs, kernel logs, snapshots) hold other parsers' inputs.
    assert REAL and all(parse_any(t).format is not None for t in REAL)
