"""Options and helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from gputk.host import Host

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print a versioned JSON envelope on stdout instead of text.")
]
SnapshotOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option(
        "--snapshot",
        help="Read the facts from a snapshot made by `gputk report` (directory or .tar.gz).",
        metavar="PATH",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show more detail.")]


def make_host(snapshot: Path | None) -> Host:
    """This machine, or the snapshot the user named."""
    if snapshot is None:
        from gputk.host import LiveHost

        return LiveHost()
    from gputk.snapshot import open_snapshot

    return open_snapshot(snapshot)
