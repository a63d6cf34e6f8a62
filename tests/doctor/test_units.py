"""The pieces under the checks: version encodings, parsers of small facts, the runner."""

from __future__ import annotations

import pytest

from gputk.doctor.base import FunctionCheck, Outcome, check
from gputk.doctor.checks_env import parse_visible_devices
from gputk.doctor.context import Context
from gputk.doctor.runner import run_checks, select
from gputk.errors import InputError
from gputk.parsers.cudnn import decode_cudnn_version, parse_cudnn_header
from gputk.parsers.os_release import parse_os_release
from gputk.probes.cudnn import find_cudnn
from gputk.probes.frameworks import _parse_child, probe_framework
from gputk.snapshot import SnapshotWriter


def test_cudnn_version_encodings() -> None:
    assert decode_cudnn_version(8907) == "8.9.7"
    assert decode_cudnn_version(90100) == "9.1.0"
    assert decode_cudnn_version(91000) == "9.10.0"
    assert decode_cudnn_version(7605) == "7.6.5"
    assert decode_cudnn_version(0) is None
    header = "#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 7\n"
    assert parse_cudnn_header(header) == "8.9.7"
    assert parse_cudnn_header("#define CUDNN_MAJOR 9\n") is None


def test_find_cudnn_in_every_location(snap: SnapshotWriter) -> None:
    snap.add_file(
        "/usr/local/cuda-12.2/include/cudnn_version.h",
        "#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 7\n",
    )
    snap.add_file("/usr/local/cuda-12.2/lib64/libcudnn.so.8", "")
    snap.add_file(
        "/usr/include/x86_64-linux-gnu/cudnn_version_v9.h",
        "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 0\n",
    )
    snap.add_file("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.3.0", "")
    snap.add_file("/var/lib/dpkg/info/libcudnn9-cuda-12.list", "")
    site = "/venv/lib/python3.11/site-packages"
    snap.add_file(f"{site}/nvidia/cudnn/lib/libcudnn.so.9", "")
    snap.add_dir(f"{site}/nvidia_cudnn_cu12-9.1.0.70.dist-info")
    found = find_cudnn(snap.host(), [site])
    assert [(i.source, i.version, i.cuda_major, i.sonames) for i in found] == [
        ("toolkit", "8.9.7", 12, ("libcudnn.so.8",)),
        ("distro", "9.3.0", 12, ("libcudnn.so.9.3.0",)),
        ("pip", "9.1.0.70", 12, ("libcudnn.so.9",)),
    ]


def test_os_release_and_visible_devices_parsing() -> None:
    assert parse_os_release('ID=ubuntu\nVERSION_ID="22.04"\n# c\n') == {"ID": "ubuntu", "VERSION_ID": "22.04"}
    assert parse_visible_devices("0,1") == ["0", "1"]
    assert parse_visible_devices("-1") == []
    assert parse_visible_devices("0,x,1") == ["0"]  # CUDA stops at the first invalid entry
    assert parse_visible_devices("GPU-8f6c,MIG-1234") == ["GPU-8f6c", "MIG-1234"]


def test_framework_child_output_parsing() -> None:
    stderr = (
        "W tensorflow/tsl/platform/default/dso_loader.cc:66] Could not load dynamic library 'libcudnn.so.8'; "
        "dlerror: libcudnn.so.8: cannot open shared object file\n"
    )
    r = _parse_child("tensorflow", 'noise\n{"status": "ok", "version": "2.12.0", "gpu_count": 0}\n', stderr)
    assert r == {"status": "ok", "version": "2.12.0", "gpu_count": 0, "missing_libs": ["libcudnn.so.8"]}
    bad = _parse_child("torch", "", "Segmentation fault\n")
    assert bad == {"status": "error", "detail": "torch probe printed no result: Segmentation fault"}


def test_framework_probe_replays_snapshot_and_reports_uncaptured(snap: SnapshotWriter) -> None:
    snap.set_probe("frameworks.torch", {"status": "ok", "version": "2.4.0"})
    host = snap.host()
    assert probe_framework(host, "torch") == {"status": "ok", "version": "2.4.0"}
    assert probe_framework(host, "jax") == {"status": "not-captured"}


def _fn(status: str) -> FunctionCheck:
    def run(ctx: Context) -> Outcome:
        if status == "boom":
            raise RuntimeError("bad data")
        return Outcome(status, status)  # type: ignore[arg-type]

    return run  # type: ignore[return-value]


def test_runner_blocks_transitively_and_survives_a_crashing_check(snap: SnapshotWriter) -> None:
    a = check("x.a", "root")(_fn("fail"))  # type: ignore[arg-type]
    b = check("x.b", "needs a", depends_on=("x.a",))(_fn("pass"))  # type: ignore[arg-type]
    c = check("x.c", "needs b", depends_on=("x.b",))(_fn("pass"))  # type: ignore[arg-type]
    d = check("x.d", "crashes")(_fn("boom"))  # type: ignore[arg-type]
    e = check("x.e", "needs d", depends_on=("x.d",))(_fn("pass"))  # type: ignore[arg-type]
    report = run_checks(Context(snap.host(), frameworks=False), [a, b, c, d, e])
    got = [(r.id, r.status, r.blocked_by) for r in report.checks]
    assert got == [
        ("x.a", "fail", None),
        ("x.b", "skip", "x.a"),
        ("x.c", "skip", "x.a"),
        ("x.d", "error", None),
        ("x.e", "pass", None),
    ]
    assert report.get("x.d").summary == "the check itself failed: RuntimeError: bad data"  # type: ignore[union-attr]


def test_select_adds_dependencies_and_rejects_unknown_ids() -> None:
    ids = [c.id for c in select(["cuda.arch"])]
    assert ids == ["hardware.gpu", "cuda.arch"]
    no_fw = [c.id for c in select([], frameworks=False)]
    assert no_fw[-1] == "env.cudnn-skew" and not any(i.startswith("framework.") for i in no_fw)
    with pytest.raises(InputError, match="unknown check id nope"):
        select(["nope"])


def test_empty_snapshot_gives_answers_not_crashes(snap: SnapshotWriter) -> None:
    from gputk.doctor.runner import diagnose

    report = diagnose(snap.host())
    assert not [c.id for c in report.checks if c.status == "error"]
    assert report.get("platform.os").summary.endswith("Python: not captured")  # type: ignore[union-attr]
    assert report.get("framework.torch").summary == "torch: not captured in the snapshot"  # type: ignore[union-attr]
