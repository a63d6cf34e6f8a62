"""`gputk train --workers N` and `--preflight`: several training processes of one project on this machine.

Every worker is the project's own ``train.py`` with ``--workers N``; it joins the others through Keras'
multi-process runtime (``keras.distribution.initialize``, the JAX distributed runtime), which reads
``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (worker 0's coordinator, here ``127.0.0.1`` and a port that was free a
moment before), ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``. gputk only
starts the processes and watches them (``gputk.host.run_streaming_group``): worker 0's progress events are
the run's, each worker's stderr goes to its own log in the run folder (``train.log`` for worker 0,
``train-worker1.log`` ...), and when one worker fails, the timeout passes or Ctrl-C comes, all are stopped.

Only the JAX backend trains on several processes (see ``gputk.services.scaffold.MULTI_WORKER_BACKENDS``).
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gputk.errors import GputkError, InputError
from gputk.host import Host, run_streaming_group
from gputk.models.scaffold import GpuSampleSummary, ProjectInfo, TrainResult
from gputk.services.scaffold import MULTI_WORKER_BACKENDS
from gputk.services.train import (
    Device,
    RunEvents,
    add_gpu_summary,
    check_data,
    child_env,
    discard_run_dir,
    new_run_dir,
    read_project,
    train_argv,
)
from gputk.services.train_monitor import GpuSampler, parse_event
from gputk.services.train_python import Interpreter, check_can_run, configured_backend

PREFLIGHT_TIMEOUT_S = 60.0
# `gputk train --workers N` runs N processes here: one per GPU of a big node, or a few on CPU to
# check the set-up. More is a cluster's count ([distribution] workers) run on the wrong machine.
LOCAL_MAX_WORKERS = 64
WHY_SINGLE = {
    "tensorflow": "Keras 3's fit() does not run under TensorFlow's MultiWorkerMirroredStrategy (keras-team/keras#20585)",
    "torch": "Keras 3 has no multi-process (DDP) runtime for the torch backend",
}
USUAL_CAUSES = (
    "usual causes: the coordinator address (KERAS_DISTRIBUTION_JOB_ADDRESSES, --coordinator, [distribution] "
    "coordinator; MASTER_ADDR for torchrun) is not worker 0's address as the others see it; its port is in "
    "use or blocked by a firewall; NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME name the wrong network interface; "
    "the workers disagree on the worker count (KERAS_DISTRIBUTION_NUM_PROCESSES, --workers, srun -n)"
)


def configured_workers(root: Path) -> int:
    """``workers`` in config.toml's [distribution] section; 1 when absent or unreadable."""
    try:
        text = (root / "config.toml").read_text("utf-8", "replace")[:1_000_000]
    except OSError:
        return 1
    section = re.search(r"^\[distribution\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    match = re.search(r"^\s*workers\s*=\s*(\d{1,6})\s*$", section.group(1), re.MULTILINE) if section else None
    return max(int(match.group(1)), 1) if match else 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's pick); another program may take it later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_coordinator(value: str) -> str:
    """HOST:PORT with a port in 1..65535."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--coordinator {value!r} is not HOST:PORT", hint="e.g. --coordinator 10.0.0.1:29500")
    return value


def check_multi_worker(project: ProjectInfo, backend: str, workers: int) -> None:
    if workers < 1:
        raise InputError(f"--workers {workers}: give 1 or more")
    if workers == 1:
        return
    if workers > LOCAL_MAX_WORKERS:
        raise InputError(
            f"--workers {workers}: gputk train starts every worker on this machine, at most {LOCAL_MAX_WORKERS}",
            hint="for several machines, start train.py on each (the project's README shows how, also under Slurm)",
        )
    if project.kind != "classifier":
        raise InputError(f"the {project.template} template trains in one process (its train_on_batch loop has "
                         "no multi-worker version)", hint="train with --workers 1")
    if backend not in MULTI_WORKER_BACKENDS:
        raise InputError(f"--workers {workers} needs the jax backend: {WHY_SINGLE.get(backend, backend)}",
                         hint='set backend = "jax" in config.toml and install jax, or train with --workers 1 '
                         "(one process uses every GPU of this machine)")
    batch = int(project.variables.get("batch_size", 0) or 0)
    if batch and batch % workers:
        raise InputError(f"batch_size {batch} is the global batch and does not split evenly over {workers} workers",
                         hint=f"use --workers that divides {batch}, or set batch_size in config.toml")


def worker_envs(backend: str, workers: int, coordinator: str) -> list[dict[str, str]]:
    """Each worker's environment: gputk's clean child environment plus who it is and where worker 0 listens."""
    import os

    base = child_env(backend)
    for key, value in os.environ.items():  # the user's network choices for the collectives
        if key.startswith(("NCCL_", "GLOO_")):
            base[key] = value
    return [{**base, "KERAS_DISTRIBUTION_JOB_ADDRESSES": coordinator,
             "KERAS_DISTRIBUTION_NUM_PROCESSES": str(workers), "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}
            for i in range(workers)]


def log_name(index: int) -> str:
    return "train.log" if index == 0 else f"train-worker{index}.log"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _prepare(directory: Path, python: Interpreter, workers: int, host: Host | None) -> tuple[ProjectInfo, str]:
    from gputk.host import LiveHost

    project = read_project(directory)
    backend = configured_backend(Path(project.root), str(project.variables.get("backend", "tensorflow")))
    check_multi_worker(project, backend, workers)
    check_can_run(host or LiveHost(), python, backend, Path(project.root))
    return project, backend


def run_workers(
    directory: Path,
    *,
    python: Interpreter,
    workers: int,
    epochs: int | None = None,
    synthetic: bool = False,
    device: Device = "auto",
    synthetic_size: int | None = None,
    resume: bool = False,
    coordinator: str | None = None,
    timeout: float | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    sample_gpu: bool = True,
    host: Host | None = None,
) -> TrainResult:
    """Train with ``workers`` processes on this machine; like ``run_training``, the result says how it ended."""
    train_argv(python.path, Path("."), epochs, synthetic, device, synthetic_size, resume)  # checks first
    project, backend = _prepare(directory, python, workers, host)
    address = check_coordinator(coordinator) if coordinator else f"127.0.0.1:{free_port()}"
    note = check_data(project, synthetic)
    if note and on_note:
        on_note(note)
    runs_existed = (Path(project.root) / "runs").is_dir()
    run_dir = new_run_dir(project)
    argv = [*train_argv(python.path, run_dir.resolve(), epochs, synthetic, device, synthetic_size, resume),
            "--workers", str(workers)]
    events = RunEvents(on_event)
    seen, records = events.seen, events.records

    def on_line(index: int, line: str) -> None:
        event = parse_event(line)
        if event is None or (index != 0 and event.get("event") != "error"):
            return  # the other workers' progress repeats worker 0's
        events(event)

    sampler = GpuSampler() if sample_gpu and device != "cpu" else None
    if sampler:
        sampler.start()
    logs = [run_dir / log_name(i) for i in range(workers)]
    try:
        codes, state = run_streaming_group([argv] * workers, project.root, worker_envs(backend, workers, address),
                                           logs, on_line, timeout)
    except OSError as exc:
        discard_run_dir(run_dir, runs_existed)
        raise GputkError(f"could not start {python.path}: {exc}",
                         hint="pass --python PATH to an interpreter with keras and jax") from exc
    finally:
        gpu = sampler.stop() if sampler else GpuSampleSummary()
    return _result(project, run_dir, runs_existed, codes, state, seen, records, gpu, timeout)


def _result(project: ProjectInfo, run_dir: Path, runs_existed: bool, codes: list[int], state: str,
            seen: dict[str, dict[str, Any]], records: list[dict[str, Any]], gpu: GpuSampleSummary,
            timeout: float | None) -> TrainResult:
    """The run's outcome: worker 0's events; on failure the first failing worker, its code and its log."""
    failed = next((i for i, code in enumerate(codes) if code not in (0, 130) and code >= 0), None)
    if failed is None and state == "failed":
        failed = next((i for i, code in enumerate(codes) if code != 0), None)
    interrupted = state == "interrupted"
    log = run_dir / log_name(failed or 0)
    tail = _tail(log) if state in ("failed", "timeout") else ""
    if state == "timeout":
        failure = f"the run went past --timeout {timeout:g} s; all {len(codes)} workers were stopped"
    elif failed is not None:
        failure = (f"worker {failed} of {len(codes)} failed (exit {codes[failed]}); "
                   f"the other workers were stopped")
    else:
        failure = ""
    if "start" not in seen:
        error = seen.get("error")
        discard_run_dir(run_dir, runs_existed)
        if error is not None:
            raise InputError(str(error.get("message", "train.py refused to start")), hint=error.get("hint"))
    metrics = run_dir / "metrics.json"
    if interrupted:
        returncode = 130
    elif state == "done":
        returncode = 0
    else:  # a worker killed by a signal has a negative code: report a plain failure
        returncode = codes[failed] if failed is not None and codes[failed] > 0 else 1
    return TrainResult(
        project=project.root, run_dir=str(run_dir) if "start" in seen else "", returncode=returncode,
        interrupted=interrupted, epochs=records, gpu=gpu,
        metrics_path=add_gpu_summary(metrics, gpu) if metrics.is_file() else None,
        log_path=str(log) if "start" in seen else "", error_tail=tail, workers=len(codes), failure=failure,
    )


def run_preflight(directory: Path, *, python: Interpreter, workers: int, device: Device = "auto",
                  coordinator: str | None = None, timeout: float = PREFLIGHT_TIMEOUT_S,
                  host: Host | None = None) -> dict[str, Any]:
    """All workers start, join and all-reduce one number each (``train.py --preflight``), within ``timeout``.

    Returns ``{"workers", "coordinator", "seconds"}``; raises GputkError naming what failed and the usual causes.
    """
    import time

    if workers < 2:
        raise InputError("--preflight checks several workers; this run has 1",
                         hint="give --workers N (2 or more), or set workers in config.toml [distribution]")
    project, backend = _prepare(directory, python, workers, host)
    address = check_coordinator(coordinator) if coordinator else f"127.0.0.1:{free_port()}"
    argv = [python.path, "-u", "train.py", "--preflight", "--workers", str(workers), "--device", device]
    answers: dict[int, dict[str, Any]] = {}

    def on_line(index: int, line: str) -> None:
        event = parse_event(line)
        if event is not None and event.get("event") == "preflight":
            answers[index] = event

    folder = Path(tempfile.mkdtemp(prefix="gputk-preflight-"))
    try:
        logs = [folder / log_name(i) for i in range(workers)]
        start = time.monotonic()
        codes, state = run_streaming_group([argv] * workers, project.root, worker_envs(backend, workers, address),
                                           logs, on_line, timeout)
        seconds = time.monotonic() - start
        ok = state == "done" and len(answers) == workers and all(a.get("ok") for a in answers.values())
        if not ok:
            raise GputkError(_preflight_failure(workers, address, codes, state, answers, logs, timeout),
                             hint=USUAL_CAUSES)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"workers": workers, "coordinator": address, "seconds": seconds, "backend": backend}


def _preflight_failure(workers: int, address: str, codes: list[int], state: str, answers: dict[int, dict[str, Any]],
                       logs: list[Path], timeout: float) -> str:
    """One readable paragraph: what happened to each worker and the last error line of the first that failed."""
    what = {"timeout": f"did not all-reduce within {timeout:g} s", "interrupted": "were interrupted"}
    head = f"preflight failed: {workers} workers with coordinator {address} {what.get(state, 'did not all-reduce')}"
    parts = []
    for i, code in enumerate(codes):
        if i in answers:
            parts.append(f"worker {i}: all-reduce {'ok' if answers[i].get('ok') else 'gave a wrong sum'}")
        else:
            parts.append(f"worker {i}: " + ("no answer, stopped" if code < 0 or code == 130 else f"exit {code}"))
    line = next((last for last in (_last_error(p) for p in logs) if last), "")
    return head + " (" + "; ".join(parts) + ")" + (f"\nfirst error: {line}" if line else "")


def _last_error(path: Path) -> str:
    """The last line of a worker's log that looks like an error (a Python exception, ``error:``)."""
    lines = _tail(path, 200).splitlines()
    for text in reversed(lines):
        if re.match(r"^(error: |[A-Za-z_.]*(Error|Exception)\b)", text.strip()):
            return text.strip()[:400]
    return ""
