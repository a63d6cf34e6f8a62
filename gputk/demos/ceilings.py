"""Theoretical ceilings from hardware facts: "is this number normal?" answered against the hardware.

- GPU memory: bus width (bits) / 8 x max memory clock x 2 (NVML reports the clock so that
  double data rate makes the factor 2 for GDDR and HBM alike: an H100 SXM's 5120 bits x 2619 MHz
  gives 3.35 TB/s, its datasheet figure).
- GPU arithmetic: SM count x max SM clock x dense FLOPs per clock per SM of the architecture
  (gputk/data/demos/throughput.json, with sources). At the max clock: sustained tensor work usually
  runs a little below it.
- PCIe: lanes x per-lane rate of the generation, one direction.
- CPU arithmetic: cores x clock x FLOPs per cycle of the widest FMA the CPU flags announce.

No DRAM figure is derived for the CPU (channels and speed need root: dmidecode); its memory ceiling is
a measured streaming copy of at least 1 GiB, labelled as measured.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from gputk.host import Host
from gputk.models.demo import Ceiling

PRECISION_LABELS = {
    "fp64": "FP64",
    "fp32": "FP32",
    "fp16": "FP16",
    "fp64_tensor": "FP64 tensor",
    "tf32_tensor": "TF32 tensor",
    "fp16_tensor": "FP16 tensor",
    "bf16_tensor": "BF16 tensor",
}


@cache
def table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("gputk.data").joinpath("demos/throughput.json").read_text(encoding="utf-8")
    )
    return data


def _sources(keys: list[str]) -> str:
    src = table()["sources"]
    return "; ".join(src[k].split(":")[0] for k in keys if k in src)


def gpu_memory_peak(hw: dict[str, Any]) -> Ceiling | None:
    bits, mhz = hw.get("bus_width_bits"), hw.get("mem_clock_mhz")
    if not bits or not mhz:
        return None
    gbps = bits / 8 * mhz * 1e6 * 2 / 1e9
    return Ceiling(
        "GPU memory, theoretical",
        gbps,
        "GB/s",
        "theoretical",
        f"{bits}-bit bus x {mhz:g} MHz max memory clock x 2 (double data rate), from NVML",
    )


def gpu_flops_per_clock(cc: str | None, precision: str) -> tuple[float, str] | None:
    """(FLOPs per clock per SM, sources) for a compute capability, or None when not in the table."""
    if not cc:
        return None
    row = table()["gpu_flops_per_clock_per_sm"].get(cc)
    if row is None or precision not in row:
        return None
    return float(row[precision]), _sources(row.get("source", []))


def gpu_compute_peak(hw: dict[str, Any], cc: str | None, precision: str) -> Ceiling | None:
    sms, mhz = hw.get("sms"), hw.get("sm_clock_mhz")
    rate = gpu_flops_per_clock(cc, precision)
    if not sms or not mhz or rate is None:
        return None
    per_sm, src = rate
    tflops = sms * mhz * 1e6 * per_sm / 1e12
    label = PRECISION_LABELS.get(precision, precision)
    return Ceiling(
        f"GPU {label}, theoretical",
        tflops,
        "TFLOP/s",
        "theoretical",
        f"{sms} SMs x {mhz:g} MHz max SM clock x {per_sm:g} FLOP/clock/SM (CC {cc}; {src})",
    )


def pcie_peak(gen: int | None, width: int | None, which: str = "current") -> Ceiling | None:
    per_lane = table()["pcie_gb_per_s_per_lane"].get(str(gen)) if gen else None
    if per_lane is None or not width:
        return None
    return Ceiling(
        f"PCIe gen {gen} x{width} ({which} link), theoretical",
        float(per_lane) * width,
        "GB/s",
        "theoretical",
        f"{width} lanes x {per_lane} GB/s per lane per direction (PCIe gen {gen})",
    )


def pcie_note(hw: dict[str, Any]) -> str | None:
    """A line when the link runs below its maximum generation or width (power saving idles it low too)."""
    cur = (hw.get("pcie_gen"), hw.get("pcie_width"))
    top = (hw.get("pcie_gen_max"), hw.get("pcie_width_max"))
    if None in cur or None in top:
        return None
    if cur[0] < top[0] or cur[1] < top[1]:  # type: ignore[operator]
        return (
            f"PCIe link runs at gen {cur[0]} x{cur[1]}, below its maximum gen {top[0]} x{top[1]} "
            "(an idle GPU may drop the link speed; under load it should rise - if not, check the slot/riser)"
        )
    return None


# ---- CPU -----------------------------------------------------------------------------------------


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """flags (first processor), the highest 'cpu MHz', the '@ 2.20GHz' of the model name."""
    flags: set[str] = set()
    mhz: float | None = None
    nominal: float | None = None
    for line in text.splitlines()[:20000]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key == "cpu MHz":
            try:
                mhz = max(mhz or 0.0, float(value))
            except ValueError:
                continue
        elif key == "model name" and nominal is None:
            m = re.search(r"@\s*([0-9]{1,2}(?:\.[0-9]{1,3})?)\s*GHz", value[:200])
            if m:
                nominal = float(m.group(1)) * 1e3
    return {"flags": flags, "mhz": mhz, "nominal_mhz": nominal}


def cpu_facts(host: Host) -> dict[str, Any]:
    """CPU flags, max clock (cpufreq, else cpuinfo) and last-level cache size, read through ``host``."""
    info = parse_cpuinfo(host.read_text("/proc/cpuinfo", 4 * 2**20) or "")
    max_khz = (host.read_text("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") or "").strip()
    if max_khz.isdigit():
        info["max_mhz"], info["clock_source"] = int(max_khz) / 1e3, "cpufreq cpuinfo_max_freq"
    elif info["nominal_mhz"] or info["mhz"]:
        info["max_mhz"] = max(info["nominal_mhz"] or 0.0, info["mhz"] or 0.0)
        info["clock_source"] = "/proc/cpuinfo"
    info["llc_bytes"] = llc_bytes(host)
    return info


def _size_bytes(text: str) -> int | None:
    m = re.fullmatch(r"\s*([0-9]{1,9})\s*([KMG]?)\s*", text or "")
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]


def llc_bytes(host: Host) -> int | None:
    """Size of the highest cache level of cpu0 (sysfs cache/index*/level and size)."""
    best: tuple[int, int] | None = None
    for d in host.glob("/sys/devices/system/cpu/cpu0/cache/index*"):
        level = (host.read_text(f"{d}/level") or "").strip()
        size = _size_bytes(host.read_text(f"{d}/size") or "")
        if level.isdigit() and size and (best is None or int(level) > best[0]):
            best = (int(level), size)
    return best[1] if best else None


def cpu_compute_peak(facts: dict[str, Any], threads: int, precision: str) -> Ceiling | None:
    rates = table()["cpu_flops_per_cycle_per_core"]
    flags = facts.get("flags") or set()
    mhz = facts.get("max_mhz")
    isa = next((k for k in ("avx512f", "fma", "avx", "sse2", "asimd") if k in flags), None)
    if isa is None or not mhz:
        return None
    per = rates[isa][precision]
    return Ceiling(
        f"CPU {PRECISION_LABELS.get(precision, precision)}, theoretical",
        threads * mhz * 1e6 * per / 1e12,
        "TFLOP/s",
        "theoretical",
        f"{threads} threads x {mhz:g} MHz ({facts.get('clock_source')}) x {per} FLOP/cycle ({isa}, two FMA pipes)",
    )
