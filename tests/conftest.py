"""Test-wide guards and helpers.

The autouse guard fails any test that would run the real machine's GPU tools
by accident: tests read recorded outputs through a SnapshotHost; only tests
marked ``gpu`` or ``live`` may reach this machine's nvidia-smi and friends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from gputk import host as host_mod
from gputk.snapshot import SnapshotWriter

GUARDED_TOOLS = {"nvidia-smi", "nvidia-settings", "nvidia-debugdump", "nvidia-bug-report.sh", "dcgmi"}


@pytest.fixture(autouse=True)
def _no_accidental_gpu_tools(request: pytest.FixtureRequest) -> Iterator[None]:
    allowed = request.node.get_closest_marker("gpu") or request.node.get_closest_marker("live")

    def guard(argv: Sequence[str]) -> None:
        if not allowed and os.path.basename(argv[0]) in GUARDED_TOOLS:
            raise AssertionError(
                f"test ran the real {argv[0]!r}; use a SnapshotHost or mark the test 'live'/'gpu'"
            )

    old = host_mod.run_guard
    host_mod.run_guard = guard
    try:
        yield
    finally:
        host_mod.run_guard = old


@pytest.fixture
def snap(tmp_path: Path) -> SnapshotWriter:
    """A fresh snapshot tree to fill in; call ``.host()`` to read it back."""
    w = SnapshotWriter(tmp_path / "snap")
    w.set_platform(system="Linux", node="testhost", release="6.8.0-45-generic", version="#1 SMP", machine="x86_64")
    w.set_env({"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/home/user"})
    return w


FIXTURES = Path(__file__).parent / "fixtures"


def _gpu_present() -> bool:
    """A working NVIDIA GPU: ``nvidia-smi -L`` lists one (checked once per session)."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        res = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and "GPU " in res.stdout


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    if _gpu_present():
        return
    skip = pytest.mark.skip(reason="needs a working NVIDIA GPU (nvidia-smi -L lists none here)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
