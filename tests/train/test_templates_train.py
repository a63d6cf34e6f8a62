"""Generated projects train for real on the CPU, on small data sets with real signal written by the tests.

Each data set here is generated, not downloaded: cats vs dogs gets PNG folders of two colour/texture
classes, CIFAR-10 an npz of ten patterned classes, MNIST an npz of bars at different places. The loaders
read them exactly as they read the real files. Tiny sizes keep every run to seconds on 2 cores. The models
are used in child interpreters (TensorFlow never loads into the test process), and the projects run with
gputk made unimportable, on every Keras backend installed here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gputk.cli.app import run_cli
from gputk.services import scaffold as svc

# live: these run real training in this machine's interpreter (and ask it whether it has keras)
pytestmark = [pytest.mark.slow, pytest.mark.live]

PY = sys.executable
BACKENDS = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]
# A child that cannot import gputk: the project must stand on its own.
NO_GPUTK = "import runpy, sys; sys.modules['gputk'] = None; sys.argv = ['train.py'] + sys.argv[1:]; " \
           "runpy.run_path('train.py', run_name='__main__')"


def _have_keras() -> bool:
    res = subprocess.run([PY, "-c", "import keras, tensorflow"], capture_output=True, timeout=300)
    return res.returncode == 0


needs_tf = pytest.mark.skipif(not _have_keras(), reason="tensorflow/keras not installed (pip install tensorflow-cpu)")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1",
            **extra}


def _py(code: str, cwd: Path) -> str:
    res = subprocess.run([PY, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, env=_env())
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _train(proj: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    """python train.py (gputk unimportable) --progress json ...: (exit code, events, stderr)."""
    res = subprocess.run([PY, "-c", NO_GPUTK, "--progress", "json", "--device", "cpu", *args], cwd=proj,
                         capture_output=True, text=True, timeout=600, env=env or _env())
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    return res.returncode, events, res.stderr


def _patterns(n: int, classes: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k: a colour layout of its own (4x4 cells) plus noise - easy to learn, not trivial."""
    rng = np.random.default_rng(seed)
    layouts = np.random.default_rng(7).uniform(30, 225, size=(classes, 4, 4, 3))
    y = rng.integers(0, classes, size=n)
    cell = size // 4
    x = np.repeat(np.repeat(layouts[y], cell, axis=1), cell, axis=2) + rng.normal(0, 35, size=(n, size, size, 3))
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8).reshape(-1, 1)


