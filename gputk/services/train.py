"""`gputk train`: run a project made by `gputk new`, with live progress and GPU sampling.

A generated project is recognised by its ``.gputk.json`` answers file (written by ``gputk new``) next to
``train.py``. The service checks the data (the answers file says which paths must exist and where to get
them), starts ``python train.py --progress json --run-dir runs/<timestamp>`` in a child process (see
``train_monitor``), hands every progress event to the caller, samples the GPU through NVML while it runs,
and finally adds what it sampled to the run's ``metrics.json`` under ``"gpu"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from gputk.errors import GputkError, InputError, UsageError
from gputk.files import atomic_write_bytes
from gputk.host import Host
from gputk.models.scaffold import DataRequirement, GpuSampleSummary, ProjectInfo, TrainResult
from gputk.services.scaffold import ANSWERS_FILE
from gputk.services.train_python import Interpreter, check_can_run, configured_backend

Device = Literal["auto", "cpu", "gpu"]
NOT_A_PROJECT_HINT = "create one with `gputk new cnn cifar10` (see `gputk new --list`), then run gputk train in it"


def read_project(directory: Path) -> ProjectInfo:
    """The project in ``directory``; a clear error when it is not one made by `gputk new`."""
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory", hint=NOT_A_PROJECT_HINT)
    answers = directory / ANSWERS_FILE
    if not answers.is_file() or not (directory / "train.py").is_file():
        raise InputError(
            f"{directory} is not a project made by `gputk new` (no {ANSWERS_FILE} and train.py)",
            hint=NOT_A_PROJECT_HINT,
        )
    try:
        raw = json.loads(answers.read_text("utf-8"))
        data = raw["data"]
        return ProjectInfo(
            root=str(directory), template=str(raw["template"]), kind=str(raw["kind"]),
            dataset=str(raw["dataset"]), dataset_title=str(raw.get("dataset_title", raw["dataset"])),
            variables=dict(raw["variables"]),
            data=DataRequirement(
                present_if_all=tuple(data.get("present_if_all", ())),
                present_if_any=tuple(data.get("present_if_any", ())),
                download=str(data.get("download", "")), where=str(data.get("where", "")),
                keras_downloads=bool(data.get("keras_downloads", False)),
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{answers} is damaged ({type(exc).__name__}: {exc})",
                         hint="regenerate it with `gputk new ... --force` in this folder") from exc


def _resolve(project: ProjectInfo, rel: str, home: str, keras_home: str | None = None) -> Path:
    """A data path of the answers file: ``~/.keras/...`` follows $KERAS_HOME like keras.utils.get_file."""
    if rel.startswith("~/.keras/") and keras_home:
        return Path(keras_home) / rel[len("~/.keras/"):]
    if rel.startswith("~/"):
        return Path(home) / rel[2:]
    return Path(project.root) / rel


def data_present(project: ProjectInfo, home: str | None = None) -> bool:
    """Shell equivalent: ``test -d data/training_set/cats && ...`` (all) or ``ls data/cifar10.npz`` (any)."""
    keras_home = None if home else os.environ.get("KERAS_HOME")
    home = home or os.path.expanduser("~")
    req = project.data

    def exists(rel: str) -> bool:
        return _resolve(project, rel, home, keras_home).exists()

    if req.present_if_all and not all(exists(p) for p in req.present_if_all):
        return False
    return not req.present_if_any or any(exists(p) for p in req.present_if_any)


def check_data(project: ProjectInfo, synthetic: bool, home: str | None = None) -> str | None:
    """None when training can start; a note when keras.datasets will download; an error otherwise."""
    if synthetic or data_present(project, home):
        return None
    req = project.data
    if req.keras_downloads:
        return (f"{project.dataset_title} is not in {project.root}/data nor in Keras' cache; train.py downloads "
                f"it through keras.datasets (needs the network; offline: put {req.download} in {req.where}, "
                "or train with --synthetic)")
    raise InputError(
        f"the {project.dataset_title} data is not in {project.root}/data",
        hint=f"download {req.download} and put the images in {req.where}; or train on generated data "
        "with --synthetic",
    )


def new_run_dir(project: ProjectInfo) -> Path:
    """runs/<YYYYmmdd-HHMMSS>/, with -2, -3 ... when two runs start in the same second."""
    base = Path(project.root) / "runs" / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def train_argv(python: str, run_dir: Path, epochs: int | None, synthetic: bool, device: Device,
               synthetic_size: int | None, resume: bool = False) -> list[str]:
    argv = [python, "-u", "train.py", "--progress", "json", "--run-dir", str(run_dir), "--device", device]
    if epochs is not None:
        if epochs < 1:
            raise UsageError(f"--epochs {epochs}: give 1 or more")
        argv += ["--epochs", str(epochs)]
    if synthetic:
        argv.append("--synthetic")
    if synthetic_size is not None:
        if synthetic_size < 1:
            raise UsageError(f"--synthetic-size {synthetic_size}: give 1 or more")
        argv += ["--synthetic-size", str(synthetic_size)]
    if resume:
        argv.append("--resume")
    return argv


def child_env(backend: str) -> dict[str, str]:
    """The child's environment: clean (see host.child_environment), plus the Keras settings it must see."""
    from gputk.host import child_environment

    extra = {"PYTHONUNBUFFERED": "1", "KERAS_BACKEND": backend}
    for key in ("KERAS_HOME", "PYTHONHASHSEED"):
        if os.environ.get(key):
            extra[key] = os.environ[key]
    return child_environment(os.environ, extra)


