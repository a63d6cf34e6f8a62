"""gputk train without TensorFlow: project detection, data checks, the child protocol, Ctrl-C, NVML summary.

The child here is a small stand-in train.py that speaks the same JSON-lines protocol as the generated one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.errors import InputError
from gputk.models.scaffold import DataRequirement, ProjectInfo
from gputk.services import scaffold as scaffold_svc
from gputk.services import train as svc
from gputk.services import train_monitor

FAKE_TRAIN = r'''
import argparse, json, sys, time
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("--progress"); p.add_argument("--run-dir", type=Path); p.add_argument("--device")
p.add_argument("--epochs", type=int, default=2); p.add_argument("--synthetic", action="store_true")
p.add_argument("--synthetic-size", type=int)
p.add_argument("--workers", type=int, default=1); p.add_argument("--preflight", action="store_true")
a = p.parse_args()
MODE = Path("mode.txt").read_text().strip() if Path("mode.txt").exists() else "ok"
def emit(**kw):
    print(json.dumps(kw), flush=True)
print("a line that is not an event", flush=True)
import os
WORKER = int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "0"))
DIST = {k: os.environ.get(k) for k in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                                       "KERAS_DISTRIBUTION_PROCESS_ID")}
if a.preflight:
    if MODE == "preflight-hang" and WORKER == 1:
        print("jax.errors.JaxRuntimeError: DEADLINE_EXCEEDED: Barrier timed out", file=sys.stderr, flush=True)
        time.sleep(60)
    emit(event="preflight", workers=a.workers, index=WORKER, sum=3, expected=3, ok=True)
    sys.exit(0)
if MODE == "worker1-crash" and WORKER == 1:
    for _ in range(300):  # fail mid-run: once worker 0 has started
        if Path("worker0-started").exists():
            break
        time.sleep(0.1)
    print("RuntimeError: Gloo connectFullMesh failed", file=sys.stderr)
    sys.exit(3)
if MODE == "worker1-crash":
    MODE = "hang"
if MODE not in ("early", "offline"):
    emit(event="start", template="cnn", dataset="cifar10", backend="tensorflow", gpus=[], train_size=64)
    if WORKER == 0:
        Path("worker0-started").touch()
print("log noise on stderr", file=sys.stderr)
if MODE == "early":
    print("ImportError: cannot import name 'layers'", file=sys.stderr)
    sys.exit(1)
if MODE == "offline":
    emit(event="error", message="CIFAR-10 is not here and could not be downloaded", hint="put it in data/")
    sys.exit(2)
if MODE == "crash":
    print("ValueError: shapes do not match", file=sys.stderr)
    sys.exit(3)
records = []
try:
    for e in range(1, a.epochs + 1):
        rec = {"epoch": e, "epochs": a.epochs, "loss": 1.0 / e, "accuracy": 0.5, "seconds": 0.1, "images_per_sec": 640.0}
        records.append(rec)
        emit(event="epoch", **rec)
        if MODE == "hang":
            time.sleep(60)
    (a.run_dir / "metrics.json").write_text(json.dumps({"epochs": records, "synthetic": a.synthetic,
                                                        "argv": sys.argv[1:],
                                                        "keras_backend": os.environ.get("KERAS_BACKEND"),
                                                        "worker": WORKER, "dist": DIST}))
    emit(event="done", run_dir=str(a.run_dir))
except KeyboardInterrupt:
    (a.run_dir / "metrics.json").write_text(json.dumps({"epochs": records, "interrupted": True}))
    emit(event="interrupted", checkpoint="checkpoints/last.keras")
    sys.exit(130)
'''


@pytest.fixture(autouse=True)
def _stand_in_needs_no_frameworks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in train.py imports no framework, so the interpreter running it counts as able to: asking
    the real one would read this machine's Python environment. The check itself is tested with real
    interpreters in the tests marked live below."""
    from gputk.services import train_python

    real_probe = train_python.probe

    def probe(host: object, python: str) -> train_python.PythonFacts:
        if python == sys.executable:
            return train_python.PythonFacts({m: True for m in ("keras", *train_python.BACKENDS, "numpy",
                                                               "matplotlib", "PIL", "tomli")})
        return real_probe(host, python)  # type: ignore[arg-type]

    monkeypatch.setattr(train_python, "probe", probe)


def make_project(tmp_path: Path, dataset: str = "cifar10", mode: str = "ok") -> Path:
    proj = tmp_path / "proj"
    scaffold_svc.scaffold("cnn" if dataset != "mnist" else "gan", dataset, proj, {})
    (proj / "train.py").write_text(FAKE_TRAIN)
    (proj / "mode.txt").write_text(mode)
    return proj