def _write_cifar(proj: Path) -> None:
    (proj / "data").mkdir()
    xtr, ytr = _patterns(320, 10, 32, 1)
    xte, yte = _patterns(64, 10, 32, 2)
    np.savez(proj / "data" / "cifar10.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)


def _write_catsdogs(proj: Path, per_class: int = 24) -> None:
    x, y = _patterns(4 * per_class, 2, 40, 3)
    for split, part in (("training_set", slice(0, 3 * per_class)), ("test_set", slice(3 * per_class, None))):
        for i, (img, label) in enumerate(zip(x[part], y[part, 0], strict=True)):
            folder = proj / "data" / split / ("cats", "dogs")[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i:03d}.png")


def _write_mnist(proj: Path) -> None:
    """Bars: one bright horizontal or vertical stroke per 28x28 image, at a random place."""
    rng = np.random.default_rng(4)
    n = 256
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        pos, lo, hi = rng.integers(6, 22), rng.integers(2, 8), rng.integers(20, 26)
        if i % 2:
            x[i, pos - 1:pos + 2, lo:hi] = 255
        else:
            x[i, lo:hi, pos - 1:pos + 2] = 255
    (proj / "data").mkdir()
    np.savez(proj / "data" / "mnist.npz", x_train=x, y_train=np.zeros(n, np.uint8), x_test=x[:16],
             y_test=np.zeros(16, np.uint8))


CASES = [
    ("cnn", "catsdogs", {"image_size": 32, "batch_size": 16}, _write_catsdogs),
    ("cnn", "cifar10", {"batch_size": 32}, _write_cifar),
    ("gan", "mnist", {"batch_size": 16}, _write_mnist),
]


@needs_tf
@pytest.mark.parametrize(("template", "dataset", "options", "write"), CASES, ids=[c[1] for c in CASES])
def test_training_learns_on_real_signal(tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str,
                                        dataset: str, options: dict[str, int], write: Any) -> None:
    """gputk train, 3 epochs on data files with something to learn: the loss falls, the outputs are usable."""
    proj = tmp_path / dataset
    svc.scaffold(template, dataset, proj, {**options, "device": "cpu"})
    write(proj)
    code = run_cli(["train", str(proj), "--epochs", "3", "--device", "cpu", "--python", PY, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.splitlines()[0] == f"python: {PY} (--python)"
    [run] = list((proj / "runs").iterdir())  # exactly one folder per run
    assert Path(json.loads(captured.out)["run_dir"]) == run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["synthetic"] is False and metrics["interrupted"] is False
    assert metrics["backend"] == "tensorflow" and metrics["gpus"] == []
    epochs = metrics["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    with Image.open(run / "curves.png") as im:
        assert im.size[0] >= 1400 and im.size[1] >= 450
    if template == "cnn":
        assert epochs[2]["loss"] < epochs[0]["loss"] * 0.8, [e["loss"] for e in epochs]
        assert epochs[2]["accuracy"] > epochs[0]["accuracy"]
        if dataset == "catsdogs":  # CIFAR-10's BatchNorm statistics need more than 30 steps to settle for inference
            assert metrics["test_accuracy"] > 0.75
        assert metrics["train_size"] + metrics["val_size"] == (72 if dataset == "catsdogs" else 320)
        k = len(metrics["classes"])
        with Image.open(run / "confusion_matrix.png") as im:
            assert min(im.size) >= 600
        cm = metrics["confusion_matrix"]
        assert len(cm) == k and sum(map(sum, cm)) == metrics["test_size"]
        assert (run / "checkpoints" / "best.keras").is_file() and (run / "checkpoints" / "last.keras").is_file()
        assert 1 <= metrics["best"]["epoch"] <= 3
        size = options.get("image_size", 32)
        out = _py(
            "import keras, numpy as np\n"
            f"m = keras.models.load_model('{run / 'model.keras'}')\n"
            f"p = m.predict(np.zeros((2, {size}, {size}, 3), np.uint8), verbose=0)\n"
            "print(p.shape, round(float(p.sum()), 3), [l.name for l in m.layers if 'random' in l.name.lower()])", proj)
        assert out.strip() == f"(2, {k}) 2.0 []"  # probabilities; no augmentation layer in the saved model
        Image.new("RGB", (50, 40), (200, 10, 10)).save(proj / "red.png")
        line = _py("import sys, predict; sys.exit(predict.main(['red.png']))", proj).strip()
        label, prob = line.rsplit(" ", 1)
        assert label in metrics["classes"] and 0.0 <= float(prob) <= 1.0
    else:
        assert epochs[2]["d_loss"] < epochs[0]["d_loss"], [e["d_loss"] for e in epochs]
        # the samples from 16 different noise vectors differ (0 would be one image drawn 16 times)
        assert epochs[-1]["samples_spread"] > 0.015, [e["samples_spread"] for e in epochs]
        with Image.open(run / "samples.png") as im:
            assert im.size[0] >= 512 and im.size == im.size[::-1] and im.mode == "L"
            grid = np.asarray(im)
        assert (grid[:6] == 200).all()  # the light grey gap around the samples
        out = _py(
            "import keras, numpy as np\n"
            f"g = keras.models.load_model('{run / 'generator.keras'}')\n"
            "x = g.predict(np.random.default_rng(0).normal(size=(8, 100)).astype('float32'), verbose=0)\n"
            "print(x.shape, float(x.min()) >= -1, float(x.max()) <= 1, float(x.std(axis=0).mean()) > 0.01)", proj)
        assert out.strip() == "(8, 28, 28, 1) True True True"
    _check_resume(proj, run, steps_per_epoch={"catsdogs": 5, "cifar10": 9, "mnist": 16}[dataset], gan=template == "gan")


def _check_resume(proj: Path, first_run: Path, steps_per_epoch: int, gan: bool) -> None:
    """--resume continues the 3-epoch run: epoch 4 next, the optimiser(s) at 3 epochs of steps, one folder more."""
    code, events, err = _train(proj, "--epochs", "4", "--resume")
    assert code == 0, err[-2000:]
    start = events[0]
    assert (start["initial_epoch"], start["resumed_from"]) == (3, str(first_run))
    steps = 3 * steps_per_epoch
    assert start["optimizer_steps"] == ({"discriminator": steps, "generator": steps} if gan else steps)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [4]
    second_run = Path(start["run_dir"])
    metrics = json.loads((second_run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3, 4]
    if gan:
        out = _py("import keras\n"
                  f"d = keras.models.load_model('{second_run / 'checkpoints' / 'discriminator.keras'}')\n"
                  "print(len(d.trainable_weights) > 0, int(d.optimizer.iterations))", proj)
        assert out.strip() == f"True {steps + steps_per_epoch}"  # reloads trainable, optimiser state kept
    else:
        assert (second_run / "checkpoints" / "best.keras").is_file()
    code, events, err = _train(proj, "--epochs", "4", "--resume")
    assert code == 2 and events == [{"event": "error", "message": f"{second_run.name} already trained 4 epochs",
                                     "hint": "ask for more: --resume --epochs 14"}]
    assert sorted(p.name for p in (proj / "runs").iterdir()) == sorted([first_run.name, second_run.name])


@needs_tf
def test_catsdogs_cache_follows_the_files(tmp_path: Path) -> None:
    proj = tmp_path / "pets"
    svc.scaffold("cnn", "catsdogs", proj, {"image_size": 32, "batch_size": 16})
    _write_catsdogs(proj, per_class=8)
    code, events, err = _train(proj, "--epochs", "1")
    assert code == 0, err[-2000:]
    first = sorted(p.name for p in (proj / "data" / ".cache").iterdir())
    assert events[0]["train_size"] + events[0]["val_size"] == 24
    Image.new("RGB", (40, 40), (250, 250, 250)).save(proj / "data" / "training_set" / "cats" / "new.png")
    code, events, err = _train(proj, "--epochs", "1")
    assert code == 0, err[-2000:]
    assert events[0]["train_size"] + events[0]["val_size"] == 25  # the new image is used, not the old cache
    second = sorted(p.name for p in (proj / "data" / ".cache").iterdir())
    train_caches = [n for n in second if n.startswith("train-")]
    assert train_caches and not set(train_caches) & set(first)  # a new key, the old cache removed
    assert [n for n in second if n.startswith("test-")] == [n for n in first if n.startswith("test-")]


@needs_tf
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_losses_without_gputk(tmp_path: Path, backend: str) -> None:
    """Two CPU runs with the same seed give the same losses; the project never needs gputk."""
    proj = tmp_path / "c"
    svc.scaffold("cnn", "cifar10", proj, {"batch_size": 32, "backend": backend})
    losses = []
    for i in range(2):
        code, events, err = _train(proj, "--synthetic", "--synthetic-size", "96", "--epochs", "2",
                                   "--run-dir", str(tmp_path / f"run{i}"), env=_env(KERAS_BACKEND=backend))
        assert code == 0, err[-2000:]
        assert events[0]["backend"] == backend
        losses.append([(e["loss"], e["val_loss"]) for e in events if e["event"] == "epoch"])
    assert len(losses[0]) == 2 and losses[0] == losses[1]
    code, events, err = _train(proj, "--synthetic", "--synthetic-size", "96", "--epochs", "1", "--seed", "7",
                               "--run-dir", str(tmp_path / "run-other"), env=_env(KERAS_BACKEND=backend))
    assert code == 0 and events[1]["loss"] != losses[0][0][0]  # the seed matters: equal losses are not an accident


@needs_tf
def test_offline_without_data_says_where_to_put_it(tmp_path: Path) -> None:
    proj = tmp_path / "c"
    svc.scaffold("cnn", "cifar10", proj, {})
    env = _env(KERAS_HOME=str(tmp_path / "keras-home"), https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    code, events, err = _train(proj, "--epochs", "1", env=env)
    assert code == 2
    [event] = events
    assert event["event"] == "error" and "download failed" in event["message"]
    assert "data/cifar-10-batches-py/" in event["hint"] and "--synthetic" in event["hint"]
    assert "Traceback" not in err
    assert not (proj / "runs").exists()


@needs_tf
def test_ctrl_c_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    """SIGINT after the second epoch: train.py writes metrics.json (interrupted) and exits 130."""
    proj = tmp_path / "c"
    svc.scaffold("cnn", "cifar10", proj, {"batch_size": 32})
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [PY, "train.py", "--synthetic", "--synthetic-size", "64", "--epochs", "100000", "--device", "cpu",
         "--progress", "json", "--run-dir", str(run)],
        cwd=proj, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(),
    )
    assert proc.stdout is not None
    events = []
    for line in proc.stdout:
        events.append(json.loads(line)["event"])
        if events[-1] == "epoch" and events.count("epoch") == 2:
            proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert events[-1] == "interrupted"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["interrupted"] is True
    assert metrics["checkpoint"] == "checkpoints/last.keras"
    assert (run / "checkpoints" / "last.keras").stat().st_size > 0
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epoch"] >= 2
    assert not (run / "model.keras").exists()
