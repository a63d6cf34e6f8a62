"""Reading many snapshots for ``gputk fleet``: a pool of worker processes with a timeout each.

:func:`read_all` runs a reader (``gputk.doctor.summary.summarize_snapshot``: open one
snapshot with the snapshot reader's safety checks, run every check, keep a small
summary) in worker processes, one snapshot at a time each, and yields the summaries as
they finish, so the snapshots are streamed: only their summaries stay in memory. Each
worker's temporary files go to a private scratch folder emptied after every snapshot.

A snapshot whose reader raises, takes longer than the per-snapshot timeout, exhausts the
worker's memory cap or kills its worker is reported as unreadable with that reason
(:func:`read_machine`); the worker is replaced and the rest go on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from gputk.errors import GputkError

PER_SNAPSHOT_TIMEOUT_S = 60.0
WORKER_MEMORY_CAP = 1536 * 1024 * 1024  # address space of one reader; a hostile snapshot fails alone
SCRATCH_MIN_FREE = 4 * 1024 * 1024 * 1024  # room for a few snapshots at the reader's size cap


Reader = Callable[[str], dict[str, Any]]


def read_machine(path: str, reader: Reader) -> dict[str, Any]:
    """``reader(path)``, or ``{"readable": False, "reason": ...}`` when the snapshot cannot be read."""
    try:
        return reader(path)
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


# -- the pool ------------------------------------------------------------------------------------


def _worker(conn: Connection, reader: Reader, tmp_root: str, memory_cap: int) -> None:
    """Read the snapshots the parent sends, one at a time, inside a private temp folder."""
    with contextlib.suppress(ValueError, OSError, ImportError):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory_cap if hard == resource.RLIM_INFINITY else min(memory_cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    tempfile.tempdir = tmp_root  # anything a reader writes lands here, removed after each snapshot
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, path = msg
        result = read_machine(path, reader)
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
    """Where workers put temporary files: memory-backed /dev/shm when it has room (creating and
    removing many small files on a disk costs more than reading a snapshot), else the usual
    temp folder (None)."""
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
    reader: Reader,
    jobs: int | None = None,
    timeout_s: float = PER_SNAPSHOT_TIMEOUT_S,
    memory_cap: int = WORKER_MEMORY_CAP,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(index into paths, summary)`` as each snapshot is read, in completion order."""
    if not paths:
        return
    jobs = max(1, min(jobs or default_jobs(), len(paths)))
    # Not "fork": gputk may have threads running (probe pools, samplers), and a child forked while one
    # of them holds a lock deadlocks. Not "forkserver": its socket lives under TMPDIR, which may be too
    # deep for an AF_UNIX path. Workers are long-lived, so a clean interpreter each costs little.
    mp: Any = multiprocessing.get_context("spawn")
    tmp_base = tempfile.mkdtemp(prefix="gputk-fleet-", dir=scratch_base())
    slots: list[_Slot] = []
    todo = list(enumerate(paths))
    todo.reverse()
    remaining = len(paths)

    def start() -> _Slot:
        parent, child = mp.Pipe()
        tmp = tempfile.mkdtemp(dir=tmp_base)
        proc = mp.Process(target=_worker, args=(child, reader, tmp, memory_cap), daemon=True)
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
