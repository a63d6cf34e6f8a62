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
  target), then ``numba.cuda.get_current_device()``;
- CuPy: ``cupy.cuda.runtime.getDeviceCount()``.

With ``NUMBA_ENABLE_CUDASIM=1`` numba-cuda's simulator stands in for the GPU
(kernels run on the host, slowly): the numba-cuda backends then run, CuPy not.
"""

from __future__ import annotations

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
    except Exception as exc:
        return f"numba-cuda cannot use the GPU ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    return None


def _cupy(facts: dict[str, Any]) -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return f"CuPy not installed (pip install {install_spec('cupy', _flavour())})"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy sees no device"
        cupy.arange(4).sum().item()
    except Exception as exc:
        return f"CuPy cannot use the GPU ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    return None


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
