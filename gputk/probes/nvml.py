"""NVML through ``nvidia-ml-py``: the primary source of GPU facts when the driver works.

The only module of gputk that imports :mod:`pynvml`, lazily, inside the live
probe. Command-line equivalents (nvitop's habit)::

    nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,memory.total,compute_cap --format=csv
    nvidia-smi -q | grep -E "Driver Version|CUDA Version"       # nvmlSystemGetCudaDriverVersion
    nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv

Every per-GPU field goes through :func:`_q`, which turns ``NVMLError_NotSupported``
and friends into None (nitvop's ``nvmlQuery(default=NA)``), so one field a
board does not support never hides the others. A GPU whose handle fails with
``GpuIsLost`` / ``Unknown`` is listed with ``lost=True`` while the others are
read normally. Fatal errors at ``nvmlInit`` become a status with an actionable
detail (:data:`STATUS_DETAILS`).

The probe runs through ``host.python_probe("nvml", ...)``, so a snapshot
replays the dictionary stored under ``manifest["probes"]["nvml"]``; its shape is
:meth:`NvmlResult.to_dict` (documented in docs/snapshot-nvml.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from gputk.compat.gpus import arch_name
from gputk.host import Host
from gputk.models.gpu import DriverInfo, GpuProcess, GpuRecord, MigDevice, normalize_bus_id
from gputk.probes.capture import Capture

NvmlStatus = Literal[
    "ok",
    "library-not-found",
    "driver-not-loaded",
    "driver-library-mismatch",
    "no-permission",
    "hung",
    "error",
    "not-captured",
]
STATUSES: tuple[str, ...] = get_args(NvmlStatus)
SCHEMA = 1
SOURCE = "nvml"

# pynvml builds its exception classes from NVML's return codes: NVML_ERROR_DRIVER_NOT_LOADED
# becomes NVMLError_DriverNotLoaded, and so on. Matching by class name keeps the fake
# module of the tests (and old pynvml releases) working.
_INIT_ERRORS: dict[str, NvmlStatus] = {
    "NVMLError_LibraryNotFound": "library-not-found",
    "NVMLError_DriverNotLoaded": "driver-not-loaded",
    "NVMLError_LibRmVersionMismatch": "driver-library-mismatch",
    "NVMLError_NoPermission": "no-permission",
    "NVMLError_InsufficientPermissions": "no-permission",
}
_LOST_ERRORS = {"NVMLError_GpuIsLost", "NVMLError_Unknown", "NVMLError_GpuRequiresReset"}

STATUS_DETAILS: dict[str, str] = {
    "library-not-found": "libnvidia-ml.so.1 not found: the NVIDIA driver's user-space libraries are not "
    "installed (or not mounted into this container: docker run --gpus all)",
    "driver-not-loaded": "the NVIDIA kernel module is not loaded: `sudo modprobe nvidia`, or reinstall the "
    "driver for the running kernel (DKMS)",
    "driver-library-mismatch": "NVML Driver/library version mismatch: the loaded kernel module and the "
    "libraries differ, usually after a driver upgrade; reboot (or reload the nvidia modules)",
    "no-permission": "no permission to open /dev/nvidia*: add the user to the video group or check the "
    "container's device mounts",
    "not-captured": "NVML was not captured in this snapshot",
    "hung": "NVML gave no answer within {timeout:g} s: the driver looks wedged (a GPU fallen off the bus, "
    "or one stuck in a reset)",
}
# NVML runs in this process, so a wedged driver would block gputk for good: it is asked in a
# daemon thread and given up on after this long (a blocked daemon thread does not stop exit).
NVML_TIMEOUT_S = 20.0

_COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}
_VIRT_MODES = {0: "None", 1: "Pass-Through", 2: "VGPU", 3: "Host VGPU", 4: "Host VSGA"}
_GPU_FIELDS = {f.name for f in dataclasses.fields(GpuRecord)} - {"source", "mig_devices", "processes"}
_MIG_FIELDS = {f.name for f in dataclasses.fields(MigDevice)}
_PROC_FIELDS = {f.name for f in dataclasses.fields(GpuProcess)}


@dataclass(frozen=True)
class NvmlResult:
    """What NVML said. ``gpus`` is empty unless ``status == "ok"``.

    ``driver``: driver version (``"535.104.05"``), ``cuda_driver_version``
    (``"12.2"``) and ``nvml_version``. ``detail``: one line saying why NVML did
    not answer, with what to do. ``device_count``: ``nvmlDeviceGetCount()``.
    """

    status: NvmlStatus
    detail: str | None = None
    driver: DriverInfo | None = None
    gpus: tuple[GpuRecord, ...] = ()
    device_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The dictionary stored under ``probes.nvml`` (see docs/snapshot-nvml.md)."""
        gpus = []
        for g in self.gpus:
            d = {k: v for k, v in dataclasses.asdict(g).items() if k in _GPU_FIELDS}
            d["mig_devices"] = [dataclasses.asdict(m) for m in g.mig_devices]
            d["processes"] = [dataclasses.asdict(p) for p in g.processes]
            gpus.append(d)
        drv = self.driver or DriverInfo()
        return {
            "schema": SCHEMA,
            "status": self.status,
            "detail": self.detail,
            "driver_version": drv.version,
            "cuda_driver_version": drv.cuda_driver_version,
            "nvml_version": drv.nvml_version,
            "device_count": self.device_count,
            "gpus": gpus,
        }

    @classmethod
    def from_dict(cls, data: object) -> NvmlResult:
        """Read back :meth:`to_dict` (untrusted: a snapshot); junk becomes ``status="error"``."""
        if not isinstance(data, dict):
            return cls("error", "probes.nvml is not an object")
        status = data.get("status")
        if status not in STATUSES:
            return cls("error", f"probes.nvml has an unknown status {status!r}")
        gpus_raw = data.get("gpus") or []
        if not isinstance(gpus_raw, list):
            return cls("error", "probes.nvml.gpus is not a list")
        gpus = tuple(_gpu_from_json(g) for g in gpus_raw if isinstance(g, dict))
        driver = DriverInfo(
            version=_str(data.get("driver_version")),
            cuda_driver_version=_str(data.get("cuda_driver_version")),
            nvml_version=_str(data.get("nvml_version")),
            source=SOURCE,
        )
        count = data.get("device_count")
        return cls(
            status,
            _str(data.get("detail")),
            driver,
            gpus,
            count if isinstance(count, int) else None,
        )


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _typed(cls: type[Any], d: dict[str, Any], fields: set[str], **fixed: Any) -> Any:
    """Build a model from a JSON dict, dropping unknown keys and values of the wrong type."""
    kwargs: dict[str, Any] = dict(fixed)
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    for k, v in d.items():
        if k not in fields or v is None:
            continue
        t = str(hints[k])
        if ("bool" in t and isinstance(v, bool)) or (
            "int" in t and isinstance(v, int) and not isinstance(v, bool)
        ):
            kwargs[k] = v
        elif "float" in t and isinstance(v, (int, float)) and not isinstance(v, bool):
            kwargs[k] = float(v)
        elif ("str" in t or "Vendor" in t) and isinstance(v, str):
            kwargs[k] = v
    return cls(**kwargs)


