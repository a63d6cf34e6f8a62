"""The default ``nvidia-smi`` table: old 79-column layout, new R525+ layout, Windows WDDM/TCC.

Samples (one GPU row block each)::

    | NVIDIA-SMI 450.80.02    Driver Version: 450.80.02    CUDA Version: 11.0     |
    |   0  A100-SXM4-40GB      On   | 00000000:07:00.0 Off |                    0 |
    | N/A   28C    P0    53W / 400W |      0MiB / 40537MiB |      0%      Default |
    |                               |                      |             Disabled |

    | NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
    |   0  NVIDIA H100 80GB HBM3          On  | 00000000:18:00.0 Off |                    0 |
    | N/A   27C    P0              71W / 700W |      4MiB / 81559MiB |      0%      Default |

    | GPU  Name            TCC/WDDM | Bus-Id        Disp.A | Volatile Uncorr. ECC |   (Windows)
    |   0  NVIDIA GeForce RTX 3080  WDDM  | 00000000:01:00.0  On |                  N/A |

plus the ``MIG devices:`` table (``|  0    1   0   0  |      3MiB / 20096MiB | ...``)
and the ``Processes:`` table (``|    0   N/A  N/A      1234      C   python    1000MiB |``).
Long names are cut by nvidia-smi (``NVIDIA GeForce RTX 4090 ...``); the cut name is kept without the dots.
"""

from __future__ import annotations

import re
from dataclasses import replace

from gputk.models.gpu import (
    DriverInfo,
    GpuProcess,
    GpuRecord,
    MigDevice,
    ParseResult,
    ToolProblem,
    normalize_bus_id,
    vendor_from_name,
)
from gputk.parsers._values import clean, to_bool, to_float, to_int, to_mib

SOURCE = "nvidia-smi-table"

_HEADER = re.compile(
    r"NVIDIA-SMI\s+(?P<smi>[\d.]+)\s+Driver Version:\s*(?P<driver>[\d.]+)(?:\s+CUDA Version:\s*(?P<cuda>[\d.]+|N/A))?"
)
_ROW1_CELL = re.compile(r"^\s*(?P<index>\d+)\s+(?P<name>.*?)\s+(?P<mode>On|Off|WDDM|TCC|MCDM|N/A|ERR!)\s*$")
_BUS_CELL = re.compile(
    r"^\s*(?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])\s+(?P<disp>\S+)\s*$"
)
_ROW2_CELL = re.compile(
    r"^\s*(?P<fan>\S+)\s+(?P<temp>\S+)\s+(?P<perf>\S+)\s+(?:(?P<pwr>\S+)\s*/\s*(?P<cap>\S+))?\s*$"
)
_MEM_CELL = re.compile(r"^\s*(?P<used>\S+)\s*/\s*(?P<total>\S+)\s*$")
_UTIL_CELL = re.compile(r"^\s*(?P<util>\S+)\s+(?P<cmode>\S.*?)\s*$")
_MIG_ROW = re.compile(r"^\|\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\|\s*(\S+)\s*/\s*(\S+)\s*\|")
_PROC_ROW = re.compile(
    r"^\|\s+(?P<gpu>\d+)\s+(?:(?P<gi>\S+)\s+(?P<ci>\S+)\s+)?(?P<pid>\d+)\s+(?P<type>C\+G|C|G|M\+C|M)\s+"
    r"(?P<name>.*?)\s+(?P<mem>\d+\s*MiB|N/A)\s*\|$"
)


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def looks_like(text: str) -> bool:
    return bool(_HEADER.search(text)) or ("Bus-Id" in text and "Memory-Usage" in text)


def _gpu_block(lines: list[str], windows: bool) -> GpuRecord | None:
    """The 2-3 lines of one GPU between ``+----`` separators."""
    first = _cells(lines[0])
    if len(first) < 3:
        return None
    m = _ROW1_CELL.match(first[0])
    if not m:
        return None
    name = m.group("name").strip().removesuffix("...").strip() or None
    mode = m.group("mode")
    bus = _BUS_CELL.match(first[1])
    rec = GpuRecord(
        source=SOURCE,
        index=int(m.group("index")),
        name=name,
        vendor=vendor_from_name(name) or "nvidia",
        pci_bus_id=normalize_bus_id(bus.group("bus")) if bus else None,
    )
    if windows or mode in ("WDDM", "TCC", "MCDM"):
        rec = replace(rec, display_mode=clean(mode))
    else:
        rec = replace(rec, persistence_mode=to_bool(mode))
    lost = "ERR!" in lines[0] or (len(lines) > 1 and "ERR!" in lines[1])
    if len(lines) > 1:
        second = _cells(lines[1])
        r2 = _ROW2_CELL.match(second[0]) if second else None
        if r2:
            rec = replace(
                rec,
                temperature_c=to_int(r2.group("temp").removesuffix("C")),
                power_draw_w=to_float(r2.group("pwr")),
                power_limit_w=to_float(r2.group("cap")),
            )
        mem = _MEM_CELL.match(second[1]) if len(second) > 1 else None
        if mem:
            rec = replace(
                rec, memory_used_mib=to_mib(mem.group("used")), memory_total_mib=to_mib(mem.group("total"))
            )
        util = _UTIL_CELL.match(second[2]) if len(second) > 2 else None
        if util:
            rec = replace(
                rec, utilization_gpu_pct=to_int(util.group("util")), compute_mode=clean(util.group("cmode"))
            )
    if len(lines) > 2:
        third = _cells(lines[2])
        if len(third) > 2:
            # "Disabled*": a change is pending until reset; the current state is before the star
            rec = replace(rec, mig_mode=to_bool(third[2].strip().rstrip("*")))
    return replace(rec, lost=lost)