# These run gputk's own interpreter (which has keras through the test extra) as the training Python: they
# read this machine's Python environment on purpose.
LIVE_PYTHON = pytest.mark.live


def test_not_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["train", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is not a project made by `gputk new`" in err
    assert "gputk new cnn cifar10" in err
    assert run_cli(["train", str(tmp_path / "missing")]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_damaged_answers_file(tmp_path: Path) -> None:
    proj = make_project(tmp_path)
    (proj / ".gputk.json").write_text("{not json")
    with pytest.raises(InputError, match="is damaged"):
        svc.read_project(proj)


@LIVE_PYTHON
def test_catsdogs_without_images_says_what_to_download(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_project(tmp_path, "catsdogs")
    assert run_cli(["train", str(proj), "--device", "cpu", "--python", sys.executable]) == 1
    err = capsys.readouterr().err
    assert "the Cats vs dogs data is not in" in err
    assert "kaggle.com" in err and "data/training_set/{cats,dogs}" in err and "--synthetic" in err
    assert not (proj / "runs").exists()


def test_catsdogs_images_present(tmp_path: Path) -> None:
    proj = make_project(tmp_path, "catsdogs")
    for split in ("training_set", "test_set"):
        for c in ("cats", "dogs"):
            (proj / "data" / split / c).mkdir(parents=True)
    assert svc.check_data(svc.read_project(proj), synthetic=False) is None


def test_keras_downloadable_set_only_notes(tmp_path: Path) -> None:
    project = svc.read_project(make_project(tmp_path, "mnist"))
    note = svc.check_data(project, synthetic=False, home=str(tmp_path / "home"))
    assert note is not None and "keras.datasets" in note and "mnist.npz" in note
    (tmp_path / "home" / ".keras" / "datasets").mkdir(parents=True)
    (tmp_path / "home" / ".keras" / "datasets" / "mnist.npz").write_bytes(b"")
    assert svc.check_data(project, synthetic=False, home=str(tmp_path / "home")) is None


def test_data_present_rules(tmp_path: Path) -> None:
    p = ProjectInfo(root=str(tmp_path), template="cnn", kind="classifier", dataset="x", dataset_title="X",
                    variables={}, data=DataRequirement(present_if_all=("a", "b"), present_if_any=("c", "d")))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert not svc.data_present(p, home=str(tmp_path))
    (tmp_path / "d").write_text("")
    assert svc.data_present(p, home=str(tmp_path))


@LIVE_PYTHON
def test_train_streams_epochs_and_writes_gpu_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_project(tmp_path)
    code = run_cli(["train", str(proj), "--synthetic", "--epochs", "3", "--device", "cpu",
                    "--python", sys.executable, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    assert doc["schema"] == "gputk.train/1"
    assert [e["epoch"] for e in doc["epochs"]] == [1, 2, 3]
    assert doc["epochs"][2]["loss"] == pytest.approx(1 / 3)
    assert "epoch 2/3  loss 0.5000  accuracy 0.500  640 images/s" in captured.err
    run_dir = Path(doc["run_dir"])
    assert run_dir.parent == proj / "runs"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["gpu"] == {"source": None, "samples": 0, "peak_memory_mib": None,
                              "mean_utilization_pct": None, "devices": []}
    assert metrics["synthetic"] is True
    assert metrics["argv"][:6] == ["--progress", "json", "--run-dir", str(run_dir), "--device", "cpu"]
    assert "log noise on stderr" in (run_dir / "train.log").read_text()


@LIVE_PYTHON
def test_failed_child_shows_log_tail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_project(tmp_path, mode="crash")
    assert run_cli(["train", str(proj), "--synthetic", "--device", "cpu", "--python", sys.executable]) == 1
    err = capsys.readouterr().err
    assert "training failed (exit 3)" in err
    assert "ValueError: shapes do not match" in err


@LIVE_PYTHON
def test_ctrl_c_forwards_and_keeps_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gputk alone gets SIGINT (raised here from the first epoch event): it passes it on and waits."""
    import gputk.host

    monkeypatch.setattr(gputk.host, "STREAM_INTERRUPT_GRACE_S", 0.2)
    proj = make_project(tmp_path, mode="hang")
    seen: list[str] = []

    def on_event(event: dict[str, object]) -> None:
        seen.append(str(event["event"]))
        if event["event"] == "epoch":
            raise KeyboardInterrupt

    result = svc.run_training(proj, python=sys.executable, synthetic=True, device="cpu", on_event=on_event)
    assert result.interrupted and result.returncode == 130
    assert seen == ["start", "epoch", "interrupted"]
    metrics = json.loads((Path(result.run_dir) / "metrics.json").read_text())
    assert metrics["interrupted"] is True
    assert len(metrics["epochs"]) == 1


def test_missing_interpreter_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_project(tmp_path)
    assert run_cli(["train", str(proj), "--synthetic", "--python", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "nope (--python): no such interpreter" in err and "Traceback" not in err
    assert not (proj / "runs").exists()


def test_parse_event() -> None:
    assert train_monitor.parse_event('{"event": "epoch", "epoch": 1}\n') == {"event": "epoch", "epoch": 1}
    assert train_monitor.parse_event("Epoch 1/3") is None
    assert train_monitor.parse_event('{"epoch": 1}') is None
    assert train_monitor.parse_event("{broken") is None
    assert train_monitor.parse_event("[1, 2]") is None


def test_gpu_sampler_summarises_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = iter([[("0: H100", 50.0, 1000.0)], [("0: H100", 100.0, 3000.0)], [("0: H100", None, 2000.0)]])
    done = []

    def query() -> list[tuple[str, float | None, float | None]]:
        try:
            return next(rows)
        except StopIteration:
            done.append(True)
            return [("0: H100", None, None)]

    monkeypatch.setattr(train_monitor, "SAMPLE_INTERVAL_S", 0.001)
    sampler = train_monitor.GpuSampler(query)
    sampler.start()
    for _ in range(5000):
        if done:
            break
        time.sleep(0.001)
    summary = sampler.stop()
    assert summary.source == "nvml"
    assert summary.peak_memory_mib == 3000.0
    assert summary.mean_utilization_pct == 75.0
    assert summary.devices == ["0: H100"]


def test_gpu_sampler_without_gpu_reports_nothing() -> None:
    sampler = train_monitor.GpuSampler(lambda: [])
    sampler.start()
    summary = sampler.stop()
    assert summary.source is None and summary.peak_memory_mib is None


@LIVE_PYTHON
def test_run_that_never_started_leaves_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_project(tmp_path, mode="early")
    assert run_cli(["train", str(proj), "--synthetic", "--device", "cpu", "--python", sys.executable]) == 1
    err = capsys.readouterr().err
    assert "training never started (exit 1); no run folder kept" in err
    assert "ImportError: cannot import name 'layers'" in err
    assert not (proj / "runs").exists()


@LIVE_PYTHON
def test_offline_error_event_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_project(tmp_path, mode="offline")
    (proj / "runs" / "older").mkdir(parents=True)
    assert run_cli(["train", str(proj), "--device", "cpu", "--python", sys.executable]) == 1
    err = capsys.readouterr().err
    assert "error: CIFAR-10 is not here and could not be downloaded" in err and "hint: put it in data/" in err
    assert "Traceback" not in err and "needs keras" not in err
    assert [p.name for p in (proj / "runs").iterdir()] == ["older"]


@LIVE_PYTHON
def test_successful_run_leaves_exactly_one_folder_and_names_the_python(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    proj = make_project(tmp_path)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    # config.toml says tensorflow; the environment's jax wins
    assert run_cli(["train", str(proj), "--synthetic", "--device", "cpu", "--python", sys.executable]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"python: {sys.executable} (--python)"
    [run] = list((proj / "runs").iterdir())
    assert json.loads((run / "metrics.json").read_text())["keras_backend"] == "jax"


@LIVE_PYTHON
def test_keras_backend_from_environment_wins_over_config(tmp_path: Path) -> None:
    from gputk.services.train_python import configured_backend

    (tmp_path / "config.toml").write_text('[train]\nepochs = 2\nbackend = "torch"\n')
    assert configured_backend(tmp_path, "tensorflow", {}) == "torch"
    assert configured_backend(tmp_path, "tensorflow", {"KERAS_BACKEND": "jax"}) == "jax"
    assert configured_backend(tmp_path / "none", "tensorflow", {}) == "tensorflow"


def _path_with(tmp_path: Path, python: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python)
    return str(bin_dir)


SYSTEM_PY = "/usr/bin/python3"
no_bare_python = pytest.mark.skipif(
    not Path(SYSTEM_PY).exists() or Path(SYSTEM_PY).resolve() == Path(sys.executable).resolve(),
    reason="needs a system python3 other than the one running the tests")


@LIVE_PYTHON
@no_bare_python
@pytest.mark.live
def test_path_python_without_keras_falls_back_to_gputks_own(tmp_path: Path) -> None:
    from gputk.host import LiveHost
    from gputk.services.train_python import choose, probe

    host = LiveHost({"PATH": _path_with(tmp_path, SYSTEM_PY)})
    if probe(host, SYSTEM_PY).has("keras"):
        pytest.skip("the system python3 has keras")
    chosen = choose(host, None)
    assert chosen.path == sys.executable
    assert chosen.why.startswith("gputk's own: python3 on PATH") and chosen.why.endswith("has no keras")
    assert choose(LiveHost({"PATH": "", "GPUTK_PYTHON": "/x/py"}), None).path == "/x/py"
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(SYSTEM_PY)
    assert choose(LiveHost({"PATH": "", "VIRTUAL_ENV": str(venv)}), None).why.startswith("the active virtualenv")


@LIVE_PYTHON
@no_bare_python
@pytest.mark.live
def test_interpreter_without_keras_is_refused_with_install_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_project(tmp_path)
    assert run_cli(["train", str(proj), "--synthetic", "--python", SYSTEM_PY]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"python: {SYSTEM_PY} (--python)"
    assert lines[1].startswith(f"error: {SYSTEM_PY} (--python) cannot run this project: missing keras, tensorflow")
    assert lines[2] == f"hint: install the project's requirements into it: {SYSTEM_PY} -m pip install -r " \
                       f"{proj / 'requirements.txt'}"
    assert not (proj / "runs").exists()


def make_jax_project(tmp_path: Path, mode: str) -> Path:
    proj = tmp_path / "proj"
    scaffold_svc.scaffold("cnn", "cifar10", proj, {"backend": "jax", "workers": 2, "batch_size": 32})
    (proj / "train.py").write_text(FAKE_TRAIN)
    (proj / "mode.txt").write_text(mode)
    return proj


@LIVE_PYTHON
def test_workers_each_get_their_identity_and_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """config.toml's workers = 2 starts two processes; worker 0's events are the run's; one log per worker."""
    proj = make_jax_project(tmp_path, "ok")
    assert run_cli(["train", str(proj), "--synthetic", "--epochs", "2", "--device", "cpu", "--python",
                    sys.executable, "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["workers"] == 2 and [e["epoch"] for e in doc["epochs"]] == [1, 2]  # not four: worker 1's are not shown
    run = Path(doc["run_dir"])
    metrics = json.loads((run / "metrics.json").read_text())  # the fake lets both write: the last one wins
    assert metrics["argv"][-2:] == ["--workers", "2"]
    dist = metrics["dist"]
    host, port = dist["KERAS_DISTRIBUTION_JOB_ADDRESSES"].split(":")
    assert host == "127.0.0.1" and 0 < int(port) < 65536
    assert dist["KERAS_DISTRIBUTION_NUM_PROCESSES"] == "2" and dist["KERAS_DISTRIBUTION_PROCESS_ID"] in ("0", "1")
    for name in ("train.log", "train-worker1.log"):
        assert "log noise on stderr" in (run / name).read_text()


@LIVE_PYTHON
def test_one_failing_worker_stops_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_jax_project(tmp_path, "worker1-crash")  # worker 0 would sit 60 s in its first epoch
    start = time.monotonic()
    assert run_cli(["train", str(proj), "--synthetic", "--device", "cpu", "--python", sys.executable]) == 1
    assert time.monotonic() - start < 45  # generous: worker 0 was stopped, not waited for
    err = capsys.readouterr().err
    assert "error: training failed: worker 1 of 2 failed (exit 3); the other workers were stopped" in err
    assert "train-worker1.log" in err and "RuntimeError: Gloo connectFullMesh failed" in err


@LIVE_PYTHON
def test_workers_timeout_stops_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_jax_project(tmp_path, "hang")
    assert run_cli(["train", str(proj), "--synthetic", "--device", "cpu", "--python", sys.executable,
                    "--timeout", "3"]) == 1
    err = capsys.readouterr().err
    assert "training failed: the run went past --timeout 3 s; all 2 workers were stopped" in err


@LIVE_PYTHON
def test_preflight_failure_names_the_worker_and_the_causes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_jax_project(tmp_path, "ok")
    assert run_cli(["train", str(proj), "--preflight", "--device", "cpu", "--python", sys.executable]) == 0
    assert "ok 2 workers all-reduced through 127.0.0.1:" in capsys.readouterr().err
    (proj / "mode.txt").write_text("preflight-hang")
    assert run_cli(["train", str(proj), "--preflight", "--device", "cpu", "--python", sys.executable,
                    "--timeout", "3"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "did not all-reduce within 3 s (worker 0: all-reduce ok; worker 1: no answer, stopped)" in err
    assert "first error: jax.errors.JaxRuntimeError: DEADLINE_EXCEEDED: Barrier timed out" in err
    assert "hint: usual causes: the coordinator address" in err and "NCCL_SOCKET_IFNAME" in err
    assert not (proj / "runs").exists()


def test_more_local_workers_than_one_machine_should_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cluster's count (config.toml says 128 machines) is not started as 128 processes here."""
    proj = make_jax_project(tmp_path, "ok")
    config = proj / "config.toml"
    config.write_text(config.read_text().replace("workers = 2", "workers = 128"))
    assert run_cli(["train", str(proj), "--synthetic", "--python", sys.executable]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "error: --workers 128: gputk train starts every worker on this machine, at most 64" in err
    assert "start train.py on each" in err
    assert not (proj / "runs").exists()


@pytest.mark.parametrize(("backend", "why"), [
    ("tensorflow", "Keras 3's fit() does not run under TensorFlow's MultiWorkerMirroredStrategy"),
    ("torch", "Keras 3 has no multi-process (DDP) runtime for the torch backend"),
])
def test_workers_refused_on_backends_keras_cannot_spread(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         backend: str, why: str) -> None:
    proj = make_project(tmp_path)
    (proj / "config.toml").write_text((proj / "config.toml").read_text().replace(
        'backend = "tensorflow"', f'backend = "{backend}"'))
    assert run_cli(["train", str(proj), "--workers", "2", "--synthetic", "--python", sys.executable]) == 1
    err = capsys.readouterr().err
    assert f"error: --workers 2 needs the jax backend: {why}" in err
    assert not (proj / "runs").exists()


def test_generated_train_py_refuses_workers_on_tensorflow(tmp_path: Path) -> None:
    """The project's own check, before any framework is imported: one line, exit 1."""
    import subprocess

    proj = tmp_path / "c"
    scaffold_svc.scaffold("cnn", "cifar10", proj, {})
    res = subprocess.run([sys.executable, "train.py", "--workers", "2", "--synthetic"], cwd=proj, capture_output=True,
                         text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "KERAS_BACKEND": "tensorflow"})
    assert res.returncode == 1
    assert res.stderr.strip() == ('error: 2 workers need backend = "jax": Keras 3\'s fit() does not run under '
                                  "tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras#20585); set backend = "
                                  '"jax" in config.toml, or train one process per machine (--workers 1)')


def test_configured_workers_reads_the_distribution_section(tmp_path: Path) -> None:
    from gputk.services.train_workers import configured_workers

    (tmp_path / "config.toml").write_text("[train]\nworkers = 9\n\n[distribution]\n# workers = 5\nworkers = 3\n")
    assert configured_workers(tmp_path) == 3
    (tmp_path / "config.toml").write_text("[train]\nworkers = 9\n")
    assert configured_workers(tmp_path) == 1
    assert configured_workers(tmp_path / "none") == 1


@LIVE_PYTHON
def test_ctrl_c_stops_every_worker_and_keeps_worker_0s_checkpoint(tmp_path: Path) -> None:
    """Ctrl-C reaches gputk alone (the workers run in their own sessions): each gets SIGINT and saves."""
    from gputk.services.train_python import Interpreter
    from gputk.services.train_workers import run_workers

    proj = make_jax_project(tmp_path, "hang")
    seen: list[str] = []

    def on_event(event: dict[str, object]) -> None:
        seen.append(str(event["event"]))
        if event["event"] == "epoch":
            raise KeyboardInterrupt

    start = time.monotonic()
    result = run_workers(proj, python=Interpreter(sys.executable, "--python"), workers=2, synthetic=True,
                         device="cpu", on_event=on_event)
    assert time.monotonic() - start < 45  # the workers sleep 60 s per epoch: they were stopped
    assert result.interrupted and result.returncode == 130
    assert seen == ["start", "epoch", "interrupted"]
    metrics = json.loads((Path(result.run_dir) / "metrics.json").read_text())
    assert metrics["interrupted"] is True


@LIVE_PYTHON
def test_workers_1_overrides_the_configured_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = make_jax_project(tmp_path, "ok")  # config.toml: workers = 2
    assert run_cli(["train", str(proj), "--workers", "1", "--synthetic", "--device", "cpu", "--python",
                    sys.executable, "--json"]) == 0
    run = Path(json.loads(capsys.readouterr().out)["run_dir"])
    assert json.loads((run / "metrics.json").read_text())["argv"][-2:] == ["--workers", "1"]
    assert sorted(p.name for p in run.glob("*.log")) == ["train.log"]