def _gpu_from_json(d: dict[str, Any]) -> GpuRecord:
    rec: GpuRecord = _typed(GpuRecord, d, _GPU_FIELDS, source=SOURCE)
    if rec.vendor not in (None, "nvidia", "amd", "intel", "other"):
        rec = dataclasses.replace(rec, vendor="nvidia")
    migs = tuple(_typed(MigDevice, m, _MIG_FIELDS) for m in d.get("mig_devices") or [] if isinstance(m, dict))
    procs = tuple(
        _typed(GpuProcess, p, _PROC_FIELDS) for p in d.get("processes") or [] if isinstance(p, dict)
    )
    return dataclasses.replace(rec, mig_devices=migs, processes=procs)


# -- the live probe ------------------------------------------------------------------------------


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    s = str(v).strip()
    return s or None


def cuda_version_text(v: int | None) -> str | None:
    """``nvmlSystemGetCudaDriverVersion()`` 12020 -> ``"12.2"`` (cuda.h: 1000*major + 10*minor)."""
    if not isinstance(v, int) or v <= 0:
        return None
    return f"{v // 1000}.{(v % 1000) // 10}"


class _Gpu:
    """Per-GPU query context: every call through :meth:`q`; a lost-GPU error is remembered.

    Only NVML's own errors (``pynvml.NVMLError`` and its per-code subclasses) are answers; any
    other exception is a bug in gputk and propagates to the command's error handling.
    """

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.error: type[Exception] = nvml.NVMLError
        self.lost = False

    def q(self, fn_name: str, *args: Any) -> Any:
        fn: Callable[..., Any] | None = getattr(self.nvml, fn_name, None)
        if fn is None:  # an old nvidia-ml-py without this function
            return None
        try:
            return fn(*args)
        except self.error as exc:  # NVMLError_NotSupported, _NoPermission, _FunctionNotFound ...
            if type(exc).__name__ in _LOST_ERRORS:
                self.lost = True
            return None


