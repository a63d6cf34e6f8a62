"""The NVML probe against a fake ``pynvml`` module, and its snapshot round trip."""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

import pytest

from gputk.host import LiveHost
from gputk.probes.nvml import NvmlResult, collect, collect_within, cuda_version_text, nvml_query
from gputk.snapshot import SnapshotWriter


class NVMLError(Exception):
    """pynvml's base class: the probe catches it (and its subclasses) only."""


def _error_class(name: str) -> type[Exception]:
    # pynvml names its exception classes after NVML's return codes; the probe matches by name.
    return type(name, (NVMLError,), {})


NotSupported = _error_class("NVMLError_NotSupported")
GpuIsLost = _error_class("NVMLError_GpuIsLost")
NotFound = _error_class("NVMLError_NotFound")


class _Pci:
    def __init__(self, bus: str, dev: int) -> None:
        self.busId = bus.encode()  # older pynvml returns bytes
        self.pciDeviceId = dev
        self.pciSubSystemId = 0x16C110DE


class _Mem:
    def __init__(self, total_mib: int, used_mib: int) -> None:
        self.total = total_mib * 1024 * 1024
        self.used = used_mib * 1024 * 1024


class _Proc:
    def __init__(self, pid: int, used_mib: int | None) -> None:
        self.pid = pid
        self.usedGpuMemory = None if used_mib is None else used_mib * 1024 * 1024


class FakeNvml(types.ModuleType):
    """GPU 0: an A100 in MIG mode with two instances and no power reading (NotSupported);
    GPU 1: its handle fails with GpuIsLost; GPU 2: an H100 running one process."""

    NVML_TEMPERATURE_GPU = 0
    NVMLError = NVMLError

    def __init__(self, init_error: type[Exception] | None = None) -> None:
        super().__init__("pynvml")
        self.init_error = init_error
        self.shutdown_called = False

    def nvmlInit(self) -> None:
        if self.init_error:
            raise self.init_error("init failed")

    def nvmlShutdown(self) -> None:
        self.shutdown_called = True

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlSystemGetNVMLVersion(self) -> str:
        return "12.550.54.15"

    def nvmlDeviceGetCount(self) -> int:
        return 3

    def nvmlDeviceGetHandleByIndex(self, i: int) -> Any:
        if i == 1:
            raise GpuIsLost()
        return ("gpu", i)

    def nvmlDeviceGetName(self, h: Any) -> str:
        if h[0] == "mig":
            return "NVIDIA A100-SXM4-80GB MIG 3g.40gb"
        return "NVIDIA A100-SXM4-80GB" if h[1] == 0 else "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUUID(self, h: Any) -> str:
        return f"MIG-{h[2]}" if h[0] == "mig" else f"GPU-{h[1]}"

    def nvmlDeviceGetPciInfo(self, h: Any) -> _Pci:
        return _Pci("00000000:07:00.0", 0x20B210DE) if h[1] == 0 else _Pci("00000000:C1:00.0", 0x233010DE)

    def nvmlDeviceGetMemoryInfo(self, h: Any) -> _Mem:
        return _Mem(40192, 0) if h[0] == "mig" else _Mem(81920, 1024)

    def nvmlDeviceGetCudaComputeCapability(self, h: Any) -> tuple[int, int]:
        return (8, 0) if h[1] == 0 else (9, 0)

    def nvmlDeviceGetPowerUsage(self, h: Any) -> int:
        if h[1] == 0:
            raise NotSupported()
        return 123456

    def nvmlDeviceGetEnforcedPowerLimit(self, h: Any) -> int:
        return 700000

    def nvmlDeviceGetTemperature(self, h: Any, sensor: int) -> int:
        return 40

    def nvmlDeviceGetComputeMode(self, h: Any) -> int:
        return 3

    def nvmlDeviceGetMigMode(self, h: Any) -> tuple[int, int]:
        return (1, 1) if h[1] == 0 else (0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, h: Any) -> int:
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: Any, j: int) -> Any:
        if j >= 2:
            raise NotFound()
        return ("mig", h[1], j)

    def nvmlDeviceGetGpuInstanceId(self, h: Any) -> int:
        return h[2] + 1

    def nvmlDeviceGetComputeInstanceId(self, h: Any) -> int:
        return 0

    def nvmlDeviceGetComputeRunningProcesses(self, h: Any) -> list[_Proc]:
        return [_Proc(4242, 1000)] if h[1] == 2 else []

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: Any) -> list[_Proc]:
        return [_Proc(4242, None), _Proc(77, 12)] if h[1] == 2 else []

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        if pid == 77:
            raise NotFound()
        return "python3"


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    mod = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return mod


