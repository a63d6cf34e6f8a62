"""Which interpreter `gputk train` runs a project with, and whether that interpreter can run it.

Order of choice: ``--python``; ``$GPUTK_PYTHON``; the active virtualenv or conda env; otherwise ``python3``
on PATH - unless that one lacks keras while the interpreter gputk itself runs in has it (the usual case
after ``pip install 'gputk[tf]'`` into a venv that is not activated), then gputk's own. The choice and the
reason are always reported, so a user never has to guess which Python trained their model.

Before a run starts, the chosen interpreter is asked (through the Host, with a timeout) which of keras, the
project's backend and the project's other imports it can find (``importlib.util.find_spec``: seconds
cheaper than importing TensorFlow, and enough to catch the usual "installed into another environment").
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gputk.errors import InputError
from gputk.host import Host

BACKENDS = ("tensorflow", "torch", "jax")
PROBE_TIMEOUT_S = 60.0
_PROBE = r"""
import importlib.util, json, sys
found = {}
for name in ("keras", "tensorflow", "torch", "jax", "numpy", "matplotlib", "PIL", "tomli"):
    try:
        found[name] = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found[name] = False
try:
    from importlib.metadata import version
    keras_version = version("keras")
except Exception:
    keras_version = None
print(json.dumps({"modules": found, "keras": keras_version, "python": list(sys.version_info[:2])}))
"""
# Distribution names for the install hint (the import name of Pillow is PIL).
_PACKAGE = {"PIL": "pillow", "tensorflow": "tensorflow", "tomli": "tomli"}


@dataclass(frozen=True)
class Interpreter:
    path: str
    why: str  # one phrase: "--python", "$GPUTK_PYTHON", "the active virtualenv", "gputk's own (...)"


@dataclass(frozen=True)
class PythonFacts:
    """What an interpreter can import; ``error`` when it could not be asked."""

    modules: dict[str, bool]
    keras_version: str | None = None
    version: tuple[int, int] | None = None
    error: str | None = None

    def has(self, name: str) -> bool:
        return self.modules.get(name, False)


def probe(host: Host, python: str) -> PythonFacts:
    res = host.run([python, "-c", _PROBE], timeout=PROBE_TIMEOUT_S)
    if not res.ok:
        if res.error == "not-found":
            why = "no such interpreter"
        elif res.error == "timeout":
            why = f"no answer within {PROBE_TIMEOUT_S:g} s"
        elif res.error is not None:
            why = f"it could not be started ({res.detail or res.error})"
        else:
            last = (res.stderr.strip().splitlines() or [""])[-1][:200]
            why = f"it exited {res.returncode}" + (f": {last}" if last else "")
        return PythonFacts({}, error=why)
    try:
        raw: Any = json.loads(res.stdout.strip().splitlines()[-1])
        modules = {str(k): bool(v) for k, v in raw["modules"].items()}
        ver = raw.get("python")
        return PythonFacts(modules, raw.get("keras"), (int(ver[0]), int(ver[1])) if ver else None)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError):
        return PythonFacts({}, error="it printed something unexpected when asked for its modules")


def choose(host: Host, explicit: str | None, own: str = sys.executable) -> Interpreter:
    """The interpreter to train with (see module docstring for the order)."""
    env = host.env
    if explicit:
        return Interpreter(explicit, "--python")
    if env.get("GPUTK_PYTHON"):
        return Interpreter(env["GPUTK_PYTHON"], "$GPUTK_PYTHON")
    for var, what in (("VIRTUAL_ENV", "the active virtualenv"), ("CONDA_PREFIX", "the active conda env")):
        if env.get(var):
            cand = posixpath.join(env[var], "bin", "python")
            if host.exists(cand):
                return Interpreter(cand, f"{what} (${var})")
    on_path = host.which("python3")
    if not on_path:
        return Interpreter(own, "gputk's own (no python3 on PATH)")
    if os.path.realpath(on_path) == os.path.realpath(own):
        return Interpreter(on_path, "python3 on PATH (gputk's own)")
    if not probe(host, on_path).has("keras") and probe(host, own).has("keras"):
        return Interpreter(own, f"gputk's own: python3 on PATH ({on_path}) has no keras")
    return Interpreter(on_path, "python3 on PATH")


def configured_backend(root: Path, default: str, environ: dict[str, str] | None = None) -> str:
    """KERAS_BACKEND from the environment, else config.toml's ``backend``, else the generated default."""
    env = os.environ if environ is None else environ
    if env.get("KERAS_BACKEND"):
        return env["KERAS_BACKEND"]
    try:
        text = (root / "config.toml").read_text("utf-8", "replace")[:1_000_000]
    except OSError:
        return default
    match = re.search(r'^\s*backend\s*=\s*"([A-Za-z0-9_]+)"', text, re.MULTILINE)
    return match.group(1) if match else default


def check_can_run(host: Host, python: Interpreter, backend: str, root: Path) -> PythonFacts:
    """Refuse with one line when the interpreter cannot run the project; the facts when it can."""
    facts = probe(host, python.path)
    install = f"{python.path} -m pip install -r {root / 'requirements.txt'}"
    if facts.error:
        raise InputError(f"cannot run {python.path} ({python.why}): {facts.error}",
                         hint="pass --python PATH to an interpreter with keras, or set GPUTK_PYTHON")
    if backend not in BACKENDS:
        raise InputError(f"unknown Keras backend {backend!r} (from KERAS_BACKEND or config.toml)",
                         hint=f"use one of: {', '.join(BACKENDS)}")
    needed = ["keras", backend, "numpy", "matplotlib", "PIL"]
    if facts.version is not None and facts.version < (3, 11):
        needed.append("tomli")
    missing = [name for name in needed if not facts.has(name)]
    if missing:
        names = ", ".join(_PACKAGE.get(m, m) for m in missing)
        raise InputError(
            f"{python.path} ({python.why}) cannot run this project: missing {names} (backend {backend})",
            hint=f"install the project's requirements into it: {install}",
        )
    return facts
