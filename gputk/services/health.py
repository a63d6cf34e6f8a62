"""What schedulers and monitors read from a doctor run: Nagios exit codes and a status line,
and node_exporter's textfile format for Prometheus.

Nagios plugin convention (also NHC's and most check runners'): 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN, and one status line first on stdout. A failed check is
CRITICAL; a check that could not run (``error``) without any failure is UNKNOWN.
Kubernetes' Node Problem Detector reads 0 OK / 1 problem / else unknown: give it
the default exit codes instead (docs/cluster.md).

The metrics file uses ``prometheus_client`` for the exposition format (names,
label escaping, ``_info`` metrics) and :func:`gputk.files.atomic_write_bytes` to
replace the file in one rename, so node_exporter never reads half a file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from gputk.files import atomic_write_bytes, check_output_path
from gputk.models.doctor import STATUSES, DoctorReport

NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN = 0, 1, 2, 3
NAGIOS_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
# Version facts exported as labels of gputk_versions_info.
VERSION_FACTS = ("driver", "cuda_driver", "cuda_toolkit", "cudnn", "kernel", "os")


def nagios_code(report: DoctorReport) -> int:
    statuses = {c.status for c in report.checks}
    if "fail" in statuses:
        return NAGIOS_CRITICAL
    if "error" in statuses:
        return NAGIOS_UNKNOWN
    if "warn" in statuses:
        return NAGIOS_WARNING
    return NAGIOS_OK


def nagios_lines(report: DoctorReport, profile: str) -> list[str]:
    """The status line (with performance data) and one line per problem."""
    code = nagios_code(report)
    counts = report.counts()
    problems = [c for c in report.checks if c.status in ("fail", "error", "warn")]
    if problems:
        head = "; ".join(f"{c.id}: {c.summary}" for c in problems[:3])
        if len(problems) > 3:
            head += f"; and {len(problems) - 3} more"
    else:
        head = f"{counts['pass']} checks passed"
    perf = " ".join(f"{s}={counts[s]}" for s in STATUSES)
    lines = [f"GPUTK {NAGIOS_NAMES[code]} - {_one_line(head)} | {perf}"]
    lines += [f"{c.status.upper()} {c.id}: {_one_line(c.summary)}" for c in problems]
    lines.append(f"profile {profile}; run `gputk doctor` on the node for evidence and fixes")
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


def prometheus_text(
    report: DoctorReport,
    facts: Mapping[str, str | None],
    profile: str,
    gputk_version: str,
    duration_s: float,
    now: float | None = None,
) -> bytes:
    """The metrics in node_exporter's textfile format."""
    from prometheus_client import CollectorRegistry, Gauge, Info, generate_latest

    reg = CollectorRegistry(auto_describe=False)
    status = Gauge(
        "gputk_check_status",
        "1 for the status a gputk doctor check ended in, 0 for the others.",
        ["check", "status"],
        registry=reg,
    )
    for c in report.checks:
        for s in STATUSES:
            status.labels(c.id, s).set(1 if c.status == s else 0)
    Gauge(
        "gputk_health",
        "Overall result as a Nagios code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        registry=reg,
    ).set(nagios_code(report))
    gpu_count = facts.get("gpu_count")
    if gpu_count is not None and gpu_count.isdigit():
        Gauge("gputk_gpu_count", "NVIDIA GPUs the doctor found.", registry=reg).set(int(gpu_count))
    versions = {k: facts.get(k) or "" for k in VERSION_FACTS}
    Info("gputk_versions", "Driver, CUDA, cuDNN and OS versions the doctor read.", registry=reg).info(
        {"gputk": gputk_version, "profile": profile, **versions}
    )
    Gauge("gputk_doctor_duration_seconds", "How long the doctor run took.", registry=reg).set(duration_s)
    Gauge(
        "gputk_doctor_last_run_timestamp_seconds", "When the doctor ran (Unix time).", registry=reg
    ).set(time.time() if now is None else now)
    return generate_latest(reg)


def check_metrics_path(path: str) -> str:
    """Refuse an unusable metrics path before the doctor runs."""
    return check_output_path(path, what="metrics file")


def write_prometheus(path: str, data: bytes) -> None:
    atomic_write_bytes(path, data)