def _mig_devices(ctx: _Gpu, handle: Any) -> tuple[MigDevice, ...]:
    count = ctx.q("nvmlDeviceGetMaxMigDeviceCount", handle) or 0
    out: list[MigDevice] = []
    for j in range(int(count)):
        mh = ctx.q("nvmlDeviceGetMigDeviceHandleByIndex", handle, j)
        if mh is None:  # empty slot: NVML_ERROR_NOT_FOUND
            continue
        name = _text(ctx.q("nvmlDeviceGetName", mh)) or ""
        m = re.search(r"MIG\s+(\S+)\s*$", name)  # "NVIDIA A100-SXM4-40GB MIG 3g.20gb"
        mem = ctx.q("nvmlDeviceGetMemoryInfo", mh)
        out.append(
            MigDevice(
                index=len(out),
                profile=m.group(1) if m else None,
                uuid=_text(ctx.q("nvmlDeviceGetUUID", mh)),
                gpu_instance_id=ctx.q("nvmlDeviceGetGpuInstanceId", mh),
                compute_instance_id=ctx.q("nvmlDeviceGetComputeInstanceId", mh),
                memory_total_mib=int(mem.total) // (1024 * 1024) if mem is not None else None,
            )
        )
    return tuple(out)


def _processes(ctx: _Gpu, handle: Any) -> tuple[GpuProcess, ...]:
    kinds: dict[int, tuple[str, int | None]] = {}
    for fn, kind in (
        ("nvmlDeviceGetComputeRunningProcesses", "C"),
        ("nvmlDeviceGetGraphicsRunningProcesses", "G"),
    ):
        for p in ctx.q(fn, handle) or []:
            pid = getattr(p, "pid", None)
            if not isinstance(pid, int):
                continue
            used = getattr(p, "usedGpuMemory", None)
            mib = int(used) // (1024 * 1024) if isinstance(used, int) else None
            if pid in kinds:
                old_kind, old_mib = kinds[pid]
                kinds[pid] = ("C+G" if old_kind != kind else kind, old_mib if old_mib is not None else mib)
            else:
                kinds[pid] = (kind, mib)
    return tuple(
        GpuProcess(
            pid=pid, name=_text(ctx.q("nvmlSystemGetProcessName", pid)), used_memory_mib=mib, type=kind
        )
        for pid, (kind, mib) in sorted(kinds.items())
    )


def _gpu(nvml: Any, index: int, driver: DriverInfo) -> GpuRecord:
    ctx = _Gpu(nvml)
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except ctx.error as exc:
        # "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error" in nvidia-smi.
        return GpuRecord(source=SOURCE, index=index, vendor="nvidia", lost=type(exc).__name__ in _LOST_ERRORS)
    pci = ctx.q("nvmlDeviceGetPciInfo", handle)
    mem = ctx.q("nvmlDeviceGetMemoryInfo", handle)
    cc_pair = ctx.q("nvmlDeviceGetCudaComputeCapability", handle)
    cc = f"{cc_pair[0]}.{cc_pair[1]}" if isinstance(cc_pair, (tuple, list)) and len(cc_pair) == 2 else None
    util = ctx.q("nvmlDeviceGetUtilizationRates", handle)
    power = ctx.q("nvmlDeviceGetPowerUsage", handle)  # milliwatts
    limit = ctx.q("nvmlDeviceGetEnforcedPowerLimit", handle)
    persistence = ctx.q("nvmlDeviceGetPersistenceMode", handle)
    mig = ctx.q("nvmlDeviceGetMigMode", handle)  # (current, pending)
    mig_current = bool(mig[0]) if isinstance(mig, (tuple, list)) and mig else None
    pci_dev = getattr(pci, "pciDeviceId", None)  # 0x233010DE: device id in the high half
    pci_sub = getattr(pci, "pciSubSystemId", None)
    temp_sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
    rec = GpuRecord(
        source=SOURCE,
        index=index,
        vendor="nvidia",
        name=_text(ctx.q("nvmlDeviceGetName", handle)),
        pci_bus_id=normalize_bus_id(_text(getattr(pci, "busId", None))),
        pci_vendor_id=f"{pci_dev & 0xFFFF:04x}" if isinstance(pci_dev, int) else None,
        pci_device_id=f"{(pci_dev >> 16) & 0xFFFF:04x}" if isinstance(pci_dev, int) else None,
        pci_subsystem_id=(
            f"{pci_sub & 0xFFFF:04x}:{(pci_sub >> 16) & 0xFFFF:04x}" if isinstance(pci_sub, int) else None
        ),
        kernel_driver="nvidia",
        uuid=_text(ctx.q("nvmlDeviceGetUUID", handle)),
        serial=_text(ctx.q("nvmlDeviceGetSerial", handle)),
        memory_total_mib=int(mem.total) // (1024 * 1024) if mem is not None else None,
        memory_used_mib=int(mem.used) // (1024 * 1024) if mem is not None else None,
        driver_version=driver.version,
        cuda_driver_version=driver.cuda_driver_version,
        compute_capability=cc,
        architecture=arch_name(cc),
        vbios_version=_text(ctx.q("nvmlDeviceGetVbiosVersion", handle)),
        utilization_gpu_pct=getattr(util, "gpu", None),
        temperature_c=ctx.q("nvmlDeviceGetTemperature", handle, temp_sensor),
        power_draw_w=power / 1000.0 if isinstance(power, (int, float)) else None,
        power_limit_w=limit / 1000.0 if isinstance(limit, (int, float)) else None,
        persistence_mode=bool(persistence) if persistence is not None else None,
        compute_mode=_COMPUTE_MODES.get(ctx.q("nvmlDeviceGetComputeMode", handle)),
        mig_mode=mig_current,
        virtualization_mode=_VIRT_MODES.get(ctx.q("nvmlDeviceGetVirtualizationMode", handle)),
        pcie_gen_current=ctx.q("nvmlDeviceGetCurrPcieLinkGeneration", handle),
        pcie_gen_max=ctx.q("nvmlDeviceGetMaxPcieLinkGeneration", handle),
        pcie_width_current=ctx.q("nvmlDeviceGetCurrPcieLinkWidth", handle),
        pcie_width_max=ctx.q("nvmlDeviceGetMaxPcieLinkWidth", handle),
        mig_devices=_mig_devices(ctx, handle) if mig_current else (),
        processes=_processes(ctx, handle),
    )
    return dataclasses.replace(rec, lost=ctx.lost) if ctx.lost else rec


