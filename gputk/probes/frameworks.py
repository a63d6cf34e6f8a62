"""Deep-learning frameworks as the user's interpreter sees them, each probed in a child process.

Importing tensorflow, torch, jax, cupy or numba.cuda can take seconds, hang on a
wedged driver or segfault inside a CUDA library, so each is imported in its own
child interpreter (the *target* python, see :mod:`gputk.probes.python_env`) with
a timeout, and the child prints one JSON line. The children run in parallel
threads. Each result is recorded under ``probes.frameworks.<name>`` so a
snapshot replays it.

Shell equivalent for one of them::

    python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"

Result keys (absent when unknown): ``status`` ("ok" | "not-installed" |
"import-error" | "timeout" | "crash" | "error" | "not-captured"), ``version``,
``cuda_build`` ("12.4"), ``cuda_major_build`` (from a wheel name such as
cupy-cuda12x), ``cudnn_build``, ``cpu_only_build``, ``gpu_count``, ``gpus``,
``arch_list`` (["sm_80", "compute_90"]), ``op_ok``, ``op_error``,
``gpu_error``, ``missing_libs`` (sonames from TensorFlow's dso_loader lines),
``detail``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from gputk.host import Host
from gputk.probes.capture import Capture
from gputk.probes.python_env import python_env, target_python

FRAMEWORKS = ("tensorflow", "cupy", "numba", "torch", "jax")
DEFAULT_TIMEOUT_S = 120.0

# The package folder that says "installed" without starting an interpreter.
_PACKAGE_DIR = {"tensorflow": "tensorflow", "cupy": "cupy", "numba": "numba", "torch": "torch", "jax": "jax"}

# 'Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file'
_DSO_MISSING = re.compile(r"Could not load dynamic library '([^']+)'")
# "Loaded runtime CuDNN library: 9.1.0 but source was compiled with: 9.3.0.  CuDNN library needs ..."
_CUDNN_SKEW = re.compile(r"Loaded runtime CuDNN library: (\d{1,3}(?:\.\d{1,4}){0,3}) but source was compiled with:? (\d{1,3}(?:\.\d{1,4}){0,3})")

_PRELUDE = r"""
import json, sys
R = {"status": "ok"}
def dist_version(*names):
    from importlib import metadata
    for n in names:
        try:
            return n, metadata.version(n)
        except Exception:
            pass
    return None, None
def done():
    print(json.dumps(R, default=str))
    sys.exit(0)
def attempt(key, fn):
    try:
        return fn()
    except BaseException as e:
        R[key] = (type(e).__name__ + ": " + str(e)).strip()[:400]
        return None
"""

_SCRIPTS = {
    "tensorflow": r"""
try:
    import tensorflow as tf
except BaseException as e:
    R.update(status="import-error", detail=(type(e).__name__ + ": " + str(e))[:400]); done()
R["version"] = tf.__version__
info = attempt("build_error", lambda: dict(tf.sysconfig.get_build_info())) or {}
R["cuda_build"] = info.get("cuda_version")
R["cudnn_build"] = info.get("cudnn_version")
R["cpu_only_build"] = not info.get("is_cuda_build", False)
R["arch_list"] = list(info.get("cuda_compute_capabilities") or [])
gpus = attempt("gpu_error", lambda: tf.config.list_physical_devices("GPU")) or []
R["gpu_count"] = len(gpus)
R["gpus"] = [g.name for g in gpus]
if gpus:
    def op():
        with tf.device("/GPU:0"):
            x = tf.ones((64, 64))
            return float(tf.reduce_sum(tf.linalg.matmul(x, x)).numpy())
    R["op_ok"] = attempt("op_error", op) == 64.0 * 64 * 64
    def cudnn_loaded():  # the cuDNN the process really loaded (a convolution loads it)
        import ctypes
        with tf.device("/GPU:0"):
            tf.nn.conv2d(tf.ones((1, 8, 8, 1)), tf.ones((3, 3, 1, 1)), 1, "SAME")
        with open("/proc/self/maps") as maps:
            paths = [ln.split()[-1] for ln in maps if "/libcudnn.so" in ln]
        if paths:
            R["cudnn_loaded_path"] = paths[0]
            return int(ctypes.CDLL(paths[0]).cudnnGetVersion())
    R["cudnn_loaded"] = attempt("cudnn_error", cudnn_loaded)
