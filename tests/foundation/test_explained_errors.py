"""Exit 3 is for gputk's own bugs only: what the world does wrong is one explained line, exit 1 or 2.

Each case runs the installed entry point the way a user's shell would (``python -m gputk``), with
the stream or the environment the user had.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

GPUTK = [sys.executable, "-m", "gputk"]
MIG_XML = str(FIXTURES / "nvidia-smi-xml" / "a100-sxm4-80gb-mig-v12.xml")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHONIOENCODING", "COLUMNS"))}
    return {**env, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"), **extra}


def _run(args: list[str], tmp_path: Path, stdout: object = subprocess.PIPE, shell: str | None = None,
         **extra: str) -> tuple[int, str, str]:
    if shell is not None:
        argv: list[str] = ["bash", "-c", shell, "gputk", *GPUTK, *args]
    else:
        argv = [*GPUTK, *args]
    res = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=_env(tmp_path, **extra), timeout=180)
    out = res.stdout.decode() if isinstance(res.stdout, bytes) else ""
    return res.returncode, out, res.stderr.decode()


def _one_error(err: str) -> str:
    """The error line, after checking the shape: one 'error: ...' line, then at most hints, no traceback
    (notes and warnings may come before it)."""
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith("hint: ") for line in lines[errors[0] + 1 :]), err
    return lines[errors[0]]


def test_stdout_on_a_full_device(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        rc, _, err = _run(["doctor", "--check", "platform.os"], tmp_path, stdout=full)
    assert rc == 1
    assert _one_error(err) == "error: cannot write to standard output: No space left on device"


def test_stdout_closed(tmp_path: Path) -> None:
    rc, _, err = _run(["doctor", "--check", "platform.os"], tmp_path, shell='"$@" >&-')
    assert rc == 1
    assert _one_error(err) == "error: cannot write to standard output: it is closed"


def test_stdout_closed_does_not_hand_fd_1_to_a_file(tmp_path: Path) -> None:
    """A command that prints nothing still works, and the file it writes never lands on fd 1."""
    rc, _, err = _run(["env", "--prefix", "/opt/cuda-x", "--allow-missing", "--write"], tmp_path, shell='"$@" >&-')
    assert rc == 0, err
    assert b"/opt/cuda-x/bin" in (tmp_path / ".bashrc").read_bytes()


def test_ascii_output_encoding(tmp_path: Path) -> None:
    rc, out, err = _run(["detect", "--from", MIG_XML], tmp_path, PYTHONIOENCODING="ascii")
    assert rc == 0, err
    assert "`- MIG" in out  # the tree mark falls back to ASCII
    rc, _, err = _run(["env", "--prefix", "/opt/cüda", "--allow-missing", "--shell", "bash"], tmp_path,
                      PYTHONIOENCODING="ascii")
    assert rc == 1
    assert _one_error(err) == "error: the output encoding (ascii) cannot show '\\xfc'"  # stderr escapes it


def test_a_library_refusing_its_environment(tmp_path: Path) -> None:
    rc, _, err = _run(["demo", "vector-add", "--size", "1000", "--device", "cpu", "--repeats", "1"], tmp_path,
                      NUMBA_NUM_THREADS="0")
    assert rc in (1, 2)
    assert "NUMBA_NUM_THREADS=0" in _one_error(err) + err


BROKEN = "raise ValueError('BROKENLIB_MODE=7 is not a mode')\n"


def test_any_library_that_fails_at_import_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The class behind NUMBA_NUM_THREADS=0: a library whose module code raises while being imported
    is named with its own settings, exit 1; the same exception raised by gputk's code is a bug, exit 3."""
    import typer

    from gputk.cli import app as app_mod

    (tmp_path / "brokenlib").mkdir()
    (tmp_path / "brokenlib" / "__init__.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BROKENLIB_MODE", "7")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    broken = typer.Typer()

    @broken.command()
    def go(bug: bool = False) -> None:
        if bug:
            raise ValueError("gputk's own mistake")
        import brokenlib  # noqa: F401

    assert app_mod.run_cli([], app=broken) == 1
    err = capsys.readouterr().err
    assert _one_error(err) == "error: brokenlib failed to import: BROKENLIB_MODE=7 is not a mode"
    assert "hint: check or unset BROKENLIB_MODE=7; the full traceback is in" in err
    assert app_mod.run_cli(["--bug"], app=broken) == 3
    assert "internal error: ValueError: gputk's own mistake" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["/", "/dev/full", "{tmp}/missing/x.png", "{tmp}"])
def test_unusable_output_path_is_refused_before_work(target: str, tmp_path: Path) -> None:
    path = target.replace("{tmp}", str(tmp_path))
    rc, _, err = _run(["demo", "mandelbrot", "--width", "8", "--height", "8", "-o", path], tmp_path)
    assert rc == 2  # an unusable -o is a usage error, found before the work starts
    assert path in _one_error(err)


def test_a_huge_version_number(tmp_path: Path) -> None:
    rc, _, err = _run(["env", "--cuda", "1" * 5000], tmp_path)
    assert rc == 2
    assert len(_one_error(err)) < 200
