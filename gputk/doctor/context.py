"""The facts the checks read, gathered lazily, once, and safely from several threads.

Each fact comes from one probe (platform, PCI, kernel driver, NVML, nvidia-smi,
CUDA toolkits, cuDNN, frameworks); the first check that asks pays for it, the
others wait for that answer. Framework probes start in the background as soon
as the context is made (they are the slow part: child interpreters importing
TensorFlow and friends), so they overlap with every file-reading check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

from gputk.compat import cuda as cuda_compat
from gputk.compat import gpus as gpu_table
from gputk.compat.drivers import find_driver_version
from gputk.host import Host, LiveHost
from gputk.models.cuda import CudaHome, NvccInfo, PipCudaLib, Toolkit
from gputk.models.doctor import CheckResult
from gputk.models.gpu import GpuRecord
from gputk.parallel import warm
from gputk.parsers.nvidia_smi_health import GpuHealth, parse_smi_health
from gputk.parsers.system import parse_ldconfig
from gputk.probes import system
from gputk.probes.cuda import (
    ACTIVE_NVCC_ARGV,
    NVCC_TIMEOUT_S,
    active_nvcc,
    cuda_home,
    find_toolkits,
    pip_cuda_wheels,
)
from gputk.probes.cudnn import CudnnInstall, find_cudnn
from gputk.probes.driver import LDCONFIG_ARGV, KernelDriverState, kernel_driver_state
from gputk.probes.frameworks import FRAMEWORKS, probe_framework
from gputk.probes.kernel_log import KernelLogResult, kernel_log
from gputk.probes.merge import MergedGpu, merge_records
from gputk.probes.nvidia_smi import SmiResult, smi_query
from gputk.probes.nvml import NvmlResult, nvml_query
from gputk.probes.pci import PciScan, pci_gpus
from gputk.probes.platform import PlatformInfo, platform_info
from gputk.probes.python_env import python_env

T = TypeVar("T")


@dataclass(frozen=True)
class GpuView:
    """One NVIDIA GPU as the checks need it, from the best source that answered."""

    index: int
    name: str
    cc: str | None
    bus_id: str | None
    uuid: str | None
    source: str  # "nvml" | "nvidia-smi" | "pci"
    lost: bool = False  # the driver lists it but it does not answer (fallen off the bus)


class Context:
    def __init__(self, host: Host, frameworks: bool = True, framework_timeout: float = 120.0) -> None:
        # Live: each command runs once, so one started early (prefetch) serves the probe asking later.
        self.host = host.remembering() if type(host) is LiveHost else host
        self.frameworks_enabled = frameworks
        self.framework_timeout = framework_timeout
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._values: dict[str, Any] = {}
        self._results: dict[str, CheckResult] = {}
        self._fw_pool: ThreadPoolExecutor | None = None
        self._fw: dict[str, Future[dict[str, Any]]] = {}
        self._fw_replayed: dict[str, dict[str, Any]] = {}
        self._fw_lock = threading.RLock()

    # -- memo ------------------------------------------------------------------

    def _get(self, key: str, fn: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                return self._values[key]  # type: ignore[no-any-return]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                value = fn()
                with self._lock:
                    self._values[key] = value
        return self._values[key]  # type: ignore[no-any-return]

    # -- results of checks that ran before (runner fills these) ----------------

    def record(self, result: CheckResult) -> None:
        with self._lock:
            self._results[result.id] = result

    def result(self, check_id: str) -> CheckResult | None:
        with self._lock:
            return self._results.get(check_id)

    def failed_root(self, *check_ids: str) -> str | None:
        """The first of ``check_ids`` that failed (or was blocked): the root cause to name."""
        for cid in check_ids:
            r = self.result(cid)
            if r is None:
                continue
            if r.status == "fail":
                return cid
            if r.status == "skip" and r.blocked_by:
                return r.blocked_by
        return None

    # -- facts -----------------------------------------------------------------

    def platform(self) -> PlatformInfo:
        return self._get("platform", lambda: platform_info(self.host))

    def python(self) -> dict[str, Any]:
        return self.platform().python

    def site_packages(self) -> list[str]:
        py = self.python()
        sites = [str(p) for p in py.get("site_packages") or []]
        if py.get("user_site"):
            sites.append(str(py["user_site"]))
        return sites

    def _sites(self) -> list[str]:
        return [str(p) for p in self.python().get("site_packages") or []]

    def pci(self) -> PciScan:
        return self._get("pci", lambda: pci_gpus(self.host))

    def nvidia_pci(self) -> list[GpuRecord]:
        return [r for r in self.pci().records if r.vendor == "nvidia" or r.pci_vendor_id == "10de"]

    def kernel(self) -> KernelDriverState:
        return self._get("kernel", lambda: kernel_driver_state(self.host))

    def nvml(self) -> NvmlResult:
        return self._get("nvml", lambda: nvml_query(self.host))

    def smi(self) -> SmiResult:
        return self._get("smi", lambda: smi_query(self.host))

    def toolkits(self) -> list[Toolkit]:
        return self._get("toolkits", lambda: find_toolkits(self.host, self._sites()))

    def nvcc(self) -> NvccInfo:
        return self._get("nvcc", lambda: active_nvcc(self.host, self.toolkits()))

    def cuda_home(self) -> CudaHome:
        return self._get("cuda_home", lambda: cuda_home(self.host, self.toolkits()))

    def pip_wheels(self) -> list[PipCudaLib]:
        return self._get("pip_wheels", lambda: pip_cuda_wheels(self.host, self._sites()))

    def cudnn(self) -> list[CudnnInstall]:
        return self._get("cudnn", lambda: find_cudnn(self.host, self.site_packages()))

    def kernel_log(self) -> KernelLogResult:
        return self._get("kernel_log", lambda: kernel_log(self.host))

    def units(self) -> system.Units:
        return self._get("units", lambda: system.units(self.host))

    def module_config(self) -> system.ModuleConfig:
        return self._get("module_config", lambda: system.module_config(self.host))

    def access(self) -> system.Access:
        return self._get("access", lambda: system.access(self.host))

    def nvswitches(self) -> tuple[str, ...]:
        return self._get("nvswitches", lambda: system.nvswitches(self.host))

    def ldconfig(self) -> list[tuple[str, str]]:
        """The loader cache, ``ldconfig -p``: (soname, path) in lookup order."""
        return self._get("ldconfig", self._ldconfig)

    def _ldconfig(self) -> list[tuple[str, str]]:
        res = self.host.run(LDCONFIG_ARGV, timeout=10.0)
        return parse_ldconfig(res.stdout) if res.ok else []

    def health(self) -> list[GpuHealth]:
        """The health half of ``nvidia-smi -q -x`` (ECC, remapped rows, clocks, PCIe link, fabric)."""
        return self._get("health", self._health)

    def _health(self) -> list[GpuHealth]:
        cmd = self.smi().command
        return list(parse_smi_health(cmd.stdout).gpus) if cmd is not None and cmd.ok else []

    def merged(self) -> list[MergedGpu]:
        """Every GPU as NVML, nvidia-smi and the PCI bus together describe it: the merge
        ``gputk detect`` shows (probes/merge.py), including GPUs only the bus still sees."""
        return self._get("merged", self._merged)

    def _merged(self) -> list[MergedGpu]:
        nv = self.nvml()
        records = [*(nv.gpus if nv.status == "ok" else ()), *self.smi().gpus, *self.nvidia_pci()]
        return merge_records(records)

    def gpus(self) -> list[GpuView]:
        """The GPUs the driver lists (NVML, else nvidia-smi), else the NVIDIA GPUs on the bus."""
        return self._get("gpus", self._gpus)

    def _gpus(self) -> list[GpuView]:
        merged = [m for m in self.merged() if m.record.vendor in (None, "nvidia")]
        nv = self.nvml()
        for source in ("nvml", "nvidia-smi"):
            if source == "nvml" and not (nv.status == "ok" and nv.gpus):
                continue
            seen = [m for m in merged if any(s.startswith(source) for s in m.sources)]
            if seen:
                return [_view(i, m, source) for i, m in enumerate(seen)]
        return [_view(i, m, "pci") for i, m in enumerate(merged)]

    def lost_gpus(self) -> list[str]:
        """The GPUs that stopped answering, each named by its bus id from whichever source knows
        it (the merge pairs NVML's handle-less record with the PCI one; else the kernel log's
        Xid 79), else by driver index."""
        named: list[str] = []
        for m in self.merged():
            if m.record.lost:
                named.append(m.record.pci_bus_id or "")
        if "" in named:
            fallen = [x.bus_id for x in self.kernel_log().log.xids if x.code == 79 and x.bus_id]
            fallen = [b for b in dict.fromkeys(fallen) if b not in named]
            named = [n or (fallen.pop(0) if fallen else "") for n in named]
        lost_idx = [m.record.index for m in self.merged() if m.record.lost]
        return [
            n or f"index {i if i is not None else '?'} (bus id unknown)"
            for n, i in zip(named, lost_idx, strict=True)
        ]

    def driver_version(self) -> tuple[str | None, str]:
        """The driver version and where it was read (:func:`gputk.compat.find_driver_version`)."""
        nv = self.nvml()
        smi = self.smi()
        k = self.kernel()
        found = find_driver_version(
            nvml=nv.driver.version if nv.status == "ok" and nv.driver else None,
            nvidia_smi=smi.driver.version if smi.driver else None,
            sys_module=k.sys_module_version,
            proc_version=k.driver.version if k.driver else None,
        )
        return (str(found.version), found.source) if found else (None, "")

    def driver_cuda(self) -> tuple[str | None, str]:
        """The newest CUDA the driver supports, and where it was read."""
        nv = self.nvml()
        if nv.status == "ok" and nv.driver and nv.driver.cuda_driver_version:
            return nv.driver.cuda_driver_version, "NVML nvmlSystemGetCudaDriverVersion"
        smi = self.smi()
        if smi.driver and smi.driver.cuda_driver_version:
            return smi.driver.cuda_driver_version, "nvidia-smi -q -x <cuda_version>"
        version, _ = self.driver_version()
        derived = cuda_compat.newest_cuda(version)
        return (str(derived), "the minimum-driver table (gputk/compat/data/cuda.json)") if derived else (None, "")

    def prefetch(self, frameworks: tuple[str, ...] = FRAMEWORKS) -> None:
        """Start every fact, and the framework probes, at once in the background.

        The checks run in dependency order; without this the probes they call would run one
        after another and hung tools would add their timeouts up. Started together, the slowest
        timeout is the whole wait; a check asking for a fact still coming waits for it.
        """
        warm(
            self.platform, self.pci, self.kernel, self.nvml, self.smi, self.toolkits, self.nvcc,
            self.cuda_home, self.pip_wheels, self.cudnn, self.kernel_log, self.units, self.module_config,
            self.access, self.nvswitches, self.ldconfig, lambda: self.start_frameworks(frameworks),
            lambda: python_env(self.host),  # platform and toolkits both wait for it
            lambda: self.host.run(ACTIVE_NVCC_ARGV, timeout=NVCC_TIMEOUT_S),  # nvcc waits for toolkits
            wait=False,
        )

    # -- frameworks --------------------------------------------------------------

    def start_frameworks(self, names: tuple[str, ...] = FRAMEWORKS) -> None:
        """Start the framework probes in parallel child processes (no-op when disabled)."""
        if not self.frameworks_enabled or not names:
            return
        with self._fw_lock:
            if self._fw_pool is not None:
                return
            from concurrent.futures import ThreadPoolExecutor

            py = self.python()
            self._fw_pool = ThreadPoolExecutor(max_workers=len(FRAMEWORKS), thread_name_prefix="gputk-fw")
            for n in names:
                self._fw[n] = self._fw_pool.submit(probe_framework, self.host, n, self.framework_timeout, py)

    def framework(self, name: str) -> dict[str, Any]:
        if not self.frameworks_enabled:
            return {"status": "not-probed"}
        if not self.host.live:  # a snapshot replays what was recorded: no child to wait for
            with self._fw_lock:
                if name not in self._fw_replayed:
                    self._fw_replayed[name] = probe_framework(self.host, name, self.framework_timeout, self.python())
                return self._fw_replayed[name]
        with self._fw_lock:
            if self._fw_pool is None:
                self.start_frameworks((name,))
            if name not in self._fw and self._fw_pool is not None:
                self._fw[name] = self._fw_pool.submit(
                    probe_framework, self.host, name, self.framework_timeout, self.python()
                )
            future = self._fw[name]
        # A probe reports its own failures as a status; an exception here is a bug in gputk and
        # reaches the runner, which shows the check as "error" with it.
        return future.result()

    def close(self) -> None:
        if self._fw_pool is not None:
            self._fw_pool.shutdown(wait=True)


def _view(i: int, m: MergedGpu, source: str) -> GpuView:
    g = m.record
    name = g.name or gpu_table.pci_name(g.pci_device_id)
    index = g.index if g.index is not None else i
    return GpuView(
        index,
        name or f"NVIDIA device {g.pci_device_id or '?'}",
        g.compute_capability,
        g.pci_bus_id,
        g.uuid,
        source,
        g.lost,
    )
