"""Misbehaving tools: endless output, hung programs, helpers left behind, Ctrl-C, unusable -o paths.

Fake programs on the sandbox PATH stand in for nvidia-smi, lspci, lshw, nvcc, python3 and the
rest. Timeouts are scaled down with ``GPUTK_TIMEOUT_SCALE=0.1`` so "every tool hung" takes
seconds; the bound checked is the one the project promises: a command ends within its
longest single timeout (scaled) plus 5 s, over the time the same command takes with no tools.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.hostile.harness import Case, Outcome, Sandbox, assert_contained, assert_refused, run_all

TOOLS = (
    "nvidia-smi", "lspci", "lshw", "nvcc", "mokutil", "ldconfig", "python3", "python", "inxi",
    "dkms", "docker", "nvidia-ctk", "nvidia-container-cli", "conda", "modinfo", "modprobe",
    "systemctl", "journalctl", "dmesg", "id", "hwinfo", "uname", "lsmod",
)  # fmt: skip
SCALE = 0.1
# Longest single timeout of each command, unscaled: lshw 30 s; the framework probes 120 s (a hung
# interpreter never gets that far: the python probe's 20 s decides); nvcc and python 20 s.
LONGEST = {"detect": 30.0, "doctor": 120.0, "doctor-no-frameworks": 20.0, "report": 120.0, "env": 20.0}


def hang_all(sb: Sandbox) -> None:
    for t in TOOLS:
        sb.tool(t, "exec /bin/sleep 1000")


def every_tool(body: str):  # type: ignore[no-untyped-def]
    def build(sb: Sandbox) -> None:
        for t in TOOLS:
            sb.tool(t, body)

    return build


def with_tools(setup, argv: list[str]):  # type: ignore[no-untyped-def]
    def build(sb: Sandbox) -> list[str]:
        setup(sb)
        return [a.replace("{sb}", str(sb.root)) for a in argv]

    return build


def ran(o: Outcome) -> None:
    assert_contained(o)
    assert o.rc in (0, 1), o.output[-2000:]


def interrupted(o: Outcome) -> None:
    assert_contained(o)  # includes: every tool it started is dead
    assert o.rc == 130, o.output[-2000:]
    lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
    assert lines == ["interrupted"], o.stderr
    assert o.stop_seconds < 5, f"took {o.stop_seconds:.1f} s to stop after the signal"


def no_partial_report(o: Outcome) -> None:
    interrupted(o)
    assert not (o.root / "r.tar.gz").exists(), "an interrupted report left a file under the final name"
    assert not list((o.root / "tmp").iterdir()), "an interrupted report left temporary files"


OUTPUT = [
    Case(
        "lspci-prints-forever",
        with_tools(lambda sb: sb.tool("lspci", "exec /usr/bin/yes 0000:01:00.0"), ["detect"]),
        ran,
    ),
    Case(
        "smi-prints-forever-stderr",
        with_tools(lambda sb: sb.tool("nvidia-smi", "exec /usr/bin/yes NVIDIA-SMI >&2"), ["detect"]),
        ran,
    ),
    Case(
        "every-tool-prints-forever",
        with_tools(every_tool("exec /usr/bin/yes 'GPU 0: NVIDIA x'"), ["detect"]),
        ran,
        timeout=60,
    ),
    Case(
        "one-endless-line-of-spaces",
        with_tools(every_tool("exec /usr/bin/tr '\\0' ' ' < /dev/zero"), ["detect"]),
        ran,
        timeout=60,
    ),
    Case(
        "binary-garbage",
        with_tools(every_tool("exec /usr/bin/head -c 3000000 /dev/urandom"), ["detect"]),
        ran,
    ),
    Case(
        "helper-left-holding-the-pipes",
        with_tools(
            every_tool('/bin/sleep 1000 & echo $! >> "$(dirname $0)/../pids"; echo started'), ["detect"]
        ),
        ran,
    ),
]

HUNG = [
    Case(f"hung-{cmd}", with_tools(hang_all, argv), ran, env={"GPUTK_TIMEOUT_SCALE": str(SCALE)}, timeout=60)
    for cmd, argv in (
        ("detect", ["detect"]),
        ("doctor", ["doctor"]),
        ("doctor-no-frameworks", ["doctor", "--no-frameworks"]),
        ("report", ["report", "-o", "{sb}/r.tar.gz"]),
        ("env", ["env", "--list"]),
    )
]


def _baseline_argv(case_id: str) -> list[str]:
    return {
        "hung-detect": ["detect"],
        "hung-doctor": ["doctor"],
        "hung-doctor-no-frameworks": ["doctor", "--no-frameworks"],
        "hung-report": ["report", "-o", "{sb}/r.tar.gz"],
        "hung-env": ["env", "--list"],
    }[case_id]


BASELINE = [
    Case(
        "base-" + c.id,
        with_tools(every_tool("exit 127"), _baseline_argv(c.id)),
        lambda o: None,
        env={"GPUTK_TIMEOUT_SCALE": str(SCALE)},
        timeout=120,
    )
    for c in HUNG
]

CTRL_C = [
    Case(f"ctrl-c-{cmd}", with_tools(hang_all, argv), check, signal_after=(0.5, signal.SIGINT), timeout=30)
    for cmd, argv, check in (
        ("detect", ["detect"], interrupted),
        ("doctor", ["doctor"], interrupted),
        ("report", ["report", "-o", "{sb}/r.tar.gz"], no_partial_report),
    )
] + [
    Case(
        "sigterm-doctor",
        with_tools(hang_all, ["doctor"]),
        interrupted,
        signal_after=(0.5, signal.SIGTERM),
        timeout=30,
    ),
]


def _existing(sb: Sandbox) -> str:
    (sb.root / "mine.tar.gz").write_bytes(b"the user's own bytes")
    return str(sb.root / "mine.tar.gz")


def _fifo(sb: Sandbox) -> str:
    import os

    os.mkfifo(sb.root / "fifo.tar.gz")
    return str(sb.root / "fifo.tar.gz")


PATHS = [
    Case(
        "report-o-existing-file",
        lambda sb: ["report", "-o", _existing(sb)],
        lambda o: assert_refused(o, "exists"),
    ),
    Case(
        "report-o-missing-folder",
        lambda sb: ["report", "-o", str(sb.root / "no/such/r.tar.gz")],
        lambda o: assert_refused(o),
    ),
    Case("report-o-fifo", lambda sb: ["report", "-o", _fifo(sb)], lambda o: assert_refused(o), timeout=20),
    Case("report-o-dev-null", lambda sb: ["report", "-o", "/dev/null"], lambda o: assert_refused(o)),
]

ALL = OUTPUT + HUNG + CTRL_C + PATHS


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_all(ALL + BASELINE, tmp_path_factory.mktemp("hostile-tools"), workers=6)


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_misbehaving_tool(case: Case, outcomes: dict[str, Outcome]) -> None:
    case.check(outcomes[case.id])


@pytest.mark.parametrize("case", HUNG, ids=[c.id for c in HUNG])
def test_hung_tools_are_cut_off_together(case: Case, outcomes: dict[str, Outcome]) -> None:
    hung, base = outcomes[case.id], outcomes["base-" + case.id]
    bound = base.seconds + LONGEST[case.id.removeprefix("hung-")] * SCALE + 5
    assert hung.seconds <= bound, f"{case.id}: {hung.seconds:.1f} s, more than {bound:.1f} s"


def test_the_users_file_is_untouched(tmp_path: Path) -> None:
    from tests.hostile.harness import run_gputk

    sb = Sandbox(tmp_path).make()
    argv = ["report", "-o", _existing(sb)]
    o = run_gputk(sb, argv)
    assert_refused(o, "exists")
    assert (sb.root / "mine.tar.gz").read_bytes() == b"the user's own bytes"
