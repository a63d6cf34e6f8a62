"""The JSON envelope encodes the few non-JSON types on purpose and refuses the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gputk import ui
from gputk.compat.version import Version


def test_paths_and_versions_become_strings(capsys: pytest.CaptureFixture[str]) -> None:
    ui.print_json("detect", {"root": Path("/usr/local/cuda-12.3"), "driver": Version.parse("560.28.03")})
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "gputk.detect/1"
    assert (doc["root"], doc["driver"]) == ("/usr/local/cuda-12.3", "560.28.03")


def test_an_unknown_object_is_a_bug_not_a_repr() -> None:
    with pytest.raises(TypeError, match="object is not part of gputk's JSON output"):
        ui.print_json("detect", {"gpu": object()})
