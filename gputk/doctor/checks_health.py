"""What a working GPU says about its own health: gpu.xid (kernel log), gpu.memory (ECC,
row remapping, page retirement), gpu.clocks (clock event reasons, PCIe link),
gpu.compute-mode (exclusive/prohibited GPUs held by others).

The fixes here are reset / drain / RMA / fix the program: reinstalling the driver
never repairs what the hardware reports.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from gputk.doctor.base import Outcome, check, ev, failed, passed, skipped, warned
from gputk.doctor.context import Context
from gputk.models.doctor import Evidence, Fix
from gputk.parsers.kernel_log import XidEvent
from gputk.parsers.nvidia_smi_health import CLOCK_REASONS, GpuHealth

CLASS_WORDS = {
    "application": "an application fault",
    "driver": "a driver/firmware error",
    "hardware": "a hardware error",
    "recovered": "a link error it recovered from",
}


@lru_cache(maxsize=2)
def _data(name: str) -> dict[str, dict[str, Any]]:
    text = (Path(__file__).resolve().parent / "data" / name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def xid_catalogue() -> dict[str, dict[str, Any]]:
    """gputk/doctor/data/xid.json: Xid code -> name, class, action."""
    return _data("xid.json")


def sxid_catalogue() -> dict[str, dict[str, Any]]:
    """gputk/doctor/data/sxid.json: NVSwitch SXid code -> name, effect, action."""
    return _data("sxid.json")


_UNNAMED_SWITCH = "(bus id not in the log)"
# "20034, Fatal, Link 28 LTSSM Fault Up" / "22013, Non-fatal, Link 00 Minion Link DLREQ interrupt"
_SXID_SEVERITY = re.compile(r"^(Fatal|Non-fatal)\b,?\s*(?:Link (\d{1,3}) )?(.{0,120})", re.I)


@dataclass
class _SwitchErrors:
    """One SXid code on one NVSwitch: how bad it said it was, its links, how often."""

    code: int
    bus: str | None
    fatal: bool | None = None
    text: str = ""
    links: list[str] = field(default_factory=list)
    count: int = 0
    line: str = ""


def _switch_errors(events: tuple[XidEvent, ...]) -> list[_SwitchErrors]:
    """SXid lines grouped by (code, switch); the driver prints one message over several lines
    (severity and description, then ``Severity N Engine instance``, then ``Data {...}``)."""
    groups: dict[tuple[int, str | None], _SwitchErrors] = {}
    for x in events:
        g = groups.setdefault((x.code, x.bus_id), _SwitchErrors(x.code, x.bus_id))
        m = _SXID_SEVERITY.match(x.detail)
        if not m:
            continue
        g.count += 1
        g.fatal = bool(g.fatal) or m.group(1).lower() == "fatal"
        g.text = g.text or m.group(3).strip()
        g.line = g.line or x.line
        if m.group(2) and m.group(2) not in g.links:
            g.links.append(m.group(2))
    return list(groups.values())


def _sxid_part(events: tuple[XidEvent, ...]) -> tuple[Outcome, Fix | None] | None:
    """The NVSwitch part of gpu.xid: fail on a fatal SXid (with its fix), warn on one whose severity
    is unknown, pass on non-fatal ones; None without SXid lines."""
    groups = _switch_errors(events)
    if not groups:
        return None
    cat = sxid_catalogue()
    evidence: list[Evidence] = []
    severity: dict[int, bool | None] = {}
    for g in groups:
        entry = cat.get(str(g.code), {})
        fatal = g.fatal if g.fatal is not None else entry.get("fatal")
        severity[id(g)] = fatal
        kind = {True: "fatal", False: "non-fatal", None: "severity unknown"}[fatal]
        links = f", link(s) {', '.join(g.links)}" if g.links else ""
        what = entry.get("effect") or g.text or "not in gputk's SXid table"
        line = g.line or next(x.line for x in events if x.code == g.code and x.bus_id == g.bus)
        evidence.append(ev(f"kernel log: SXid {g.code} on NVSwitch {g.bus or _UNNAMED_SWITCH} ({kind}{links})", f"{what}: {line[:200]}"))
    fatal = [g for g in groups if severity[id(g)]]
    unknown = [g for g in groups if severity[id(g)] is None]
    if fatal:
        worst = fatal[0]
        entry = cat.get(str(worst.code), {})
        switches = sorted({g.bus or _UNNAMED_SWITCH for g in fatal})
        name = entry.get("name") or worst.text or "NVSwitch error"
        action = entry.get("action") or (
            "restart the system so the GPUs and NVSwitches are reset together; if it recurs, contact the vendor"
        )
        fix = Fix(
            f"SXid {worst.code}: {action}. Reinstalling the driver does not help.",
            ("sudo dmesg -T | grep -i sxid", "systemctl status nvidia-fabricmanager", "sudo reboot  # after draining"),
        )
        text = f"fatal NVSwitch SXid {worst.code} ({name}) on {len(switches)} NVSwitch(es): {', '.join(switches)}"
        return failed(text, evidence, fix), fix
    codes = ", ".join(sorted({str(g.code) for g in groups}))
    if unknown:
        look = Fix("Look the SXid up in NVIDIA's fabric manager guide (SXid errors).", ("sudo dmesg -T | grep -i sxid",))
        return warned(f"NVSwitch SXid {codes}: the log does not say whether it was fatal", evidence, look), look
    return passed(f"non-fatal NVSwitch SXid {codes} only (the switch recovered)", *evidence), None


def _gpu_name(bus: str | None) -> str:
    return bus or "a GPU the log does not name"


def _kernel_log_missing(ctx: Context) -> Outcome | None:
    kl = ctx.kernel_log()
    if kl.status == "ok":
        return None
    if kl.status == "needs-root":
        return skipped(
            "the kernel log needs root here; Xid errors not checked (sudo dmesg | grep -i xid)",
            ev(kl.source, "refused: needs root (kernel.dmesg_restrict or journal group)"),
        )
    return skipped(f"kernel log not read: {kl.detail}", ev(kl.source, kl.detail))


def _xid_fix(worst: XidEvent, entry: dict[str, Any]) -> Fix:
    bus = worst.bus_id or "<bus id>"
    if entry.get("class") == "application":
        commands: tuple[str, ...] = (
            "compute-sanitizer --tool memcheck python your_script.py",
            "sudo dmesg -T | grep -i xid",
        )
    elif worst.code == 79:
        commands = (
            "sudo reboot",
            f"sudo lspci -vvv -s {bus} | grep -iE 'LnkSta|power'",
            "nvidia-smi -q -d TEMPERATURE,POWER",
        )
    else:
        commands = (
            f"nvidia-smi -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT -i {bus}",
            f"sudo nvidia-smi --gpu-reset -i {bus}  # after stopping its processes (drain)",
        )
    return Fix(f"Xid {worst.code} ({entry.get('name')}): {entry.get('action')}.", commands)


_RANK = {"hardware": 3, "driver": 2, "unknown": 1, "recovered": 0, "application": 0}


@check("gpu.xid", "Xid and NVSwitch SXid errors in the kernel log")
def xid(ctx: Context) -> Outcome:
    missing = _kernel_log_missing(ctx)
    if missing is not None:
        return missing
    kl = ctx.kernel_log()
    found = _gpu_xids(kl.log.xids)
    switch = _sxid_part(kl.log.sxids)
    if switch is None:
        return found[0] if found else passed(f"no Xid errors this boot ({kl.detail})", ev(kl.source, kl.detail))
    sx, sx_fix = switch
    if found is None:
        return sx
    gpu, cls = found
    order = ("pass", "warn", "fail")
    status = max(gpu.status, sx.status, key=lambda s: order.index(s) if s in order else 0)
    # a fatal SXid is the cause of the Xids it brings (45, 74) unless a GPU reported a hardware fault itself
    chosen = sx_fix if sx.status == "fail" and cls != "hardware" else gpu.fix or sx_fix
    return Outcome(status, f"{gpu.summary}; {sx.summary}", (*gpu.evidence, *sx.evidence), chosen)


def _with_causes(events: tuple[XidEvent, ...]) -> list[XidEvent]:
    """The Xids, plus the ones the driver names as their cause ("45 ... caused by previous Xid 149")
    when the log kept only the consequence."""
    seen = {(x.code, x.bus_id) for x in events}
    out = list(events)
    for x in events:
        if x.cause is not None and (x.cause, x.bus_id) not in seen:
            seen.add((x.cause, x.bus_id))
            out.append(XidEvent(x.cause, x.bus_id, f"named as the cause of Xid {x.code}", x.line))
    return out


_NONFATAL = re.compile(r"\bNonfatal\b")  # NVLink Xids 144-150 say "Fatal" or "Nonfatal" on the line


def _class_of(x: XidEvent, cat: dict[str, dict[str, Any]]) -> str:
    cls = str(cat.get(str(x.code), {}).get("class", "unknown"))
    return "recovered" if cls == "hardware" and _NONFATAL.search(x.detail) else cls


def _gpu_xids(events: tuple[XidEvent, ...]) -> tuple[Outcome, str] | None:
    """The Xid outcome and the class of the worst Xid; None without Xid lines."""
    if not events:
        return None
    cat = xid_catalogue()
    found = _with_causes(events)
    counts = Counter((x.code, x.bus_id) for x in found)
    last = {(x.code, x.bus_id): x for x in found}
    evidence: list[Evidence] = []
    for (code, bus), n in counts.items():
        entry = cat.get(str(code), {"name": "not in gputk's Xid table", "class": "unknown"})
        x = last[(code, bus)]
        who = f", {x.process} pid {x.pid}" if x.process and x.pid else ""
        evidence.append(
            ev(
                f"kernel log: Xid {code} on {_gpu_name(bus)}" + (f" (x{n})" if n > 1 else ""),
                f"{entry['name']} - {CLASS_WORDS.get(_class_of(x, cat), 'unclassified')}{who}: {x.line[:200]}",
            )
        )
    worst = max(found, key=lambda x: (_RANK[_class_of(x, cat)], x.code))
    entry = cat.get(str(worst.code), {"name": f"Xid {worst.code}", "class": "unknown", "action": ""})
    cls = _class_of(worst, cat)
    summary = f"Xid {worst.code} on {_gpu_name(worst.bus_id)}: {entry['name']} ({CLASS_WORDS.get(cls, 'unclassified')})"
    caused = sorted({x.code for x in found if x.cause == worst.code})
    if caused:
        summary += f", the cause of Xid {', '.join(str(c) for c in caused)}"
    others = sorted({x.code for x in found} - {worst.code} - set(caused))
    if others:
        summary += "; also Xid " + ", ".join(str(c) for c in others)
    if cls == "unknown":
        fix = Fix(
            f"Look Xid {worst.code} up in NVIDIA's Xid catalogue (docs.nvidia.com/deploy/xid-errors).",
            ("sudo dmesg -T | grep -i xid",),
        )
        return warned(summary, evidence, fix), cls
    fix = _xid_fix(worst, entry)
    if cls == "application":
        return warned(summary + ": the program is at fault, not the driver or the GPU", evidence, fix), cls
    if cls == "recovered":
        return warned(summary + ": the link recovered; repeated on the same link, have it checked", evidence, fix), cls
    return failed(summary, evidence, fix), cls


# -- memory errors ------------------------------------------------------------------------------


def _memory_finding(g: GpuHealth) -> tuple[int, str, str] | None:
    """(severity, what, fix text) for one GPU's memory error state; None when clean."""
    if g.remap_failure:
        return 4, "row remapping failed (no spare rows left)", "drain the GPU and RMA the board"
    if g.remap_pending:
        return 3, "row remapping pending: the GPU needs a reset", "drain the GPU, then reset it (or reboot)"
    if g.retired_pending:
        return 3, "page retirement pending: the GPU needs a reset", "drain the GPU, then reset it (or reboot)"
    if g.ecc_volatile_uncorrectable:
        return (
            2,
            f"{g.ecc_volatile_uncorrectable} uncorrectable ECC error(s) since the driver loaded",
            "drain the GPU and reset it; if uncorrectable errors come back, RMA the board",
        )
    return None


