"""The recipes in docs/contributing.md hold: every check is documented with what it reads, every
probe's declaration is in the catalogue the report records, every new command is in docs/snapshot.md."""

from __future__ import annotations

from pathlib import Path

from gputk.doctor.registry import REGISTRY
from gputk.probes.catalogue import CAPTURES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_doctor_lists_every_check() -> None:
    text = (DOCS / "doctor.md").read_text(encoding="utf-8")
    for c in REGISTRY:
        name = c.id if not c.id.startswith("framework.") else "framework.tensorflow"
        assert f"`{name}`" in text, c.id


def test_docs_snapshot_names_every_command_the_report_runs() -> None:
    text = (DOCS / "snapshot.md").read_text(encoding="utf-8")
    for cap in CAPTURES:
        for argv, _timeout in cap.commands:
            shown = " ".join(argv[:4]) if argv[0] == "journalctl" else " ".join(argv[:2])
            assert shown in text, (cap.name, argv)


def test_contributing_recipes_exist() -> None:
    text = (DOCS / "contributing.md").read_text(encoding="utf-8")
    assert "## Add a parser" in text and "## Add a check" in text
    for path in ("gputk/probes/catalogue.py", "gputk/doctor/registry.py", "tests/doctor/scenarios.py"):
        assert path in text and (DOCS.parent / path).exists(), path
