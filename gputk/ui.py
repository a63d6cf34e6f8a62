"""Everything the user sees: the only module that imports rich.

stdout carries data (tables, JSON, shell code); messages, progress and
warnings go to stderr, so ``gputk env ... >> ~/.bashrc`` and ``--json | jq``
stay clean. Rich colours on a terminal and prints plain text when piped or
when ``NO_COLOR`` is set (Rich honours both).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from gputk import __version__

SCHEMA_VERSION = 1


def _width(stream: object) -> int | None:
    """Terminals use their own width; piped output gets a wide fixed one so tables do not fold."""
    isatty = getattr(stream, "isatty", None)
    if (callable(isatty) and isatty()) or os.environ.get("COLUMNS"):
        return None
    return PIPED_WIDTH


PIPED_WIDTH = 160


def out() -> Console:
    """A console on the current stdout (made per call so tests' capture works)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=_width(sys.stdout))


def err() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def envelope(command: str, data: dict[str, Any]) -> dict[str, Any]:
    """The versioned JSON envelope every ``--json`` output uses."""
    return {"schema": f"gputk.{command}/{SCHEMA_VERSION}", "gputk_version": __version__, **data}


def print_json(command: str, data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(envelope(command, data), indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def error(message: str, hint: str | None = None) -> None:
    c = err()
    c.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        c.print(f"[dim]hint:[/] {escape(hint)}")


def warn(message: str) -> None:
    err().print(f"[yellow]warning:[/] {escape(message)}")


def note(message: str) -> None:
    err().print(f"[dim]{escape(message)}[/]")


def action(verb: str, what: str) -> None:
    """An action line on stderr (create / skip / overwrite / write ...)."""
    colours = {"create": "green", "overwrite": "yellow", "skip": "dim", "remove": "red"}
    c = colours.get(verb, "cyan")
    err().print(f"[{c}]{verb:>9}[/] {escape(what)}")


def escape(text: str) -> str:
    from rich.markup import escape as _escape

    return _escape(text)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    t = Table(title=title, show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("-" if v is None else escape(str(v)) for v in row))
    return t


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    out().print(table(columns, rows, title))


class StepProgress:
    """A progress bar on stderr for a known number of steps; silent when stderr is not a terminal.

    Use as a context manager; call the instance with ``(done, total, label)``.
    """

    def __init__(self, description: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self._console = err()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("[dim]{task.fields[label]}"),
            console=self._console,
            transient=True,
            disable=not self._console.is_terminal,
        )
        self._task = self._progress.add_task(description, total=None, label="")

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, done: int, total: int, label: str) -> None:
        self._progress.update(self._task, completed=done, total=total, label=label)
