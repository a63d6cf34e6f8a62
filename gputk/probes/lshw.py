"""``lshw -C display -json``: fills what the PCI scan could not (names, vendor strings, driver).

Shell equivalent::

    lshw -C display -json     # [{"id": "display", "product": "GH100 [H100 SXM5 80GB]",
                              #   "businfo": "pci@0000:01:00.0", "configuration": {"driver": "nvidia"}}]

lshw is optional: most GPU machines lack it. Without root it still lists
display devices (and warns on stderr that it should run as super-user).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gputk.host import Host
from gputk.models.gpu import GpuRecord
from gputk.probes.capture import Capture

LSHW_ARGV = ("lshw", "-C", "display", "-json")
LSHW_TIMEOUT_S = 30.0  # lshw probes every bus; slow on big servers

LshwStatus = Literal["ok", "unavailable", "error"]


@dataclass(frozen=True)
class LshwResult:
    """``status`` ``"ok"`` / ``"unavailable"`` (not installed or not captured) / ``"error"``; ``detail`` one line."""

    status: LshwStatus
    detail: str
    records: tuple[GpuRecord, ...] = ()
    warnings: tuple[str, ...] = ()


def lshw_query(host: Host) -> LshwResult:
    """Display devices as lshw reports them on ``host``."""
    res = host.run(LSHW_ARGV, timeout=LSHW_TIMEOUT_S)
    if res.error == "not-found":
        return LshwResult("unavailable", "not installed; apt install lshw")
    if res.error == "not-captured":
        return LshwResult("unavailable", "not captured in the snapshot")
    if res.error is not None or not res.stdout.strip():
        return LshwResult("error", res.describe())
    from gputk.parsers.lshw import parse_lshw

    parsed = parse_lshw(res.stdout)
    if parsed.format is None:
        return LshwResult("error", "output not recognised (expected JSON from `lshw -C display -json`)")
    n = len(parsed.gpus)
    return LshwResult(
        "ok",
        f"{n} display device{'s' if n != 1 else ''} in `lshw -C display -json`",
        parsed.gpus,
        parsed.warnings,
    )


CAPTURE = Capture(
    "lshw",
    commands=((LSHW_ARGV, LSHW_TIMEOUT_S),),
    tools=("lshw", "inxi"),
    entries=(lshw_query,),
)
