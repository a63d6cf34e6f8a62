"""``gputk demo``: run a demo on the chosen device, verify it, time it; return a DemoResult.

Device choice: ``cpu``; ``gpu`` (an error naming the missing layer when the GPU cannot be used);
``auto`` (the GPU when it works, else the CPU with a note saying why). Whether the GPU works is asked
of a child interpreter run through the Host the caller gives (gputk.demos.gpucheck), so numba.cuda
and cupy are only imported in-process once a child has used them safely; only cli/ decides which
Host that is. Everything is checked before anything is allocated: each number within its allowed
range, the output path writable and a .png, and the memory the demo needs (said up front) available.
Notes go to ``say`` as they happen, so they come before any progress display.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gputk.errors import DeviceUnavailableError, InputError, UsageError
from gputk.host import Host
from gputk.models.demo import BackendRun, DemoResult, Device, DeviceChoice, GpuStatus, Timings

DOCTOR_HINT = "run `gputk doctor` to see which layer is missing and how to fix it"
SayFn = Callable[[str], None]
GIB = 2**30

# Allowed ranges: beyond them a run would take hours or the numbers would overflow.
LIMITS: dict[str, tuple[float, float]] = {
    "size": (1, 2**40),
    "width": (1, 2**24),
    "height": (1, 2**24),
    "iters": (1, 100_000),
    "repeats": (1, 1_000),
    "matmul_size": (1, 2**24),
    "epochs": (1, 1_000_000),
    "hidden": (1, 65_536),
    "samples": (2, 100_000_000),
    "lr": (1e-9, 1e6),
}


def _quiet(_: str) -> None:
    return None


def _n(x: float) -> str:
    return f"{x:,}" if float(x).is_integer() else f"{x:g}"


def check_range(name: str, value: float, limit: str | None = None) -> None:
    """A positive number within the allowed range, or one line naming the range."""
    lo, hi = LIMITS[limit or name]
    flag = "--" + name.replace("_", "-")
    if value <= 0:
        raise UsageError(f"{flag} must be a positive number, got {_n(value)}")
    if not lo <= value <= hi:
        raise UsageError(f"{flag} must be between {_n(lo)} and {_n(hi)}, got {_n(value)}")


def check_png_path(output: Path | None) -> None:
    """Refuse before any work an output that is not a .png or cannot be written (a usage error, like
    any other unusable option value)."""
    if output is None:
        return
    from gputk.files import check_output_path

    if output.suffix.lower() != ".png":
        raise UsageError(f"-o {output}: only PNG is written; name the file .png")
    try:
        check_output_path(str(output), what="PNG")
    except InputError as exc:
        raise UsageError(exc.message, exc.hint) from None


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n < 10 * GIB else f"{n / GIB:.0f} GiB"


def check_memory(needed_bytes: float, what: str, say: SayFn = _quiet) -> None:
    """Say what ``what`` needs, and refuse it when it would not fit in the memory available now."""
    import psutil

    available = psutil.virtual_memory().available
    if needed_bytes > 0.8 * available:
        raise InputError(
            f"{what} needs about {_gib(needed_bytes)} of memory; only {_gib(available)} is available",
            "choose a smaller size",
        )
    say(f"{what}: needs about {_gib(needed_bytes)} of memory ({_gib(available)} available)")


def check_gpu_memory(needed_bytes: float, status: GpuStatus | None, what: str, say: SayFn = _quiet) -> None:
    free = (status.hardware.get("mem_free_bytes") if status else None) or None
    if free is None:
        return
    if needed_bytes > 0.9 * free:
        raise InputError(
            f"{what} needs about {_gib(needed_bytes)} of GPU memory; only {_gib(free)} is free",
            "choose a smaller size",
        )
    say(f"{what}: needs about {_gib(needed_bytes)} of GPU memory ({_gib(free)} free)")


def resolve_device(
    host: Host, choice: DeviceChoice, needs: tuple[str, ...], say: SayFn = _quiet
) -> tuple[Device, GpuStatus | None, list[str]]:
    """(device, GPU status when the GPU is used, notes); ``needs`` any of "numba-cuda", "cupy" (one suffices).

    The notes are also said at once, before the demo starts.
    """
    if choice == "cpu":
        return "cpu", None, []
    from gputk.demos.gpucheck import check_gpu

    say("checking whether the GPU can be used (numba-cuda and CuPy, in a child interpreter)")
    checked = check_gpu(host)
    status: GpuStatus | None = checked
    reasons = [checked.why_not(n) for n in needs]
    notes: list[str] = []
    device: Device = "gpu"
    if None in reasons:
        if checked.simulator:
            notes.append(
                "numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run on the host; timings mean nothing"
            )
    elif choice == "gpu":
        raise DeviceUnavailableError(f"--device gpu: the GPU cannot be used: {reasons[0]}", DOCTOR_HINT)
    else:
        device, status = "cpu", None
        notes.append(f"running on the CPU: the GPU cannot be used ({reasons[0]}); see `gputk doctor`")
    for n in notes:
        say(n)
    return device, status, notes


def _prepare(host: Host, **ranges: float) -> None:
    # NUMBA_NUM_THREADS=0 and the like make numba refuse to import: cli/app.py explains that in one line.
    for name, value in ranges.items():
        check_range(name, value)


# ---- vector add ----------------------------------------------------------------------------------


def vector_add(
    host: Host, size: int, device_choice: DeviceChoice, repeats: int, say: SayFn = _quiet
) -> DemoResult:
    _prepare(host, size=size, repeats=repeats)
    device, status, notes = resolve_device(host, device_choice, ("numba-cuda", "cupy"), say)
    check_memory(5 * 8 * size, f"vector add of {size:,} float64", say)
    from gputk.demos import vector_add as va

    if device == "cpu":
        runs = va.run_cpu(size, repeats, say)
    else:
        assert status is not None
        check_gpu_memory(3 * 8 * size, status, "the GPU arrays", say)
        runs = []
        if status.numba_cuda:
            runs.append(va.run_numba_cuda(size, repeats, say))
        if status.cupy:
            runs.append(va.run_cupy(size, repeats, say))
        else:
            notes.append(f"CuPy backend skipped: {status.why_not('cupy')}")
            say(notes[-1])
    params = {"size": size, "dtype": "float64", "repeats": repeats, "bytes_moved": va.traffic_bytes(size)}
    return DemoResult(
        "vector-add", device, params, tuple(runs), "NumPy np.add(a, b), element-wise", tuple(notes)
    )


# ---- Mandelbrot ----------------------------------------------------------------------------------


def _python_reference_size(width: int, height: int, max_pixels: int = 384 * 256) -> tuple[int, int]:
    factor = max(1, math.ceil(math.sqrt(width * height / max_pixels)))
    return max(1, width // factor), max(1, height // factor)


def mandelbrot(
    host: Host,
    width: int,
    height: int,
    iters: int,
    device_choice: DeviceChoice,
    repeats: int,
    output: Path | None,
    compare: bool,
    dtype: str = "float64",
    say: SayFn = _quiet,
) -> DemoResult:
    _prepare(host, width=width, height=height, iters=iters, repeats=repeats)
    if dtype not in ("float64", "float32"):
        raise UsageError(f"--dtype must be float64 or float32, got {dtype!r}")
    check_png_path(output)
    device, status, notes = resolve_device(host, device_choice, ("numba-cuda",), say)
    check_memory(4 * 12 * width * height, f"a {width}x{height} Mandelbrot image", say)
    from gputk.demos import mandelbrot as mb

    on_gpu = device == "gpu"
    say(f"CPU backend ({'reference, one run' if on_gpu else f'warm-up, then {repeats} timed runs'})")
    cpu_run, counts = mb.run_cpu(width, height, iters, dtype, 1 if on_gpu else repeats, warm=not on_gpu)
    runs = [cpu_run]
    reference = "plain-Python loop on 2000 sampled pixels"
    if on_gpu:
        check_gpu_memory(4.0 * width * height, status, "the GPU image", say)
        say(f"numba-cuda backend: warm-up, then {repeats} timed intervals of batched launches")
        runs.insert(0, mb.run_cuda(width, height, iters, dtype, repeats, counts))
        reference = "the CPU backend's counts (itself checked against the plain-Python loop)"
    extra: dict[str, Any] = {"rates": _mandel_rates(mb, counts, iters, dtype, runs, status)}
    if compare:
        extra["compare"] = _python_compare(mb, width, height, iters, runs)
    outputs = {}
    if output is not None:
        from gputk.demos.image import mandelbrot_rgb, write_png

        outputs["png"] = str(write_png(mandelbrot_rgb(counts, iters), output))
    params = {
        "width": width,
        "height": height,
        "iters": iters,
        "dtype": dtype,
        "region": list(mb.REGION),
        "repeats": repeats,
        "case": mb.case_label(width, height, iters),
    }
    return DemoResult("mandelbrot", device, params, tuple(runs), reference, tuple(notes), outputs, extra)


def _mandel_rates(
    mb: Any, counts: Any, iters: int, dtype: str, runs: list[BackendRun], status: GpuStatus | None
) -> dict[str, Any]:
    """Iterations per second of each backend and, on the GPU, the fraction of its FP64/FP32 peak."""
    from gputk.demos import ceilings as cl

    total = mb.iterations_done(counts, iters)
    rates: dict[str, Any] = {"iterations": total, "flops_per_iteration": mb.FLOPS_PER_ITER}
    for r in runs:
        per_s = total / (r.timings.median_ms / 1e3) if r.timings.median_ms > 0 else 0.0
        entry: dict[str, Any] = {"iterations_per_s": per_s}
        if r.backend == "numba-cuda" and status is not None:
            prec = "fp64" if dtype == "float64" else "fp32"
            peak = cl.gpu_compute_peak(status.hardware, status.compute_capability, prec)
            if peak is not None:
                entry["fraction_of_peak"] = per_s * mb.FLOPS_PER_ITER / (peak.value * 1e12)
                entry["peak"] = peak.to_dict()
        rates[r.backend] = entry
    return rates


def _python_compare(mb: Any, width: int, height: int, iters: int, runs: list[BackendRun]) -> dict[str, Any]:
    pw, ph = _python_reference_size(width, height)
    t0 = time.perf_counter()
    mb.render_python(pw, ph, iters)
    py_ms_per_px = (time.perf_counter() - t0) * 1e3 / (pw * ph)
    return {
        "python_size": [pw, ph],
        "python_ms_full_size_estimate": py_ms_per_px * width * height,
        "speedups": {r.backend: py_ms_per_px * width * height / r.timings.median_ms for r in runs},
    }


# ---- matmul ----------------------------------------------------------------------------------------


def matmul(
    host: Host, size: int, dtype: str, device_choice: DeviceChoice, repeats: int, say: SayFn = _quiet
) -> DemoResult:
    _prepare(host, repeats=repeats)
    check_range("size", size, "matmul_size")
    if dtype not in ("float32", "float16", "tf32"):
        raise UsageError(f"--dtype must be float32, tf32 or float16, got {dtype!r}")
    device, status, notes = resolve_device(host, device_choice, ("cupy",), say)
    check_memory(size * size * 24.0, f"a {size}x{size} matrix product", say)
    from gputk.demos import matmul as mm

    if device == "gpu":
        check_gpu_memory(size * size * 12.0, status, "the GPU matrices", say)
        say(f"cuBLAS: warm-up, then {repeats} timed intervals")
        run = mm.run_cupy(size, dtype, repeats, host.env)
    else:
        say(f"NumPy BLAS: warm-up, then {repeats} timed runs")
        run = mm.run_numpy(size, dtype, repeats)
    params = {"size": size, "dtype": dtype, "repeats": repeats, "flops": 2 * size**3}
    ref = f"float64 dot products on {mm.SAMPLE} sampled entries, error / (|A[i,:]| |B[:,j]|)"
    return DemoResult("matmul", device, params, (run,), ref, tuple(notes))


# ---- nn ----------------------------------------------------------------------------------------------

GRAD_TOL, ACCURACY_GOAL = 1e-5, 0.9


def nn(
    host: Host,
    epochs: int,
    hidden: int,
    samples: int,
    lr: float,
    device_choice: DeviceChoice,
    output: Path | None,
    progress: Callable[[int, int, float, float], None] | None = None,
    say: SayFn = _quiet,
) -> DemoResult:
    _prepare(host, epochs=epochs, hidden=hidden, samples=samples)
    if not lr > 0 or not math.isfinite(lr):
        raise UsageError(f"--lr must be positive, got {lr}")
    check_range("lr", lr)
    check_png_path(output)
    device, _, notes = resolve_device(host, device_choice, ("cupy",), say)
    check_memory(samples * (hidden + 4) * 8 * 6.0, f"a network on {samples:,} samples", say)
    import numpy as np

    from gputk.demos import nn as net

    xp: Any = np
    if device == "gpu":
        import cupy

        xp = cupy
    grad_err = net.gradient_check(xp)
    x, y = net.two_moons(samples)
    trained = net.train(xp, x, y, hidden, epochs, lr, progress)
    run = _nn_run("cupy" if device == "gpu" else "numpy", grad_err, trained, epochs)
    outputs = {}
    if output is not None:
        outputs["png"] = _nn_png(net, xp, trained, x, y, output)
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


def _nn_run(backend: str, grad_err: float, trained: Any, epochs: int) -> BackendRun:
    import numpy as np

    steady = [t * 1e3 for t in trained.epoch_s[1:]] or [trained.epoch_s[0] * 1e3]
    timings = Timings(trained.epoch_s[0] * 1e3, float(np.median(steady)), min(steady), len(steady))
    accuracy = trained.accuracies[-1]
    return BackendRun(
        backend,
        grad_err < GRAD_TOL and accuracy >= ACCURACY_GOAL,
        grad_err,
        GRAD_TOL,
        timings,
        {"final_loss": trained.losses[-1], "final_accuracy": accuracy},
        note=f"max_error: gradient check vs finite differences; PASS also needs accuracy >= {ACCURACY_GOAL}",
        failed=_nn_failure(grad_err, accuracy, epochs),
    )


def _nn_failure(grad_err: float, accuracy: float, epochs: int) -> str | None:
    reasons = []
    if not grad_err < GRAD_TOL:
        reasons.append(
            f"gradient check error {grad_err:.3g} >= {GRAD_TOL:g} against central finite differences"
        )
    if accuracy < ACCURACY_GOAL:
        reasons.append(
            f"accuracy {accuracy:.3f} < {ACCURACY_GOAL} after {epochs} epochs (train longer: --epochs 500)"
        )
    return "; ".join(reasons) or None


def _nn_png(net: Any, xp: Any, trained: Any, x: Any, y: Any, output: Path) -> str:
    from gputk.demos import image

    pad = 0.3
    bounds = (
        float(x[:, 0].min()) - pad,
        float(x[:, 0].max()) + pad,
        float(x[:, 1].min()) - pad,
        float(x[:, 1].max()) + pad,
    )
    rgb = image.boundary_rgb(net.predict_grid(xp, trained.params, bounds, 400))
    return str(image.write_png(image.draw_points(rgb, x, y, bounds), output))
