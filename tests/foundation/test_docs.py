"""The README, docs/ and docstrings point only at files inside the repository, and those files exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md"))]
SOURCES = sorted((REPO / "gputk").rglob("*.py"))
OUTSIDE = re.compile(r"gpu-facts|\.\./shared|shared/docs")
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_doc_links_stay_inside_the_repository(path: Path) -> None:
    text = path.read_text()
    assert not OUTSIDE.search(text)
    for target, _ in LINK.findall(text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{path.name} links outside the repository: {target}"
        assert resolved.exists(), f"{path.name} links to a missing file: {target}"


def test_sources_cite_only_repository_docs() -> None:
    offenders = [str(p.relative_to(REPO)) for p in SOURCES if OUTSIDE.search(p.read_text())]
    assert offenders == []
    ours = {p.name for p in DOCS} | {"SOURCES.md"}
    for p in SOURCES:
        for name in re.findall(r"\b([\w-]+\.md)\b", p.read_text()):
            assert name in ours, f"{p.relative_to(REPO)} cites {name}, which the repository lacks"