def test_live_probe_reads_every_gpu_and_survives_unsupported_and_lost(fake_nvml: FakeNvml) -> None:
    res = nvml_query(LiveHost())

    assert res.status == "ok"
    assert res.driver is not None
    assert (res.driver.version, res.driver.cuda_driver_version, res.driver.nvml_version) == (
        "550.54.15",
        "12.4",
        "12.550.54.15",
    )
    a100, lost, h100 = res.gpus
    assert (a100.name, a100.pci_bus_id, a100.pci_device_id, a100.pci_vendor_id) == (
        "NVIDIA A100-SXM4-80GB",
        "0000:07:00.0",
        "20b2",
        "10de",
    )
    assert (a100.memory_total_mib, a100.memory_used_mib) == (81920, 1024)
    assert (a100.compute_capability, a100.architecture) == ("8.0", "Ampere")
    assert a100.power_draw_w is None  # NotSupported became None, the rest was read
    assert a100.power_limit_w == 700.0
    assert a100.compute_mode == "Exclusive_Process"
    assert a100.mig_mode is True
    assert [(m.profile, m.gpu_instance_id, m.memory_total_mib) for m in a100.mig_devices] == [
        ("3g.40gb", 1, 40192),
        ("3g.40gb", 2, 40192),
    ]
    assert (lost.index, lost.lost, lost.name) == (1, True, None)
    assert h100.pci_bus_id == "0000:c1:00.0"
    assert h100.power_draw_w == pytest.approx(123.456)
    assert [(p.pid, p.type, p.name, p.used_memory_mib) for p in h100.processes] == [
        (77, "G", None, 12),
        (4242, "C+G", "python3", 1000),
    ]
    assert fake_nvml.shutdown_called


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("NVMLError_LibraryNotFound", "library-not-found"),
        ("NVMLError_DriverNotLoaded", "driver-not-loaded"),
        ("NVMLError_LibRmVersionMismatch", "driver-library-mismatch"),
        ("NVMLError_NoPermission", "no-permission"),
        ("NVMLError_Uninitialized", "error"),
    ],
)
def test_init_failures_become_a_status(monkeypatch: pytest.MonkeyPatch, error: str, status: str) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(init_error=_error_class(error)))
    res = nvml_query(LiveHost())

    assert res.status == status
    assert res.gpus == ()
    assert res.detail


def test_missing_python_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    res = nvml_query(LiveHost())
    assert res.status == "library-not-found"
    assert "pip install nvidia-ml-py" in (res.detail or "")


def test_json_round_trip_and_snapshot_replay(fake_nvml: FakeNvml, snap: SnapshotWriter) -> None:
    data = collect()
    assert NvmlResult.from_dict(data).to_dict() == data

    snap.set_probe("nvml", data)
    replayed = nvml_query(snap.host())
    assert replayed == NvmlResult.from_dict(data)
    assert [g.pci_bus_id for g in replayed.gpus] == ["0000:07:00.0", None, "0000:c1:00.0"]


def test_snapshot_without_nvml_and_junk_probe(snap: SnapshotWriter) -> None:
    assert nvml_query(snap.host()).status == "not-captured"
    snap.set_probe("nvml", {"status": "ok", "gpus": [{"index": "zero", "memory_total_mib": "lots"}, 5]})
    res = nvml_query(snap.host())
    assert res.status == "ok"
    [gpu] = res.gpus
    assert (gpu.index, gpu.memory_total_mib, gpu.source) == (None, None, "nvml")
    snap.set_probe("nvml", {"status": "fine"})
    assert nvml_query(snap.host()).status == "error"


def test_cuda_version_text() -> None:
    assert cuda_version_text(12020) == "12.2"
    assert cuda_version_text(11080) == "11.8"
    assert cuda_version_text(13000) == "13.0"
    assert cuda_version_text(0) is None


def test_a_bug_is_not_reported_as_a_broken_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only NVML's own errors are answers; a TypeError inside the probe is gputk's bug and must
    # reach the command's error handling (crash log, the doctor's "error" status), not become
    # "reinstall the driver".
    fake = FakeNvml()

    def broken(h: Any) -> Any:
        raise TypeError("a bug in gputk")

    monkeypatch.setattr(fake, "nvmlDeviceGetPciInfo", broken)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with pytest.raises(TypeError, match="a bug in gputk"):
        nvml_query(LiveHost())
    assert fake.shutdown_called


def test_nvml_that_never_answers_is_hung_not_a_hang_of_gputk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wedged driver blocks nvmlInit for good: the probe gives up after its timeout, says "hung",
    and the blocked call is left in a daemon thread (it cannot be cancelled, and does not stop exit)."""
    release = threading.Event()
    mod = FakeNvml()
    monkeypatch.setattr(mod, "nvmlInit", lambda: release.wait(30), raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    try:
        res = NvmlResult.from_dict(collect_within(timeout_s=0.3))
    finally:
        release.set()
    assert res.status == "hung"
    assert res.detail is not None and res.detail.startswith("NVML gave no answer within 0.3 s: the driver looks wedged")
    assert res.gpus == ()


def test_nvml_within_its_time_answers_as_usual_and_bugs_still_propagate(fake_nvml: FakeNvml) -> None:
    assert NvmlResult.from_dict(collect_within(timeout_s=30)).status == "ok"

    def broken() -> dict[str, Any]:
        raise KeyError("a bug in gputk")

    with pytest.raises(KeyError):
        collect_within(timeout_s=30, fn=broken)
