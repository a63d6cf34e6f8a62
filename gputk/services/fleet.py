"""``gputk fleet``: one view of many machines, from their ``gputk report`` snapshots.

The inputs are snapshot files and directories, or folders holding them
(:func:`expand_inputs`). Each is read in a worker process
(:mod:`gputk.services.fleet_read`) and summarised; this module turns the summaries
into the fleet view (:class:`FleetReport`):

* every machine with its check outcomes (``pass``/``warn``/``fail``/``skip``/``error``);
* the problems grouped by root cause across machines: the same check with the same
  finding (numbers and versions aside) on several machines is one line,
  ``3 of 64 machines: ...``; checks skipped because a root check failed are not
  counted again;
* the outliers: for each fact (driver, CUDA, cuDNN, framework versions, GPU count
  and model, OS, kernel) the fleet's most common value and the machines that differ,
  and every GPU whose PCIe link runs narrower than its maximum;
* the snapshots that could not be read, each with its reason.

The JSON form has the schema ``gputk.fleet/1`` (docs/cluster.md).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gputk.errors import InputError

SNAPSHOT_SUFFIXES = (".tar.gz", ".tgz", ".tar")
MANIFEST = "manifest.json"
OUTLIER_FACTS = (
    "driver",
    "cuda_driver",
    "cuda_toolkit",
    "cudnn",
    "torch",
    "tensorflow",
    "jax",
    "cupy",
    "numba",
    "gpu_count",
    "gpu_model",
    "os",
    "kernel",
)
FACT_TITLES = {
    "driver": "NVIDIA driver",
    "cuda_driver": "CUDA supported by the driver",
    "cuda_toolkit": "CUDA toolkit (nvcc)",
    "cudnn": "cuDNN",
    "torch": "PyTorch",
    "tensorflow": "TensorFlow",
    "jax": "JAX",
    "cupy": "CuPy",
    "numba": "Numba",
    "gpu_count": "GPU count",
    "gpu_model": "GPU model",
    "os": "OS",
    "kernel": "kernel",
}
ABSENT = "(none)"
_SEVERITY = {"error": 0, "fail": 1, "warn": 2}
# Numbers, versions, bus ids and paths vary between machines with the same root cause.
_VARIABLE = re.compile(r"[0-9a-fA-F]{4,}:[0-9a-fA-F:.]+|\d+(?:\.\d+)*|/[\w./-]+")


@dataclass(frozen=True)
class Inputs:
    paths: tuple[str, ...]
    ignored: tuple[str, ...] = ()


def expand_inputs(args: Sequence[str]) -> Inputs:
    """The snapshots named: files and snapshot directories as given, folders by their entries.

    A folder that is not a snapshot itself contributes its ``*.tar.gz``/``*.tgz``/``*.tar``
    files and its sub-folders (one level); other files there are ignored and counted.
    A named path that does not exist stays in the list, to be reported unreadable.
    """
    if not args:
        raise InputError("name at least one snapshot or folder of snapshots", "gputk fleet snaps/")
    paths: list[str] = []
    ignored: list[str] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir() and not p.is_symlink() and not (p / MANIFEST).is_file():
            try:
                entries = sorted(os.scandir(p), key=lambda e: e.name)
            except OSError as exc:
                raise InputError(f"cannot list {arg}: {exc.strerror}") from None
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_dir(follow_symlinks=False) or e.name.endswith(SNAPSHOT_SUFFIXES):
                    paths.append(os.path.join(arg, e.name))
                else:
                    ignored.append(os.path.join(arg, e.name))
        else:
            paths.append(arg)
    if not paths:
        raise InputError(
            f"no snapshots found in {', '.join(args)}",
            "collect them with `gputk report -o NAME.tar.gz` on each machine (docs/cluster.md)",
        )
    return Inputs(tuple(dict.fromkeys(paths)), tuple(ignored))


def machine_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(path)) or path
    for suffix in SNAPSHOT_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base


@dataclass
class RootCause:
    check: str
    status: str
    summary: str
    fix: str | None
    machines: list[str] = field(default_factory=list)

    def to_dict(self, total: int) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix,
            "count": len(self.machines),
            "of": total,
            "machines": self.machines,
        }


@dataclass
class Outlier:
    fact: str
    majority: str
    majority_count: int
    machines: list[tuple[str, str]]  # (name, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fact": self.fact,
            "title": FACT_TITLES.get(self.fact, self.fact),
            "majority": self.majority,
            "majority_count": self.majority_count,
            "machines": [{"name": n, "value": v} for n, v in self.machines],
        }


@dataclass
class FleetReport:
    machines: list[dict[str, Any]]  # summaries from fleet_read, each with "name" and "status"
    check_ids: list[str]
    root_causes: list[RootCause]
    outliers: list[Outlier]
    pcie: list[dict[str, Any]]
    ignored: tuple[str, ...] = ()

    @property
    def readable(self) -> list[dict[str, Any]]:
        return [m for m in self.machines if m["readable"]]

    @property
    def unreadable(self) -> list[dict[str, Any]]:
        return [m for m in self.machines if not m["readable"]]

    def counts(self) -> dict[str, int]:
        c = Counter(m["status"] for m in self.machines)
        return {
            "machines": len(self.machines),
            "ok": c["ok"],
            "warn": c["warn"],
            "fail": c["fail"],
            "unreadable": c["unreadable"],
        }

    def exit_code(self, strict: bool = False) -> int:
        """0 when every machine was read and none fails; 1 otherwise (``strict``: warnings and outliers too)."""
        c = self.counts()
        if c["fail"] or c["unreadable"]:
            return 1
        if strict and (c["warn"] or self.outliers or self.pcie):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        total = len(self.readable)
        return {
            "summary": self.counts(),
            "checks": self.check_ids,
            "machines": [_machine_json(m) for m in self.machines],
            "root_causes": [r.to_dict(total) for r in self.root_causes],
            "outliers": [o.to_dict() for o in self.outliers],
            "pcie_below_max": self.pcie,
            "unreadable": [{"name": m["name"], "path": m["path"], "reason": m["reason"]} for m in self.unreadable],
            "ignored": list(self.ignored),
        }


def _machine_json(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "path", "status", "reason", "host", "created", "gputk_version", "checks", "facts", "gpus")
    return {k: m.get(k) for k in keys}


def _status(m: dict[str, Any]) -> str:
    if not m["readable"]:
        return "unreadable"
    statuses = set(m["checks"].values())
    if statuses & {"fail", "error"}:
        return "fail"
    return "warn" if "warn" in statuses else "ok"


def build_report(
    summaries: Iterable[dict[str, Any]], check_ids: Sequence[str], ignored: Sequence[str] = ()
) -> FleetReport:
    """The fleet view of machine summaries (in any order; the report sorts them by name)."""
    machines = sorted(summaries, key=lambda m: (m["name"], m["path"]))
    _unique_names(machines)
    for m in machines:
        m["status"] = _status(m)
    readable = [m for m in machines if m["readable"]]
    return FleetReport(
        machines=machines,
        check_ids=list(check_ids),
        root_causes=root_causes(readable),
        outliers=outliers(readable),
        pcie=pcie_below_max(readable),
        ignored=tuple(ignored),
    )


def _unique_names(machines: list[dict[str, Any]]) -> None:
    seen = Counter(m["name"] for m in machines)
    for m in machines:
        if seen[m["name"]] > 1:
            m["name"] = m["path"]


def normalize(summary: str) -> str:
    """A summary with the machine-specific parts (numbers, versions, paths) masked out."""
    return _VARIABLE.sub("#", summary)


def root_causes(machines: Sequence[dict[str, Any]]) -> list[RootCause]:
    """Problems grouped by (check, status, finding), most machines first."""
    groups: dict[tuple[str, str, str], RootCause] = {}
    examples: dict[tuple[str, str, str], Counter[str]] = {}
    for m in machines:
        for p in m["problems"]:
            key = (p["id"], p["status"], normalize(p["summary"]))
            if key not in groups:
                groups[key] = RootCause(p["id"], p["status"], p["summary"], p.get("fix"))
                examples[key] = Counter()
            groups[key].machines.append(m["name"])
            examples[key][p["summary"]] += 1
    for key, group in groups.items():
        group.summary = examples[key].most_common(1)[0][0]
    return sorted(groups.values(), key=lambda g: (_SEVERITY.get(g.status, 9), -len(g.machines), g.check))


def outliers(machines: Sequence[dict[str, Any]]) -> list[Outlier]:
    """For each fact, the machines whose value differs from the fleet's most common one."""
    found: list[Outlier] = []
    for fact in OUTLIER_FACTS:
        values = [(m["name"], m["facts"].get(fact) or ABSENT) for m in machines]
        counts = Counter(v for _, v in values)
        if len(counts) < 2:
            continue
        majority, n = counts.most_common(1)[0]
        found.append(Outlier(fact, majority, n, [(name, v) for name, v in values if v != majority]))
    return found


