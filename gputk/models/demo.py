"""Results of ``gputk demo`` and ``gputk bench``: plain data, rendered by the CLI.

A demo runs one computation on one device with one or more backends (vector
add on the GPU: a numba-cuda kernel and CuPy); each backend run is verified
against a reference and timed: ``first`` includes JIT compilation and the first
transfer of code to the device, ``median``/``min`` are steady-state repeats of
the computation alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Device = Literal["cpu", "gpu"]
DeviceChoice = Literal["auto", "cpu", "gpu"]


@dataclass(frozen=True)
class Timings:
    """Milliseconds per call: first call (incl. compilation), then median and min over the repeats.

    Each repeat times ``batch`` calls in one interval and divides; ``launch_us`` is the host time to
    issue one call (for GPU work: the launch overhead, apart from the device time); ``spread`` the
    relative spread of the repeats (interquartile range / median); ``calls`` every call made,
    first and warm-up included.
    """

    first_ms: float
    median_ms: float
    min_ms: float
    repeats: int
    batch: int = 1
    launch_us: float | None = None
    spread: float = 0.0
    calls: int = 0

    @property
    def launch_bound(self) -> bool:
        """Issuing a call took longer than the call ran: the figure is the launch rate."""
        return self.launch_us is not None and self.launch_us / 1e3 >= self.median_ms

    def to_dict(self) -> dict[str, float]:
        return {"first": self.first_ms, "median": self.median_ms, "min": self.min_ms}

    def method_json(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "calls_per_interval": self.batch,
            "launch_overhead_us": self.launch_us,
            "spread": self.spread,
            "launch_bound": self.launch_bound,
        }


@dataclass(frozen=True)
class GpuStatus:
    """Whether the GPU can run the demos, from a child interpreter (gputk.demos.gpucheck).

    ``missing`` names the first layer that is missing ("numba-cuda not installed",
    "no CUDA driver (libcuda.so.1 not found)", ...), None when usable.
    """

    usable: bool
    missing: str | None = None
    numba_cuda: bool = False
    cupy: bool = False
    numba_cuda_missing: str | None = None
    cupy_missing: str | None = None
    simulator: bool = False
    device_name: str | None = None
    compute_capability: str | None = None
    detail: str | None = None
    # Hardware facts from the child (NVML, else device attributes): sms, sm_clock_mhz, mem_clock_mhz,
    # bus_width_bits, l2_bytes, pcie_gen/pcie_width (current) and pcie_gen_max/pcie_width_max.
    hardware: dict[str, Any] = field(default_factory=dict)

    def why_not(self, package: str) -> str | None:
        """Why ``package`` ("numba-cuda" or "cupy") cannot run; None when it can."""
        if not self.usable and self.missing:
            return self.missing
        if package == "numba-cuda":
            return None if self.numba_cuda else (self.numba_cuda_missing or "numba-cuda unusable")
        return None if self.cupy else (self.cupy_missing or "CuPy unusable")


@dataclass(frozen=True)
class BackendRun:
    """One backend's run of a demo: its check against the reference and its timings."""

    backend: str
    verified: bool
    max_error: float
    tolerance: float
    timings: Timings
    metrics: dict[str, float] = field(default_factory=dict)
    note: str | None = None
    failed: str | None = None  # the criterion that failed, in words ("accuracy 0.500 < 0.9")

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "verified": self.verified,
            "failed": self.failed if not self.verified else None,
            "max_error": self.max_error,
            "tolerance": self.tolerance,
            "timings_ms": self.timings.to_dict(),
            "timing_method": self.timings.method_json(),
            "metrics": dict(self.metrics),
            "note": self.note,
        }


@dataclass(frozen=True)
class DemoResult:
    """A demo's outcome; the top-level fields describe the first (main) backend."""

    demo: str
    device: Device
    params: dict[str, Any]
    runs: tuple[BackendRun, ...]
    reference: str
    notes: tuple[str, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return bool(self.runs) and all(r.verified for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        main = self.runs[0]
        return {
            "demo": self.demo,
            "device": self.device,
            "backend": main.backend,
            "params": dict(self.params),
            "verified": self.verified,
            "max_error": max(r.max_error for r in self.runs),
            "timings_ms": main.timings.to_dict(),
            "reference": self.reference,
            "backends": [r.to_dict() for r in self.runs],
            "outputs": dict(self.outputs),
            "notes": list(self.notes),
            **self.extra,
        }


@dataclass(frozen=True)
class Ceiling:
    """What a figure is a fraction of: a hardware figure, with where it comes from.

    ``kind`` is "theoretical" (from the hardware's facts: bus width x clock, SMs x clock x rate, PCIe
    lanes x rate, cores x clock x FMA width) or "measured" (a separate measurement of the hardware's
    limit, e.g. a >= 1 GiB copy, never the best point of the sweep being judged).
    """

    name: str
    value: float
    unit: str
    kind: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "kind": self.kind,
            "source": self.source,
        }


@dataclass(frozen=True)
class BenchPoint:
    """One measured point of ``gputk bench``.

    ``kind`` is "add" (size = elements), "matmul" (size = n of n x n) or "copy" (size = bytes);
    ``value`` is in ``unit`` (GB/s or TFLOP/s) and ``ceiling`` the hardware figure it is a fraction
    of. ``regime`` says what bounds the point when it is not the ceiling's resource ("cache": the
    data fit in a cache; "launch-bound": issuing launches took longer than running them), and
    ``note`` explains any figure above its ceiling.
    """

    kind: str
    device: Device
    variant: str
    size: int
    time_ms: float
    value: float
    unit: str
    ceiling: Ceiling | None = None
    regime: str = ""
    note: str | None = None
    spread: float = 0.0
    launch_us: float | None = None

    @property
    def fraction(self) -> float | None:
        if self.ceiling is None or not self.ceiling.value:
            return None
        return self.value / self.ceiling.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "device": self.device,
            "variant": self.variant,
            "size": self.size,
            "time_ms": self.time_ms,
            "value": self.value,
            "unit": self.unit,
            "ceiling": self.ceiling.name if self.ceiling else None,
            "ceiling_value": self.ceiling.value if self.ceiling else None,
            "fraction_of_ceiling": self.fraction,
            "regime": self.regime or None,
            "note": self.note,
            "spread": self.spread,
            "launch_overhead_us": self.launch_us,
        }


@dataclass(frozen=True)
class BenchResult:
    """Everything ``gputk bench`` measured, with the ceilings and crossovers derived from it."""

    quick: bool
    points: tuple[BenchPoint, ...]
    ceilings: dict[str, Ceiling]
    crossovers: dict[str, int | None]
    gpu: GpuStatus
    gpu_skipped_reason: str | None
    cpu_threads: int
    chart: str | None = None
    notes: tuple[str, ...] = ()
    noisy_spread: float = 0.10

    def to_dict(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "cpu_threads": self.cpu_threads,
            "gpu": {
                "usable": self.gpu.usable,
                "name": self.gpu.device_name,
                "compute_capability": self.gpu.compute_capability,
                "hardware": dict(self.gpu.hardware),
                "skipped_reason": self.gpu_skipped_reason,
            },
            "ceilings": {k: c.to_dict() for k, c in self.ceilings.items()},
            "crossovers": dict(self.crossovers),
            "points": [p.to_dict() for p in self.points],
            "notes": list(self.notes),
            "noisy_spread": self.noisy_spread,
            "chart": self.chart,
        }
