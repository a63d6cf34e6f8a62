"""Every command's --help as a user sees it: under a real terminal (a pty) and piped, at 60 columns.

Both modes must read the same: one example per line, flags shown without a value, text such as
`runs/<timestamp>/` kept as written, no escape codes, nothing wider than the screen.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
import typer

from gputk.cli.app import app
from tests.terminal import run_in_pty, user_env

COLUMNS = 60
MARK = "=== help of: "
DRIVER = f"""
import sys
from gputk.cli.app import run_cli
for path in sys.argv[1:]:
    print({MARK!r} + path, flush=True)
    run_cli([*path.split(), "--help"])
    sys.stdout.flush()
"""


def _commands() -> dict[str, Any]:
    root = typer.main.get_command(app)
    found: dict[str, Any] = {"": root}
    for name, sub in root.commands.items():  # type: ignore[attr-defined]
        found[name] = sub
        for sub_name, leaf in getattr(sub, "commands", {}).items():
            found[f"{name} {sub_name}"] = leaf
    return found


COMMANDS = _commands()


def _split(text: str) -> dict[str, str]:
    pages = {}
    for chunk in text.split(MARK)[1:]:
        path, _, page = chunk.partition("\n")
        pages[path] = page
    return pages


def _piped(no_color: bool) -> dict[str, str]:
    res = subprocess.run(
        [sys.executable, "-c", DRIVER, *COMMANDS],
        capture_output=True, text=True, timeout=120, env=user_env(COLUMNS, no_color),
    )
    assert res.returncode == 0, res.stderr
    return _split(res.stdout)


def _under_pty(no_color: bool) -> dict[str, str]:
    rc, text = run_in_pty([sys.executable, "-c", DRIVER, *COMMANDS], user_env(COLUMNS, no_color))
    assert rc == 0, text
    return _split(text)


@pytest.fixture(scope="module")
def pages() -> dict[str, dict[str, str]]:
    return {
        "pty": _under_pty(no_color=False),
        "pty NO_COLOR": _under_pty(no_color=True),
        "piped NO_COLOR": _piped(no_color=True),
    }


def _examples(help_text: str) -> list[str]:
    """The example lines as written in the source: the lines of each \\b block."""
    lines = []
    for block in help_text.split("\b\n")[1:]:
        for line in block.splitlines():
            if not line.strip():
                break
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: p or "gputk")
def test_help_reads_the_same_on_a_terminal_and_piped(path: str, pages: dict[str, dict[str, str]]) -> None:
    texts = {mode: p[path] for mode, p in pages.items()}
    piped = texts["piped NO_COLOR"]
    assert piped.startswith("Usage: gputk")
    for mode, text in texts.items():
        assert "\x1b" not in text, f"escape codes in {mode}"
        assert text == piped, f"{mode} differs from piped"
        too_wide = [line for line in text.splitlines() if len(line) > COLUMNS]
        assert too_wide == [], f"{mode}: lines wider than {COLUMNS} columns"


@pytest.mark.parametrize("path", [p for p in COMMANDS if p and p != "demo"])
def test_one_example_per_line(path: str, pages: dict[str, dict[str, str]]) -> None:
    examples = _examples(COMMANDS[path].help or "")
    assert examples and all("gputk " in e for e in examples)
    lines = [line.strip() for line in pages["pty"][path].splitlines()]
    for example in examples:
        assert example in lines, f"example not on a line of its own: {example!r}"


def _option_names(text: str) -> dict[str, list[str]]:
    """Each option's first column in the Options section: ``--json`` -> ["--json"], with a metavar
    ``--cuda VERSION`` -> ["--cuda", "VERSION"]."""
    section = text.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    found = {}
    for line in section.splitlines():
        if line.startswith("  -"):
            words = re.split(r" / |,? ", re.split(r"\s{2,}", line.strip())[0])
            for word in words:
                if word.startswith("-"):
                    found[word] = words
    return found


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: p or "gputk")
def test_flags_take_no_value(path: str, pages: dict[str, dict[str, str]]) -> None:
    text = pages["pty"][path]
    assert "<bool>" not in text
    names = _option_names(text)
    for param in COMMANDS[path].params:
        if getattr(param, "is_flag", False) and not getattr(param, "hidden", False):
            words = names[param.opts[0]]
            assert all(w.startswith("-") for w in words), f"flag shown with a value: {words}"
        elif param.param_type_name == "option":
            assert not all(w.startswith("-") for w in names[param.opts[0]]), f"value not shown: {param.opts}"


def test_text_is_not_read_as_markup(pages: dict[str, dict[str, str]]) -> None:
    assert "runs/<timestamp>/" in pages["pty"]["train"].replace("\n  ", " ")
    assert "`nvidia-smi -q -x`" in " ".join(pages["pty"]["detect"].split())  # backticks kept, not styled away
