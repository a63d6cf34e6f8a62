"""Running independent probes at once, so that hung tools are cut off together, not one by one.

Every external command has its own timeout (gputk.host); when several tools hang (a wedged
driver hangs nvidia-smi, lspci and NVML alike), asking them one after another adds the
timeouts up. :func:`gather` asks them together: a command then takes as long as its slowest
probe, not the sum.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any


def gather(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at once, one thread each, and return their results in order.

    An exception in one call is re-raised (the first, in order) once all have ended, so a bug
    is never lost. The threads are daemons: on Ctrl-C the main thread stops waiting at once
    (gputk.host.stop_children has killed the commands they wait on).
    """
    if len(calls) <= 1:
        return [call() for call in calls]
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def work(i: int, call: Callable[[], Any]) -> None:
        try:
            results[i] = call()
        except BaseException as exc:  # handed to the caller below, not swallowed
            errors[i] = exc

    threads = [
        threading.Thread(target=work, args=(i, call), name=f"gputk-probe-{i}", daemon=True)
        for i, call in enumerate(calls)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def warm(*calls: Callable[[], Any], wait: bool = True) -> None:
    """Run ``calls`` at once only for their side effect of filling a memo; results are dropped.

    For answers that are memoized (the doctor's facts, a remembering host's commands) and then
    asked for again in a fixed order by code that handles them. An error here is dropped
    because that later ask meets it again and handles it where it belongs; nothing is lost.
    With ``wait=False`` the calls run in the background and this returns at once.
    """

    def quietly(call: Callable[[], Any]) -> None:
        with contextlib.suppress(Exception):  # asked again later, where the error is handled
            call()

    threads = [
        threading.Thread(target=quietly, args=(call,), name=f"gputk-warm-{i}", daemon=True)
        for i, call in enumerate(calls)
    ]
    for t in threads:
        t.start()
    if wait:
        for t in threads:
            t.join()
