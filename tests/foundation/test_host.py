"""LiveHost.run: timeouts, missing programs, garbage, non-zero exits - all results, never exceptions."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from gputk.host import LiveHost, child_environment


def _fake_tool(bindir: Path, name: str, body: str) -> Path:
    path = bindir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


def _host(bindir: Path) -> LiveHost:
    return LiveHost({"PATH": f"{bindir}:/usr/bin:/bin", "HOME": "/nonexistent"})


def test_a_program_that_hangs_is_cut_off_by_the_timeout(bindir: Path) -> None:
    # A wedged driver makes nvidia-smi hang; the child and its own children must die.
    _fake_tool(bindir, "hangs", "echo started; sleep 1000 & sleep 1000")
    start = time.monotonic()
    res = _host(bindir).run(["hangs"], timeout=0.5)
    assert time.monotonic() - start < 5
    assert res.error == "timeout"
    assert res.timeout_s == 0.5
    assert res.stdout.startswith("started")
    assert not res.ok
    assert "no answer within 0.5 s" in res.describe()


def test_a_missing_program_is_a_result_not_an_exception(bindir: Path) -> None:
    res = _host(bindir).run(["definitely-not-installed-gputk"])
    assert res.error == "not-found"
    assert res.returncode is None
    assert "not found" in res.describe()


def test_garbage_output_is_decoded_without_error(bindir: Path) -> None:
    _fake_tool(bindir, "garbage", r"printf '\377\376\000abc\n'")
    res = _host(bindir).run(["garbage"])
    assert res.ok
    assert res.stdout.endswith("abc\n")
    assert "\ufffd" in res.stdout


def test_non_zero_exit_keeps_stdout_and_stderr(bindir: Path) -> None:
    _fake_tool(bindir, "fails", "echo partial; echo 'NVIDIA-SMI has failed' >&2; exit 9")
    res = _host(bindir).run(["fails"])
    assert res.returncode == 9
    assert res.stdout == "partial\n"
    assert res.stderr == "NVIDIA-SMI has failed\n"
    assert not res.ok and res.ran
    assert res.describe() == "`fails`: exit 9: NVIDIA-SMI has failed"


def test_a_file_that_is_not_executable_is_a_permission_result(bindir: Path) -> None:
    p = bindir / "noexec"
    p.write_text("#!/bin/sh\necho hi\n")
    res = _host(bindir).run([str(p)])
    assert res.error == "permission"


def test_children_get_a_clean_environment(bindir: Path) -> None:
    _fake_tool(bindir, "showenv", "env")
    host = LiveHost(
        {
            "PATH": f"{bindir}:/usr/bin:/bin",
            "CUDA_VISIBLE_DEVICES": "1",
            "AWS_SECRET_ACCESS_KEY": "hunter2",
            "LANG": "de_DE.UTF-8",
        }
    )
    out = host.run(["showenv"]).stdout
    lines = set(out.splitlines())
    assert "CUDA_VISIBLE_DEVICES=1" in lines
    assert "LC_ALL=C" in lines and "LANG=C" in lines
    assert not any(line.startswith("AWS_") for line in lines)


def test_child_environment_extra_overrides() -> None:
    env = child_environment({"PATH": "/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}, {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert env["PATH"] == "/bin"


def test_file_helpers_report_absence_as_values(tmp_path: Path) -> None:
    host = LiveHost({"PATH": "/bin"})
    (tmp_path / "a.txt").write_text("hello")
    os.symlink("a.txt", tmp_path / "link")
    os.symlink("missing", tmp_path / "dangling")
    assert host.read_text(str(tmp_path / "a.txt")) == "hello"
    assert host.read_text(str(tmp_path / "nope")) is None
    assert host.exists(str(tmp_path / "link"))
    assert not host.exists(str(tmp_path / "dangling"))
    assert host.lexists(str(tmp_path / "dangling"))
    assert host.readlink(str(tmp_path / "link")) == "a.txt"
    assert host.listdir(str(tmp_path / "nope")) == []
    assert host.glob(str(tmp_path / "*.txt")) == [str(tmp_path / "a.txt")]


def test_a_bug_in_a_python_probe_is_not_swallowed() -> None:
    # Probes catch their library's own errors and answer with a status; anything else is a bug
    # in gputk and must reach the crash log (or the doctor's "error" status), not become a fact.
    def broken() -> dict[str, object]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        LiveHost().python_probe("x", broken)


def test_endless_output_is_capped_and_the_program_stopped(bindir: Path) -> None:
    from gputk.host import MAX_ERROR_BYTES, MAX_OUTPUT_BYTES

    _fake_tool(bindir, "chatty", "exec yes 'GPU 0: NVIDIA'")
    _fake_tool(bindir, "complains", "exec yes NVIDIA-SMI >&2")
    start = time.monotonic()
    res = _host(bindir).run(["chatty"], timeout=30)
    err = _host(bindir).run(["complains"], timeout=30)
    assert time.monotonic() - start < 20
    assert res.truncated and err.truncated
    assert len(res.stdout) == MAX_OUTPUT_BYTES and res.stdout.startswith("GPU 0: NVIDIA\n")
    assert len(err.stderr) == MAX_ERROR_BYTES
    assert "output cap" in res.describe()


def test_a_helper_left_holding_the_pipes_does_not_stall_the_answer(bindir: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "helper.pid"
    _fake_tool(bindir, "leaves", f"sleep 1000 & echo $! > {pid_file}; echo done")
    start = time.monotonic()
    res = _host(bindir).run(["leaves"], timeout=30)
    assert time.monotonic() - start < 10
    assert (res.returncode, res.stdout, res.error) == (0, "done\n", None)
    helper = int(pid_file.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{helper}").exists() or "Z" in Path(f"/proc/{helper}/stat").read_text().split()[2]


def test_stop_children_kills_running_commands_and_refuses_new_ones(bindir: Path) -> None:
    import threading

    from gputk import host as host_mod

    _fake_tool(bindir, "hangs", "sleep 1000")
    host = _host(bindir)
    results = []
    worker = threading.Thread(target=lambda: results.append(host.run(["hangs"], timeout=60)))
    worker.start()
    time.sleep(0.5)
    try:
        host_mod.stop_children()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert results[0].detail == "interrupted"
        assert host.run(["hangs"]).detail == "interrupted"  # nothing new starts after Ctrl-C
    finally:
        host_mod.allow_children()


def test_a_remembering_host_runs_each_command_once(bindir: Path, tmp_path: Path) -> None:
    from gputk.parallel import gather

    counter = tmp_path / "count"
    _fake_tool(bindir, "counted", f"echo x >> {counter}; sleep 0.3; echo answer")
    host = _host(bindir).remembering()
    answers = gather(*[lambda: host.run(["counted"]) for _ in range(5)])
    assert [a.stdout for a in answers] == ["answer\n"] * 5
    assert counter.read_text() == "x\n"


def test_gather_keeps_order_and_hands_errors_back() -> None:
    from gputk.parallel import gather

    def slow(v: int) -> int:
        time.sleep(0.05 * (3 - v))
        return v

    assert gather(lambda: slow(0), lambda: slow(1), lambda: slow(2)) == [0, 1, 2]
    with pytest.raises(ZeroDivisionError):
        gather(lambda: 1, lambda: 1 // 0)


def test_timeout_scale_from_the_environment(bindir: Path) -> None:
    from gputk.host import timeout_scale

    assert timeout_scale({}) == 1.0
    assert timeout_scale({"GPUTK_TIMEOUT_SCALE": "3"}) == 3.0
    assert timeout_scale({"GPUTK_TIMEOUT_SCALE": "nan"}) == 1.0
    assert timeout_scale({"GPUTK_TIMEOUT_SCALE": "junk"}) == 1.0
    assert timeout_scale({"GPUTK_TIMEOUT_SCALE": "1e9"}) == 100.0
    _fake_tool(bindir, "hangs", "sleep 1000")
    host = LiveHost({"PATH": f"{bindir}:/usr/bin:/bin", "GPUTK_TIMEOUT_SCALE": "0.1"})
    res = host.run(["hangs"], timeout=5)
    assert res.error == "timeout" and res.timeout_s == pytest.approx(0.5)
