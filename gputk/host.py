"""The seam between gputk and a machine.

Every fact gputk knows about a machine comes through a :class:`Host`: running a
command, reading a file, listing paths, reading environment variables, finding
a program on PATH, and in-process probes (NVML, frameworks). :class:`LiveHost`
answers from this machine; ``gputk.snapshot.SnapshotHost`` answers the same
calls from a captured snapshot. Probes and checks are written once against the
protocol, so the same code diagnoses this machine, a snapshot a colleague
sent, and the fixtures in the tests.

This module is the only place in gputk that imports :mod:`subprocess`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob as _glob
import os
import platform
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from concurrent.futures import Future

from gputk.models.core import CommandResult

DEFAULT_TIMEOUT_S = 10.0
MAX_READ_BYTES = 8 * 1024 * 1024
# What one stream of a command may print before gputk stops reading and stops the program.
# nvidia-smi -q -x on an 8-GPU server prints well under 1 MiB; ldconfig -p a few hundred KiB.
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
MAX_ERROR_BYTES = 1024 * 1024  # stderr holds messages, not data: a tool's error is one screen
_EXIT_GRACE_S = 1.0  # the program ended but a helper it left behind holds the pipes open
_DRAIN_S = 2.0  # after a kill, what is still in the pipes

# Every command gputk started and is still waiting on, so that Ctrl-C can stop them (they run
# in their own process groups and would not see the terminal's SIGINT). Re-entrant: the signal
# handler runs on the main thread, possibly while it holds the lock.
_children_lock = threading.RLock()
_children: set[subprocess.Popen[bytes]] = set()
_interrupted = threading.Event()

ProbeFn = Callable[[], dict[str, Any]]

# Environment variables a child keeps: the ones that decide where libraries and
# programs are found and which GPUs are visible. Everything else is dropped so
# a child behaves the same for every user (docs/design.md habit 3).
_CHILD_ENV_KEEP = (
    "PATH",
    "HOME",
    "USER",
    "LD_LIBRARY_PATH",
    "CUDA_HOME",
    "CUDA_PATH",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "TMPDIR",
    "SYSTEMROOT",
)
_CHILD_ENV_PREFIXES = ("NVIDIA_", "NUMBA_", "TF_", "XLA_", "JAX_", "CUPY_")

# Test hook: a callable that may raise for argv a test must not run for real.
# tests/conftest.py sets it so no test reaches the real GPU tools by accident.
run_guard: Callable[[Sequence[str]], None] | None = None


def timeout_scale(environ: Mapping[str, str]) -> float:
    """``$GPUTK_TIMEOUT_SCALE``: a factor on every external command's timeout (3 on a machine
    where tools are slow to answer; the hang tests use 0.1). Unset or unusable: 1."""
    raw = environ.get("GPUTK_TIMEOUT_SCALE", "")
    try:
        value = float(raw[:20]) if raw else 1.0
    except ValueError:
        return 1.0
    return min(max(value, 0.01), 100.0) if value == value else 1.0


def child_environment(base: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a child process: C locale plus the GPU-relevant variables."""
    env = {k: v for k, v in base.items() if k in _CHILD_ENV_KEEP or k.startswith(_CHILD_ENV_PREFIXES)}
    env.setdefault("PATH", os.defpath)
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    if extra:
        env.update(extra)
    return env


