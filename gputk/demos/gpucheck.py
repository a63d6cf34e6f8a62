"""Can this interpreter run the GPU demos? Asked in a child interpreter, with a timeout.

Importing ``numba.cuda`` or ``cupy`` loads the CUDA driver into the process; on
a broken installation that can hang (a wedged driver) or abort the process (a
library mismatch). So gputk never tries it first in its own process: it runs
``python -m gputk.demos.gpucheck`` through ``Host.run`` with a timeout and reads
the one JSON line it prints. Only when that child could use the GPU does the
demo import numba.cuda / cupy in-process (see docs/demos.md).

The layers are checked bottom-up, and the first one missing is named:

- the driver: ``ctypes.CDLL("libcuda.so.1")``, ``cuInit(0)``, ``cuDeviceGetCount``
  (shell equivalent: ``nvidia-smi -L``);
- numba-cuda: ``import numba_cuda`` (the package, not numba's deprecated built-in
  target), ``numba.cuda.get_current_device()``, then a one-thread kernel that
  calls ``math.sqrt`` is compiled and run (NVVM and libdevice both needed), and
  its answer checked;
- CuPy: ``cupy.cuda.runtime.getDeviceCount()``, then a 64 x 64 float32 product
  through cuBLAS, checked.

Only then is the GPU called usable: a missing libNVVM, libdevice or cuBLAS is one
line naming it, not a traceback in the middle of a demo. The child also reports
the hardware facts the ceilings need (SMs, max clocks, memory bus width, L2 size,
free memory, PCIe link current and max), from NVML and the device attributes.

With ``NUMBA_ENABLE_CUDASIM=1`` numba-cuda's simulator stands in for the GPU
(kernels run on the host, slowly): the numba-cuda backends then run, CuPy not.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import sys
from typing import Any

from gputk.compat.frameworks import cuda_flavour, install_spec
from gputk.host import Host
from gputk.models.demo import GpuStatus

CHECK_TIMEOUT_S = 90.0


def _driver() -> tuple[str | None, str | None]:
    """(missing layer, detail) for the driver: None when a device answers."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return "no CUDA driver (libcuda.so.1 not found)", str(exc)
    rc = lib.cuInit(0)
    if rc != 0:
        return f"the CUDA driver failed to initialise (cuInit error {rc})", None
    count = ctypes.c_int(0)
    rc = lib.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0 or count.value == 0:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        extra = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        return f"no CUDA device visible to the driver{extra}", None
    _flavour_facts(lib)
    return None, None


_FACTS: dict[str, Any] = {}


def _flavour_facts(lib: Any) -> None:
    """The driver's CUDA version and device 0's compute capability: which pip flavour fits."""
    version, dev, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value:
        _FACTS["driver_cuda"] = f"{version.value // 1000}.{(version.value % 1000) // 10}"
    # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, _MINOR = 76
    if lib.cuDeviceGet(ctypes.byref(dev), 0) == 0 and lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev) == 0:
        lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)
        _FACTS["compute_capability"] = f"{major.value}.{minor.value}"


def _flavour() -> int:
    """12 or 13: the CUDA flavour of cupy / numba-cuda that fits this driver and GPU."""
    return cuda_flavour(None, _FACTS.get("compute_capability"), _FACTS.get("driver_cuda"))

def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def compile_error(exc: BaseException) -> str:
    """A missing NVVM or libdevice named as such, anything else as its first line."""
    msg = str(exc)
    if "libdevice" in msg.lower():
        return f"numba-cuda cannot compile a kernel: libdevice not found (pip install '{install_spec('numba', _flavour())}' brings it)"
    if "nvvm" in msg.lower():
        return (
            f"numba-cuda cannot compile a kernel: libNVVM not found (pip install '{install_spec('numba', _flavour())}' brings it)"
        )
    return f"numba-cuda cannot compile and run a kernel ({_one_line(exc)})"


def _device_attr(dev: Any, name: str) -> int | None:
    try:
        value = getattr(dev, name)
    except Exception:  # the simulator's device lacks most attributes; drivers may refuse one
        return None
    return int(value) if isinstance(value, int) else None