@check("gpu.memory", "GPU memory errors (ECC, row remapping, page retirement)", after=("driver.nvidia-smi",))
def memory(ctx: Context) -> Outcome:
    health = ctx.health()
    if not health:
        return skipped("no nvidia-smi -q -x health facts to read", ev("nvidia-smi -q -x", ctx.smi().detail))
    findings = [(g, f) for g in health if (f := _memory_finding(g)) is not None]
    evidence = [
        ev(
            f"nvidia-smi -q -x GPU {g.bus_id or g.index}",
            f"ECC uncorrectable volatile {g.ecc_volatile_uncorrectable}, aggregate {g.ecc_aggregate_uncorrectable}; "
            f"remapped rows unc {g.remapped_uncorrectable}, pending {g.remap_pending}, failure {g.remap_failure}; "
            f"retired pages pending {g.retired_pending}",
        )
        for g in health
        if any(
            v is not None
            for v in (
                g.ecc_volatile_uncorrectable,
                g.remap_pending,
                g.retired_pending,
                g.remapped_uncorrectable,
            )
        )
    ]
    if not findings:
        return passed(
            f"no uncorrectable memory errors pending on {len(health)} GPU(s)"
            if evidence
            else "the GPUs do not report ECC or row remapping (consumer boards): nothing to read",
            *evidence,
        )
    findings.sort(key=lambda t: -t[1][0])
    g, (sev, what, text) = findings[0]
    bus = g.bus_id or str(g.index)
    summary = f"GPU {bus} ({g.name or 'NVIDIA GPU'}): {what}"
    if len(findings) > 1:
        summary += f"; {len(findings) - 1} more GPU(s) with memory errors"
    commands = (
        f"nvidia-smi -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT -i {bus}",
        f"sudo nvidia-smi --gpu-reset -i {bus}  # after its processes are stopped"
        if sev < 4
        else "sudo reboot",
    )
    return failed(
        summary,
        evidence,
        Fix(f"Hardware memory error: {text}. Reinstalling software does not help.", commands),
    )


