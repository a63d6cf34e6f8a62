"""A fix never tells the user to run a tool the machine does not have."""

from __future__ import annotations

import pytest

from gputk.doctor.runner import diagnose
from gputk.snapshot import SnapshotWriter
from tests.doctor.scenarios import HEALTHY, build

NO_GPU = HEALTHY.but(gpus=(), module_loaded=None, user_space=None, module_kernels=(), nvml=None, smi="missing")


@pytest.mark.parametrize(
    ("has_lspci", "command"),
    [(False, "grep -l 0x10de /sys/bus/pci/devices/*/vendor"), (True, "lspci -nn | grep -i nvidia")],
    ids=["without lspci: sysfs", "with lspci"],
)
def test_no_gpu_fix_uses_a_tool_the_machine_has(snap: SnapshotWriter, has_lspci: bool, command: str) -> None:
    build(snap, NO_GPU)
    if has_lspci:
        snap.add_file("/usr/bin/lspci", "")
    check = diagnose(snap.host(), ["hardware.gpu"], frameworks=False).get("hardware.gpu")
    assert check is not None and check.status == "fail" and check.fix is not None
    assert check.fix.commands == (command,)
