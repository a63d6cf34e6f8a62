"""Models for `gputk new` (templates, data sets, planned files) and `gputk train` (progress, runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FileAction = Literal["create", "overwrite", "identical"]
"""What happens to one template file: a new file, a changed file replaced (--force), or no change."""


@dataclass(frozen=True)
class Variable:
    """One template variable from a manifest: ``{"type": "int", "default": 20, "min": 1, ...}``."""

    name: str
    type: Literal["int", "float", "bool", "choice"]
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataRequirement:
    """Where a data set's files must be for training on real data, and where to get them.

    ``present_if_all``: every path must exist; ``present_if_any``: one is enough (``~`` is the home
    directory; other paths are relative to the project). ``keras_downloads``: keras.datasets fetches it
    when online, so absence is not fatal.
    """

    present_if_all: tuple[str, ...] = ()
    present_if_any: tuple[str, ...] = ()
    download: str = ""
    where: str = ""
    keras_downloads: bool = False


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    description: str
    defaults: dict[str, Any]
    classes: tuple[str, ...]
    channels: int
    data: DataRequirement
    image_size: int | None = None  # fixed by the data set (GAN); None: a variable


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    kind: Literal["classifier", "gan"]
    description: str
    variables: tuple[Variable, ...]
    datasets: tuple[Dataset, ...]

    def dataset(self, name: str) -> Dataset | None:
        return next((d for d in self.datasets if d.name == name), None)


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the destination, with '/' separators
    action: FileAction
    size: int


@dataclass(frozen=True)
class ScaffoldResult:
    template: str
    dataset: str
    dest: str
    variables: dict[str, Any]
    files: tuple[PlannedFile, ...]
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "dataset": self.dataset,
            "dest": self.dest,
            "dry_run": self.dry_run,
            "variables": self.variables,
            "files": [{"path": f.path, "action": f.action, "bytes": f.size} for f in self.files],
        }


@dataclass(frozen=True)
class ProjectInfo:
    """A generated project, read from its ``.gputk.json`` answers file."""

    root: str
    template: str
    kind: str
    dataset: str
    dataset_title: str
    variables: dict[str, Any]
    data: DataRequirement


@dataclass
class GpuSampleSummary:
    """GPU use while training ran, from NVML samples (None when no GPU or NVML was there)."""

    source: str | None = None
    samples: int = 0
    peak_memory_mib: float | None = None
    mean_utilization_pct: float | None = None
    devices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "samples": self.samples,
            "peak_memory_mib": self.peak_memory_mib,
            "mean_utilization_pct": self.mean_utilization_pct,
            "devices": self.devices,
        }


@dataclass
class TrainResult:
    project: str
    run_dir: str
    returncode: int
    interrupted: bool
    epochs: list[dict[str, Any]]
    gpu: GpuSampleSummary
    metrics_path: str | None
    log_path: str
    error_tail: str = ""
    workers: int = 1
    failure: str = ""  # several workers: which one failed and that the others were stopped, or the timeout

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "run_dir": self.run_dir,
            "returncode": self.returncode,
            "interrupted": self.interrupted,
            "epochs": self.epochs,
            "gpu": self.gpu.to_dict(),
            "metrics": self.metrics_path,
            "log": self.log_path,
            "workers": self.workers,
        }
