"""Reading many snapshots for ``gputk fleet``: one machine's summary, and a pool of worker processes.

:func:`read_machine` opens one snapshot through the snapshot reader (with all its
safety checks), runs every doctor check on it, and keeps only what the fleet view
needs: each check's status, the failures with their fix, and the facts compared
across machines (driver, CUDA, cuDNN, framework versions, GPU count and model,
PCIe link). The summary is a small plain dict, so a thousand of them fit in memory
while the snapshots themselves never do: each is opened, read and removed in turn.

:func:`read_all` runs :func:`read_machine` in worker processes (one snapshot at a
time each) and yields the summaries as they finish. A snapshot that takes longer
than the per-snapshot timeout, exhausts the worker's memory cap or kills its worker
is reported as unreadable with that reason; the worker is replaced and the rest go on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from gputk.errors import GputkError
from gputk.host import MAX_READ_BYTES

PER_SNAPSHOT_TIMEOUT_S = 60.0
WORKER_MEMORY_CAP = 1536 * 1024 * 1024  # address space of one reader; a hostile snapshot fails alone
FRAMEWORK_FACTS = ("torch", "tensorflow", "jax", "cupy", "numba")
PROBLEM_STATUSES = ("fail", "error", "warn")
SCRATCH_MIN_FREE = 4 * 1024 * 1024 * 1024  # room for a few snapshots at the reader's size cap


def read_machine(path: str) -> dict[str, Any]:
    """One snapshot as the fleet view needs it; ``{"readable": False, "reason": ...}`` when it cannot be read."""
    try:
        return _read(path)
    except GputkError as exc:
        return unreadable(path, exc.message)
    except MemoryError:
        return unreadable(path, "too large to read within the memory cap")
    except RecursionError:
        return unreadable(path, "nested too deeply to read")
    except Exception as exc:  # any surprise in one hostile snapshot must not stop the others
        return unreadable(path, f"{type(exc).__name__}: {exc}")


def unreadable(path: str, reason: str) -> dict[str, Any]:
    return {"path": path, "readable": False, "reason": reason[:300]}


class MemoHost:
    """A snapshot host that answers each question once: a snapshot never changes while it is
    read, and the checks ask the same paths many times (``/usr``, ``/usr/lib`` ...)."""

    live = False

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._memo: dict[tuple[Any, ...], Any] = {}
        self.label: str = inner.label
        self.env: Any = inner.env

    def _ask(self, *key: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = getattr(self._inner, key[0])(*key[1:])
        value = self._memo[key]
        return list(value) if isinstance(value, list) else value

    def run(self, argv: Sequence[str], timeout: float = 10.0, env: Any = None) -> Any:
        return self._ask("run", tuple(argv))

    def read_bytes(self, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes | None:
        return self._ask("read_bytes", path, max_bytes)  # type: ignore[no-any-return]

    def read_text(self, path: str, max_bytes: int = MAX_READ_BYTES) -> str | None:
        return self._ask("read_text", path, max_bytes)  # type: ignore[no-any-return]

    def exists(self, path: str) -> bool:
        return bool(self._ask("exists", path))

    def lexists(self, path: str) -> bool:
        return bool(self._ask("lexists", path))

    def is_dir(self, path: str) -> bool:
        return bool(self._ask("is_dir", path))

    def is_file(self, path: str) -> bool:
        return bool(self._ask("is_file", path))

    def listdir(self, path: str) -> list[str]:
        return self._ask("listdir", path)  # type: ignore[no-any-return]

    def glob(self, pattern: str) -> list[str]:
        return self._ask("glob", pattern)  # type: ignore[no-any-return]

    def readlink(self, path: str) -> str | None:
        return self._ask("readlink", path)  # type: ignore[no-any-return]

    def realpath(self, path: str) -> str:
        return self._ask("realpath", path)  # type: ignore[no-any-return]

    def which(self, name: str) -> str | None:
        return self._ask("which", name)  # type: ignore[no-any-return]

    def uname(self) -> dict[str, str]:
        return dict(self._ask("uname"))

    def python_probe(self, name: str, fn: Any) -> dict[str, Any] | None:
        return self._inner.python_probe(name, fn)  # type: ignore[no-any-return]


def _read(path: str) -> dict[str, Any]:
    from gputk.doctor.context import Context
    from gputk.doctor.runner import run_checks, select
    from gputk.snapshot import open_snapshot

    snapshot = open_snapshot(path)
    manifest = snapshot.manifest
    ctx = Context(MemoHost(snapshot), frameworks=True)
    report = run_checks(ctx, select(), max_workers=1)
    plat = manifest.get("platform") if isinstance(manifest.get("platform"), dict) else {}
    node = str(plat.get("node") or "") if isinstance(plat, dict) else ""
    return {
        "path": path,
        "readable": True,
        "reason": None,
        "host": node if node and not node.startswith("<") else None,
        "created": _str(manifest.get("created")),
        "gputk_version": _str(manifest.get("gputk_version")),
        "checks": {c.id: c.status for c in report.checks},
        "problems": [
            {
                "id": c.id,
                "status": c.status,
                "summary": c.summary,
                "fix": c.fix.text if c.fix else None,
            }
            for c in report.checks
            if c.status in PROBLEM_STATUSES
        ],
        "facts": _facts(ctx),
        "gpus": _gpus(ctx),
    }


def _str(v: object) -> str | None:
    return str(v)[:200] if isinstance(v, (str, int, float)) else None


def _facts(ctx: Any) -> dict[str, str | None]:
    plat = ctx.platform()
    nvcc = ctx.nvcc()
    cudnn = sorted({c.version for c in ctx.cudnn() if c.version})
    gpus = ctx.gpus()
    models = sorted({g.name for g in gpus})
    facts: dict[str, str | None] = {
        "os": plat.distro_name,
        "kernel": plat.kernel or None,
        "driver": ctx.driver_version()[0],
        "cuda_driver": ctx.driver_cuda()[0],
        "cuda_toolkit": nvcc.version if nvcc.status == "ok" else None,
        "cudnn": ", ".join(cudnn) or None,
        "gpu_count": str(len(gpus)),
        "gpu_model": " + ".join(models) or None,
    }
    for name in FRAMEWORK_FACTS:
        fw = ctx.framework(name)
        status = fw.get("status")
        if status == "ok":
            facts[name] = _str(fw.get("version")) or "unknown version"
        elif status in (None, "not-installed", "not-captured", "not-probed"):
            facts[name] = None
        else:
            facts[name] = f"({status})"
    return facts


def _gpus(ctx: Any) -> list[dict[str, Any]]:
    """Per GPU: index, name and the PCIe link (current and max), from NVML or nvidia-smi."""
    nv = ctx.nvml()
    records = nv.gpus if nv.status == "ok" and nv.gpus else ctx.smi().gpus
    out = []
    for i, g in enumerate(records):
        out.append(
            {
                "index": g.index if g.index is not None else i,
                "name": g.name,
                "pcie_gen": [g.pcie_gen_current, g.pcie_gen_max],
                "pcie_width": [g.pcie_width_current, g.pcie_width_max],
            }
        )
    return out


# -- the pool ------------------------------------------------------------------------------------


def _worker(conn: Connection, tmp_root: str, memory_cap: int) -> None:
    """Read the snapshots the parent sends, one at a time, inside a private temp folder."""
    with contextlib.suppress(ValueError, OSError, ImportError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory_cap if hard == resource.RLIM_INFINITY else min(memory_cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    tempfile.tempdir = tmp_root  # extracted tarballs land here, and are removed after each snapshot
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, path = msg
        result = read_machine(path)
        _empty(tmp_root)
        try:
            conn.send((index, result))
        except (OSError, ValueError):
            return


def _empty(folder: str) -> None:
    for name in os.listdir(folder):
        p = os.path.join(folder, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(p)


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    tmp: str
    task: tuple[int, str] | None = None
    started: float = 0.0


def scratch_base() -> str | None:
    """Where workers extract tarballs: memory-backed /dev/shm when it has room (a snapshot is
    hundreds of small files, and creating and removing them on a disk costs more than reading
    them), else the usual temp folder (None)."""
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    room = st.f_bavail * st.f_frsize
    if room < SCRATCH_MIN_FREE or not os.access(shm, os.W_OK | os.X_OK):
        return None
    return shm


def default_jobs() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def read_all(
    paths: Sequence[str],
    jobs: int | None = None,
    timeout_s: float = PER_SNAPSHOT_TIMEOUT_S,
    memory_cap: int = WORKER_MEMORY_CAP,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(index into paths, summary)`` as each snapshot is read, in completion order."""
    if not paths:
        return
    jobs = max(1, min(jobs or default_jobs(), len(paths)))
    methods = multiprocessing.get_all_start_methods()
    mp = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    tmp_base = tempfile.mkdtemp(prefix="gputk-fleet-", dir=scratch_base())
    slots: list[_Slot] = []
    todo = list(enumerate(paths))
    todo.reverse()
    remaining = len(paths)

    def start() -> _Slot:
        parent, child = mp.Pipe()
        tmp = tempfile.mkdtemp(dir=tmp_base)
        proc = mp.Process(target=_worker, args=(child, tmp, memory_cap), daemon=True)
        proc.start()
        child.close()
        return _Slot(proc, parent, tmp)

    def stop(slot: _Slot) -> None:
        with contextlib.suppress(OSError):
            slot.conn.close()
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(timeout=5)
        shutil.rmtree(slot.tmp, ignore_errors=True)

    try:
        slots = [start() for _ in range(jobs)]
        while remaining:
            for slot in slots:
                if slot.task is None and todo:
                    slot.task = todo.pop()
                    slot.started = time.monotonic()
                    slot.conn.send(slot.task)
            busy = [s for s in slots if s.task is not None]
            ready = wait([s.conn for s in busy], timeout=1.0)
            now = time.monotonic()
            for i, slot in enumerate(slots):
                if slot.task is None:
                    continue
                index, path = slot.task
                result: dict[str, Any] | None = None
                replace = False
                if slot.conn in ready:
                    try:
                        _, result = slot.conn.recv()
                    except (EOFError, OSError):
                        slot.process.join(timeout=5)
                        code = slot.process.exitcode
                        result = unreadable(path, f"the reader died on it (exit code {code})")
                        replace = True
                elif now - slot.started > timeout_s:
                    result = unreadable(path, f"reading took longer than {timeout_s:g} s; gave up")
                    replace = True
                if result is None:
                    continue
                if replace:
                    stop(slot)
                    slots[i] = start()
                else:
                    slot.task = None
                remaining -= 1
                yield index, result
    finally:
        for slot in slots:
            with contextlib.suppress(OSError, ValueError):
                slot.conn.send(None)
        for slot in slots:
            slot.process.join(timeout=2)
            stop(slot)
        shutil.rmtree(tmp_base, ignore_errors=True)