def _numba_hardware(cuda: Any, dev: Any, facts: dict[str, Any]) -> None:
    """Device attributes: SMs, clocks (kHz -> MHz), bus width, L2, free/total memory."""
    hw = facts.setdefault("hardware", {})
    for key, attr, scale in (
        ("sms", "MULTIPROCESSOR_COUNT", 1),
        ("sm_clock_mhz", "CLOCK_RATE", 1e-3),
        ("mem_clock_mhz", "MEMORY_CLOCK_RATE", 1e-3),
        ("bus_width_bits", "GLOBAL_MEMORY_BUS_WIDTH", 1),
        ("l2_bytes", "L2_CACHE_SIZE", 1),
        ("pci_bus", "PCI_BUS_ID", 1),
        ("pci_device", "PCI_DEVICE_ID", 1),
        ("pci_domain", "PCI_DOMAIN_ID", 1),
    ):
        value = _device_attr(dev, attr)
        if value is not None:
            hw[key] = value * scale if scale != 1 else value
    try:
        free, total = cuda.current_context().get_memory_info()
        hw["mem_free_bytes"], hw["mem_total_bytes"] = int(free), int(total)
    except Exception:  # the simulator has no memory info
        return


def _numba_cuda(facts: dict[str, Any]) -> str | None:
    if importlib.util.find_spec("numba_cuda") is None:
        return f"numba-cuda not installed (pip install '{install_spec('numba', _flavour())}')"
    try:
        from numba import cuda as _cuda

        cuda: Any = _cuda
        dev = cuda.get_current_device()
        name = getattr(dev, "name", None)  # the simulator's device has no name
        if name is not None:
            facts["device_name"] = name.decode() if isinstance(name, bytes) else str(name)
        cc = getattr(dev, "compute_capability", None)
        if cc:
            facts["compute_capability"] = f"{cc[0]}.{cc[1]}"
        _numba_hardware(cuda, dev, facts)
    except Exception as exc:
        return f"numba-cuda cannot use the GPU ({_one_line(exc)})"
    return _numba_kernel_runs()


def _numba_kernel_runs() -> str | None:
    """Compile and run a one-thread kernel that needs NVVM and libdevice; check its answer."""
    try:
        import numpy as np
        from numba import cuda as _cuda

        cuda: Any = _cuda
        from gputk.demos.cuda_kernels import probe_kernel

        inp = cuda.to_device(np.array([1764.0]))
        out = cuda.device_array(1)
        probe_kernel[1, 1](inp, out)
        got = float(out.copy_to_host()[0])
    except Exception as exc:
        return compile_error(exc)
    return None if got == 42.0 else f"numba-cuda's test kernel computed sqrt(1764) = {got}, not 42"


def _cupy(facts: dict[str, Any]) -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return f"CuPy not installed (pip install {install_spec('cupy', _flavour())})"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy sees no device"
        cupy.arange(4).sum().item()
    except Exception as exc:
        return f"CuPy cannot use the GPU ({_one_line(exc)})"
    return _cublas_runs()


def _cublas_runs() -> str | None:
    """A 64 x 64 float32 product through cuBLAS, checked against the exact answer."""
    try:
        import cupy

        a = cupy.eye(64, dtype=cupy.float32) * 2
        b = cupy.ones((64, 64), dtype=cupy.float32)
        total = float((a @ b).sum().item())
    except Exception as exc:
        return cublas_error(exc)
    return None if total == 2 * 64 * 64 else f"cuBLAS computed a wrong 64 x 64 product (sum {total})"


def cublas_error(exc: BaseException) -> str:
    """A missing cuBLAS named as such, anything else as its first line."""
    if "cublas" in str(exc).lower():
        return (
            "CuPy cannot run a matrix product: cuBLAS not found "
            f"(install the CUDA libraries for CuPy: pip install '{install_spec('cupy', _flavour())}[ctk]')"
        )
    return f"CuPy cannot run a matrix product through cuBLAS ({_one_line(exc)})"


