"""pyproject lists every folder that ships, so a build neither warns nor silently leaves code out.

setuptools treats any folder as an importable package; one absent from `packages` is warned about
at every build (a wall of text in scripts/test) and, when it holds code, left out of the wheel.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

tomllib = pytest.importorskip("tomllib", reason="tomllib is 3.11+")


def _setuptools() -> dict[str, object]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    section: dict[str, object] = config["tool"]["setuptools"]
    return section


def _folders(root: Path, package: str) -> dict[str, Path]:
    found = {package: root}
    for d in sorted(root.rglob("*")):
        if d.is_dir() and "__pycache__" not in d.parts:
            found[".".join([package, *d.relative_to(root).parts])] = d
    return found


def test_every_shipped_folder_is_a_listed_package_with_its_data() -> None:
    config = _setuptools()
    packages = set(config["packages"])  # type: ignore[call-overload]
    data = config["package-data"]
    folders = {**_folders(REPO / "gputk", "gputk"), **_folders(REPO / "templates", "gputk.templates")}
    assert set(folders) == packages
    for name, folder in folders.items():
        extra = [f.name for f in folder.iterdir() if f.is_file() and f.suffix not in (".py", ".pyc")]
        if extra:
            assert name in data, f"{name} holds {extra[:3]} but has no package-data entry"  # type: ignore[operator]