def collect() -> dict[str, Any]:
    """Ask NVML now (the live half of :func:`nvml_query`); returns :meth:`NvmlResult.to_dict`."""
    try:
        import pynvml
    except ImportError:
        return NvmlResult(
            "library-not-found", "the Python package nvidia-ml-py is not installed: pip install nvidia-ml-py"
        ).to_dict()
    nvml_error: type[Exception] | None = getattr(pynvml, "NVMLError", None)
    if nvml_error is None:
        return NvmlResult("error", "the installed pynvml module is not nvidia-ml-py (no NVMLError)").to_dict()
    try:
        pynvml.nvmlInit()
    except nvml_error as exc:
        status = _INIT_ERRORS.get(type(exc).__name__, "error")
        detail = STATUS_DETAILS.get(status) or f"nvmlInit failed: {type(exc).__name__}: {exc}"
        return NvmlResult(status, detail).to_dict()
    try:
        ctx = _Gpu(pynvml)
        driver = DriverInfo(
            version=_text(ctx.q("nvmlSystemGetDriverVersion")),
            cuda_driver_version=cuda_version_text(ctx.q("nvmlSystemGetCudaDriverVersion")),
            nvml_version=_text(ctx.q("nvmlSystemGetNVMLVersion")),
            source=SOURCE,
        )
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        except nvml_error as exc:
            return NvmlResult("error", f"nvmlDeviceGetCount failed: {type(exc).__name__}", driver).to_dict()
        gpus = tuple(_gpu(pynvml, i, driver) for i in range(count))
        return NvmlResult("ok", None, driver, gpus, count).to_dict()
    finally:
        # Shutting down a half-initialised library must not hide the answer.
        with contextlib.suppress(nvml_error):
            pynvml.nvmlShutdown()


def collect_within(timeout_s: float = NVML_TIMEOUT_S, fn: Callable[[], dict[str, Any]] = collect) -> dict[str, Any]:
    """:func:`collect`, or the ``hung`` status when NVML has not answered within ``timeout_s``."""
    box: list[dict[str, Any]] = []
    failure: list[BaseException] = []

    def ask() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed back to the caller's thread below
            failure.append(exc)

    worker = threading.Thread(target=ask, name="gputk-nvml", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if failure:
        raise failure[0]
    if not box:
        return NvmlResult("hung", STATUS_DETAILS["hung"].format(timeout=timeout_s)).to_dict()
    return box[0]


def nvml_query(host: Host) -> NvmlResult:
    """NVML's answer for ``host``: live on this machine, replayed from ``probes.nvml`` in a snapshot."""
    data = host.python_probe("nvml", collect_within)
    if data is None:
        return NvmlResult("not-captured", STATUS_DETAILS["not-captured"])
    return NvmlResult.from_dict(data)


CAPTURE = Capture("nvml", entries=(nvml_query,))
