"""The generated code through real shells: syntax, sourced twice, from unset/empty/set variables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gputk.services.env import Choice, EnvPlan, Shell, render

ROOT = "/opt/cuda 12.3"  # a space: quoting must hold
BIN = f"{ROOT}/bin"
LIB = f"{ROOT}/lib64"
CUDNN = "/opt/cudnn-9/lib"
SHELL_BIN = {"bash": "bash", "zsh": "zsh", "sh": "sh", "fish": "fish"}
POSIX: tuple[Shell, ...] = ("bash", "zsh", "sh")


def plan(shell: Shell, ld: bool = True) -> EnvPlan:
    choice = Choice("12.3.2", ROOT, BIN, LIB, True, "--cuda 12.3")
    p = EnvPlan(shell, choice, [BIN], [LIB, CUDNN], ld, [], None)
    p.code = render(p)
    return p


def need(shell: str) -> str:
    exe = shutil.which(SHELL_BIN[shell])
    if exe is None:
        pytest.skip(f"{shell} is not installed here")
    return exe


def run_sourced(shell: Shell, code_file: Path, setup: str, times: int = 2) -> tuple[str, str, str]:
    """Source ``code_file`` ``times`` times after ``setup``; return PATH, LD_LIBRARY_PATH (or <unset>), CUDA_HOME."""
    exe = need(shell)
    if shell == "fish":
        src = "; ".join([f"source {code_file}"] * times)
        show = (
            'if set -q LD_LIBRARY_PATH; printf "%s\\n" "$LD_LIBRARY_PATH"; else; echo "<unset>"; end; '
            'printf "%s\\n%s\\n" "$PATH" "$CUDA_HOME"'
        )
        script = f"{setup}; {src}; {show}"
        argv = [exe, "--no-config", "-c", script]
    else:
        src = "; ".join([f". '{code_file}'"] * times)
        show = 'printf "%s\\n" "${LD_LIBRARY_PATH-<unset>}" "$PATH" "$CUDA_HOME"'
        argv = [exe, "-c", f"set -u; {setup}; {src}; {show}"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"HOME": "/nonexistent"})
    assert res.returncode == 0, res.stderr
    ld, path, home = res.stdout.rstrip("\n").split("\n")
    return path, ld, home


@pytest.mark.parametrize("shell", POSIX)
def test_posix_syntax(shell: Shell, tmp_path: Path) -> None:
    exe = need(shell)
    f = tmp_path / "env.sh"
    f.write_text(plan(shell).code)
    res = subprocess.run([exe, "-n", str(f)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr


def test_fish_syntax(tmp_path: Path) -> None:
    exe = need("fish")
    f = tmp_path / "env.fish"
    f.write_text(plan("fish").code)
    res = subprocess.run([exe, "--no-execute", str(f)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr


def test_marker_block_shape() -> None:
    lines = plan("bash").code.splitlines()
    assert lines[0] == "# >>> gputk env (cuda 12.3) >>>"
    assert lines[-1] == "# <<< gputk env <<<"
    assert lines[-2] == "# chosen by: --cuda 12.3"
    assert "export CUDA_HOME='/opt/cuda 12.3'" in lines
    assert "set -gx CUDA_HOME '/opt/cuda 12.3'" in plan("fish").code.splitlines()


SETUPS_POSIX = {
    "unset": ("unset PATH LD_LIBRARY_PATH", "", "<unset>"),
    "empty": ("PATH=; LD_LIBRARY_PATH=", "", ""),
    "set": ("PATH=/usr/bin:/bin; LD_LIBRARY_PATH=/usr/lib/extra", "/usr/bin:/bin", "/usr/lib/extra"),
    # Already listed further back: moved to the front, not duplicated.
    "behind": (f"PATH='/usr/bin:{BIN}:/bin'; LD_LIBRARY_PATH='/x:{LIB}'", "/usr/bin:/bin", "/x"),
}


def expected(old: str, first: str) -> str:
    return f"{first}:{old}" if old and old != "<unset>" else first


@pytest.mark.parametrize("shell", [*POSIX, "fish"])
@pytest.mark.parametrize("case", list(SETUPS_POSIX))
@pytest.mark.parametrize("times", [1, 2])
def test_sourced_values(shell: Shell, case: str, times: int, tmp_path: Path) -> None:
    setup, old_path, old_ld = SETUPS_POSIX[case]
    if shell == "fish":
        setup = {
            "unset": "set -e PATH; set -e LD_LIBRARY_PATH",
            "empty": "set -gx PATH ''; set -gx LD_LIBRARY_PATH ''",
            "set": "set -gx PATH /usr/bin /bin; set -gx LD_LIBRARY_PATH /usr/lib/extra",
            "behind": f"set -gx PATH /usr/bin '{BIN}' /bin; set -gx LD_LIBRARY_PATH /x '{LIB}'",
        }[case]
        if case == "empty":
            old_path = "."  # fish itself turns an empty PATH into "." (what an empty entry means)
    f = tmp_path / "env.code"
    f.write_text(plan(shell).code)
    path, ld, home = run_sourced(shell, f, setup, times)
    assert path == expected(old_path, BIN)
    assert ld == expected(old_ld, f"{LIB}:{CUDNN}")
    assert home == ROOT


@pytest.mark.parametrize("shell", [*POSIX, "fish"])
def test_no_ld_library_path_leaves_it_alone(shell: Shell, tmp_path: Path) -> None:
    f = tmp_path / "env.code"
    f.write_text(plan(shell, ld=False).code)
    setup = (
        "set -gx LD_LIBRARY_PATH /keep"
        if shell == "fish"
        else "LD_LIBRARY_PATH=/keep; export LD_LIBRARY_PATH"
    )
    path, ld, _ = run_sourced(shell, f, setup)
    assert ld == "/keep"
    assert path.startswith(BIN + ":")
    assert "LD_LIBRARY_PATH" not in "".join(
        line for line in plan(shell, ld=False).code.splitlines() if not line.startswith("#")
    )
