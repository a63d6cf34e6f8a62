"""The running side of `gputk train`: a training child with streamed progress, and a GPU sampler.

Why ``gputk.host.run_streaming`` and not ``Host.run``: ``Host.run`` runs a command to completion and returns
its output; training runs for minutes to hours and its progress must be shown while it happens, so the child's
stdout is read line by line as it comes. It still follows the host's rules: a clean child environment
(``gputk.host.child_environment``) and no shell.

Protocol: the generated ``train.py --progress json`` prints one JSON object per line on stdout
(``{"event": "epoch", "epoch": 1, "loss": 0.69, "accuracy": 0.51, "seconds": 4.2, "images_per_sec": 61.0}``);
anything else on stdout is ignored, and stderr (TensorFlow's logs) goes to ``train.log`` in the run folder.

GPU sampling goes through ``gputk.probes.nvml`` (the only pynvml user), once a second in a thread, the
equivalent of ``nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 1``. Memory is the
device's used memory (all processes), so a GPU shared with other jobs reads high.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gputk.host import run_streaming
from gputk.models.scaffold import GpuSampleSummary

SAMPLE_INTERVAL_S = 1.0


def parse_event(line: str) -> dict[str, Any] | None:
    """One progress line from the child, or None for anything that is not an event object."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("event"), str) else None


class GpuSampler:
    """Samples GPU utilisation and used memory in a background thread while training runs."""

    def __init__(self, query: Callable[[], list[tuple[str, float | None, float | None]]] | None = None) -> None:
        self._query = query or _nvml_sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.utilization: list[float] = []
        self.peak_memory_mib: float | None = None
        self.devices: list[str] = []
        self.available = True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gputk-gpu-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                rows = self._query()
            except Exception:  # a sampler must never take the training run down with it
                rows = []
            if not rows:
                self.available = bool(self.devices)
                if not self.devices:
                    return  # no GPU visible to NVML: nothing to sample
            for name, util, mem in rows:
                if name not in self.devices:
                    self.devices.append(name)
                if util is not None:
                    self.utilization.append(util)
                if mem is not None and (self.peak_memory_mib is None or mem > self.peak_memory_mib):
                    self.peak_memory_mib = mem
            self._stop.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> GpuSampleSummary:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if not self.devices:
            return GpuSampleSummary()
        mean = sum(self.utilization) / len(self.utilization) if self.utilization else None
        return GpuSampleSummary(
            source="nvml", samples=len(self.utilization), peak_memory_mib=self.peak_memory_mib,
            mean_utilization_pct=mean, devices=list(self.devices),
        )


def _nvml_sample() -> list[tuple[str, float | None, float | None]]:
    """(name, utilisation %, used MiB) per GPU from one NVML query; [] when NVML has no GPU."""
    from gputk.host import LiveHost
    from gputk.probes.nvml import nvml_query

    res = nvml_query(LiveHost())
    if res.status != "ok":
        return []
    return [
        (
            f"{g.index}: {g.name}",
            float(g.utilization_gpu_pct) if g.utilization_gpu_pct is not None else None,
            float(g.memory_used_mib) if g.memory_used_mib is not None else None,
        )
        for g in res.gpus
    ]


def run_child(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_event: Callable[[dict[str, Any]], None],
) -> tuple[int, bool]:
    """Run the training child to the end; returns (return code, interrupted by Ctrl-C)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def on_line(line: str) -> None:
        event = parse_event(line)
        if event is not None:
            on_event(event)

    rc, interrupted = run_streaming(argv, cwd, env, log_path, on_line)
    return rc, interrupted or rc == 130
