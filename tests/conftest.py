"""Test-wide guards and helpers.

The autouse guard fails any test that would run the real machine's GPU tools
by accident: tests read recorded outputs through a SnapshotHost; only tests
marked ``gpu`` or ``live`` may reach this machine's nvidia-smi and friends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from gputk import host as host_mod
from gputk.snapshot import SnapshotWriter

# Every source of facts about the real machine. A test may run a *fake* of any of them (an executable it
# put on PATH under its tmp dir); the guard refuses only the real, system-installed one.
GUARDED_TOOLS = {
    "nvidia-smi", "nvidia-settings", "nvidia-debugdump", "nvidia-bug-report.sh", "dcgmi",
    "lspci", "lshw", "inxi", "hwinfo", "nvcc", "ldconfig", "dmesg", "journalctl", "systemctl", "modinfo",
    "mokutil", "dkms", "lsmod", "nvidia-ctk", "nvidia-container-cli", "docker",
}
SYSTEM_DIRS = ("/usr/", "/bin/", "/sbin/", "/opt/", "/snap/")


def _is_real_tool(argv: Sequence[str]) -> bool:
    import shutil

    exe = argv[0]
    name = os.path.basename(exe)
    resolved = exe if os.sep in exe else shutil.which(exe)
    if resolved is None:
        return False
    resolved = os.path.realpath(resolved)
    if name in GUARDED_TOOLS:
        return resolved.startswith(SYSTEM_DIRS)
    # a child interpreter asked about this machine: its Python environment and frameworks (`python -c`
    # probes) or its GPU (`python -m gputk.demos.gpucheck`); running a training script is not a probe
    if tuple(argv[1:2]) != ("-c",) and tuple(argv[1:3]) != ("-m", "gputk.demos.gpucheck"):
        return False
    interpreters = (*SYSTEM_DIRS, os.path.realpath(sys.base_prefix) + os.sep)
    return name.startswith("python") and resolved.startswith(interpreters)


@pytest.fixture(autouse=True)
def _no_accidental_machine_sources(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that reads this machine's GPU tools, NVML or Python environment by accident.

    ``pytest.fail`` raises a BaseException, so a probe's own ``except Exception`` cannot swallow it.
    """
    allowed = request.node.get_closest_marker("gpu") or request.node.get_closest_marker("live")

    def guard(argv: Sequence[str]) -> None:
        if not allowed and _is_real_tool(argv):
            pytest.fail(f"test ran the real {argv[0]!r}; use a SnapshotHost or a fake on PATH, or mark it 'live'/'gpu'")

    if not allowed:
        try:
            import pynvml
        except ImportError:  # pragma: no cover - nvidia-ml-py is a core dependency
            pynvml = None
        if pynvml is not None:
            def no_nvml(*_a: object, **_k: object) -> None:
                pytest.fail("test initialised the real NVML; use a SnapshotHost or mark it 'live'/'gpu'")

            monkeypatch.setattr(pynvml, "nvmlInit", no_nvml)
            monkeypatch.setattr(pynvml, "nvmlInitWithFlags", no_nvml, raising=False)

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
