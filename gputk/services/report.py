"""``gputk report``: capture a snapshot of this machine (docs/snapshot.md).

The capture runs a fixed list of commands with the exact argv documented in
the snapshot format (so snapshots made by hand or by other tools line up),
reads a fixed list of files, and then runs gputk's own probes through a
:class:`~gputk.services.recording.RecordingHost`, which records everything
they look at. Identifiers are redacted by default (services/redact.py).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import importlib
import os
import platform
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gputk import __version__
from gputk.errors import InputError
from gputk.host import Host, LiveHost
from gputk.parallel import warm
from gputk.probes.python_env import python_env
from gputk.services.recording import RecordingHost
from gputk.services.redact import REDACTED_HOST, Redactor, gpu_environment
from gputk.snapshot import SnapshotWriter, pack

# (argv, timeout in seconds). The argv are part of the snapshot contract.
COMMANDS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("nvidia-smi", "-q", "-x"), 20.0),
    (("nvidia-smi",), 20.0),
    (("nvidia-smi", "-L"), 20.0),
    (("lspci", "-vmm", "-nn", "-k", "-D"), 10.0),
    (("lshw", "-C", "display", "-json"), 30.0),
    (("nvcc", "--version"), 10.0),
    (("ldconfig", "-p"), 10.0),
    (("mokutil", "--sb-state"), 10.0),
)

# Files whose contents are facts (globs allowed).
FILES: tuple[str, ...] = (
    "/proc/driver/nvidia/version",
    "/proc/driver/nvidia/gpus/*/information",
    "/sys/module/nvidia/version",
    "/sys/module/nvidia_*/version",
    "/proc/version",
    "/proc/modules",
    "/proc/1/cgroup",
    "/etc/os-release",
    "/etc/modprobe.d/*nouveau*",
    "/etc/modprobe.d/*nvidia*",
    "/sys/bus/pci/devices/*/vendor",
    "/sys/bus/pci/devices/*/device",
    "/sys/bus/pci/devices/*/class",
    "/sys/bus/pci/devices/*/subsystem_vendor",
    "/sys/bus/pci/devices/*/subsystem_device",
    "/usr/local/cuda*/version.json",
    "/usr/local/cuda*/version.txt",
    "/usr/local/cuda*/include/cudnn_version.h",
    "/usr/local/cuda*/include/cudnn.h",
    "/usr/include/cudnn_version*.h",
    "/usr/include/*-linux-gnu/cudnn_version*.h",
    "/opt/cuda*/version.json",
)

# Paths whose names (and link targets) are the facts: libraries, binaries, device nodes, markers.
NAMES: tuple[str, ...] = (
    "/sys/bus/pci/devices/*/driver",
    "/dev/nvidia*",
    "/dev/dxg",
    "/.dockerenv",
    "/run/.containerenv",
    "/usr/lib/wsl/lib/*",
    "/usr/local/cuda*",
    "/usr/local/cuda*/bin/nvcc",
    "/usr/local/cuda*/lib64/lib*.so*",
    "/usr/local/cuda*/targets/*/lib/lib*.so*",
    "/opt/cuda*",
    "/usr/bin/nvcc",
    "/usr/lib/*-linux-gnu/libcuda.so*",
    "/usr/lib/*-linux-gnu/libnvidia-ml.so*",
    "/usr/lib/*-linux-gnu/libcudnn*.so*",
    "/usr/lib/*-linux-gnu/libcudart.so*",
    "/usr/lib/*-linux-gnu/libnvidia-*.so*",
    "/usr/lib64/libcuda.so*",
    "/usr/lib64/libnvidia-ml.so*",
    "/usr/lib64/libcudnn*.so*",
    "/lib/modules/{release}/updates/dkms/nvidia*",
    "/lib/modules/{release}/kernel/drivers/video/nvidia*",
    "/lib/modules/{release}/extra/nvidia*",
    "/lib/modules/{release}/kernel/drivers/gpu/drm/nouveau*",
)

TOOLS: tuple[str, ...] = (
    "nvidia-smi",
    "nvcc",
    "lspci",
    "lshw",
    "inxi",
    "python3",
    "python",
    "mokutil",
    "ldconfig",
    "dkms",
    "docker",
    "nvidia-ctk",
    "nvidia-container-cli",
    "conda",
)

# Probe entry points run through the recording host, as (module, function):
# each takes a Host. Missing modules are skipped, so the capture grows with
# the probes without changing this service.
PROBES: tuple[tuple[str, str], ...] = (
    ("gputk.probes.pci", "pci_gpus"),
    ("gputk.probes.nvml", "nvml_query"),
    ("gputk.probes.nvidia_smi", "smi_query"),
    ("gputk.probes.lshw", "lshw_query"),
    ("gputk.probes.cuda", "find_toolkits"),
    ("gputk.probes.cuda", "active_nvcc"),
    ("gputk.probes.cuda", "pip_cuda_wheels"),
    ("gputk.probes.cudnn", "find_cudnn"),
    ("gputk.probes.driver", "kernel_driver_state"),
    ("gputk.probes.platform", "platform_info"),
)
FRAMEWORK_PROBES: tuple[tuple[str, str], ...] = (("gputk.probes.frameworks", "probe_frameworks"),)

Progress = Callable[[int, int, str], None]
STDOUT = "-"  # `-o -`: the tarball goes to stdout


@dataclass
class ReportResult:
    path: Path
    commands: int
    files: int
    redacted: bool
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "commands": self.commands,
            "files": self.files,
            "redacted": self.redacted,
            "warnings": self.warnings,
        }


def default_output(now: _dt.datetime | None = None) -> Path:
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(f"gputk-report-{stamp}.tar.gz")


def make_redactor(redact: bool, env: dict[str, str] | None = None) -> Redactor:
    env = dict(os.environ) if env is None else env
    user: str | None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = env.get("USER")
    return Redactor(
        hostname=socket.gethostname() or None,
        username=user,
        home=env.get("HOME") or os.path.expanduser("~"),
        enabled=redact,
    )


def capture(
    output: Path | None = None,
    redact: bool = True,
    frameworks: bool = True,
    progress: Progress | None = None,
    inner: LiveHost | None = None,
    stream: BinaryIO | None = None,
) -> ReportResult:
    """Capture this machine into ``output`` (a ``.tar.gz`` or a directory that must not exist).

    ``output`` ``-`` writes the ``.tar.gz`` to ``stream`` (stdout) instead, for collecting
    from many machines at once (``srun -N64 --output=%N.tar.gz gputk report -o -``).
    """
    output = output or default_output()
    if str(output) == STDOUT:
        return _capture_to_stream(stream or sys.stdout.buffer, redact, frameworks, progress, inner)
    as_tar = output.name.endswith((".tar.gz", ".tgz"))
    if output.exists() or output.is_symlink():
        raise InputError(f"{output} already exists; not overwriting it", "choose another path with -o")
    if not output.parent.is_dir():
        raise InputError(f"directory {output.parent} does not exist")
    inner = (inner or LiveHost()).remembering()
    redactor = make_redactor(redact, dict(inner.env))
    work = Path(tempfile.mkdtemp(prefix="gputk-report-", dir=output.parent if not as_tar else None))
    snap_dir = work / "snapshot"
    try:
        writer = SnapshotWriter(snap_dir, __version__)
        host = RecordingHost(inner, writer, redactor)
        warnings = _capture_into(host, writer, redactor, frameworks, progress)
        writer.write_manifest()
        n_files = sum(1 for _ in (snap_dir / "root").rglob("*"))
        if as_tar:
            pack(snap_dir, output)
        else:
            shutil.move(str(snap_dir), str(output))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ReportResult(output, len(writer.manifest["commands"]), n_files, redact, warnings)


def _capture_to_stream(
    stream: BinaryIO,
    redact: bool,
    frameworks: bool,
    progress: Progress | None,
    inner: LiveHost | None,
) -> ReportResult:
    """Capture into a temporary tarball, then copy it to ``stream`` in one piece."""
    if stream.isatty():
        raise InputError(
            "refusing to write a binary tarball to a terminal", "redirect it: gputk report -o - > snap.tar.gz"
        )
    work = Path(tempfile.mkdtemp(prefix="gputk-report-"))
    try:
        result = capture(work / default_output().name, redact, frameworks, progress, inner)
        with open(result.path, "rb") as fh:
            shutil.copyfileobj(fh, stream)
        stream.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ReportResult(Path(STDOUT), result.commands, result.files, result.redacted, result.warnings)


def _capture_into(
    host: RecordingHost,
    writer: SnapshotWriter,
    redactor: Redactor,
    frameworks: bool,
    progress: Progress | None,
) -> list[str]:
    uname = host.uname()
    writer.set_platform(
        system=uname["system"],
        node=REDACTED_HOST if redactor.enabled else uname["node"],
        release=uname["release"],
        version=uname["version"],
        machine=uname["machine"],
        python=platform.python_version(),
        gputk_python=redactor.path(sys.executable),
    )
    writer.set_env(redactor.data(gpu_environment(host.env)))
    # Every step at once on the remembering live host (hung tools cut off together), then in
    # order through the recording host, which gets the remembered answers: a fixed snapshot.
    warm(*(step for _, step in _steps(host.inner, uname["release"], frameworks)))
    steps = _steps(host, uname["release"], frameworks)
    warnings: list[str] = []
    for i, (label, step) in enumerate(steps):
        if progress:
            progress(i, len(steps), label)
        try:
            step()
        except Exception as exc:  # one failing probe must not lose the whole report
            warnings.append(f"{label}: {type(exc).__name__}: {exc}")
    if progress:
        progress(len(steps), len(steps), "done")
    return warnings


def _steps(host: Host, release: str, frameworks: bool) -> list[tuple[str, Callable[[], object]]]:
    steps: list[tuple[str, Callable[[], object]]] = []
    for argv, timeout in COMMANDS:
        steps.append((" ".join(argv), _command_step(host, argv, timeout)))
    steps.append(("files", lambda: _read_files(host, release)))
    steps.append(("tools on PATH", lambda: [host.which(t) for t in TOOLS]))
    steps.append(("python environment", lambda: python_env(host)))
    probes = PROBES + (FRAMEWORK_PROBES if frameworks else ())
    for mod_name, fn_name in probes:
        steps.append((f"{mod_name.rsplit('.', 1)[-1]}.{fn_name}", _probe_step(host, mod_name, fn_name)))
    return steps


def _read_files(host: Host, release: str) -> None:
    for pattern in FILES:
        for path in host.glob(pattern):
            host.read_bytes(path)
    for pattern in NAMES:
        for path in host.glob(pattern.format(release=release)):
            with contextlib.suppress(OSError):
                host.readlink(path)


def _command_step(host: Host, argv: tuple[str, ...], timeout: float) -> Callable[[], object]:
    return lambda: host.run(argv, timeout=timeout)


def _probe_step(host: Host, mod_name: str, fn_name: str) -> Callable[[], object]:
    def step() -> object:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError:
            return None
        fn = getattr(mod, fn_name)  # a renamed probe must fail loudly (report warnings), not vanish
        return fn(host)

    return step