def pcie_below_max(machines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """GPUs whose PCIe link runs narrower than its maximum width (a reseat or riser problem).

    The link *generation* drops at idle to save power, so only the width is compared.
    """
    found = []
    for m in machines:
        for g in m.get("gpus") or []:
            cur, top = g["pcie_width"]
            if isinstance(cur, int) and isinstance(top, int) and 0 < cur < top:
                found.append(
                    {"name": m["name"], "gpu": g["index"], "width": cur, "max_width": top, "model": g["name"]}
                )
    return found


def run_fleet(
    args: Sequence[str],
    reader: Callable[[str], dict[str, Any]],
    check_ids: Sequence[str],
    jobs: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    timeout_s: float | None = None,
) -> FleetReport:
    """The use case: expand the inputs, read each with ``reader`` in worker processes, build the view."""
    from gputk.services.fleet_read import PER_SNAPSHOT_TIMEOUT_S, read_all

    inputs = expand_inputs(args)
    paths = inputs.paths
    summaries = []
    total = len(paths)
    timeout = timeout_s if timeout_s is not None else PER_SNAPSHOT_TIMEOUT_S
    for done, (index, summary) in enumerate(read_all(paths, reader, jobs, timeout), start=1):
        summary["name"] = machine_name(paths[index])
        summaries.append(summary)
        if progress:
            progress(done, total, summary["name"])
    return build_report(summaries, check_ids, inputs.ignored)