class RunEvents:
    """What a run's progress events say: the first event of each kind, each epoch's record, and every
    event but errors handed on to ``on_event`` (errors are reported once, from the result)."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None) -> None:
        self.on_event = on_event
        self.seen: dict[str, dict[str, Any]] = {}
        self.records: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event"))
        self.seen.setdefault(kind, event)
        if kind == "epoch":
            self.records.append({k: v for k, v in event.items() if k != "event"})
        if self.on_event and kind != "error":
            self.on_event(event)


def run_training(
    directory: Path,
    *,
    python: str | Interpreter,
    epochs: int | None = None,
    synthetic: bool = False,
    device: Device = "auto",
    synthetic_size: int | None = None,
    resume: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    sample_gpu: bool = True,
    host: Host | None = None,
) -> TrainResult:
    """Train the project in ``directory`` once; the result says how it ended.

    Raises InputError before anything is created when the data or the interpreter cannot work, and when
    train.py stopped at once with an ``error`` event (missing data offline); otherwise never raises for a
    failed child. A run that never started (no ``start`` event) leaves no run folder behind.
    """
    from gputk.host import LiveHost
    from gputk.services.train_monitor import GpuSampler, run_child

    project = read_project(directory)
    interpreter = python if isinstance(python, Interpreter) else Interpreter(python, "--python")
    backend = configured_backend(Path(project.root), str(project.variables.get("backend", "tensorflow")))
    train_argv(interpreter.path, Path("."), epochs, synthetic, device, synthetic_size, resume)  # checks first
    note = check_data(project, synthetic)
    check_can_run(host or LiveHost(), interpreter, backend, Path(project.root))
    if note and on_note:
        on_note(note)
    runs_existed = (Path(project.root) / "runs").is_dir()
    run_dir = new_run_dir(project)
    argv = train_argv(interpreter.path, run_dir.resolve(), epochs, synthetic, device, synthetic_size, resume)
    events = RunEvents(on_event)
    seen, records = events.seen, events.records

    sampler = GpuSampler() if sample_gpu and device != "cpu" else None
    if sampler:
        sampler.start()
    try:
        rc, interrupted = run_child(argv, Path(project.root), child_env(backend), run_dir / "train.log", events)
    except OSError as exc:
        discard_run_dir(run_dir, runs_existed)
        raise GputkError(f"could not start {interpreter.path}: {exc}",
                         hint="pass --python PATH to an interpreter with keras") from exc
    finally:
        gpu = sampler.stop() if sampler else GpuSampleSummary()
    log_path = run_dir / "train.log"
    tail = ""
    if rc != 0 and not interrupted:
        log = log_path.read_text("utf-8", "replace").strip().splitlines()
        tail = "\n".join(log[-15:])
    if "start" not in seen:
        discard_run_dir(run_dir, runs_existed)
        error = seen.get("error")
        if error is not None:
            raise InputError(str(error.get("message", "train.py refused to start")), hint=error.get("hint"))
        log_path = Path("")
    metrics = run_dir / "metrics.json"
    metrics_path = add_gpu_summary(metrics, gpu) if metrics.is_file() else None
    return TrainResult(
        project=project.root, run_dir=str(run_dir) if "start" in seen else "", returncode=rc,
        interrupted=interrupted, epochs=records, gpu=gpu, metrics_path=metrics_path,
        log_path=str(log_path) if "start" in seen else "", error_tail=tail,
    )


def discard_run_dir(run_dir: Path, runs_existed: bool) -> None:
    """Remove the folder of a run that never started (and runs/ when this run created it)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    if not runs_existed:
        with contextlib.suppress(OSError):
            run_dir.parent.rmdir()


def add_gpu_summary(path: Path, gpu: GpuSampleSummary) -> str:
    """Merge the NVML summary into the child's metrics.json (``"gpu"`` key)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except ValueError:
        return str(path)
    doc["gpu"] = gpu.to_dict()
    atomic_write_bytes(str(path), (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    return str(path)
