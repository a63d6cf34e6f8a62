"""The ready snippets of docs/cluster.md, read from the document itself so the tests run what users copy."""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "cluster.md"
GPUTK = str(Path(sys.executable).parent / "gputk")
_SNIPPET = re.compile(r"<!-- snippet: ([\w-]+) -->\n```\w*\n(.*?)```", re.S)


def snippet(name: str) -> str:
    found = dict(_SNIPPET.findall(DOC.read_text(encoding="utf-8")))
    assert name in found, f"docs/cluster.md has no snippet {name!r}"
    return found[name]


def with_gputk(text: str) -> str:
    """The snippet with this checkout's gputk, and `report` without the slow framework probes."""
    text = text.replace("gputk report -o -", "gputk report --no-frameworks -o -")
    return re.sub(r"(?<![\w/.-])gputk (?=doctor|report)", GPUTK + " ", text)
