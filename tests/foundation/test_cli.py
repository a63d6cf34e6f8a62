"""The CLI root: version, help, exit codes, no tracebacks, light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gputk import __version__
from gputk.cli.app import app, run_cli
from gputk.errors import InputError


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out == f"gputk {__version__}\n"


def test_help_lists_the_commands_via_clirunner() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "report" in result.output


def _command_paths() -> list[list[str]]:
    cmd = typer.main.get_command(app)
    paths: list[list[str]] = []
    for name, sub in cmd.commands.items():  # type: ignore[attr-defined]
        if getattr(sub, "commands", None):
            paths.extend([name, s] for s in sub.commands)
        else:
            paths.append([name])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p))
def test_every_command_has_help_with_an_example(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and "gputk" in out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_explained_failure_exits_1_with_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gputk.services.report as report

    def fail(*a: object, **k: object) -> None:
        raise InputError("directory /nope does not exist", "create it first")

    monkeypatch.setattr(report, "capture", fail)
    assert run_cli(["report", "-o", "/nope/x.tar.gz"]) == 1
    err = capsys.readouterr().err
    assert "error: directory /nope does not exist" in err
    assert "hint: create it first" in err
    assert "Traceback" not in err


def test_unexpected_exception_exits_3_with_one_line_and_a_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import gputk.services.report as report

    def crash(*a: object, **k: object) -> None:
        raise ZeroDivisionError("division by zero in probe")

    monkeypatch.setattr(report, "capture", crash)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert run_cli(["report"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error: ZeroDivisionError: division by zero in probe" in err
    logs = list((tmp_path / "gputk" / "logs").glob("crash-*.log"))
    assert len(logs) == 1
    assert "Traceback" in logs[0].read_text() and "ZeroDivisionError" in logs[0].read_text()
    assert str(logs[0]) in err.replace("\n", "")


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import gputk.services.report as report

    def interrupted(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "capture", interrupted)
    assert run_cli(["report"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\nfrom gputk.cli.app import run_cli\n"
        f"rc = run_cli({args!r})\n"
        "sys.stdout = sys.__stdout__\n"
        "print('MODULES=' + ','.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"}
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("MODULES="))
    return set(line.removeprefix("MODULES=").split(","))


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_startup_imports_nothing_heavy(args: list[str]) -> None:
    heavy = {"numpy", "numba", "pynvml", "jinja2", "tensorflow", "cupy", "torch", "jax", "matplotlib", "PIL"}
    assert _modules_after(args) & heavy == set()


def test_json_envelope_is_versioned(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import gputk.services.report as report
    from gputk.services.report import ReportResult

    monkeypatch.setattr(report, "capture", lambda *a, **k: ReportResult(tmp_path / "x.tar.gz", 8, 12, True))
    assert run_cli(["report", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "gputk.report/1"
    assert data["gputk_version"] == __version__
    assert (data["commands"], data["files"], data["redacted"]) == (8, 12, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["new"],
        ["new", "cnn"],
        ["new", "cnn", "cifar10", "--epochs", "0", "--dry-run"],
        ["train", ".", "--epochs", "0"],
        ["doctor", "--check", "nosuch"],
        ["doctor", "--json", "--markdown"],
        ["detect", "--snapshot", ".", "--from", "x"],
        ["env", "--cuda", "twelve"],
        ["env", "--list", "--write"],
        ["demo", "nn", "--epochs", "0"],
        ["doctor", "--no-such-flag"],
        ["no-such-command"],
    ],
    ids=lambda a: " ".join(a),
)
def test_usage_errors_exit_2_with_one_error_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("error: ") and all(line.startswith("hint: ") for line in lines[1:])


def test_doctor_list_checks_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["doctor", "--list-checks", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "gputk.doctor/1"
    assert data["checks"][0] == {"id": "platform.os", "title": data["checks"][0]["title"], "depends_on": []}


def test_only_the_command_being_run_is_loaded() -> None:
    """typer reads every command's signature when it builds the CLI: only the one named is built."""
    from gputk.cli.app import COMMAND_MODULES, _app_for

    def names(argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
        built = _app_for(argv, environ or {})
        return [c.name or "" for c in built.registered_commands] + [g.name or "" for g in built.registered_groups]

    assert names(["doctor", "--snapshot", "x", "--json"]) == ["doctor"]
    assert names(["demo", "vector-add", "--help"]) == ["demo"]
    # the root's help, an unknown command, options only: the listing (names and one line each)
    for argv in ([], ["--help"], ["--help", "doctor"], ["doctr"], ["--version"]):
        built = _app_for(argv, {})
        assert [c.name for c in built.registered_commands] == list(COMMAND_MODULES)
        assert all(not c.params for c in typer.main.get_command(built).commands.values())  # type: ignore[attr-defined]
    # shell completion walks every real command
    assert sorted(names([], {"_GPUTK_COMPLETE": "complete_bash"})) == sorted(COMMAND_MODULES)


def test_root_help_names_every_command_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    from gputk.cli.app import COMMAND_MODULES, SHORT_HELP

    assert run_cli(["--help", "doctor"]) == 0  # --help before the command: the root's page
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == list(COMMAND_MODULES)
    assert SHORT_HELP["fleet"] in out