done()
""",
    "torch": r"""
try:
    import torch
except BaseException as e:
    R.update(status="import-error", detail=(type(e).__name__ + ": " + str(e))[:400]); done()
R["version"] = torch.__version__
R["cuda_build"] = torch.version.cuda
R["cpu_only_build"] = torch.version.cuda is None
R["cudnn_build"] = attempt("cudnn_error", lambda: torch.backends.cudnn.version())
R["cudnn_loaded"] = R["cudnn_build"]  # torch reports the version of the cuDNN it loaded
avail = attempt("gpu_error", torch.cuda.is_available)
n = attempt("gpu_error", torch.cuda.device_count) if avail else 0
R["gpu_count"] = n or 0
R["arch_list"] = attempt("arch_error", torch.cuda.get_arch_list) or []
R["gpus"] = [torch.cuda.get_device_name(i) for i in range(R["gpu_count"])]
R["capabilities"] = ["%d.%d" % torch.cuda.get_device_capability(i) for i in range(R["gpu_count"])]
if R["gpu_count"]:
    def op():
        x = torch.ones((64, 64), device="cuda")
        return float((x @ x).sum().item())
    R["op_ok"] = attempt("op_error", op) == 64.0 * 64 * 64
done()
""",
    "cupy": r"""
dist, dver = dist_version("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy")
R["distribution"] = dist
if dist and dist[-3:-1].isdigit():
    R["cuda_major_build"] = int(dist[-3:-1])
try:
    import cupy
except BaseException as e:
    R.update(status="import-error", detail=(type(e).__name__ + ": " + str(e))[:400]); done()
