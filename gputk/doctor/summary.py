"""One snapshot summarised for ``gputk fleet``: every check's status, the problems with their
fix, and the facts compared across machines (driver, CUDA, cuDNN, framework versions, GPU count
and model, PCIe link per GPU).

The summary is a small plain dict, so a thousand of them fit in memory while the snapshots
themselves never do. :func:`summarize_snapshot` raises what the snapshot reader raises; the
fleet service turns that into an "unreadable" entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gputk.doctor.context import Context
from gputk.doctor.runner import run_checks, select
from gputk.host import MAX_READ_BYTES
from gputk.snapshot import open_snapshot

FRAMEWORK_FACTS = ("torch", "tensorflow", "jax", "cupy", "numba")
PROBLEM_STATUSES = ("fail", "error", "warn")


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


def summarize_snapshot(path: str) -> dict[str, Any]:
    """Open the snapshot at ``path`` (with the reader's safety checks), run every check, summarise."""
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
        "host": node or None,  # "redacted-host" unless captured with --no-redact
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
        "facts": machine_facts(ctx),
        "gpus": _gpus(ctx),
    }


def _str(v: object) -> str | None:
    return str(v)[:200] if isinstance(v, (str, int, float)) else None


def machine_facts(ctx: Any) -> dict[str, str | None]:
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
