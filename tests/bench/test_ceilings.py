"""Theoretical ceilings from hardware facts, checked against the vendors' datasheet figures.

The clocks come from real ``nvidia-smi -q -x`` recordings (max SM and memory clocks); SM counts and
bus widths from the architecture whitepapers cited in gputk/data/demos/throughput.json.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gputk.demos import ceilings as cl
from gputk.snapshot import SnapshotWriter

FIX = Path(__file__).parent.parent / "fixtures"


def _max_clocks(xml_name: str) -> tuple[int, int]:
    text = (FIX / "nvidia-smi-xml" / xml_name).read_text()
    block = text[text.index("<max_clocks>") : text.index("</max_clocks>")]
    sm = int(re.search(r"<sm_clock>(\d+) MHz", block).group(1))  # type: ignore[union-attr]
    mem = int(re.search(r"<mem_clock>(\d+) MHz", block).group(1))  # type: ignore[union-attr]
    return sm, mem


def test_a100_sxm4_peaks_match_the_datasheet() -> None:
    sm, mem = _max_clocks("a100-sxm4-80gb-mig-v12.xml")
    assert (sm, mem) == (1410, 1593)
    hw = {"sms": 108, "sm_clock_mhz": sm, "mem_clock_mhz": mem, "bus_width_bits": 5120}
    assert cl.gpu_memory_peak(hw).value == pytest.approx(2039, rel=0.002)  # type: ignore[union-attr]
    peaks = {
        p: cl.gpu_compute_peak(hw, "8.0", p).value for p in ("fp64", "fp32", "tf32_tensor", "fp16_tensor")
    }  # type: ignore[union-attr]
    assert peaks == pytest.approx(
        {"fp64": 9.75, "fp32": 19.5, "tf32_tensor": 156, "fp16_tensor": 312}, rel=0.005
    )
    peak = cl.gpu_compute_peak(hw, "8.0", "fp32")
    assert peak is not None and peak.kind == "theoretical" and "108 SMs x 1410 MHz" in peak.source


def test_p100_peaks_match_the_datasheet() -> None:
    sm, mem = _max_clocks("tesla-p100-x2-v8.xml")
    hw = {"sms": 56, "sm_clock_mhz": sm, "mem_clock_mhz": mem, "bus_width_bits": 4096}
    assert cl.gpu_memory_peak(hw).value == pytest.approx(732, rel=0.002)  # type: ignore[union-attr]
    assert cl.gpu_compute_peak(hw, "6.0", "fp64").value == pytest.approx(4.76, rel=0.01)  # type: ignore[union-attr]
    assert cl.gpu_compute_peak(hw, "6.0", "tf32_tensor") is None  # Pascal has no tensor cores


def test_h100_sxm_per_sm_rates_reproduce_the_whitepaper_at_its_clock() -> None:
    hw = {"sms": 132, "sm_clock_mhz": 1830}
    assert cl.gpu_compute_peak(hw, "9.0", "fp16_tensor").value == pytest.approx(989.4, rel=0.001)  # type: ignore[union-attr]
    assert cl.gpu_compute_peak(hw, "9.0", "tf32_tensor").value == pytest.approx(494.7, rel=0.001)  # type: ignore[union-attr]


def test_missing_facts_give_no_ceiling_rather_than_a_guess() -> None:
    assert cl.gpu_memory_peak({"bus_width_bits": 5120}) is None
    assert cl.gpu_compute_peak({"sms": 108, "sm_clock_mhz": 1410}, None, "fp32") is None
    assert cl.gpu_compute_peak({"sms": 108, "sm_clock_mhz": 1410}, "99.0", "fp32") is None


def test_every_table_row_cites_known_sources() -> None:
    data = cl.table()
    for cc, row in data["gpu_flops_per_clock_per_sm"].items():
        assert row["source"] and all(s in data["sources"] for s in row["source"]), cc
        assert row["fp32"] >= 64 and row["fp64"] >= 4


def test_pcie_peak_and_a_link_below_its_maximum() -> None:
    gen4 = cl.pcie_peak(4, 16)
    assert gen4 is not None and gen4.value == pytest.approx(31.5, rel=0.001) and gen4.unit == "GB/s"
    assert cl.pcie_peak(5, 16).value == pytest.approx(63.0, rel=0.001)  # type: ignore[union-attr]
    assert cl.pcie_peak(None, 16) is None and cl.pcie_peak(9, 16) is None
    note = cl.pcie_note({"pcie_gen": 1, "pcie_width": 16, "pcie_gen_max": 4, "pcie_width_max": 16})
    assert note is not None and "gen 1 x16, below its maximum gen 4 x16" in note
    assert cl.pcie_note({"pcie_gen": 4, "pcie_width": 16, "pcie_gen_max": 4, "pcie_width_max": 16}) is None


@pytest.mark.parametrize(
    ("fixture", "isa_rate", "mhz"),
    [
        ("xeon-e5-2660v3-one-cpu.txt", 32, 2601.0),  # AVX2 + FMA; cpu MHz above the nominal 2.60 GHz
        ("xeon-e5620-one-cpu.txt", 8, 2400.014),  # SSE only
        ("amd-epyc-kvm-2vcpu.txt", 32, None),  # a VM: no GHz in the model name, cpu MHz only
    ],
)
def test_cpu_peak_from_real_cpuinfo(
    snap: SnapshotWriter, fixture: str, isa_rate: int, mhz: float | None
) -> None:
    snap.add_file("/proc/cpuinfo", (FIX / "cpuinfo" / fixture).read_text())
    snap.add_file("/sys/devices/system/cpu/cpu0/cache/index2/level", "2\n")
    snap.add_file("/sys/devices/system/cpu/cpu0/cache/index2/size", "1024K\n")
    snap.add_file("/sys/devices/system/cpu/cpu0/cache/index3/level", "3\n")
    snap.add_file("/sys/devices/system/cpu/cpu0/cache/index3/size", "32768K\n")
    facts = cl.cpu_facts(snap.host())
    assert facts["llc_bytes"] == 32 * 2**20
    if mhz is not None:
        assert facts["max_mhz"] == pytest.approx(mhz)
    peak = cl.cpu_compute_peak(facts, 4, "fp32")
    assert peak is not None and peak.kind == "theoretical"
    assert peak.value == pytest.approx(4 * facts["max_mhz"] * 1e6 * isa_rate / 1e12)


def test_cpufreq_max_wins_over_cpuinfo(snap: SnapshotWriter) -> None:
    snap.add_file("/proc/cpuinfo", (FIX / "cpuinfo" / "xeon-e5-2660v3-one-cpu.txt").read_text())
    snap.add_file("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "3300000\n")
    facts = cl.cpu_facts(snap.host())
    assert facts["max_mhz"] == 3300.0 and facts["clock_source"] == "cpufreq cpuinfo_max_freq"
