"""The user's Python environment: which interpreter, venv/conda, site-packages.

gputk itself often lives in its own environment (pipx), while the frameworks
the user cares about live in the environment they work in. So facts about
"the Python environment" are taken from the *target* interpreter, chosen by:
``$GPUTK_PYTHON`` if set; else the active virtualenv's or conda env's python
(``$VIRTUAL_ENV/bin/python``, ``$CONDA_PREFIX/bin/python``); else ``python3``
on PATH; else the interpreter running gputk.

Shell equivalent: ``python3 -c 'import sys, site; print(sys.prefix, site.getsitepackages())'``.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import sys
import weakref
from typing import Any

from gputk.host import Host
from gputk.probes.capture import Capture

PROBE_NAME = "python"

_SCRIPT = r"""
import json, os, platform, site, sys, sysconfig
paths = []
try:
    paths = list(site.getsitepackages())
except Exception:
    pass
for key in ("purelib", "platlib"):
    p = sysconfig.get_paths().get(key)
    if p and p not in paths:
        paths.append(p)
try:
    user = site.getusersitepackages()
except Exception:
    user = None
print(json.dumps({
    "status": "ok",
    "executable": sys.executable,
    "version": platform.python_version(),
    "implementation": platform.python_implementation(),
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "in_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
    "conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
    "site_packages": paths,
    "user_site": user,
}))
"""


def target_python(host: Host) -> str:
    """The interpreter whose environment gputk reports on (see module docstring)."""
    env = host.env
    if env.get("GPUTK_PYTHON"):
        return env["GPUTK_PYTHON"]
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if env.get(var):
            cand = posixpath.join(env[var], "bin", "python")
            if host.exists(cand):
                return cand
    found = host.which("python3")
    if found:
        return found
    return sys.executable


# One answer per host: toolkit, cuDNN, wheel and framework probes all ask, and each live
# answer costs a child interpreter (~0.1 s, more behind a pyenv shim).
_CACHE: weakref.WeakKeyDictionary[Host, dict[str, Any]] = weakref.WeakKeyDictionary()


def python_env(host: Host, timeout: float = 20.0) -> dict[str, Any]:
    """Facts about the target interpreter; ``{"status": "unavailable", ...}`` when it cannot run.

    Asked once per host object; later calls get the same answer.
    """
    try:
        return _CACHE[host]
    except (KeyError, TypeError):
        pass

    def live() -> dict[str, Any]:
        exe = target_python(host)
        res = host.run([exe, "-c", _SCRIPT], timeout=timeout)
        if not res.ok:
            return {"status": "unavailable", "executable": exe, "detail": res.describe(), "error": res.error}
        try:
            data = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"status": "error", "executable": exe, "detail": "unreadable output"}
        return data if isinstance(data, dict) else {"status": "error", "executable": exe}

    result = host.python_probe(PROBE_NAME, live)
    answer = result if result is not None else {"status": "not-captured"}
    with contextlib.suppress(TypeError):
        _CACHE[host] = answer
    return answer


CAPTURE = Capture("python", entries=(python_env,))
