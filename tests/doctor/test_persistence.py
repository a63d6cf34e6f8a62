"""gpu.persistence on real nvidia-smi -q -x logs (tests/fixtures/nvidia-smi-xml/, SOURCES.md): a headless
data-center GPU with persistence mode off and nvidia-persistenced not running warns with the systemctl
fix; a running daemon, workstation cards, WSL and containers raise nothing."""

from __future__ import annotations

from gputk.snapshot import SnapshotWriter
from tests.conftest import FIXTURES
from tests.doctor.test_health_scenarios import A100_XML, FM_ACTIVE, a100, bad
from tests.doctor.test_scenarios import run

INACTIVE = FM_ACTIVE.replace(
    "Id=nvidia-persistenced.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n",
    "Id=nvidia-persistenced.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nResult=success\n",
)
NOT_INSTALLED = FM_ACTIVE.replace(
    "Id=nvidia-persistenced.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n",
    "Id=nvidia-persistenced.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n",
)


def _xml(name: str) -> str:
    return (FIXTURES / "nvidia-smi-xml" / name).read_text(encoding="utf-8")


def test_a100_with_persistence_off_and_the_daemon_stopped_warns_with_the_fix(snap: SnapshotWriter) -> None:
    report = run(snap, a100(units=INACTIVE))
    c = report.get("gpu.persistence")
    assert c.status == "warn"
    assert c.summary.startswith(
        "persistence mode is off on 1 of 1 data-center GPU(s) and nvidia-persistenced is inactive: the driver "
        "tears the GPUs down"
    )
    assert c.fix.commands[0] == "sudo systemctl enable --now nvidia-persistenced"
    assert "NVIDIA A100-SXM4-80GB: persistence mode Disabled" in [e.value for e in c.evidence]
    assert bad(report) == {"gpu.persistence": "warn"}


def test_two_p100_without_the_daemon_installed_name_the_package(snap: SnapshotWriter) -> None:
    report = run(snap, a100(_xml("tesla-p100-x2-v8.xml"), units=NOT_INSTALLED))
    c = report.get("gpu.persistence")
    assert c.status == "warn"
    assert "off on 2 of 2 data-center GPU(s) and nvidia-persistenced is not installed" in c.summary
    assert c.fix.commands[:2] == (
        "sudo apt-get install nvidia-compute-utils-<branch>  # the package that ships nvidia-persistenced",
        "sudo systemctl enable --now nvidia-persistenced",
    )


def test_running_daemon_passes(snap: SnapshotWriter) -> None:
    c = run(snap, a100(units=FM_ACTIVE)).get("gpu.persistence")
    assert (c.status, c.summary) == ("pass", "nvidia-persistenced active for 1 data-center GPU(s)")


def test_persistence_set_on_the_gpus_passes_without_the_daemon(snap: SnapshotWriter) -> None:
    xml = A100_XML.replace("<persistence_mode>Disabled</persistence_mode>", "<persistence_mode>Enabled</persistence_mode>")
    c = run(snap, a100(xml, units=INACTIVE)).get("gpu.persistence")
    assert (c.status, c.summary) == ("pass", "persistence mode on for 1 data-center GPU(s) (set on the GPUs)")


def test_unread_daemon_state_is_no_alarm(snap: SnapshotWriter) -> None:
    c = run(snap, a100()).get("gpu.persistence")
    assert c.status == "skip" and "nvidia-persistenced's state was not read" in c.summary


def test_workstation_card_and_container_are_not_checked(snap: SnapshotWriter, tmp_path: object) -> None:
    c = run(snap, a100(_xml("rtx-a5000-v13-trimmed.xml"), units=INACTIVE)).get("gpu.persistence")
    assert (c.status, c.summary) == ("skip", "no data-center GPU in nvidia-smi -q -x")
    other = SnapshotWriter(snap.directory.parent / "container")
    c = run(other, a100(units=INACTIVE, container=True)).get("gpu.persistence")
    assert c.status == "skip" and "container" in c.summary
