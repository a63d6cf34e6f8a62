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
    """Milliseconds: first call (incl. compilation), then median and min of the repeats."""

    first_ms: float
    median_ms: float
    min_ms: float
    repeats: int

    def as_json(self) -> dict[str, float]:
        return {"first": self.first_ms, "median": self.median_ms, "min": self.min_ms}


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

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "verified": self.verified,
            "max_error": self.max_error,
            "tolerance": self.tolerance,
            "timings_ms": self.timings.as_json(),
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

    def as_json(self) -> dict[str, Any]:
        main = self.runs[0]
        return {
            "demo": self.demo,
            "device": self.device,
            "backend": main.backend,
            "params": dict(self.params),
            "verified": self.verified,
            "max_error": max(r.max_error for r in self.runs),
            "timings_ms": main.timings.as_json(),
            "reference": self.reference,
            "backends": [r.as_json() for r in self.runs],
            "outputs": dict(self.outputs),
            "notes": list(self.notes),
            **self.extra,
        }


@dataclass(frozen=True)
class BenchPoint:
    """One measured point of ``gputk bench``.

    ``kind`` is "add" (size = elements), "matmul" (size = n of n x n) or "copy"
    (size = bytes); ``value`` is in ``unit`` (GB/s or TFLOP/s), ``ceiling`` the
    figure measured on this machine that it is a fraction of.
    """

    kind: str
    device: Device
    variant: str
    size: int
    time_ms: float
    value: float
    unit: str
    ceiling: float | None = None

    @property
    def fraction(self) -> float | None:
        if not self.ceiling:
            return None
        return self.value / self.ceiling

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "device": self.device,
            "variant": self.variant,
            "size": self.size,
            "time_ms": self.time_ms,
            "value": self.value,
            "unit": self.unit,
            "ceiling": self.ceiling,
            "fraction_of_ceiling": self.fraction,
        }


@dataclass(frozen=True)
class BenchResult:
    """Everything ``gputk bench`` measured, with the ceilings and crossovers derived from it."""

    quick: bool
    points: tuple[BenchPoint, ...]
    ceilings: dict[str, float]
    crossovers: dict[str, int | None]
    gpu: GpuStatus
    gpu_skipped_reason: str | None
    cpu_threads: int
    chart: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "cpu_threads": self.cpu_threads,
            "gpu": {
                "usable": self.gpu.usable,
                "name": self.gpu.device_name,
                "skipped_reason": self.gpu_skipped_reason,
            },
            "ceilings": dict(self.ceilings),
            "crossovers": dict(self.crossovers),
            "points": [p.as_json() for p in self.points],
            "chart": self.chart,
        }
