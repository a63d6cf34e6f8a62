"""``gputk demo``: run a demo on the chosen device, verify it, time it; return a DemoResult.

Device choice: ``cpu``; ``gpu`` (an error naming the missing layer when the GPU
cannot be used); ``auto`` (the GPU when it works, else the CPU with a note
saying why). Whether the GPU works is asked of a child interpreter first
(gputk.demos.gpucheck), so numba.cuda and cupy are only imported in-process
once a child has used them safely. Sizes are checked before anything is
allocated: positive, and small enough for the memory psutil reports available.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gputk.errors import DeviceUnavailableError, InputError, UsageError
from gputk.host import LiveHost
from gputk.models.demo import BackendRun, DemoResult, Device, DeviceChoice, GpuStatus, Timings

DOCTOR_HINT = "run `gputk doctor` to see which layer is missing and how to fix it"
StatusFn = Callable[[], GpuStatus]


def _live_status() -> GpuStatus:
    from gputk.demos.gpucheck import check_gpu

    return check_gpu(LiveHost())


def resolve_device(
    choice: DeviceChoice, needs: tuple[str, ...], status_fn: StatusFn | None = None
) -> tuple[Device, GpuStatus | None, list[str]]:
    """(device, GPU status when the GPU is used, notes); ``needs`` any of "numba-cuda", "cupy" (one suffices)."""
    if choice == "cpu":
        return "cpu", None, []
    status = (status_fn or _live_status)()
    reasons = [status.why_not(n) for n in needs]
    if None in reasons:
        sim = ["numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run on the host; timings mean nothing"]
        return "gpu", status, sim if status.simulator else []
    missing = reasons[0]
    if choice == "gpu":
        raise DeviceUnavailableError(f"--device gpu: the GPU cannot be used: {missing}", DOCTOR_HINT)
    return "cpu", None, [f"running on the CPU: the GPU cannot be used ({missing}); see `gputk doctor`"]


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive number, got {value}")


def check_memory(needed_bytes: float, what: str) -> None:
    """Refuse sizes that would not fit in the memory available now (psutil.virtual_memory().available)."""
    import psutil

    available = psutil.virtual_memory().available
    if needed_bytes > 0.8 * available:
        raise InputError(
            f"{what} needs about {needed_bytes / 2**30:.1f} GiB of memory; only {available / 2**30:.1f} GiB is available",
            "choose a smaller size",
        )


def vector_add(
    size: int, device_choice: DeviceChoice, repeats: int, status_fn: StatusFn | None = None
) -> DemoResult:
    from gputk.demos import vector_add as va

    check_positive(size=size, repeats=repeats)
    check_memory(5 * 8 * size, f"vector add of {size:,} float64")
    device, status, notes = resolve_device(device_choice, ("numba-cuda", "cupy"), status_fn)
    if device == "cpu":
        runs = va.run_cpu(size, repeats)
    else:
        assert status is not None
        runs = []
        if status.numba_cuda:
            runs.append(va.run_numba_cuda(size, repeats))
        if status.cupy:
            runs.append(va.run_cupy(size, repeats))
        else:
            notes.append(f"CuPy backend skipped: {status.why_not('cupy')}")
    params = {"size": size, "dtype": "float64", "repeats": repeats, "bytes_moved": va.traffic_bytes(size)}
    return DemoResult(
        "vector-add", device, params, tuple(runs), "NumPy np.add(a, b), element-wise", tuple(notes)
    )


def _python_reference_size(width: int, height: int, max_pixels: int = 384 * 256) -> tuple[int, int]:
    factor = max(1, math.ceil(math.sqrt(width * height / max_pixels)))
    return max(1, width // factor), max(1, height // factor)


def mandelbrot(
    width: int,
    height: int,
    iters: int,
    device_choice: DeviceChoice,
    repeats: int,
    output: Path | None,
    compare: bool,
    status_fn: StatusFn | None = None,
) -> DemoResult:
    from gputk.demos import mandelbrot as mb
    from gputk.demos.timing import time_cpu

    check_positive(width=width, height=height, iters=iters, repeats=repeats)
    check_memory(4 * 12 * width * height, f"a {width}x{height} Mandelbrot image")
    device, _, notes = resolve_device(device_choice, ("numba-cuda",), status_fn)
    cpu_holder: dict[str, Any] = {}
    cpu_t = time_cpu(lambda: cpu_holder.update(img=mb.render_cpu(width, height, iters)), repeats)
    counts = cpu_holder["img"]
    ys, xs, ref = mb.python_sample(width, height, iters, count=min(2000, width * height))
    cpu_frac, cpu_diff = mb.compare_counts(counts[ys, xs], ref)
    cpu_run = BackendRun(
        "numba-parallel",
        cpu_frac == 0.0,
        cpu_frac,
        0.0,
        cpu_t,
        {"max_count_difference": cpu_diff},
        note="checked against the plain-Python loop on a sample of pixels",
    )
    runs = [cpu_run]
    reference = "plain-Python loop on 2000 sampled pixels"
    if device == "gpu":
        runs.insert(0, _mandelbrot_gpu(mb, width, height, iters, repeats, counts))
        reference = "the CPU backend's counts (itself checked against the plain-Python loop)"
    extra: dict[str, Any] = {}
    if compare:
        pw, ph = _python_reference_size(width, height)
        t0 = time.perf_counter()
        mb.render_python(pw, ph, iters)
        py_ms_per_px = (time.perf_counter() - t0) * 1e3 / (pw * ph)
        extra["compare"] = {
            "python_size": [pw, ph],
            "python_ms_full_size_estimate": py_ms_per_px * width * height,
            "speedups": {r.backend: py_ms_per_px * width * height / r.timings.median_ms for r in runs},
        }
    outputs = {}
    if output is not None:
        from gputk.demos.image import mandelbrot_rgb, write_png

        outputs["png"] = str(write_png(mandelbrot_rgb(counts, iters), output))
    params = {"width": width, "height": height, "iters": iters, "region": list(mb.REGION), "repeats": repeats}
    return DemoResult("mandelbrot", device, params, tuple(runs), reference, tuple(notes), outputs, extra)


def _mandelbrot_gpu(
    mb: Any, width: int, height: int, iters: int, repeats: int, cpu_counts: Any
) -> BackendRun:
    import numpy as np
    from numba import cuda

    from gputk.demos.timing import time_cuda_events

    d_out = cuda.device_array((height, width), dtype=np.int32)
    timings = time_cuda_events(
        lambda: mb.launch_cuda(d_out, width, height, iters), repeats, cuda.event, cuda.synchronize
    )
    frac, diff = mb.compare_counts(np.asarray(d_out.copy_to_host()), cpu_counts)
    return BackendRun(
        "numba-cuda",
        frac <= 1e-3,
        frac,
        1e-3,
        timings,
        {"max_count_difference": diff},
        note="max_error: fraction of pixels whose count differs from the CPU's",
    )


def matmul(
    size: int, dtype: str, device_choice: DeviceChoice, repeats: int, status_fn: StatusFn | None = None
) -> DemoResult:
    from gputk.demos import matmul as mm

    check_positive(size=size, repeats=repeats)
    if dtype not in ("float32", "float16"):
        raise UsageError(f"--dtype must be float32 or float16, got {dtype!r}")
    check_memory(size * size * 24.0, f"a {size}x{size} matrix product")
    device, _, notes = resolve_device(device_choice, ("cupy",), status_fn)
    run = mm.run_cupy(size, dtype, repeats) if device == "gpu" else mm.run_numpy(size, dtype, repeats)
    params = {"size": size, "dtype": dtype, "repeats": repeats, "flops": 2 * size**3}
    ref = f"float64 dot products on {mm.SAMPLE} sampled entries, error / (|A[i,:]| |B[:,j]|)"
    return DemoResult("matmul", device, params, (run,), ref, tuple(notes))


def nn(
    epochs: int,
    hidden: int,
    samples: int,
    lr: float,
    device_choice: DeviceChoice,
    output: Path | None,
    progress: Callable[[int, int, float, float], None] | None = None,
    status_fn: StatusFn | None = None,
) -> DemoResult:
    import numpy as np

    from gputk.demos import nn as net

    check_positive(epochs=epochs, hidden=hidden, samples=samples)
    if not lr > 0:
        raise UsageError(f"--lr must be positive, got {lr}")
    check_memory(samples * (hidden + 4) * 8 * 6.0, f"a network on {samples:,} samples")
    device, _, notes = resolve_device(device_choice, ("cupy",), status_fn)
    xp: Any = np
    if device == "gpu":
        import cupy

        xp = cupy
    grad_err = net.gradient_check(xp)
    x, y = net.two_moons(samples)
    trained = net.train(xp, x, y, hidden, epochs, lr, progress)
    steady = [t * 1e3 for t in trained.epoch_s[1:]] or [trained.epoch_s[0] * 1e3]
    timings = Timings(trained.epoch_s[0] * 1e3, float(np.median(steady)), min(steady), len(steady))
    accuracy = trained.accuracies[-1]
    verified = grad_err < 1e-5 and accuracy >= 0.9
    run = BackendRun(
        "cupy" if device == "gpu" else "numpy",
        verified,
        grad_err,
        1e-5,
        timings,
        {"final_loss": trained.losses[-1], "final_accuracy": accuracy},
        note="max_error: gradient check vs finite differences; PASS also needs accuracy >= 0.9",
    )
    outputs = {}
    if output is not None:
        from gputk.demos import image

        pad = 0.3
        bounds = (
            float(x[:, 0].min()) - pad,
            float(x[:, 0].max()) + pad,
            float(x[:, 1].min()) - pad,
            float(x[:, 1].max()) + pad,
        )
        rgb = image.boundary_rgb(net.predict_grid(xp, trained.params, bounds, 400))
        outputs["png"] = str(image.write_png(image.draw_points(rgb, x, y, bounds), output))
    params = {
        "epochs": epochs,
        "hidden": hidden,
        "samples": samples,
        "lr": lr,
        "dataset": "two moons, noise 0.15",
    }
    history = {"loss": trained.losses, "accuracy": trained.accuracies}
    return DemoResult(
        "nn",
        device,
        params,
        (run,),
        "central finite differences (float64, 64 samples)",
        tuple(notes),
        outputs,
        {"history": history},
    )
