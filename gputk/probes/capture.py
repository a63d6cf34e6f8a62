"""What a probe reads, declared once next to the probe.

Every probe module ends with a ``CAPTURE = Capture(...)`` naming the commands it
runs (with their exact argv and timeouts: part of the snapshot contract in
docs/snapshot.md), the files whose contents it reads, the paths whose names or
link targets it looks at, the programs it looks up on PATH, and its entry
points. ``gputk report`` runs all of them through a recording host
(services/report.py reads :data:`gputk.probes.catalogue.CAPTURES`), so a fact a
new probe reads is in every snapshot by construction: there is no second list
to forget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gputk.host import Host

Command = tuple[tuple[str, ...], float]  # (argv, timeout in seconds)
Entry = Callable[[Host], object]


@dataclass(frozen=True)
class Capture:
    """The facts one probe module reads (see the module docstring).

    ``files``/``names`` are shell patterns; ``{release}`` stands for the running
    kernel release. ``entries`` are called with the recording host, so whatever
    else they read (paths found at run time, in-process probes) is recorded too.
    ``framework`` marks entries that ``gputk report --no-frameworks`` skips.
    """

    name: str
    commands: tuple[Command, ...] = ()
    files: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()
    framework: bool = False
