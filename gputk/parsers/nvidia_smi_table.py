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
)
from gputk.parsers._values import clean, to_bool, to_float, to_int, to_mib

SOURCE = "nvidia-smi-table"

# Header only; the cells below are split into words (no regex over a cell, so any line is read in
# linear time). Drivers 600+ say "KMD Version" / "CUDA UMD Version"; Jetson prints "Driver Version: N/A".
_HEADER = re.compile(
    r"NVIDIA-SMI[ \t]+(?P<smi>[\d.]+)[ \t]+(?:Driver|KMD) Version:[ \t]*(?P<driver>[\d.]+|N/A)"
    r"(?:[ \t]+(?:CUDA|CUDA UMD) Version:[ \t]*(?P<cuda>[\d.]+|N/A))?"
)
_MODES = ("On", "Off", "WDDM", "TCC", "MCDM", "N/A", "ERR!")
_BUS = re.compile(r"[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]")
_PROC_TYPES = ("C+G", "C", "G", "M+C", "M")


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def looks_like(text: str) -> bool:
    if _HEADER.search(text) or ("Bus-Id" in text and "Memory-Usage" in text):
        return True
    return "| MIG devices:" in text or _is_fragment(text)


def _is_fragment(text: str) -> bool:
    """GPU rows pasted without the header (``| 14 NVIDIA ... | 00000000:CC:00.0 Off |`` above
    ``| 30% 33C P8 4W / 130W | 1MiB / 20475MiB |``): a row with a bus id cell, then a memory cell."""
    if "MiB /" not in text or "|" not in text:
        return False
    previous_bus = False
    for line in text.splitlines():
        cells = _cells(line) if line.lstrip().startswith("|") else []
        if previous_bus and len(cells) > 1 and "MiB /" in cells[1]:
            return True
        words = cells[1].split() if len(cells) > 2 else []
        previous_bus = bool(words) and _row1(cells[0]) is not None and _BUS.fullmatch(words[0]) is not None
    return False


def _row1(cell: str) -> tuple[int, str | None, str | None] | None:
    """``   0  NVIDIA H100 80GB HBM3          On  `` -> (0, name, "On"); the mode is absent on 3xx tables."""
    words = cell.split()
    if not words or not words[0].isdigit():
        return None
    mode = words[-1] if len(words) > 2 and words[-1] in _MODES else None
    name_words = words[1:-1] if mode else words[1:]
    name = " ".join(name_words).removesuffix("...").strip() or None
    return int(words[0]), name, mode


def _slash_pair(cell: str) -> tuple[str | None, str | None]:
    """``"  616MiB /  8192MiB "`` -> (``"616MiB"``, ``"8192MiB"``); a cell without a slash gives Nones."""
    left, sep, right = cell.partition(" / ")  # "N/A / 250W": the spaced slash separates
    if not sep:
        left, sep, right = cell.partition("/")
    if not sep:
        return None, None
    lw, rw = left.split(), right.split()
    return (lw[-1] if lw else None), (rw[0] if rw else None)


def _gpu_block(lines: list[str], windows: bool) -> GpuRecord | None:
    """The 2-3 lines of one GPU between ``+----`` separators."""
    first = _cells(lines[0])
    if len(first) < 3:
        return None
    row1 = _row1(first[0])
    if row1 is None:
        return None
    index, name, mode = row1
    bus_words = first[1].split()
    bus = bus_words[0] if bus_words and _BUS.fullmatch(bus_words[0]) else None
    rec = GpuRecord(
        source=SOURCE,
        index=index,
        name=name,
        vendor="nvidia",  # nvidia-smi lists NVIDIA GPUs only
        pci_bus_id=normalize_bus_id(bus),
    )
    if windows or mode in ("WDDM", "TCC", "MCDM"):
        rec = replace(rec, display_mode=clean(mode))
    else:
        rec = replace(rec, persistence_mode=to_bool(mode))
    lost = False
    if len(lines) > 1:
        second = _cells(lines[1])
        rec = _row2(rec, second)
        lost = _unreadable(first, second)
    if len(lines) > 2:
        third = _cells(lines[2])
        if len(third) > 2:
            # "Disabled*": a change is pending until reset; the current state is before the star
            rec = replace(rec, mig_mode=to_bool(third[2].strip().rstrip("*")))
    return replace(rec, lost=lost)


def _unreadable(first: list[str], second: list[str]) -> bool:
    """A GPU that stopped answering shows ``ERR!`` in its readings (temperature, utilisation, ECC,
    several at once); one ``ERR!`` beside readable values (a fan sensor, a power reading) is not a
    lost GPU: it still reports its temperature and load."""
    words = second[0].replace("ERR!", " ERR! ").split() if second else []
    errors = words.count("ERR!") + sum(cell.split().count("ERR!") for cell in second[1:])
    errors += first[2].split().count("ERR!") if len(first) > 2 else 0
    temp_unread = len(words) > 1 and words[1] == "ERR!"
    return errors >= 2 or temp_unread


