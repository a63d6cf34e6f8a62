"""The kernel log (``journalctl -k`` or ``dmesg``), reduced to what the NVIDIA driver said.

Lines look like one of::

    [ 1843.308145] NVRM: Xid (PCI:0000:44:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.
    Feb 14 05:03:41 gpu-1 kernel: NVRM: Xid (PCI:0000:3b:00): 13, pid=2290, name=python, Graphics Exception ...
    2024-05-01T10:00:00+0000 host kernel: NVRM: GPU at PCI:0000:01:00: GPU-8f6c1a2b-...

The timestamp prefix (dmesg's ``[seconds]``, journalctl's ``Mon DD HH:MM:SS host kernel:``
or ``-o short-iso``) is dropped. :func:`relevant` keeps the NVIDIA lines (NVRM, nvidia,
Xid, nvswitch, and PCI/AER lines naming an NVIDIA function); :func:`parse_kernel_log`
turns them into Xid events and NVRM messages. The driver's multi-line "fallen off the
bus" message (no Xid on R570+) counts as Xid 79 for its bus id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gputk.models.gpu import normalize_bus_id

MAX_BYTES = 256 * 1024  # the last 256 kB of relevant lines are kept

_PREFIX = re.compile(
    r"^(?:\[\s*\d+\.\d+\]\s?"  # dmesg
    r"|\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\]\s?"  # dmesg --ctime / -T
    r"|\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: (?:\[\s*\d+\.\d+\]\s?)?"  # journalctl short
    r"|\d{4}-\d\d-\d\dT\S+ \S+ kernel: (?:\[\s*\d+\.\d+\]\s?)?)"  # journalctl short-iso
)
_RELEVANT = re.compile(r"NVRM|nvidia|Xid|nvswitch|nvlink|10de:|fallen off the bus", re.I)
_XID = re.compile(r"\bXid \(PCI:([0-9a-fA-F:.]{7,16})\): (\d{1,4})\b,?\s?(.{0,400})")
_SXID = re.compile(r"\bSXid \(PCI:([0-9a-fA-F:.]{7,16})\): (\d{1,6})\b,?\s?(.{0,400})")
_PID = re.compile(r"pid=(?:'?)(\d{1,10})")
_CAUSE = re.compile(r"caused by previous Xid (\d{1,4})")  # "Ch 00000001 caused by previous Xid 149"
_PROC = re.compile(r"name=([^\s,]{1,64})")
_FALLEN = re.compile(r"GPU (?:at )?(?:PCI:)?([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.?\d?)")
_BUS_WORD = re.compile(r"\b([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(?:\.\d)?)\b")
_OPEN_END = re.compile(r"\b(?:the|a|an|has|by|to|of|and|is|in|with|for)$")
_NEEDS_ROOT = (
    "operation not permitted",
    "permission denied",
    "not seeing messages from other users and the system",
    "insufficient permissions",
)


@dataclass(frozen=True)
class XidEvent:
    code: int
    bus_id: str | None  # normalised, function 0 when the log omits it
    detail: str
    line: str
    pid: int | None = None
    process: str | None = None
    cause: int | None = None  # the earlier Xid the driver names as the cause (Xid 45 after an NVLink error)


@dataclass(frozen=True)
class KernelLog:
    """``lines``: the relevant lines (prefix dropped, oldest first); ``xids``/``sxids``: the
    events; ``nvrm``: every NVRM line (multi-line messages joined)."""

    lines: tuple[str, ...] = ()
    xids: tuple[XidEvent, ...] = ()
    sxids: tuple[XidEvent, ...] = ()
    nvrm: tuple[str, ...] = ()


def strip_prefix(line: str) -> str:
    return _PREFIX.sub("", line.rstrip(), count=1)


def needs_root(text: str) -> bool:
    """The tool said it may not read the kernel log as this user (dmesg_restrict, journal groups)."""
    low = text[:4096].lower()
    return any(marker in low for marker in _NEEDS_ROOT)


def relevant(text: str, max_bytes: int = MAX_BYTES) -> list[str]:
    """The NVIDIA lines of a kernel log, prefixes dropped, at most the last ``max_bytes``."""
    # syslog writes a wrapped message on one line, with #012 for each newline
    out = [
        strip_prefix(line).replace("#012NVRM: ", " ").replace("#012", " ")
        for line in text.splitlines()
        if _RELEVANT.search(line)
    ]
    size = 0
    for i in range(len(out) - 1, -1, -1):
        size += len(out[i]) + 1
        if size > max_bytes:
            return out[i + 1 :]
    return out


def _bus(raw: str | None) -> str | None:
    if not raw:
        return None
    raw = raw.rstrip(".")
    if raw.count(":") == 2 and "." not in raw:
        raw += ".0"
    return normalize_bus_id(raw)


def _event(m: re.Match[str], line: str) -> XidEvent:
    detail = m.group(3).strip()
    pid = _PID.search(detail)
    proc = _PROC.search(detail)
    cause = _CAUSE.search(detail)
    return XidEvent(
        int(m.group(2)),
        _bus(m.group(1)),
        detail,
        line,
        int(pid.group(1)) if pid else None,
        proc.group(1) if proc and proc.group(1) not in ("<unknown>", "'<unknown>'") else None,
        int(cause.group(1)) if cause else None,
    )


def _join_nvrm(lines: list[str]) -> list[str]:
    """One entry per NVRM message: a line that starts with '(' or a lower-case word continues
    the previous one when that did not end a sentence (the driver wraps long messages)."""
    joined: list[str] = []
    for line in lines:
        at = line.find("NVRM:")
        if at < 0:
            continue
        body = line[at + 5 :].strip()
        if not body:
            continue
        continues = (
            body[0] == "(" or body[0].islower() or (joined[-1:] != [] and _OPEN_END.search(joined[-1]))
        )
        if joined and continues and joined[-1][-1:] not in ".!":
            joined[-1] += " " + body
        else:
            joined.append(body)
    return joined


def parse_kernel_log(text: str) -> KernelLog:
    lines = relevant(text)
    xids: list[XidEvent] = []
    sxids: list[XidEvent] = []
    for line in lines:
        m = _XID.search(line)
        if m:  # \bXid never matches inside "SXid"
            xids.append(_event(m, line))
            continue
        m = _SXID.search(line)
        if m:
            sxids.append(_event(m, line))
    nvrm = _join_nvrm(lines)
    seen_79 = {x.bus_id for x in xids if x.code == 79}
    for msg in nvrm:
        if "fallen off the bus" not in msg or msg.startswith("Xid"):
            continue
        m = _FALLEN.search(msg) or _BUS_WORD.search(msg)
        bus = _bus(m.group(1)) if m else None
        if bus not in seen_79:
            seen_79.add(bus)
            xids.append(XidEvent(79, bus, "GPU has fallen off the bus (no Xid line)", "NVRM: " + msg))
    return KernelLog(tuple(lines), tuple(xids), tuple(sxids), tuple(nvrm))


def bus_uuids(log: KernelLog) -> dict[str, str]:
    """``NVRM: GPU at PCI:0000:01:00: GPU-8f6c...`` lines: bus id -> UUID."""
    out: dict[str, str] = {}
    for msg in log.nvrm:
        m = re.match(r"GPU at PCI:([0-9a-fA-F:.]{7,16}): (GPU-[0-9a-fA-F-]{8,40})", msg)
        if m:
            bus = _bus(m.group(1))
            if bus:
                out[bus] = m.group(2)
    return out