# -- clocks and PCIe ------------------------------------------------------------------------------

CLOCK_COSTS = {
    "hw_slowdown": "clocks cut by half or more by the board (power supply or temperature signal)",
    "hw_thermal_slowdown": "the board is too hot and cuts its clocks hard",
    "hw_power_brake_slowdown": "an external power brake (the system's power supply) cuts the clocks hard",
    "sw_thermal_slowdown": "the driver lowers clocks to keep the GPU under its temperature target",
    "sw_power_cap": "the GPU is at its power limit: clocks drop to stay under it",
    "sync_boost": "clocks held to the slowest GPU of its sync-boost group",
}


def _clock_notes(g: GpuHealth) -> list[str]:
    notes = [f"{CLOCK_REASONS[r]}: {CLOCK_COSTS[r]}" for r in g.clock_reasons_active if r in CLOCK_COSTS]
    if g.pcie_width_current and g.pcie_width_max and g.pcie_width_current < g.pcie_width_max:
        notes.append(
            f"PCIe link x{g.pcie_width_current} of x{g.pcie_width_max}: host-device copies run at "
            f"{g.pcie_width_current / g.pcie_width_max:.0%} of the bandwidth (slot, riser or seating)"
        )
    busy = "gpu_idle" not in g.clock_reasons_active and (g.utilization_pct or 0) > 0
    if busy and g.pcie_gen_current and g.pcie_gen_max and g.pcie_gen_current < g.pcie_gen_max:
        notes.append(
            f"PCIe gen {g.pcie_gen_current} of {g.pcie_gen_max} while busy: copies at about "
            f"{2 ** (g.pcie_gen_current - g.pcie_gen_max):.0%} of the bandwidth"
        )
    return notes