def _row2(rec: GpuRecord, second: list[str]) -> GpuRecord:
    """``| N/A 28C P0 53W / 400W | 0MiB / 40537MiB | 0% Default |``; 3xx drivers print ``43 C``."""
    words = second[0].split() if second else []
    if len(words) >= 3:
        temp = words[1] if words[1] != "C" else None
        if len(words) > 2 and words[2] == "C":  # "43 C" (the unit as its own word)
            temp = words[1]
            words = words[:2] + words[3:]
        pwr, cap = _slash_pair(" ".join(words[3:])) if len(words) > 3 else (None, None)
        rec = replace(
            rec,
            temperature_c=to_int((temp or "").removesuffix("C")),
            power_draw_w=to_float(pwr),
            power_limit_w=to_float(cap),
        )
    if len(second) > 1:
        used, total = _slash_pair(second[1])
        if total is not None:
            # 3xx tables put the utilisation first: "  23%  236MB / 1023MB "
            rec = replace(rec, memory_used_mib=to_mib(used), memory_total_mib=to_mib(total))
    if len(second) > 2:
        util = second[2].split(None, 1)
        if len(util) == 2:
            rec = replace(rec, utilization_gpu_pct=to_int(util[0]), compute_mode=clean(util[1]))
    return rec


def _sections(text: str, fragment: bool = False) -> tuple[list[list[str]], list[str], list[str]]:
    """GPU blocks, MIG rows and process rows, split by the ``|===`` and ``+---`` rules; a
    ``fragment`` (GPU rows without the header) starts with the GPU rows."""
    blocks: list[list[str]] = []
    mig_rows: list[str] = []
    proc_rows: list[str] = []
    section = "gpus" if fragment else "preamble"
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
            elif stripped and (current or blocks or not fragment):  # text above a fragment is skipped
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


def _mig_row(row: str) -> tuple[int, MigDevice] | None:
    """``|  0    1   0   0  |      3MiB / 20096MiB | ...`` -> (GPU index, MIG device)."""
    cells = _cells(row)
    ids = cells[0].split() if cells else []
    if len(ids) != 4 or not all(i.isdigit() for i in ids) or len(cells) < 2:
        return None
    gpu, gi, ci, dev = (int(i) for i in ids)
    _, total = _slash_pair(cells[1])
    if total is None:
        return None
    return gpu, MigDevice(
        index=dev, gpu_instance_id=gi, compute_instance_id=ci, memory_total_mib=to_mib(total)
    )


def _proc_row(row: str) -> tuple[int, GpuProcess] | None:
    """``|    0   N/A  N/A   3375095      C   /usr/bin/python    18430MiB |`` -> (GPU index, process)."""
    if not row.endswith("|"):
        return None
    words = row.strip("|").split()
    if len(words) < 4 or not words[0].isdigit():
        return None
    if words[-1] == "MiB" and len(words) > 4:  # "18430 MiB"
        words = [*words[:-2], words[-2] + "MiB"]
    mem = words[-1]
    if not (mem == "N/A" or (mem.endswith("MiB") and mem[:-3].isdigit())):
        return None
    # with MIG columns: GPU GI CI PID TYPE NAME...; without: GPU PID TYPE NAME...
    for pid_at in (1, 3):
        if len(words) > pid_at + 2 and words[pid_at].isdigit() and words[pid_at + 1] in _PROC_TYPES:
            name = " ".join(words[pid_at + 2 : -1])
            return int(words[0]), GpuProcess(
                pid=int(words[pid_at]), name=clean(name), used_memory_mib=to_mib(mem), type=words[pid_at + 1]
            )
    return None


def parse_nvidia_smi_table(text: str) -> ParseResult:
    """GPUs, MIG devices and processes of the default table; ``format=None`` if the text is not one."""
    if not looks_like(text):
        return ParseResult(format=None)
    head = _HEADER.search(text)
    driver = None
    if head:
        cuda = head.group("cuda")
        driver = DriverInfo(
            version=clean(head.group("driver")), cuda_driver_version=clean(cuda), source=SOURCE
        )
    windows = "TCC/WDDM" in text or "WDDM/TCC" in text
    fragment = head is None and "|=" not in text and "+=" not in text
    blocks, mig_rows, proc_rows = _sections(text, fragment)
    gpus: dict[int, GpuRecord] = {}
    warnings: list[str] = []
    for block in blocks:
        rec = _gpu_block(block, windows)
        if rec is None or rec.index is None:
            continue
        index = rec.index
        if driver is not None:
            rec = replace(rec, driver_version=driver.version, cuda_driver_version=driver.cuda_driver_version)
        if not rec.lost and any("ERR!" in line for line in block):
            where = f" ({rec.pci_bus_id})" if rec.pci_bus_id else ""
            warnings.append(
                f"nvidia-smi table: GPU {index}{where} printed ERR! for one reading (fan or power sensor) "
                "but still reports its temperature and load"
            )
        gpus[index] = rec
    migs: dict[int, list[MigDevice]] = {}
    for row in mig_rows:
        mig = _mig_row(row)
        if mig:
            migs.setdefault(mig[0], []).append(mig[1])
    procs: dict[int, list[GpuProcess]] = {}
    for row in proc_rows:
        proc = _proc_row(row)
        if proc:
            procs.setdefault(proc[0], []).append(proc[1])
    for idx in sorted(set(migs) | set(procs)):
        if idx not in gpus and idx in migs and not blocks:  # only the MIG table was pasted
            gpus[idx] = GpuRecord(source=SOURCE, index=idx, vendor="nvidia", mig_mode=True)
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
