"""docs/cluster.md's collection one-liners and health snippets, run where they can run here."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from gputk.snapshot import SnapshotWriter, open_snapshot
from tests.doctor.scenarios import HEALTHY, build
from tests.fleet.snippets import GPUTK, snippet, with_gputk

NO_DRIVER = HEALTHY.but(nvml="driver-not-loaded", smi="no-driver", module_loaded=None)


def _sh(script: str, cwd: Path, shell: str = "sh", timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(GPUTK).parent}:{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [shell, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _assert_snapshots(folder: Path, names: list[str]) -> None:
    got = sorted(p.name for p in folder.iterdir() if p.name.endswith(".tar.gz"))
    assert got == [f"{n}.tar.gz" for n in names]
    for n in names:
        snap = open_snapshot(folder / f"{n}.tar.gz")
        assert snap.manifest["format"] == "gputk-snapshot"


def _snapshot_dir(tmp_path: Path, name: str, machine: object) -> str:
    w = SnapshotWriter(tmp_path / name)
    build(w, machine)  # type: ignore[arg-type]
    w.write_manifest()
    return str(w.directory)


@pytest.mark.live
@pytest.mark.skipif(shutil.which("pdsh") is None, reason="pdsh is not installed")
def test_pdsh_one_liner_collects_one_snapshot_per_node(tmp_path: Path) -> None:
    script = with_gputk(snippet("collect-pdsh")).replace(
        "pdsh -w 'gpu[01-64]' ", "pdsh -R exec -w nodea,nodeb sh -c "
    )
    res = _sh(script, tmp_path)
    assert res.returncode == 0, res.stderr
    _assert_snapshots(tmp_path / "snaps", ["nodea", "nodeb"])


@pytest.mark.live
@pytest.mark.skipif(shutil.which("clush") is None, reason="ClusterShell (clush) is not installed")
def test_clush_one_liner_collects_one_snapshot_per_node(tmp_path: Path) -> None:
    script = with_gputk(snippet("collect-clush"))
    script = script.replace("clush -w 'gpu[01-64]' -L '", "clush -R exec -w nodea,nodeb -L \"sh -c '")
    script = script.replace("; echo' |", "; echo'\" |")
    res = _sh(script, tmp_path)
    assert res.returncode == 0, res.stderr
    _assert_snapshots(tmp_path / "snaps", ["nodea", "nodeb"])


@pytest.mark.live
def test_ssh_loop_collects_one_snapshot_per_host(tmp_path: Path) -> None:
    """A stand-in `ssh` first on PATH runs the remote command here, as sshd would run it there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text(
        '#!/bin/sh\n# ssh [-n] [-o OPT]... HOST COMMAND...\n'
        'while [ $# -gt 0 ]; do case "$1" in -o) shift 2;; -*) shift;; *) break;; esac; done\n'
        'shift\nexec sh -c "$*"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "hosts.txt").write_text("gpu01\ngpu02\n")
    script = f"PATH={bin_dir}:$PATH\n" + with_gputk(snippet("collect-ssh"))
    res = _sh(script, tmp_path)
    assert res.returncode == 0, res.stderr
    _assert_snapshots(tmp_path / "snaps", ["gpu01", "gpu02"])


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_nhc_check_function_fails_a_broken_node_with_the_status_line(tmp_path: Path) -> None:
    check = with_gputk(snippet("nhc")).replace("--exit-codes nagios", "--exit-codes nagios --snapshot $SNAP")
    # NHC's API for check functions: die STATUS MESSAGE marks the node failed
    harness = 'die() { echo "DIE $1 $2"; }\n' + check + "\ncheck_gputk prolog; echo rc=$?\n"
    broken = _snapshot_dir(tmp_path, "broken", NO_DRIVER)
    healthy = _snapshot_dir(tmp_path, "healthy", HEALTHY)
    res = _sh(f"SNAP={broken}\n" + harness, tmp_path, shell="bash")
    assert "DIE 1 GPUTK CRITICAL - driver.kernel-module:" in res.stdout
    assert res.stdout.strip().endswith("rc=1")
    res = _sh(f"SNAP={healthy}\n" + harness, tmp_path, shell="bash")
    assert res.stdout.strip() == "rc=0"


def test_npd_plugin_runs_a_command_that_speaks_npd_exit_codes(tmp_path: Path) -> None:
    config = json.loads(snippet("npd"))
    rule = config["rules"][0]
    assert config["plugin"] == "custom" and rule["condition"] == config["conditions"][0]["type"]
    assert rule["path"].endswith("/gputk")
    for machine, code in ((HEALTHY, 0), (NO_DRIVER, 1)):
        snap = _snapshot_dir(tmp_path, f"m{code}", machine)
        res = subprocess.run(
            [GPUTK, *rule["args"], "--snapshot", snap], capture_output=True, text=True, timeout=120, check=False
        )
        assert res.returncode == code  # NPD: 0 OK, 1 problem, anything else unknown


def test_kubernetes_job_runs_a_valid_gputk_command(tmp_path: Path) -> None:
    text = snippet("k8s-job")
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("command:"))
    argv = json.loads(line.split(":", 1)[1])
    assert argv[0] == "gputk" and "restartPolicy: Never" in text and "nvidia.com/gpu" in text
    snap = _snapshot_dir(tmp_path, "m", NO_DRIVER)
    res = subprocess.run(
        [GPUTK, *argv[1:], "--snapshot", snap], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 1 and res.stdout.startswith("## gputk doctor report")