@check("gpu.clocks", "Clocks not held down; PCIe link at full speed", after=("driver.nvidia-smi",))
def clocks(ctx: Context) -> Outcome:
    health = ctx.health()
    if not health:
        return skipped("no nvidia-smi -q -x health facts to read", ev("nvidia-smi -q -x", ctx.smi().detail))
    evidence: list[Evidence] = []
    for g in health:
        for note in _clock_notes(g):
            evidence.append(ev(f"nvidia-smi -q -x GPU {g.bus_id or g.index}", note))
    if not evidence:
        return passed(
            f"no clock slowdown and full PCIe links on {len(health)} GPU(s) (idle links may downshift)"
        )
    first = evidence[0]
    return warned(
        f"{first.source.rsplit(' ', 1)[-1]}: {first.value}"
        + (f" (+{len(evidence) - 1} more)" if len(evidence) > 1 else ""),
        evidence,
        Fix(
            "Check cooling, power cables and the power limit; reseat a board whose link is narrow.",
            (
                "nvidia-smi -q -d PERFORMANCE,POWER,TEMPERATURE",
                "sudo lspci -vv -d 10de: | grep -E 'LnkCap|LnkSta'",
            ),
        ),
    )


# -- compute mode -----------------------------------------------------------------------------------

_UID = re.compile(r"^Uid:\s+(\d+)", re.M)


