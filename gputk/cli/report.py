"""``gputk report``: capture a (redacted) snapshot of this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gputk.cli.common import JsonOpt


def register(app: typer.Typer) -> None:
    app.command(
        "report",
        help="Capture a snapshot of this machine for a bug report or a colleague.\n\n"
        "Host name, user name, home paths, GPU UUIDs and serials are redacted unless --no-redact. "
        "Other commands read it back with --snapshot PATH.\n\n"
        "Examples:\n\n\b\n    gputk report -o gpu-box.tar.gz\n    gputk report --no-redact -o my-box/\n"
        "    gputk report -o - > node.tar.gz   # to stdout\n\n"
        "-o - writes the .tar.gz to stdout, for collecting from many nodes: see docs/cluster.md.",
    )(report)


def report(
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Option(
            "--output",
            "-o",
            help="A .tar.gz file, a directory that does not exist yet, or - for stdout.",
            metavar="FILE",
        ),
    ] = None,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Keep host name, user, home paths, UUIDs and serials.")
    ] = False,
    no_frameworks: Annotated[
        bool, typer.Option("--no-frameworks", help="Skip the framework probes (TensorFlow, torch ...).")
    ] = False,
    json_out: JsonOpt = False,
) -> int:
    from gputk import ui
    from gputk.errors import InputError
    from gputk.services.report import STDOUT, capture

    to_stdout = output is not None and str(output) == STDOUT
    if to_stdout and json_out:
        raise InputError("--json and -o - both want stdout", "drop --json; the summary goes to stderr")
    with ui.StepProgress("capturing") as progress:
        result = capture(output, redact=not no_redact, frameworks=not no_frameworks, progress=progress)
    for w in result.warnings:
        ui.warn(w)
    if to_stdout:
        ui.note(
            f"snapshot written to stdout: {result.commands} commands, {result.files} files"
            + (", redacted" if result.redacted else ", NOT redacted")
        )
    elif json_out:
        ui.print_json("report", result.to_dict())
    else:
        ui.out().print(str(result.path))
        ui.note(
            f"snapshot: {result.commands} commands, {result.files} files"
            + (", redacted" if result.redacted else ", NOT redacted")
            + f"; read it back with: gputk doctor --snapshot {result.path}"
        )
    return 0
