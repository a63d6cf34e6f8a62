"""Every probe's :class:`~gputk.probes.capture.Capture`, imported directly (a missing or
renamed probe is an import error, never a silent gap in a snapshot).

``gputk report`` records exactly what these declare; a new probe adds its
``CAPTURE`` here (docs/contributing.md, "Add a check").
"""

from __future__ import annotations

from gputk.probes import (
    cuda,
    cudnn,
    driver,
    frameworks,
    kernel_log,
    lshw,
    nvidia_smi,
    nvml,
    pci,
    platform,
    python_env,
    system,
)
from gputk.probes.capture import Capture, Command

CAPTURES: tuple[Capture, ...] = (
    nvidia_smi.CAPTURE,
    pci.CAPTURE,
    lshw.CAPTURE,
    cuda.CAPTURE,
    driver.CAPTURE,
    platform.CAPTURE,
    python_env.CAPTURE,
    nvml.CAPTURE,
    cudnn.CAPTURE,
    kernel_log.CAPTURE,
    system.CAPTURE,
    frameworks.CAPTURE,
)


def commands() -> tuple[Command, ...]:
    """Every command any probe runs, once, in catalogue order."""
    return tuple(dict.fromkeys(c for cap in CAPTURES for c in cap.commands))


def files() -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for cap in CAPTURES for f in cap.files))


def names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for cap in CAPTURES for n in cap.names))


def tools() -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for cap in CAPTURES for t in cap.tools))
