"""What every command prints: values verbatim, no escape codes under NO_COLOR, lines that fit 60 columns."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gputk import ui
from gputk.cli.app import run_cli
from gputk.snapshot import SnapshotWriter
from tests.conftest import FIXTURES
from tests.doctor.scenarios import HEALTHY, build
from tests.terminal import run_in_pty, user_env

GPUTK = [sys.executable, "-m", "gputk"]
TRICKY = ["0000:ab:00.0", "[bold]not bold[/]", ":smile: :ab:", "[/]", "a\\[b]"]


def test_values_are_printed_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    ui.print_table(["value"], [[v] for v in TRICKY], title="[red]title[/] :ab:")
    for v in TRICKY:
        ui.line("x ", (v, "green"))
        ui.error(v, hint=v)
        ui.note(v)
    out, err = capsys.readouterr()
    assert "[red]title[/]" in out and ":ab:" in out  # the title wraps to the table width
    for v in TRICKY:
        assert f"\n{v}" in out and f"x {v}\n" in out
        assert f"error: {v}\nhint: {v}\n" in err and f"\n{v}\n" in err
    assert "🆎" not in out + err and "😄" not in out + err


def test_detect_prints_a_bus_id_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = (FIXTURES / "nvidia-smi-xml" / "rtx-a5000-v13-trimmed.xml").read_text()
    pasted = tmp_path / "smi.xml"
    pasted.write_text(xml.replace("00000000:81:00.0", "00000000:AB:00.0"))
    assert run_cli(["detect", "--from", str(pasted)]) == 0
    out = capsys.readouterr().out
    assert "0000:ab:00.0" in out and "🆎" not in out


def test_no_rich_markup_in_the_sources() -> None:
    """Styles go through ui.styled pieces; a '[bold]...[/]' string would now print literally."""
    root = Path(__file__).resolve().parents[2] / "gputk"
    markup = re.compile(r"\[/\]|\[(bold|dim|italic|red|green|yellow|cyan|magenta|blue)[\] ]")
    offenders = [
        f"{p.relative_to(root)}:{n}"
        for p in root.rglob("*.py")
        if p.name != "ui.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if markup.search(line)
    ]
    assert offenders == []


def test_symbols_fall_back_to_ascii_for_a_narrow_encoding() -> None:
    class Ascii:
        encoding = "ascii"

    assert [ui.symbol(c, Ascii()) for c in "✓✗└"] == ["+", "x", "`-"]
    assert ui.symbol("✓") in ("✓", "+")


@pytest.fixture
def failing_snapshot(snap: SnapshotWriter) -> str:
    machine = HEALTHY.but(
        module_loaded="550.54.14", nvml="driver-library-mismatch", smi="mismatch", env={"CUDA_VISIBLE_DEVICES": "-1"}
    )
    build(snap, machine).write_manifest()
    return str(snap.directory)


def _lines_too_wide(text: str, width: int) -> list[str]:
    """Lines past ``width`` that could have been wrapped (one unbreakable word after the indent is fine;
    fix commands are printed whole, indented 8, so they can be pasted)."""
    return [
        line
        for line in text.splitlines()
        if len(line) > width and len(line.split()) > 1 and not line.startswith(" " * 8 + line.strip())
    ]


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_doctor_on_a_terminal(failing_snapshot: str, no_color: bool) -> None:
    rc, text = run_in_pty([*GPUTK, "doctor", "--snapshot", failing_snapshot, "--no-frameworks"], user_env(60, no_color))
    assert rc == 1
    assert "driver.nvml" in text and "fix:" in text and "problems found" in text
    assert ("\x1b" in text) is not no_color  # colours on a terminal; none at all with NO_COLOR
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert _lines_too_wide(plain, 60) == []
    fix = next(i for i, line in enumerate(plain.splitlines()) if line.startswith("      fix: "))
    assert plain.splitlines()[fix + 1].startswith(" " * 11)  # wrapped under the fix text


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "--no-frameworks", "-v"],
        ["detect", "--from", str(FIXTURES / "nvidia-smi-xml" / "a100-sxm4-80gb-mig-v12.xml")],
        ["doctor", "--check", "nosuch"],
        ["env", "--cuda", "12.1", "--allow-missing", "--shell", "bash"],
        ["report", "--no-frameworks", "-o", "{tmp}/snap.tar.gz"],
        ["new", "cnn", "cifar10", "{tmp}/proj", "--dry-run"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_no_escape_codes_with_no_color(args: list[str], tmp_path: Path, failing_snapshot: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if argv[0] == "doctor":
        argv += ["--snapshot", failing_snapshot]
    rc, text = run_in_pty([*GPUTK, *argv], user_env(60, no_color=True, HOME=str(tmp_path)))
    assert rc in (0, 1, 2), text
    assert "Traceback" not in text
    assert "\x1b" not in text, text


def test_a_table_too_wide_for_the_screen_becomes_blocks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    detect = FIXTURES / "nvidia-smi-xml" / "tesla-p100-x2-v8.xml"
    assert run_cli(["detect", "--from", str(detect)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 60
    first = out.split("\n\n")[0].splitlines()
    assert first[0] == "#0"
    assert "  name        Tesla P100-PCIE-12GB" in first
    assert "  PCI bus id  0000:04:00.0" in first
    monkeypatch.setenv("COLUMNS", "200")
    assert run_cli(["detect", "--from", str(detect)]) == 0
    wide = capsys.readouterr().out.splitlines()
    assert wide[0].split()[:4] == ["#", "vendor", "name", "PCI"]
    assert all(line == line.rstrip() for line in wide)  # no padding left at line ends
