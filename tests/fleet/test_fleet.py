"""`gputk fleet`: many snapshots in, root causes, outliers and unreadable snapshots out."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.errors import InputError
from gputk.services.fleet import build_report, expand_inputs, machine_name, normalize
from tests.fleet.machines import eight_gpu_machine, write_machine

NARROW = (16, 16, 8, 16, 16, 16, 16, 16)


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fleet")
    for i in range(1, 5):
        write_machine(d / f"node0{i}.tar.gz", eight_gpu_machine())
    write_machine(d / "node05", eight_gpu_machine(driver="550.54.15", cuda="12.4"), as_tar=False)
    write_machine(d / "node06.tar.gz", eight_gpu_machine(), widths=NARROW)
    no_driver = eight_gpu_machine(nvml="driver-not-loaded", smi="no-driver", module_loaded=None)
    write_machine(d / "node07.tar.gz", no_driver)
    write_machine(d / "node08.tar.gz", no_driver)
    (d / "node09.tar.gz").write_bytes((d / "node01.tar.gz").read_bytes()[:2000])  # cut off mid-transfer
    _climbing_tar(d / "node10.tar.gz")
    (d / "slurm-1234.err").write_text("srun: error: node11: task 0: Exited with exit code 1\n")
    return d


def _climbing_tar(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tf:
        data = b"pwned"
        info = tarfile.TarInfo("snap/../../escaped.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def _fleet_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    rc = run_cli(["fleet", *args, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_fleet_groups_failures_by_root_cause_and_names_outliers(
    fleet_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, data = _fleet_json([str(fleet_dir), "-j", "2"], capsys)
    assert rc == 1
    assert data["schema"] == "gputk.fleet/1"
    # node06's narrow link is also the doctor's own warning (gpu.clocks)
    assert data["summary"] == {"machines": 10, "ok": 5, "warn": 1, "fail": 2, "unreadable": 2}
    names = [m["name"] for m in data["machines"]]
    assert names == [f"node{i:02d}" for i in range(1, 11)]

    top = data["root_causes"][0]
    assert (top["check"], top["status"], top["count"], top["of"]) == ("driver.kernel-module", "fail", 2, 8)
    assert top["machines"] == ["node07", "node08"]
    assert "not loaded" in top["summary"] and top["fix"]
    # what the missing driver blocks is not counted again as its own cause
    assert {r["check"]: r["machines"] for r in data["root_causes"]} == {
        "driver.kernel-module": ["node07", "node08"],
        "gpu.clocks": ["node06"],
    }

    outliers = {o["fact"]: o for o in data["outliers"]}
    driver = outliers["driver"]
    assert (driver["majority"], driver["majority_count"]) == ("535.54.03", 5)
    assert {m["name"]: m["value"] for m in driver["machines"]} == {
        "node05": "550.54.15",
        "node07": "(none)",
        "node08": "(none)",
    }
    assert {m["name"]: m["value"] for m in outliers["cuda_driver"]["machines"]}["node05"] == "12.4"
    assert "torch" not in outliers  # the same everywhere
    assert data["pcie_below_max"] == [
        {"name": "node06", "gpu": 2, "width": 8, "max_width": 16, "model": "NVIDIA A100-SXM4-80GB"}
    ]

    node01 = data["machines"][0]
    assert node01["facts"]["gpu_count"] == "8" and node01["facts"]["gpu_model"] == "NVIDIA A100-SXM4-80GB"
    assert node01["facts"]["torch"] == "2.4.0+cu124" and node01["facts"]["cuda_toolkit"] == "12.2.2"
    assert node01["checks"]["driver.nvml"] == "pass"
    assert data["machines"][6]["checks"]["driver.nvml"] == "skip"

    unreadable = {u["name"]: u["reason"] for u in data["unreadable"]}
    assert set(unreadable) == {"node09", "node10"}
    assert "damaged" in unreadable["node09"] or "tar" in unreadable["node09"]
    assert "'..'" in unreadable["node10"]
    assert data["ignored"] == [str(fleet_dir / "slurm-1234.err")]
    assert not (fleet_dir.parent / "escaped.txt").exists()


def test_fleet_text_and_markdown_say_how_many_machines_share_a_problem(
    fleet_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["fleet", str(fleet_dir)]) == 1
    out = capsys.readouterr().out
    assert "2 of 8 machines: driver.kernel-module" in out
    assert "NVIDIA driver: 535.54.03 on 5; 3 differ: node05 550.54.15" in out
    assert "node06 GPU 2 runs x8 of x16" in out
    assert "node10.tar.gz" in out and "refusing" in out

    assert run_cli(["fleet", str(fleet_dir), "--markdown"]) == 1
    md = capsys.readouterr().out
    assert "| ❌ | 2 of 8 | `driver.kernel-module` |" in md
    assert "- `driver.kernel-module` (2): `node07`, `node08`" in md
    assert "| `node07` | ❌ |" in md and "| `node09` | 🚫 |" in md


def test_a_healthy_fleet_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_machine(tmp_path / "a.tar.gz", eight_gpu_machine())
    b = write_machine(tmp_path / "b", eight_gpu_machine(), as_tar=False)
    rc, data = _fleet_json([str(a), str(b), "-j", "1"], capsys)
    assert rc == 0
    assert data["summary"]["ok"] == 2 and data["outliers"] == [] and data["root_causes"] == []
    # --strict counts outliers: a third machine with another driver
    write_machine(tmp_path / "c.tar.gz", eight_gpu_machine(driver="550.54.15"))
    assert run_cli(["fleet", str(a), str(b), str(tmp_path / "c.tar.gz")]) == 0
    assert run_cli(["fleet", str(a), str(b), str(tmp_path / "c.tar.gz"), "--strict"]) == 1
    capsys.readouterr()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_snapshot_that_hangs_the_reader_is_given_up_and_the_rest_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_machine(tmp_path / "good.tar.gz", eight_gpu_machine())
    hang = tmp_path / "hang"
    hang.mkdir()
    os.mkfifo(hang / "manifest.json")  # reading it blocks forever
    start = time.monotonic()
    rc, data = _fleet_json([str(tmp_path), "--timeout", "3", "-j", "1"], capsys)
    assert time.monotonic() - start < 60  # generous bound: the timeout is 3 s
    assert rc == 1
    status = {m["name"]: m["status"] for m in data["machines"]}
    assert status == {"good": "ok", "hang": "unreadable"}


def test_expand_inputs_takes_snapshots_from_folders_and_keeps_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz").write_bytes(b"")
    (tmp_path / "b.tgz").write_bytes(b"")
    (tmp_path / "c").mkdir()
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden.tar.gz").write_bytes(b"")
    got = expand_inputs([str(tmp_path), str(tmp_path / "gone.tar.gz")])
    assert [Path(p).name for p in got.paths] == ["a.tar.gz", "b.tgz", "c", "gone.tar.gz"]
    assert [Path(p).name for p in got.ignored] == ["notes.txt"]
    with pytest.raises(InputError, match="no snapshots found"):
        expand_inputs([str(tmp_path / "c")])
    assert machine_name("snaps/gpu-a17.tar.gz") == "gpu-a17" and machine_name("snaps/gpu-a17/") == "gpu-a17"


def test_a_missing_snapshot_is_unreadable_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = _fleet_json([str(tmp_path / "nope.tar.gz")], capsys)
    assert rc == 1
    assert data["unreadable"][0]["name"] == "nope" and "not found" in data["unreadable"][0]["reason"]


def test_findings_that_differ_only_in_numbers_are_one_root_cause() -> None:
    assert normalize("driver 535.54.03 is older than 550 for CUDA 12.4 at /usr/local/cuda-12.4") == normalize(
        "driver 525.60.13 is older than 550 for CUDA 12.2 at /usr/local/cuda-12.2"
    )

    def machine(name: str, summary: str) -> dict:  # type: ignore[type-arg]
        problem = {"id": "cuda.driver-compat", "status": "fail", "summary": summary, "fix": "upgrade"}
        return {"name": name, "path": name, "readable": True, "checks": {"cuda.driver-compat": "fail"},
                "problems": [problem], "facts": {}, "gpus": []}

    report = build_report(
        [
            machine("b", "driver 525.60.13 supports CUDA 12.0; the toolkit is 12.4"),
            machine("a", "driver 535.54.03 supports CUDA 12.2; the toolkit is 12.4"),
            machine("c", "driver 535.54.03 supports CUDA 12.2; the toolkit is 12.4"),
        ],
        ["cuda.driver-compat"],
    )
    assert len(report.root_causes) == 1
    cause = report.root_causes[0]
    assert cause.machines == ["a", "b", "c"] and cause.summary.startswith("driver 535.54.03")