R["version"] = cupy.__version__
rt = attempt("runtime_error", cupy.cuda.runtime.runtimeGetVersion)
if rt:
    R["cuda_build"] = "%d.%d" % (rt // 1000, (rt % 1000) // 10)
n = attempt("gpu_error", cupy.cuda.runtime.getDeviceCount) or 0
R["gpu_count"] = n
if n:
    R["gpus"] = [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(n)]
    R["op_ok"] = attempt("op_error", lambda: int((cupy.arange(10) ** 2).sum())) == 285
done()
""",
    "numba": r"""
dist, dver = dist_version("numba-cuda")
R["numba_cuda"] = dver
try:
    import numba
    from numba import cuda
except BaseException as e:
    R.update(status="import-error", detail=(type(e).__name__ + ": " + str(e))[:400]); done()
R["version"] = numba.__version__
avail = attempt("gpu_error", cuda.is_available)
R["gpu_count"] = len(cuda.gpus) if avail else 0
if not avail and "gpu_error" not in R:
    R["gpu_error"] = "numba.cuda.is_available() is False"
if R["gpu_count"]:
    R["gpus"] = [g.name.decode() if isinstance(g.name, bytes) else str(g.name) for g in cuda.gpus]
    rv = attempt("runtime_error", cuda.runtime.get_version)
    if rv:
        R["cuda_build"] = "%d.%d" % tuple(rv[:2])
    def op():
        import numpy as np
        @cuda.jit
        def add(a, b, out):
            i = cuda.grid(1)
            if i < out.size:
                out[i] = a[i] + b[i]
        a = np.arange(32, dtype=np.float32)
        out = np.zeros_like(a)
        add[1, 32](a, a, out)
        return float(out.sum())
    R["op_ok"] = attempt("op_error", op) == float(2 * sum(range(32)))
done()
""",
    "jax": r"""
dist, dver = dist_version("jax-cuda13-plugin", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jaxlib")
R["plugin"] = dist
if dist and "cuda1" in dist:
    R["cuda_major_build"] = int(dist.split("cuda")[1][:2])
try:
    import jax
except BaseException as e:
    R.update(status="import-error", detail=(type(e).__name__ + ": " + str(e))[:400]); done()
R["version"] = jax.__version__
devs = attempt("gpu_error", lambda: [d for d in jax.devices() if d.platform == "gpu"]) or []
R["gpu_count"] = len(devs)
R["gpus"] = [getattr(d, "device_kind", str(d)) for d in devs]
if devs:
    def op():
        import jax.numpy as jnp
        x = jax.device_put(jnp.ones((64, 64)), devs[0])
        return float((x @ x).sum().block_until_ready())
    R["op_ok"] = attempt("op_error", op) == 64.0 * 64 * 64
done()
""",
}


def script_for(name: str) -> str:
    return _PRELUDE + _SCRIPTS[name]


def _installed(host: Host, name: str, site_packages: Sequence[str]) -> bool | None:
    """True/False from the package folder in site-packages; None when site-packages are unknown."""
    if not site_packages:
        return None
    pkg = _PACKAGE_DIR[name]
    return any(host.is_dir(f"{sp}/{pkg}") for sp in site_packages)


def _parse_child(name: str, stdout: str, stderr: str) -> dict[str, Any]:
    data: dict[str, Any] | None = None
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                data = parsed
                break
    if data is None:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "detail": f"{name} probe printed no result: {tail[:300]}"}
    missing = sorted(set(_DSO_MISSING.findall(stderr)))
    if missing:
        data["missing_libs"] = missing
    skew = _CUDNN_SKEW.search(stderr[-200_000:])
    if skew:  # TensorFlow/XLA's own check: the cuDNN it loaded vs the one it was built with
        data.setdefault("cudnn_loaded", skew.group(1))
        data["cudnn_compiled"] = skew.group(2)
    return data


def probe_framework(
    host: Host, name: str, timeout: float = DEFAULT_TIMEOUT_S, py: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One framework, live or as recorded in a snapshot; ``py`` is a :func:`python_env` result to reuse."""

    def live() -> dict[str, Any]:
        env = py if py is not None else python_env(host)
        if env.get("error") == "timeout":  # the interpreter did not even answer: no import will
            return {"status": "timeout", "detail": f"not probed: {env.get('detail')}"}
        sites = [str(p) for p in env.get("site_packages") or []]
        if env.get("user_site"):
            sites.append(str(env["user_site"]))
        if _installed(host, name, sites) is False:
            return {"status": "not-installed"}
        exe = target_python(host)
        res = host.run([exe, "-c", script_for(name)], timeout=timeout, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
        if res.error == "timeout":
            return {"status": "timeout", "detail": f"no answer within {timeout:g} s (killed)"}
        if not res.ran:
            return {"status": "error", "detail": res.describe()}
        if res.returncode is not None and res.returncode < 0:
            tail = (res.stderr.strip().splitlines() or [""])[-1]
            return {
                "status": "crash",
                "detail": f"killed by signal {-res.returncode}: {tail[:300]}".rstrip(": "),
            }
        result = _parse_child(name, res.stdout, res.stderr)
        if result.get("status") == "ok" and name == "tensorflow" and result.get("version") is None:
            result["status"] = "error"
        return result

    result = host.python_probe(f"frameworks.{name}", live)
    return result if result is not None else {"status": "not-captured"}


def probe_frameworks(
    host: Host,
    names: Sequence[str] = FRAMEWORKS,
    timeout: float = DEFAULT_TIMEOUT_S,
    py: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """All of ``names`` in parallel child processes; ``{name: result}``."""
    py = py if py is not None else python_env(host)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {n: pool.submit(probe_framework, host, n, timeout, py) for n in names}
        return {n: f.result() for n, f in futures.items()}


CAPTURE = Capture("frameworks", entries=(probe_frameworks,), framework=True)