def _nvml_hardware(facts: dict[str, Any]) -> None:
    """Max clocks, bus width and PCIe link (current and max) from NVML, for the device CUDA uses."""
    try:
        import pynvml
    except ImportError:
        return
    hw = facts.setdefault("hardware", {})
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml.NVMLError and the library-loading errors it wraps
        return
    try:
        handle = _nvml_handle(pynvml, hw)
        for key, fn, args in (
            ("sm_clock_mhz", "nvmlDeviceGetMaxClockInfo", (pynvml.NVML_CLOCK_SM,)),
            ("mem_clock_mhz", "nvmlDeviceGetMaxClockInfo", (pynvml.NVML_CLOCK_MEM,)),
            ("bus_width_bits", "nvmlDeviceGetMemoryBusWidth", ()),
            ("pcie_gen", "nvmlDeviceGetCurrPcieLinkGeneration", ()),
            ("pcie_width", "nvmlDeviceGetCurrPcieLinkWidth", ()),
            ("pcie_gen_max", "nvmlDeviceGetMaxPcieLinkGeneration", ()),
            ("pcie_width_max", "nvmlDeviceGetMaxPcieLinkWidth", ()),
        ):
            try:
                value = getattr(pynvml, fn)(handle, *args)
            except (pynvml.NVMLError, AttributeError):
                continue
            if isinstance(value, int) and value > 0:
                hw[key] = value
        hw["source"] = "NVML"
    except pynvml.NVMLError:
        return
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _nvml_handle(pynvml: Any, hw: dict[str, Any]) -> Any:
    """The NVML handle of the device CUDA calls 0 (by PCI address when known: the orders can differ)."""
    if {"pci_domain", "pci_bus", "pci_device"} <= set(hw):
        bus_id = f"{hw['pci_domain']:08x}:{hw['pci_bus']:02x}:{hw['pci_device']:02x}.0"
        with contextlib.suppress(pynvml.NVMLError):
            return pynvml.nvmlDeviceGetHandleByPciBusId(bus_id.encode())
    return pynvml.nvmlDeviceGetHandleByIndex(0)


def probe() -> dict[str, Any]:
    """The facts, as the child prints them (runs in the child only)."""
    facts: dict[str, Any] = {"simulator": os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"}
    if facts["simulator"]:
        facts["numba_cuda_missing"] = _numba_cuda(facts)
        facts["cupy_missing"] = "CuPy does not run under the numba CUDA simulator"
        facts["driver_missing"] = None
        return facts
    facts["driver_missing"], facts["driver_detail"] = _driver()
    if facts["driver_missing"] is None:
        facts["numba_cuda_missing"] = _numba_cuda(facts)
        facts["cupy_missing"] = _cupy(facts)
        _nvml_hardware(facts)
    return facts


def status_from_facts(facts: dict[str, Any]) -> GpuStatus:
    """Turn the child's JSON into a status; the lowest missing layer wins."""
    driver = facts.get("driver_missing")
    if driver:
        return GpuStatus(usable=False, missing=driver, detail=facts.get("driver_detail"))
    nc_missing = facts.get("numba_cuda_missing")
    cp_missing = facts.get("cupy_missing")
    numba_ok, cupy_ok = nc_missing is None, cp_missing is None
    missing = None if (numba_ok or cupy_ok) else str(nc_missing)
    return GpuStatus(
        usable=numba_ok or cupy_ok,
        missing=missing,
        numba_cuda=numba_ok,
        cupy=cupy_ok,
        numba_cuda_missing=nc_missing,
        cupy_missing=cp_missing,
        simulator=bool(facts.get("simulator")),
        device_name=facts.get("device_name") or ("numba CUDA simulator" if facts.get("simulator") else None),
        compute_capability=facts.get("compute_capability"),
        hardware=dict(facts.get("hardware") or {}),
        detail="; ".join(str(m) for m in (nc_missing, cp_missing) if m) or None,
    )


def check_gpu(host: Host, timeout: float = CHECK_TIMEOUT_S) -> GpuStatus:
    """Run the check in a child of this interpreter (the one the demos would use)."""
    res = host.run([sys.executable, "-m", "gputk.demos.gpucheck"], timeout=timeout)
    if res.error == "timeout":
        return GpuStatus(
            usable=False, missing=f"the GPU check did not answer within {timeout:g} s (hung driver?)"
        )
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if not res.ok or not lines:
        return GpuStatus(usable=False, missing=f"the GPU check failed: {res.describe()}")
    try:
        return status_from_facts(json.loads(lines[-1]))
    except (ValueError, TypeError) as exc:
        return GpuStatus(usable=False, missing=f"the GPU check printed no readable answer ({exc})")


if __name__ == "__main__":
    sys.stdout.write(json.dumps(probe()) + "\n")
