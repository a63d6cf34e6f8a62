"""Redaction of personal identifiers from what a snapshot or report carries.

By default ``gputk report`` and ``gputk doctor --markdown`` replace the host
name, the user name, home directory paths, GPU/MIG UUIDs and serial numbers.
Replacements keep the shape of the original (a UUID stays UUID-shaped, a
home path stays a path) so that parsers read a redacted snapshot exactly as
the original, and each distinct value maps to the same placeholder
everywhere, so a GPU keeps its identity across files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_UUID = re.compile(
    r"\b(GPU|MIG|GI|CI)-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b"
)
# Old-style MIG ids: MIG-GPU-<uuid>/<gi>/<ci> are covered by the GPU- match above.
_XML_SERIAL = re.compile(r"(<serial>)([^<]*)(</serial>)")
_TEXT_SERIAL = re.compile(r"(?m)^(\s*Serial Number\s*:\s*)(\S.*)$")
_JSON_SERIAL = re.compile(r'("serial"\s*:\s*")([^"]*)(")')
_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw|pwd|credential|auth|cookie|session|private|cert)")

REDACTED_HOST = "redacted-host"
REDACTED_USER = "redacted"
REDACTED_HOME = "/home/redacted"
REDACTED_SERIAL = "0000000000000"


@dataclass
class Redactor:
    """Replaces the identifiers of one machine consistently in text."""

    hostname: str | None = None
    username: str | None = None
    home: str | None = None
    enabled: bool = True
    _uuids: dict[str, str] = field(default_factory=dict)

    def uuid(self, kind: str, value: str) -> str:
        key = f"{kind}-{value.lower()}"
        if key not in self._uuids:
            n = len(self._uuids) + 1
            self._uuids[key] = f"{kind}-00000000-0000-0000-0000-{n:012d}"
        return self._uuids[key]

    def text(self, s: str) -> str:
        if not self.enabled or not s:
            return s
        s = _UUID.sub(lambda m: self.uuid(m.group(1), m.group(2)), s)
        s = _XML_SERIAL.sub(lambda m: m.group(1) + _serial(m.group(2)) + m.group(3), s)
        s = _TEXT_SERIAL.sub(lambda m: m.group(1) + _serial(m.group(2)), s)
        s = _JSON_SERIAL.sub(lambda m: m.group(1) + _serial(m.group(2)) + m.group(3), s)
        s = self.path(s)
        if self.hostname and len(self.hostname) >= 2 and self.hostname not in ("localhost",):
            s = re.sub(rf"(?<![\w.-]){re.escape(self.hostname)}(?![\w-])", REDACTED_HOST, s)
        if self.username and len(self.username) >= 2 and self.username not in ("root",):
            s = re.sub(rf"(?<![\w.-]){re.escape(self.username)}(?![\w-])", REDACTED_USER, s)
        return s

    def path(self, p: str) -> str:
        """Replace the home directory prefix (``/home/alice/x`` -> ``/home/redacted/x``)."""
        home = (self.home or "").rstrip("/")
        if not self.enabled or not home:  # "/" is no one's home in particular
            return p
        # /root is a home like any other: /root/.pyenv/... -> /home/redacted/.pyenv/...; the home must
        # end where a path component ends (/root, /root/x; never /rootfs or /root-backup)
        return re.sub(rf"(?<![\w.-]){re.escape(home)}(?=/|$|[^\w.-])", REDACTED_HOME, p)

    def data(self, value: Any) -> Any:
        """Redact every string inside a JSON-like structure (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


def _serial(value: str) -> str:
    v = value.strip()
    if not v or v.upper() in ("N/A", "[N/A]") or v.startswith("["):
        return value
    return REDACTED_SERIAL


# Environment variables that matter to GPU work (snapshot manifest "env").
ENV_EXACT = frozenset(
    {
        "PATH",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        "LIBRARY_PATH",
        "CPATH",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "SHELL",
        "HOME",
        "LANG",
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "XDG_SESSION_TYPE",
        "WSL_DISTRO_NAME",
        "WSL_INTEROP",
        "container",
        "KERAS_BACKEND",
        "OMP_NUM_THREADS",
        "GPUTK_PYTHON",
    }
)
# TensorFlow's own TF_ variables only: TF_CPP_MIN_LOG_LEVEL, TF_FORCE_GPU_ALLOW_GROWTH, TF_GPU_ALLOCATOR,
# TF_XLA_FLAGS, TF_ENABLE_ONEDNN_OPTS, TF_USE_LEGACY_KERAS, TF_NUM_INTRAOP_THREADS, TF_CUDNN_*, ... A bare
# "TF_" would also take Terraform's (TF_VAR_*, TF_CLI_ARGS*, TF_TOKEN_*, TF_LOG, TF_WORKSPACE, ...), which
# say nothing about GPUs and may carry secrets.
TENSORFLOW_PREFIXES = (
    "TF_CPP_",
    "TF_GPU_",
    "TF_CUDA_",
    "TF_CUDNN_",
    "TF_XLA_",
    "TF_FORCE_",
    "TF_ENABLE_",
    "TF_DISABLE_",
    "TF_NUM_",
    "TF_USE_",
    "TF_DETERMINISTIC_",
    "TF_NEED_",
    "TF_KERAS",
    "TF_AUTOTUNE",
    "TF_ROCM_",
    "TF_TRT_",
    "TF_ONEDNN_",
    "TF_DUMP_",
    "TF_CUBLAS_",
    "TF_SYNC_ON_FINISH",
    "TF2_BEHAVIOR",
)
ENV_PREFIXES = (
    "CUDA_",
    "NVIDIA_",
    *TENSORFLOW_PREFIXES,
    "XLA_",
    "NUMBA_",
    "JAX_",
    "CUPY_",
    "PYTORCH_",
    "TORCH_",
    "NCCL_",
    "CUDNN_",
    "CUBLAS_",
    "NVCC_",
    "__NV_",
    "__GL",
    "DCGM_",
)


def gpu_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that matter to GPU work, never ones whose names suggest secrets."""
    out: dict[str, str] = {}
    for name in sorted(env):
        if _SECRET_NAME.search(name):
            continue
        if name in ENV_EXACT or name.startswith(ENV_PREFIXES):
            out[name] = env[name]
    return out