def _holders(ctx: Context, g: GpuHealth) -> str:
    parts = []
    for p in g.processes[:5]:
        status = ctx.host.read_text(f"/proc/{p.pid}/status", max_bytes=8192) or ""
        uid = _UID.search(status)
        parts.append(f"pid {p.pid} ({p.name or '?'}" + (f", uid {uid.group(1)}" if uid else "") + ")")
    return ", ".join(parts)


@check("gpu.compute-mode", "Compute mode lets this user run", after=("driver.nvidia-smi",))
def compute_mode(ctx: Context) -> Outcome:
    health = ctx.health()
    if not health:
        return skipped("no nvidia-smi -q -x health facts to read", ev("nvidia-smi -q -x", ctx.smi().detail))
    evidence = [
        ev(f"nvidia-smi -q -x GPU {g.bus_id or g.index}", f"compute mode {g.compute_mode}") for g in health
    ]
    prohibited = [g for g in health if g.compute_mode == "Prohibited"]
    held = [g for g in health if (g.compute_mode or "").startswith("Exclusive") and g.processes]
    reset = Fix(
        "Ask whoever runs it, or (as admin) set the GPU back to Default compute mode.",
        tuple(f"sudo nvidia-smi -i {g.bus_id or g.index} -c DEFAULT" for g in (prohibited + held)[:4]),
    )
    if prohibited:
        g = prohibited[0]
        return failed(
            f"GPU {g.bus_id or g.index} is in Prohibited compute mode: no CUDA program may use it "
            "('all CUDA-capable devices are busy or unavailable', CUDA error 46)",
            evidence,
            reset,
        )
    if held and len(held) == len(health):
        g = held[0]
        return failed(
            f"every GPU is in {g.compute_mode} mode and already held: GPU {g.bus_id or g.index} by {_holders(ctx, g)} "
            "(CUDA error 46: 'all CUDA-capable devices are busy or unavailable')",
            evidence,
            reset,
        )
    if held:
        g = held[0]
        return warned(
            f"GPU {g.bus_id or g.index} is {g.compute_mode} and held by {_holders(ctx, g)}; "
            "programs must pick another GPU",
            evidence,
            reset,
        )
    return passed("compute mode lets new programs in", *evidence[:4])
