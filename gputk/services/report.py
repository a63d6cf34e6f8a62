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
from gputk.probes import catalogue
from gputk.probes.capture import Command, Entry
from gputk.services.recording import RecordingHost
from gputk.services.redact import REDACTED_HOST, Redactor, gpu_environment
from gputk.snapshot import SnapshotWriter, pack

# What the report records is what the probes declare (gputk/probes/catalogue.py):
# the commands with the exact argv of the snapshot contract, the files whose
# contents are facts, the paths whose names and link targets are facts, the
# programs looked up on PATH, and the probe entry points.
COMMANDS: tuple[Command, ...] = catalogue.commands()
FILES: tuple[str, ...] = catalogue.files()
NAMES: tuple[str, ...] = catalogue.names()
TOOLS: tuple[str, ...] = catalogue.tools()

Progress = Callable[[int, int, str], None]
STDOUT = "-"  # `-o -`: the tarball goes to stdout


@dataclass
class ReportResult:
    path: Path
    commands: int
    files: int
    redacted: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
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
    for cap in catalogue.CAPTURES:
        if cap.framework and not frameworks:
            continue
        for entry in cap.entries:
            steps.append((f"{cap.name}.{entry.__name__}", _probe_step(host, entry)))
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


def _probe_step(host: Host, entry: Entry) -> Callable[[], object]:
    return lambda: entry(host)
