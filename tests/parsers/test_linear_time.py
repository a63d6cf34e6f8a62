"""Every parser reads any line in linear time: no regex backtracks on long runs of spaces, digits or separators.

Each input is one ~100 kB line (or a run of short lines) built from a format's own marker
(``GPU 0: ``, an lspci slot, ``Graphics:  Device-1:``, ...) followed by a repeated unit and a
character that makes the line fail to match at the very end, which is what drives a
backtracking regex to try every split. A parser that does this in linear time finishes in
milliseconds; the bound below (1 s per input) is generous so that only a super-linear pattern
can break it. Time is this process's CPU time, so a busy machine does not fail the test.
The example from the hostile-input report is the first case.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from gputk.models.gpu import normalize_bus_id
from gputk.parsers.cuda_version import parse_version_txt
from gputk.parsers.cudnn import parse_cudnn_header
from gputk.parsers.hwinfo import parse_hwinfo
from gputk.parsers.inxi import parse_inxi
from gputk.parsers.kernel_log import parse_kernel_log
from gputk.parsers.lshw import parse_lshw
from gputk.parsers.lspci import parse_lspci
from gputk.parsers.nvcc import parse_nvcc_version
from gputk.parsers.nvidia_smi_csv import parse_nvidia_smi_csv
from gputk.parsers.nvidia_smi_list import parse_nvidia_smi_list
from gputk.parsers.nvidia_smi_q import parse_nvidia_smi_q
from gputk.parsers.nvidia_smi_table import parse_nvidia_smi_table
from gputk.parsers.nvidia_smi_xml import parse_nvidia_smi_xml
from gputk.parsers.os_release import parse_os_release
from gputk.parsers.paste import clean_paste
from gputk.parsers.pci_ids import pci_ids_names
from gputk.parsers.proc_driver import parse_proc_driver_version
from gputk.parsers.sniff import parse_any
from gputk.parsers.tool_errors import parse_tool_errors

SIZE = 100_000
BOUND_S = 1.0

_TABLE = "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2 |\n"
# parser -> (the parser, the markers that send a line down its paths); "" is tried for every parser
PARSERS: dict[str, tuple[Callable[[str], object], tuple[str, ...]]] = {
    "nvidia-smi-xml": (parse_nvidia_smi_xml, ('<nvidia_smi_log><gpu id="0"><product_name', "<gpu")),
    "nvidia-smi-table": (
        parse_nvidia_smi_table,
        (
            _TABLE + "|=====|\n|   0  ",
            _TABLE + "|=====|\n|   0  NVIDIA H100   On  | 00000000:18:00.0 Off |  0 |\n| N/A ",
            _TABLE + "| Processes:   |\n|=====|\n|    0   N/A  N/A   1234   C   ",
            _TABLE + "| MIG devices:   |\n|=====|\n|  0  ",
            "|  14  NVIDIA RTX   On  |   00000000:CC:00.0 Off |   Off |\n|ERR!   68C  ",  # rows without header
            "| MIG devices:   |\n|  1    3   0   0  |  14366MiB / ",
        ),
    ),
    "nvidia-smi-q": (
        parse_nvidia_smi_q,
        ("==============NVSMI LOG==============\nGPU 00000000:01:00.0\n    Product Name : ", "GPU 0000:01:00.0"),
    ),
    "nvidia-smi-L": (parse_nvidia_smi_list, ("GPU 0: ", "GPU 0: A (UUID: GPU-1)\n  MIG 1g.5gb Device 0: ")),
    "nvidia-smi-csv": (parse_nvidia_smi_csv, ("name, memory.total [MiB]\n", "0000:01:00.0, ", "GPU-")),
    "lspci": (parse_lspci, ("01:00.0 VGA compatible controller", "0000:01:00.0 ", "Slot:\t", "01:00.0 \"")),
    "lshw": (parse_lshw, ("  *-display\n       product: ", "  *-display\n       configuration: ")),
    "inxi": (parse_inxi, ("Graphics:  Device-1: NVIDIA ", "Graphics:  Card: ")),
    "hwinfo": (parse_hwinfo, ("29: PCI 100.0: 0300 VGA compatible controller (VGA)\n  Model: ",)),
    "proc-driver": (parse_proc_driver_version, ("NVRM version: NVIDIA UNIX Open Kernel Module for ",)),
    "tool-errors": (
        parse_tool_errors,
        (
            "bash: nvidia-smi",
            "Unable to determine the device handle for GPU",
            "device handle for GPU1: ",
            "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=",
        ),
    ),
    "nvcc": (parse_nvcc_version, ("Cuda compilation tools, release ",)),
    "kernel-log": (
        parse_kernel_log,
        (
            "[ 1.0] NVRM: Xid (PCI:0000:01:00): 79, ",
            "nvidia-nvswitch0: SXid (PCI:0000:c2:00.0): 20034, Fatal, Link ",
            "[ 2.0] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! ",
            "NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: (PCI ID: 10de:26b5) installed in this system has\nNVRM: ",
        ),
    ),
    "cudnn-header": (parse_cudnn_header, ("#define CUDNN_MAJOR ",)),
    "cuda-version-txt": (parse_version_txt, ("CUDA Version ",)),
    "os-release": (parse_os_release, ("ID=",)),
    "pci-ids": (lambda t: pci_ids_names(t, {("10de", "2330")}), ("10de  NVIDIA\n\t",)),
    "paste": (clean_paste, ("user@host:~$ nvidia-smi ", "> ", "```")),
    "bus-id": (normalize_bus_id, ("0000:",)),
}
# parse_any runs every recogniser: it gets every marker.
PREFIXES = ("GPU 0: ", "", *dict.fromkeys(m for _, marks in PARSERS.values() for m in marks))
UNITS = (" ", "\t", "0", "0 ", ": ", "|", " / ", ",", "-", "[", "(", "a", " v:", "0:", "\n", " \n", "x=", "> ", "\x1b[", "<a")


def _inputs(prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    cases = [("issue example", "GPU 0: " + " " * 8000 + "x\n")]
    for prefix in prefixes:
        for unit in UNITS:
            body = (unit * (SIZE // len(unit) + 1))[:SIZE]
            cases.append((f"{prefix[-24:]!r} + {unit!r}*", prefix + body + "\x01"))
    return cases


def _slow(parse: Callable[[str], object], prefixes: tuple[str, ...]) -> list[str]:
    slow = []
    for label, text in _inputs(prefixes):
        start = time.process_time()
        parse(text)
        took = time.process_time() - start
        if took > BOUND_S:
            slow.append(f"{label}: {took:.2f} s")
    return slow


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_long_hostile_lines_are_read_in_linear_time(name: str) -> None:
    parse, marks = PARSERS[name]
    slow = _slow(parse, ("", *marks))
    assert not slow, f"{name} is super-linear on: {slow}"


def test_the_content_sniffer_reads_every_format_marker_in_linear_time() -> None:
    slow = _slow(parse_any, PREFIXES)
    assert not slow, f"parse_any is super-linear on: {slow}"