@runtime_checkable
class Host(Protocol):
    """What gputk may ask of a machine. Absent things are answers, not exceptions."""

    @property
    def live(self) -> bool:
        """True for this machine, False for a snapshot."""
        ...

    @property
    def label(self) -> str:
        """Where the facts come from, for messages ("this machine", "snapshot X")."""
        ...

    @property
    def env(self) -> Mapping[str, str]: ...

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...

    def read_text(self, path: str, max_bytes: int = MAX_READ_BYTES) -> str | None: ...

    def read_bytes(self, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes | None: ...

    def exists(self, path: str) -> bool:
        """The path exists (following links)."""
        ...

    def lexists(self, path: str) -> bool:
        """The path exists itself (a dangling link counts)."""
        ...

    def is_dir(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool: ...

    def listdir(self, path: str) -> list[str]:
        """Sorted names in a directory; empty when it is absent or unreadable."""
        ...

    def glob(self, pattern: str) -> list[str]:
        """Sorted absolute paths matching a shell pattern (``*``, ``?``, ``[..]``; no ``**``)."""
        ...

    def readlink(self, path: str) -> str | None: ...

    def realpath(self, path: str) -> str: ...

    def which(self, name: str) -> str | None:
        """Where ``name`` resolves on the host's PATH, like ``command -v``."""
        ...

    def uname(self) -> dict[str, str]:
        """``{"system", "node", "release", "version", "machine"}``."""
        ...

    def python_probe(self, name: str, fn: ProbeFn) -> dict[str, Any] | None:
        """Result of an in-process probe: run ``fn`` live, or the recorded result.

        A snapshot returns what was captured under ``probes.<name>``, or None
        when that probe was not captured.
        """
        ...


class LiveHost:
    """This machine."""

    live = True
    label = "this machine"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = dict(os.environ if environ is None else environ)
        self._memo: dict[tuple[Any, ...], Future[CommandResult]] | None = None
        self._memo_lock = threading.Lock()

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run ``argv`` with a timeout and an output cap in a clean environment; never raises.

        The child gets its own process group, so on timeout the whole group is
        killed (nvidia-smi on a wedged driver hangs in uninterruptible calls,
        and its helpers would otherwise keep the pipes open). Each stream keeps
        at most :data:`MAX_OUTPUT_BYTES`; a program printing more is stopped and
        its result says ``truncated``. On a host made by :meth:`remembering`,
        the same argv and env are run once and every asker gets that answer.
        """
        argv = tuple(str(a) for a in argv)
        if not argv:
            raise ValueError("empty argv")
        if self._memo is None:
            return self._run(argv, timeout, env)
        key = (argv, tuple(sorted((env or {}).items())))
        with self._memo_lock:
            future = self._memo.get(key)
            owner = future is None
            if future is None:
                from concurrent.futures import Future  # loaded on first use: not at start-up

                future = self._memo[key] = Future()
        if owner:
            try:
                future.set_result(self._run(argv, timeout, env))
            except BaseException as exc:  # handed to every asker (the owner re-raises it below)
                future.set_exception(exc)
        return future.result()

    def _run(self, argv: tuple[str, ...], timeout: float, env: Mapping[str, str] | None) -> CommandResult:
        if run_guard is not None:
            run_guard(argv)
        if _interrupted.is_set():
            return CommandResult(argv=argv, error="os-error", detail="interrupted")
        timeout *= timeout_scale(self._env)
        child_env = child_environment(self._env, env)
        exe = argv[0]
        if os.sep not in exe and shutil.which(exe, path=child_env.get("PATH")) is None:
            return CommandResult(argv=argv, error="not-found")
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env,
                start_new_session=True,
            )
        except FileNotFoundError:
            return CommandResult(argv=argv, error="not-found")
        except PermissionError as exc:
            return CommandResult(argv=argv, error="permission", detail=str(exc))
        except OSError as exc:
            return CommandResult(argv=argv, error="os-error", detail=str(exc))
        with _children_lock:
            _children.add(proc)
        if _interrupted.is_set():
            _kill_group(proc)
        try:
            out, err, state = _collect(proc, start + timeout)
        finally:
            with _children_lock:
                _children.discard(proc)
        common: dict[str, Any] = {
            "argv": argv,
            "stdout": _decode(out),
            "stderr": _decode(err),
            "duration_s": time.monotonic() - start,
            "truncated": state == "truncated",
        }
        if state == "timeout":
            return CommandResult(error="timeout", timeout_s=timeout, **common)
        if state == "interrupted":
            return CommandResult(error="os-error", detail="interrupted", **common)
        return CommandResult(returncode=proc.returncode, **common)

    def remembering(self) -> LiveHost:
        """A host of the same environment that runs each command once (in-process probes still
        run each time: the commands they start are remembered).

        Used to run independent probes at once and then read their answers in a fixed
        order (``gputk report``): the second asker of the same argv gets the first answer.
        """
        twin = LiveHost(self._env)
        twin._memo = {}
        return twin

    def read_bytes(self, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read(max_bytes)
        except (OSError, ValueError):
            return None

    def read_text(self, path: str, max_bytes: int = MAX_READ_BYTES) -> str | None:
        data = self.read_bytes(path, max_bytes)
        return None if data is None else data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def lexists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def glob(self, pattern: str) -> list[str]:
        return sorted(_glob.glob(pattern))

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(path)
        except OSError:
            return None

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self._env.get("PATH", os.defpath))

    def uname(self) -> dict[str, str]:
        u = platform.uname()
        return {
            "system": u.system,
            "node": u.node,
            "release": u.release,
            "version": u.version,
            "machine": u.machine,
        }

    def python_probe(self, name: str, fn: ProbeFn) -> dict[str, Any] | None:
        """Run ``fn`` here. Its own failures are the probe's to report (each probe catches its
        library's errors); anything else is a bug in gputk and propagates."""
        return fn()


STREAM_INTERRUPT_GRACE_S = 3.0  # a terminal's Ctrl-C reaches the child too; give it time first
STREAM_INTERRUPT_WAIT_S = 60.0  # then the child may still be saving its state


def run_streaming(
    argv: Sequence[str],
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    stderr_path: str | os.PathLike[str],
    on_line: Callable[[str], None],
) -> tuple[int, bool]:
    """Run a long child to its end, handing each stdout line to ``on_line`` as it comes.

    For work that runs for minutes and must show progress while it happens (``gputk train``);
    :meth:`LiveHost.run` is for commands whose output is read once they end. ``env`` is used as
    given (build it with :func:`child_environment`); stderr goes to ``stderr_path``. On Ctrl-C the
    child, which got the terminal's SIGINT too, is given time to finish its own handling (save a
    checkpoint), then sent SIGINT, then killed. Returns (return code, interrupted).
    """
    if run_guard is not None:
        run_guard(tuple(argv))
    with open(stderr_path, "wb") as log:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
        )
        interrupted = False
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                on_line(raw.decode("utf-8", "replace"))
            rc = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            rc = _stop_streaming_child(proc)
            for raw in proc.stdout:  # the child's last words
                on_line(raw.decode("utf-8", "replace"))
    return rc, interrupted


def run_streaming_group(
    argvs: Sequence[Sequence[str]],
    cwd: str | os.PathLike[str],
    envs: Sequence[Mapping[str, str]],
    stderr_paths: Sequence[str | os.PathLike[str]],
    on_line: Callable[[int, str], None],
    timeout: float | None = None,
) -> tuple[list[int], str]:
    """Run several long children together (the workers of one training run) and stop them together.

    Each child's stdout lines go to ``on_line(index, line)`` (on this thread); its stderr to its own file.
    The first child that exits non-zero, the timeout, or Ctrl-C stops every other one: SIGINT to its
    process group (a worker saves its checkpoint; after Ctrl-C it gets a minute), then SIGKILL. Returns
    (return codes, how it ended: "done", "failed", "timeout" or "interrupted").
    """
    import queue

    lines: queue.Queue[tuple[int, bytes | None]] = queue.Queue()
    procs: list[subprocess.Popen[bytes]] = []
    threads: list[threading.Thread] = []

    def pump(index: int, stream: Any) -> None:
        for raw in stream:
            lines.put((index, raw))
        lines.put((index, None))

    def deliver(wait_s: float) -> bool:
        """Hand on one line; False when every stream has ended."""
        index, raw = lines.get(timeout=wait_s)
        if raw is not None:
            on_line(index, raw.decode("utf-8", "replace"))
        return raw is not None or any(t.is_alive() for t in threads) or not lines.empty()

    logs = [open(path, "wb") for path in stderr_paths]  # noqa: SIM115 - closed below
    state, deadline = "done", (time.monotonic() + timeout if timeout else None)
    try:
        for index, (argv, env) in enumerate(zip(argvs, envs, strict=True)):
            if run_guard is not None:
                run_guard(tuple(argv))
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=logs[index],
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            procs.append(proc)
            threads.append(threading.Thread(target=pump, args=(index, proc.stdout), daemon=True))
            threads[-1].start()
        state = _watch_group(procs, deliver, deadline)
    except KeyboardInterrupt:
        state = "interrupted"
    finally:
        wait_s = {"done": STREAM_INTERRUPT_WAIT_S, "interrupted": STREAM_INTERRUPT_WAIT_S}.get(state, _DRAIN_S)
        codes = _stop_group(procs, wait_s, signal_first=state != "done")
        for log in logs:
            log.close()
    with contextlib.suppress(queue.Empty):  # the last words of the workers that were stopped
        while deliver(_DRAIN_S):
            pass
    if state == "done" and any(codes):
        state = "failed"
    return codes, state


def _watch_group(procs: Sequence[subprocess.Popen[bytes]], deliver: Callable[[float], bool],
                 deadline: float | None) -> str:
    """Hand on lines until every stream ends ("done"), a child fails ("failed") or the deadline passes."""
    import queue

    while True:
        if deadline is not None and time.monotonic() > deadline:
            return "timeout"
        if any(p.poll() not in (None, 0) for p in procs):
            return "failed"
        try:
            if not deliver(0.2):
                return "done"
        except queue.Empty:
            pass


def _stop_group(procs: Sequence[subprocess.Popen[bytes]], wait_s: float, signal_first: bool) -> list[int]:
    """SIGINT the children still running (when ``signal_first``), wait up to ``wait_s``, kill what is left."""
    running = [p for p in procs if p.poll() is None]
    for proc in running if signal_first else ():
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGINT)
    end = time.monotonic() + wait_s
    for proc in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(end - time.monotonic(), 0.01))
        if proc.poll() is None:
            _kill_group(proc)
    return [proc.wait() for proc in procs]


