"""`gputk train`: run a project made by `gputk new`, with live progress and GPU sampling.

A generated project is recognised by its ``.gputk.json`` answers file (written by ``gputk new``) next to
``train.py``. The service checks the data (the answers file says which paths must exist and where to get
them), starts ``python train.py --progress json --run-dir runs/<timestamp>`` in a child process (see
``train_monitor``), hands every progress event to the caller, samples the GPU through NVML while it runs,
and finally adds what it sampled to the run's ``metrics.json`` under ``"gpu"``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from gputk.errors import GputkError, InputError, UsageError
from gputk.models.scaffold import DataRequirement, GpuSampleSummary, ProjectInfo, TrainResult
from gputk.services.scaffold import ANSWERS_FILE

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


def _resolve(project: ProjectInfo, rel: str, home: str) -> Path:
    if rel.startswith("~/"):
        return Path(home) / rel[2:]
    return Path(project.root) / rel


def data_present(project: ProjectInfo, home: str | None = None) -> bool:
    """Shell equivalent: ``test -d data/training_set/cats && ...`` (all) or ``ls data/cifar10.npz`` (any)."""
    home = home or os.path.expanduser("~")
    req = project.data
    if req.present_if_all and not all(_resolve(project, p, home).exists() for p in req.present_if_all):
        return False
    return not req.present_if_any or any(_resolve(project, p, home).exists() for p in req.present_if_any)


def check_data(project: ProjectInfo, synthetic: bool, home: str | None = None) -> str | None:
    """None when training can start; a note when keras.datasets will download; an error otherwise."""
    if synthetic or data_present(project, home):
        return None
    req = project.data
    if req.keras_downloads:
        return (f"{project.dataset_title} is not in {project.root}/data nor in Keras' cache; train.py downloads "
                f"it through keras.datasets (needs the network; offline: {req.download} -> {req.where})")
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
               synthetic_size: int | None) -> list[str]:
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
    return argv


def run_training(
    directory: Path,
    *,
    python: str,
    epochs: int | None = None,
    synthetic: bool = False,
    device: Device = "auto",
    synthetic_size: int | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    sample_gpu: bool = True,
) -> TrainResult:
    """Train the project in ``directory`` once; the result says how it ended (never raises for a failed child)."""
    from gputk.host import child_environment
    from gputk.services.train_monitor import GpuSampler, run_child

    project = read_project(directory)
    note = check_data(project, synthetic)
    if note and on_note:
        on_note(note)
    run_dir = new_run_dir(project)
    argv = train_argv(python, run_dir.resolve(), epochs, synthetic, device, synthetic_size)
    env = child_environment(os.environ, {"PYTHONUNBUFFERED": "1"})
    records: list[dict[str, Any]] = []

    def handle(event: dict[str, Any]) -> None:
        if event.get("event") == "epoch":
            records.append({k: v for k, v in event.items() if k != "event"})
        if on_event:
            on_event(event)

    sampler = GpuSampler() if sample_gpu and device != "cpu" else None
    if sampler:
        sampler.start()
    try:
        rc, interrupted = run_child(argv, Path(project.root), env, run_dir / "train.log", handle)
    except OSError as exc:
        raise GputkError(f"could not start {python}: {exc}", hint="pass --python PATH to an interpreter with keras") from exc
    finally:
        gpu = sampler.stop() if sampler else GpuSampleSummary()
    metrics = run_dir / "metrics.json"
    metrics_path = _add_gpu(metrics, gpu) if metrics.is_file() else None
    tail = ""
    if rc != 0 and not interrupted:
        log = (run_dir / "train.log").read_text("utf-8", "replace").strip().splitlines()
        tail = "\n".join(log[-15:])
    return TrainResult(
        project=project.root, run_dir=str(run_dir), returncode=rc, interrupted=interrupted, epochs=records,
        gpu=gpu, metrics_path=metrics_path, log_path=str(run_dir / "train.log"), error_tail=tail,
    )


def _add_gpu(path: Path, gpu: GpuSampleSummary) -> str:
    """Merge the NVML summary into the child's metrics.json (``"gpu"`` key)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except ValueError:
        return str(path)
    doc["gpu"] = gpu.to_json()
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return str(path)
