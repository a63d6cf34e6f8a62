"""Everything the user sees: the only module that imports rich.

stdout carries data (tables, JSON, shell code); messages, progress and
warnings go to stderr, so ``gputk env ... >> ~/.bashrc`` and ``--json | jq``
stay clean.

One rendering path, with three promises:

- values are data, never markup: the consoles interpret neither Rich markup
  nor emoji codes, so a bus id ``0000:ab:00.0`` or a path ``[x]/y`` prints as
  it is. Styles are attached to text pieces with :func:`styled`, never written
  into strings;
- ``NO_COLOR`` (set and not empty, see https://no-color.org) or ``TERM=dumb``
  means no escape codes at all: no colour, no bold/dim/italic, no live
  progress bars (a progress line is redrawn with a carriage return instead);
- lines fit the width: the terminal's, or ``COLUMNS``, or a wide fixed one
  when piped (so tables do not fold); :func:`wrapped` wraps prose with a
  hanging indent and never breaks a word, a path or a command.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO, Union

from gputk import __version__

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

SCHEMA_VERSION = 1
PIPED_WIDTH = 160

# A piece of a line: plain text, or (text, style) such as ("✓", "green").
Part = Union[str, "tuple[str, str]", "Text"]


def plain() -> bool:
    """No escape codes wanted: ``NO_COLOR`` is set to something, or the terminal is dumb."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(callable(isatty) and isatty())
    except (OSError, ValueError):  # a closed or odd stream
        return False


def _width(stream: object) -> int | None:
    """Terminals use their own width (Rich reads it, and COLUMNS); piped output gets a wide fixed one."""
    if _isatty(stream) or os.environ.get("COLUMNS", "").isdigit():
        return None
    return PIPED_WIDTH


def _console(stream: TextIO) -> Console:
    from rich.console import Console

    return Console(
        file=stream,
        width=_width(stream),
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=True,
        color_system=None if plain() else "auto",
    )


def out() -> Console:
    """A console on the current stdout (made per call so tests' capture works)."""
    return _console(sys.stdout)


def err() -> Console:
    return _console(sys.stderr)


def styled(*parts: Part) -> Text:
    """One line from pieces: ``styled(("✓", "green"), " ", value)``; no piece is parsed as markup."""
    from rich.text import Text

    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1] or None)
        else:
            text.append(part)
    return text


def line(*parts: Part, console: Console | None = None) -> None:
    """Print one line of pieces (see :func:`styled`) on stdout, or on ``console``."""
    (console or out()).print(styled(*parts))


def wrapped(
    text: str, *, prefix: Part = "", indent: int | None = None, style: str = "", console: Console | None = None
) -> None:
    """Print ``prefix`` + ``text`` wrapped to the console width, later lines indented by ``indent``
    (default: under the text). Line breaks in ``text`` are kept.

    Words are never broken, so a long path or URL stays whole (and may overrun a narrow screen).
    """
    c = console or out()
    head = styled(prefix)
    hang = len(head.plain) if indent is None else indent
    width = max(c.width, hang + 20)
    first_word = (text.split() or [""])[0]
    if head.plain.strip() and len(head.plain) + len(first_word) > width:
        head.rstrip()  # a long label (a path): the text starts on the next line
        c.print(head)
        head = styled(" " * hang)
    for n, paragraph in enumerate(text.split("\n")):
        first = "x" * len(head.plain) if n == 0 else " " * hang
        lines = textwrap.wrap(
            paragraph, width=width, initial_indent=first, subsequent_indent=" " * hang,
            break_long_words=False, break_on_hyphens=False,
        ) or [first]
        for i, text_line in enumerate(lines):
            lead = head if n == 0 and i == 0 else styled(" " * hang)
            c.print(styled(lead, (text_line[len(lead.plain) :], style)))


def _message(label: Part, message: str, style: str = "") -> None:
    """A message on stderr: wrapped on a terminal (or with COLUMNS), one line when piped or logged."""
    c = err()
    head = styled(label, " ") if label else styled()
    if _width(sys.stderr) is None:
        wrapped(message, prefix=head, indent=len(head.plain) if label else 2, style=style, console=c)
    else:
        c.print(styled(head, (message, style)))


_ASCII = {"✓": "+", "✗": "x", "└": "`-", "…": "...", "→": "->", "—": "-"}


def symbol(char: str, stream: object | None = None) -> str:
    """``char``, or an ASCII stand-in when the output's encoding cannot carry it (PYTHONIOENCODING=ascii)."""
    encoding = getattr(stream if stream is not None else sys.stdout, "encoding", None) or "utf-8"
    try:
        char.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return _ASCII.get(char, "?")
    return char