def _stop_streaming_child(proc: subprocess.Popen[bytes]) -> int:
    with contextlib.suppress(subprocess.TimeoutExpired):
        return proc.wait(timeout=STREAM_INTERRUPT_GRACE_S)
    proc.send_signal(signal.SIGINT)  # gputk was signalled alone (kill -INT): pass it on
    with contextlib.suppress(subprocess.TimeoutExpired):
        return proc.wait(timeout=STREAM_INTERRUPT_WAIT_S)
    proc.kill()
    return proc.wait()


def stop_children() -> None:
    """Kill every command gputk started and still waits on, with its process group, and refuse
    new ones (they answer ``os-error: interrupted``) until :func:`allow_children`. Safe to call
    from a signal handler."""
    _interrupted.set()
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        _kill_group(proc)


atexit.register(lambda: stop_children())  # a background probe's command must not outlive gputk


def allow_children() -> None:
    """Let commands run again (a new CLI invocation in the same process, the tests)."""
    _interrupted.clear()


_State = Literal["done", "timeout", "truncated", "interrupted"]


def _collect(proc: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes, _State]:
    """Read both pipes until the program ends, the deadline passes, or a stream passes the cap."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    caps = {out_fd: MAX_OUTPUT_BYTES, err_fd: MAX_ERROR_BYTES}
    state: _State = "done"
    exited_at: float | None = None
    with selectors.DefaultSelector() as sel:
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                state = "timeout"
                break
            if _interrupted.is_set():
                state = "interrupted"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _EXIT_GRACE_S:
                break
            if _pump(sel, bufs, caps, min(deadline - now, 0.25)):
                state = "truncated"
                break
        if state != "done" or sel.get_map():
            _kill_group(proc)
            end = time.monotonic() + _DRAIN_S
            while sel.get_map() and time.monotonic() < end:
                if _pump(sel, bufs, caps, 0.1) and state == "done":
                    state = "truncated"
    proc.stdout.close()
    proc.stderr.close()
    try:
        proc.wait(timeout=max(0.1, deadline - time.monotonic()) if state == "done" else _DRAIN_S)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        state = "timeout" if state == "done" else state
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_DRAIN_S)
    if state == "done" and _interrupted.is_set():
        state = "interrupted"  # killed by stop_children: not the program's own answer
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), state


def _pump(
    sel: selectors.BaseSelector, bufs: dict[int, bytearray], caps: dict[int, int], wait_s: float
) -> bool:
    """One round of reads; True when a stream went past the cap (the excess is dropped)."""
    over = False
    for key, _ in sel.select(max(wait_s, 0.0)):
        fd = int(key.fd)
        try:
            chunk = os.read(fd, 1024 * 1024)
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(fd)
            continue
        buf = bufs[fd]
        room = caps[fd] - len(buf)
        buf += chunk[:room]
        over = over or len(chunk) > room
    return over


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        with contextlib.suppress(OSError):
            proc.kill()