def _sections(text: str) -> tuple[list[list[str]], list[str], list[str]]:
    """GPU blocks, MIG rows and process rows, split by the ``|===`` and ``+---`` rules."""
    blocks: list[list[str]] = []
    mig_rows: list[str] = []
    proc_rows: list[str] = []
    section = "preamble"
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if "MIG devices:" in stripped:
            section = "mig-head"
        elif stripped.startswith("| Processes:") or stripped.startswith("|  Processes:"):
            section = "proc-head"
        elif stripped.startswith("|=") or stripped.startswith("+="):
            section = {"preamble": "gpus", "gpu-head": "gpus", "mig-head": "mig", "proc-head": "procs"}.get(
                section, section
            )
            continue
        if section == "gpus":
            if stripped.startswith("+") or stripped.startswith("|-"):
                if current:
                    blocks.append(current)
                current = []
                if stripped.startswith("+") and not stripped.startswith("+-"):
                    section = "after"
                continue
            if stripped.startswith("|"):
                current.append(stripped)
            elif stripped:
                if current:
                    blocks.append(current)
                current = []
                section = "after"
        elif section == "mig" and stripped.startswith("|"):
            mig_rows.append(stripped)
        elif section == "procs" and stripped.startswith("|"):
            proc_rows.append(stripped)
    if current:
        blocks.append(current)
    return blocks, mig_rows, proc_rows


def parse_nvidia_smi_table(text: str) -> ParseResult:
    """GPUs, MIG devices and processes of the default table; ``format=None`` if the text is not one."""
    if not looks_like(text):
        return ParseResult(format=None)
    head = _HEADER.search(text)
    driver = None
    if head:
        cuda = head.group("cuda")
        driver = DriverInfo(version=head.group("driver"), cuda_driver_version=clean(cuda), source=SOURCE)
    windows = "TCC/WDDM" in text or "WDDM/TCC" in text
    blocks, mig_rows, proc_rows = _sections(text)
    gpus: dict[int, GpuRecord] = {}
    warnings: list[str] = []
    for block in blocks:
        rec = _gpu_block(block, windows)
        if rec is None or rec.index is None:
            continue
        index = rec.index
        if driver is not None:
            rec = replace(rec, driver_version=driver.version, cuda_driver_version=driver.cuda_driver_version)
        gpus[index] = rec
    migs: dict[int, list[MigDevice]] = {}
    for row in mig_rows:
        m = _MIG_ROW.match(row)
        if m:
            migs.setdefault(int(m.group(1)), []).append(
                MigDevice(
                    index=int(m.group(4)),
                    gpu_instance_id=int(m.group(2)),
                    compute_instance_id=int(m.group(3)),
                    memory_total_mib=to_mib(m.group(6)),
                )
            )
    procs: dict[int, list[GpuProcess]] = {}
    for row in proc_rows:
        p = _PROC_ROW.match(row)
        if p:
            procs.setdefault(int(p.group("gpu")), []).append(
                GpuProcess(
                    pid=int(p.group("pid")),
                    name=clean(p.group("name")),
                    used_memory_mib=to_mib(p.group("mem")),
                    type=p.group("type"),
                )
            )
    for idx in sorted(set(migs) | set(procs)):
        if idx not in gpus:
            warnings.append(f"nvidia-smi table: MIG or process rows name GPU {idx}, which has no GPU row")
            continue
        gpus[idx] = replace(
            gpus[idx], mig_devices=tuple(migs.get(idx, ())), processes=tuple(procs.get(idx, ()))
        )
    if head is None:
        warnings.append("nvidia-smi table: the NVIDIA-SMI header line is missing (driver version unknown)")
    problems: tuple[ToolProblem, ...] = ("gpu-lost",) if any(g.lost for g in gpus.values()) else ()
    return ParseResult(
        format="nvidia-smi-table",
        gpus=tuple(gpus[i] for i in sorted(gpus)),
        driver=driver,
        problems=problems,
        warnings=tuple(warnings),
    )