def envelope(command: str, data: dict[str, Any]) -> dict[str, Any]:
    """The versioned JSON envelope every ``--json`` output uses."""
    return {"schema": f"gputk.{command}/{SCHEMA_VERSION}", "gputk_version": __version__, **data}


def _json_value(obj: object) -> object:
    """The few non-JSON types a result may carry, each encoded on purpose; anything else is a bug in
    the result (a TypeError, so it reaches the crash log instead of printing a repr nobody can parse)."""
    import enum
    import pathlib

    from gputk.compat.version import Version

    if isinstance(obj, (pathlib.PurePath, Version)):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    raise TypeError(f"{type(obj).__name__} is not part of gputk's JSON output")


def print_json(command: str, data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(envelope(command, data), indent=2, sort_keys=False, default=_json_value) + "\n")
    sys.stdout.flush()


def error(message: str, hint: str | None = None) -> None:
    _message(("error:", "bold red"), message)
    if hint:
        _message(("hint:", "dim"), hint)


def warn(message: str) -> None:
    _message(("warning:", "yellow"), message)


def note(message: str) -> None:
    _message("", message, style="dim")


def action(verb: str, what: str) -> None:
    """An action line on stderr (create / skip / overwrite / write ...)."""
    colours = {"create": "green", "overwrite": "yellow", "skip": "dim", "remove": "red"}
    err().print(styled((f"{verb:>9}", colours.get(verb, "cyan")), " ", what))


def escape(text: str) -> str:
    """Text as it is: the consoles never interpret markup, so nothing needs escaping (kept for callers)."""
    return text


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> Table:
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(v if _is_text(v) else styled("-" if v is None else str(v)) for v in row))
    return t


def _is_text(value: object) -> bool:
    from rich.text import Text

    return isinstance(value, Text)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """A table on stdout; on a screen too narrow for its columns, one block per row instead.

    The table is kept while every column but the last fits with 20 columns to spare (the last one
    wraps); otherwise folding would cut every value into slivers, so each row becomes a block of
    ``name  value`` lines under its first value.
    """
    rows = [list(r) for r in rows]
    console = out()
    cells = [[_plain(v) for v in r] for r in rows]
    widths = [max(len(line) for v in (c, *(r[i] for r in cells)) for line in v.split("\n")) for i, c in enumerate(columns)]
    if sum(widths[:-1]) + 2 * (len(widths) - 1) + 20 <= console.width:
        _print_trimmed(console, table(columns, rows, title))
        return
    if title:
        console.print(styled((title, "bold")))
    label = max(len(c) for c in columns[1:]) if len(columns) > 1 else 0
    for n, row in enumerate(cells):
        if n:
            console.print()
        head = row[0].strip() or "-"
        console.print(styled((f"#{head}" if columns[0] == "#" else head, "bold")))
        for name, value in zip(columns[1:], row[1:], strict=False):
            if value.strip() not in ("", "-"):
                wrapped(value.strip(), prefix=styled("  ", (f"{name:<{label}}", "dim"), "  "), console=console)


def _print_trimmed(console: Console, renderable: Any) -> None:
    """Print line by line without the padding Rich leaves at the end of each line (pastes and diffs
    of piped output then carry no trailing spaces)."""
    from rich.text import Text

    for segments in console.render_lines(renderable, console.options, pad=False):
        line = Text()
        for seg in segments:
            if not seg.control:
                line.append(seg.text, seg.style)
        line.rstrip()
        console.print(line)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    return value.plain if _is_text(value) else str(value)


class StepProgress:
    """Progress for a known number of steps on stderr; silent when stderr is not a terminal.

    A Rich bar on a terminal; with NO_COLOR one plain line redrawn with ``\\r``. Use as a
    context manager; call the instance with ``(done, total, label)``.
    """

    def __init__(self, description: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self._description = description
        self._console = err()
        self._plain_width = 0
        self._tty = self._console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[label]}", style="dim"),
            console=self._console,
            transient=True,
            disable=not self._tty or plain(),
        )
        self._task = self._progress.add_task(description, total=None, label="")

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
        if self._plain_width:
            sys.stderr.write("\r" + " " * self._plain_width + "\r")
            sys.stderr.flush()

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._tty and plain():
            text = f"{self._description} {done}/{total} {label}"[: max(self._console.width - 1, 10)]
            sys.stderr.write("\r" + text.ljust(self._plain_width))
            sys.stderr.flush()
            self._plain_width = max(self._plain_width, len(text))
            return
        self._progress.update(self._task, completed=done, total=total, label=label)
