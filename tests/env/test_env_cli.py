"""`gputk env` end to end through run_cli: stdout only shell code, exit codes, JSON, --write."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.services.env import choose_toolkit, default_rc_file, default_shell
from gputk.snapshot import SnapshotWriter
from tests.env.test_cuda_probe import SITE, add_local_toolkit


@pytest.fixture
def machine(snap: SnapshotWriter) -> SnapshotWriter:
    add_local_toolkit(snap, "/usr/local/cuda-11.8", "11.8.0")
    add_local_toolkit(snap, "/usr/local/cuda-12.3", "12.3.2")
    add_local_toolkit(snap, "/usr/local/cuda-13.0", "13.0.2")
    snap.add_symlink("/usr/local/cuda", "/usr/local/cuda-12.3")
    snap.set_env({"PATH": "/usr/local/cuda/bin:/usr/bin:/bin", "HOME": "/home/user", "SHELL": "/bin/bash"})
    return snap


# `env --write` edits this machine's rc files and asks this machine's Python for its pip CUDA wheels (the
# toolkit list is live-only), so these tests read the machine on purpose; the rc files are in tmp_path.
WRITES_LIVE = pytest.mark.live


def cli(snap: SnapshotWriter, *args: str) -> int:
    snap.write_manifest()
    return run_cli(["env", "--snapshot", str(snap.directory), *args])


def test_prints_only_shell_code(machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(machine, "--cuda", "12.3") == 0
    out, err = capsys.readouterr()
    assert out.startswith("# >>> gputk env (cuda 12.3) >>>\n")
    assert out.endswith("# chosen by: --cuda 12.3\n# <<< gputk env <<<\n")
    assert "export CUDA_HOME=/usr/local/cuda-12.3\n" in out
    assert "PATH=/usr/local/cuda-12.3/bin" in out and "LD_LIBRARY_PATH=/usr/local/cuda-12.3/lib64" in out
    assert "CUDA 12.3.2 at /usr/local/cuda-12.3" in err
    res = subprocess.run(["bash", "-n"], input=out, text=True, capture_output=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(
    ("wanted", "root"), [("12", "/usr/local/cuda-12.3"), ("11.8.0", "/usr/local/cuda-11.8")]
)
def test_version_forms(
    machine: SnapshotWriter, wanted: str, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(machine, "--cuda", wanted, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "gputk.env/1"
    assert data["cuda"]["root"] == root
    assert data["variables"]["CUDA_HOME"] == root
    assert data["variables"]["PATH"] == {"prepend": [f"{root}/bin"]}
    assert data["variables"]["LD_LIBRARY_PATH"] == {"prepend": [f"{root}/lib64"]}
    assert set(data) >= {
        "shell",
        "cuda",
        "variables",
        "ld_library_path",
        "driver",
        "pip_wheels",
        "warnings",
        "code",
    }


def test_missing_version_fails_listing_installed(
    machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(machine, "--cuda", "12.4") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "CUDA 12.4 is not installed; installed: 11.8.0 (/usr/local/cuda-11.8), 12.3.2" in err


def test_allow_missing_and_prefix(machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(machine, "--cuda", "12.4", "--allow-missing") == 0
    out, err = capsys.readouterr()
    assert "export CUDA_HOME=/usr/local/cuda-12.4" in out and "does not exist yet" in err
    assert cli(machine, "--prefix", "/usr/local/cuda-11.8", "--shell", "fish") == 0
    out, _ = capsys.readouterr()
    assert "set -gx CUDA_HOME /usr/local/cuda-11.8" in out and out.startswith(
        "# >>> gputk env (cuda 11.8) >>>"
    )
    assert cli(machine, "--prefix", "/nowhere") == 1
    assert capsys.readouterr().out == ""


def test_bad_input_is_one_line_error(machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    # a malformed value is a usage error (2); a well-formed one the machine lacks is explained (1)
    assert cli(machine, "--cuda", "twelve") == 2
    assert cli(machine, "--cuda", "12." + "1" * 5000) == 2
    assert cli(machine, "--shell", "tcsh") == 2
    assert cli(machine, "--cudnn", "/nowhere") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err and "expected one of bash, zsh, fish, sh" in err
    assert "'12.11111111111111111... (5003 characters)': expected a version like 12, 12.3" in err
    assert all(len(line) < 200 for line in err.splitlines())


def test_auto_rule_uses_driver(machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    machine.add_file("/sys/module/nvidia/version", "550.54.14\n")
    assert cli(machine, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["driver"], data["cuda"]["root"]) == ("550.54.14", "/usr/local/cuda-12.3")
    assert "auto = the newest installed toolkit" in data["cuda"]["reason"]
    machine.add_file("/sys/module/nvidia/version", "580.95.05\n")
    assert cli(machine) == 0
    out = capsys.readouterr().out
    assert "# chosen by: auto = the newest" in out and "driver 580.95.05" in out
    assert "CUDA_HOME=/usr/local/cuda-13.0" in out


def test_choose_without_driver_takes_newest(machine: SnapshotWriter) -> None:
    from gputk.probes.cuda import find_toolkits

    tks = find_toolkits(machine.host())
    assert choose_toolkit(tks, "auto", None).root == "/usr/local/cuda-13.0"
    assert choose_toolkit(tks, "auto", "470.82.01").root == "/usr/local/cuda-11.8"  # 11.x MVC floor only
    none_fit = choose_toolkit(tks, "auto", "440.33")
    assert none_fit.root == "/usr/local/cuda-13.0"  # none fits: the newest, and the reason says so
    assert "older than every toolkit's minimum" in none_fit.reason


def test_pip_wheels_warn_and_no_ld(machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    machine.add_file(f"{SITE}/nvidia/cublas/lib/libcublas.so.12", "")
    machine.set_probe("python", {"status": "ok", "site_packages": [SITE]})
    assert cli(machine, "--cuda", "12.3") == 0
    out, err = capsys.readouterr()
    assert "warning: pip nvidia-* wheels found" in err and "--no-ld-library-path" in err
    assert "LD_LIBRARY_PATH=/usr/local/cuda-12.3/lib64" in out and "it can shadow them" in out
    assert cli(machine, "--cuda", "12.3", "--no-ld-library-path") == 0
    out, _ = capsys.readouterr()
    code = [line for line in out.splitlines() if not line.startswith("#")]
    assert not any("LD_LIBRARY_PATH" in line for line in code)
    assert "# LD_LIBRARY_PATH left alone (--no-ld-library-path): pip nvidia-* wheels in" in out


def test_cudnn_outside_toolkit(machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    machine.add_file("/opt/cudnn-9.1/lib/libcudnn.so.9", "")
    assert cli(machine, "--cuda", "12.3", "--cudnn", "/opt/cudnn-9.1", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["variables"]["LD_LIBRARY_PATH"] == {
        "prepend": ["/usr/local/cuda-12.3/lib64", "/opt/cudnn-9.1/lib"]
    }


def test_list(machine: SnapshotWriter, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(machine, "--list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["version", "kind", "path", "nvcc", "links", "min", "driver", "active"]
    assert lines[2].split() == [
        "12.3.2",
        "local",
        "/usr/local/cuda-12.3",
        "/usr/local/cuda-12.3/bin/nvcc",
        "/usr/local/cuda",
        "545.23.08",  # the same minimum driver `gputk doctor` gives for CUDA 12.3.2
        "yes",
    ]
    assert lines[3].split()[-2] == "-"
    assert cli(machine, "--list", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["active"] for t in data["toolkits"]] == [False, True, False]
    assert data["nvcc"]["path"] == "/usr/local/cuda/bin/nvcc"
    assert set(data) >= {"toolkits", "nvcc", "cuda_home", "driver"}


@WRITES_LIVE
def test_write_twice_then_remove(
    machine: SnapshotWriter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"export A=1")
    machine.write_manifest()
    write = ["env", "--cuda", "12.3", "--shell", "bash", "--write", str(rc)]
    assert run_cli(write) == 1  # this machine has no 12.3: nothing written
    assert rc.read_bytes() == b"export A=1"
    assert run_cli(["env", "--prefix", "/usr/local/cuda-13.0", "--allow-missing", "--write"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "gputk block appended" in err
    assert rc.read_bytes().startswith(b"export A=1\n# >>> gputk env")
    assert run_cli(["env", "--prefix", "/usr/local/cuda-13.0", "--allow-missing", "--write", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rc_file"]["action"] == "unchanged" and data["rc_file"]["changed"] is False
    assert run_cli(["env", "--remove"]) == 0
    assert rc.read_bytes() == b"export A=1"
    assert "gputk block removed" in capsys.readouterr().err


@WRITES_LIVE
def test_write_read_only_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = tmp_path / "rc"
    rc.write_text("x\n")
    rc.chmod(0o444)
    assert run_cli(["env", "--prefix", "/opt/x", "--allow-missing", "--write", str(rc)]) == 1
    err = capsys.readouterr().err
    assert "is read-only; not changed" in err and rc.read_text() == "x\n"


def test_defaults_for_shell_and_rc() -> None:
    assert [default_shell(s) for s in ("/bin/zsh", "/usr/bin/fish", "/bin/dash", None, "/bin/tcsh")] == [
        "zsh",
        "fish",
        "sh",
        "bash",
        "bash",
    ]
    env = {"HOME": "/h"}
    assert default_rc_file("bash", env) == "/h/.bashrc"
    assert default_rc_file("zsh", {**env, "ZDOTDIR": "/z"}) == "/z/.zshrc"
    assert default_rc_file("fish", env) == "/h/.config/fish/config.fish"
    assert default_rc_file("sh", env) == "/h/.profile"


@pytest.mark.live
@pytest.mark.skipif(
    not os.path.isdir("/usr/local/cuda-13.0"), reason="needs the CUDA 13.0 toolkit of the dev machine"
)
def test_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["env", "--cuda", "13.0", "--shell", "bash"]) == 0
    out = capsys.readouterr().out
    assert "export CUDA_HOME=/usr/local/cuda-13.0\n" in out
    assert run_cli(["env", "--cuda", "12.3"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "installed: 13.0.88 (/usr/local/cuda-13.0)" in err


@WRITES_LIVE
@pytest.mark.parametrize(
    ("shell", "rc", "line"),
    [
        ("bash", ".bashrc", "source ~/.bashrc"),
        ("zsh", ".zshrc", "source ~/.zshrc"),
        ("fish", ".config/fish/config.fish", "source ~/.config/fish/config.fish"),
        ("sh", ".profile", ". ~/.profile"),
    ],
)
def test_write_says_what_to_run_next(
    shell: str,
    rc: str,
    line: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ZDOTDIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    args = ["env", "--prefix", "/opt/cuda-x", "--allow-missing", "--shell", shell]
    assert run_cli([*args, "--write"]) == 0
    err = capsys.readouterr().err
    assert f"next, to use it in this terminal: {line}\n" in err
    assert (tmp_path / rc).is_file()
    assert run_cli([*args, "--write"]) == 0  # unchanged: the line is still worth saying
    assert line in capsys.readouterr().err
    assert run_cli(["env", "--shell", shell, "--remove"]) == 0
    err = capsys.readouterr().err
    assert "gputk block removed" in err and "open a new terminal" in err and "source" not in err


@WRITES_LIVE
def test_write_to_a_named_file_outside_home_quotes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    rc = tmp_path / "my rc"
    assert run_cli(["env", "--prefix", "/opt/x", "--allow-missing", "--shell", "bash", "--write", str(rc)]) == 0
    assert f"source '{rc}'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["env", "some-file"],  # an rc file without --write
        ["env", "--list", "--write"],
        ["env", "--list", "--remove"],
        ["env", "--write", "--snapshot", "."],
        ["env", "--remove", "--snapshot", "."],
        ["env", "--cuda", "12.3.4.5"],
        ["env", "--cuda", ""],
    ],
    ids=lambda a: " ".join(a[1:]) or "empty",
)
def test_usage_errors_exit_2_before_touching_anything(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert run_cli(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_list_fits_a_narrow_terminal(
    machine: SnapshotWriter, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert cli(machine, "--list") == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 60
    blocks = out.split("\n\n")
    assert blocks[1].splitlines() == [
        "12.3.2  local  active",
        "  path:   /usr/local/cuda-12.3",
        "  nvcc:   /usr/local/cuda-12.3/bin/nvcc",
        "  links:  /usr/local/cuda",
        "  driver: >= 545.23.08",
    ]
    assert len(blocks) == 3
