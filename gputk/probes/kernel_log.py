"""The kernel log's NVIDIA lines: Xid events, NVRM messages, NVSwitch SXids.

Shell equivalent::

    journalctl -k -b --no-pager -o short-iso -n 5000 --grep 'NVRM|nvidia|Xid|...'   # systemd
    dmesg | grep -aE '...' | tail -c 262144                                           # otherwise

Neither needs root on most systems, but both can be refused (``kernel.dmesg_restrict=1``;
a journal the user's groups may not read). That refusal is reported as evidence
(status ``needs-root``) rather than read as "no errors". Only lines that mention the
NVIDIA driver are kept, the last 256 kB of them (parsers/kernel_log.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gputk.host import Host
from gputk.models.core import CommandResult
from gputk.parsers.kernel_log import KernelLog, needs_root, parse_kernel_log
from gputk.probes.capture import Capture

PATTERN = "NVRM|nvidia|Xid|nvswitch|nvlink|10de:|fallen off the bus"
JOURNAL_ARGV = ("journalctl", "-k", "-b", "--no-pager", "-o", "short-iso", "-n", "5000", "--grep", PATTERN)
# dmesg has no pattern filter: a fixed pipeline keeps the same lines (and at most 256 kB) so a
# snapshot never holds the rest of the kernel log.
DMESG_ARGV = ("sh", "-c", f"dmesg | grep -aE '{PATTERN}' | tail -c 262144")
TIMEOUT_S = 10.0
SYSTEMD_MARKER = "/run/systemd/system"

KernelLogStatus = Literal["ok", "needs-root", "unavailable", "not-captured", "error"]


@dataclass(frozen=True)
class KernelLogResult:
    status: KernelLogStatus
    source: str  # the command that answered (or was tried last)
    detail: str
    log: KernelLog = field(default_factory=KernelLog)


def _label(argv: tuple[str, ...] | list[str]) -> str:
    return " ".join(argv[:4]) if argv[0] == "journalctl" else "dmesg" if argv[0] == "sh" else " ".join(argv)


def _read(res: CommandResult) -> KernelLogResult | None:
    cmd = _label(res.argv)
    text = res.stdout + "\n" + res.stderr
    if res.error == "not-captured":
        return KernelLogResult("not-captured", cmd, res.describe())
    if res.error is not None:
        return None
    log = parse_kernel_log(res.stdout)
    if needs_root(text) and not log.lines:  # refused, on stderr or pasted into stdout
        return KernelLogResult("needs-root", cmd, f"`{cmd}` may not read the kernel log as this user")
    if res.returncode not in (0, 1):  # journalctl --grep and grep exit 1 when nothing matched
        return None
    if not log.lines and "not found" in res.stderr:  # sh: 1: dmesg: not found
        return None
    return KernelLogResult("ok", cmd, f"{len(log.lines)} NVIDIA line(s) in `{cmd}`", log)


def kernel_log(host: Host) -> KernelLogResult:
    """The NVIDIA part of this boot's kernel log (see the module docstring).

    The journal first where systemd runs; dmesg when the journal is refused, empty or absent
    (containers, no persistent journal). A refusal by both is "needs-root", never "no errors".
    """
    tried: list[KernelLogResult] = []
    argvs = (JOURNAL_ARGV, DMESG_ARGV) if host.is_dir(SYSTEMD_MARKER) else (DMESG_ARGV,)
    for argv in argvs:
        res = host.run(argv, timeout=TIMEOUT_S)
        result = _read(res)
        if result is not None and result.status == "ok" and (result.log.lines or argv == argvs[-1]):
            return result
        tried.append(result or KernelLogResult("error", _label(argv), res.describe()))
    for status in ("ok", "needs-root", "not-captured"):
        found = next((t for t in tried if t.status == status), None)
        if found is not None:
            return found
    if all("not found" in t.detail for t in tried):
        return KernelLogResult("unavailable", tried[-1].source, "; ".join(t.detail for t in tried))
    return tried[-1]


CAPTURE = Capture(
    "kernel-log",
    commands=((JOURNAL_ARGV, TIMEOUT_S), (DMESG_ARGV, TIMEOUT_S)),
    names=(SYSTEMD_MARKER,),
    tools=("journalctl", "dmesg", "sh"),
    entries=(kernel_log,),
)
