"""Every template and data set trains one short epoch on --synthetic data on the CPU (TensorFlow backend).

Tiny settings keep each run to seconds on 2 cores: a few dozen generated images, small images for cats vs
dogs. The model is loaded and used in a child interpreter (TensorFlow never loads into the test process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from gputk.cli.app import run_cli
from gputk.services import scaffold as svc

pytestmark = pytest.mark.slow

PY = sys.executable


def _have_keras() -> bool:
    res = subprocess.run([PY, "-c", "import keras, tensorflow"], capture_output=True, timeout=300)
    return res.returncode == 0


needs_tf = pytest.mark.skipif(not _have_keras(), reason="tensorflow/keras not installed (pip install tensorflow-cpu)")

CASES = [
    ("cnn", "catsdogs", {"image_size": 32, "batch_size": 16}, 48),
    ("cnn", "cifar10", {"batch_size": 32}, 64),
    ("gan", "mnist", {"batch_size": 16}, 32),
]


def _py(code: str, cwd: Path) -> str:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    res = subprocess.run([PY, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@needs_tf
@pytest.mark.parametrize(("template", "dataset", "options", "n"), CASES)
def test_one_synthetic_epoch_on_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str,
                                    dataset: str, options: dict[str, int], n: int) -> None:
    proj = tmp_path / dataset
    svc.scaffold(template, dataset, proj, options)
    code = run_cli(["train", str(proj), "--synthetic", "--synthetic-size", str(n), "--epochs", "1",
                    "--device", "cpu", "--python", PY, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    run = Path(doc["run_dir"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["synthetic"] is True and metrics["interrupted"] is False
    assert metrics["backend"] == "tensorflow" and metrics["gpus"] == []
    [epoch] = metrics["epochs"]
    assert epoch["epoch"] == 1
    for key in ("loss", "accuracy", "seconds", "images_per_sec"):
        assert isinstance(epoch[key], float) and epoch[key] >= 0, key
    assert epoch["images_per_sec"] > 0
    assert set(metrics["gpu"]) == {"source", "samples", "peak_memory_mib", "mean_utilization_pct", "devices"}
    assert "epoch 1/1" in captured.err
    with Image.open(run / "curves.png") as im:
        assert im.size == (1200, 400)  # two panels (loss, accuracy) of 6x4 inches at 100 dpi
    if template == "cnn":
        classes = metrics["classes"]
        k = len(classes)
        with Image.open(run / "confusion_matrix.png") as im:
            assert im.size == (round(100 * (1.2 + 0.6 * k)), round(100 * (1.0 + 0.6 * k)))
        cm = metrics["confusion_matrix"]
        assert len(cm) == k and sum(map(sum, cm)) == metrics["test_size"] == n // 4
        size = options.get("image_size", 32)
        out = _py(
            "import keras, numpy as np\n"
            f"m = keras.models.load_model('{run / 'model.keras'}')\n"
            f"p = m.predict(np.zeros((2, {size}, {size}, 3), np.uint8), verbose=0)\n"
            "print(p.shape, float(p.sum()))", proj)
        shape, total = out.split(") ")
        assert shape == f"(2, {k}" and float(total) == pytest.approx(2.0, abs=1e-3)
        Image.new("RGB", (50, 40), (200, 10, 10)).save(proj / "red.png")
        line = _py("import sys, predict; sys.exit(predict.main(['red.png']))", proj).strip()
        label, prob = line.rsplit(" ", 1)
        assert label in classes and 0.0 <= float(prob) <= 1.0
    else:
        for png in (run / "samples.png", run / "samples" / "epoch_001.png"):
            with Image.open(png) as im:
                assert (im.size, im.mode) == ((112, 112), "L")  # a 4x4 grid of 28x28 digits
        out = _py(
            "import keras, numpy as np\n"
            f"g = keras.models.load_model('{run / 'generator.keras'}')\n"
            "x = g.predict(np.zeros((3, 100), np.float32), verbose=0)\n"
            "print(x.shape, float(x.min()) >= -1, float(x.max()) <= 1)", proj)
        assert out.strip() == "(3, 28, 28, 1) True True"
        assert (run / "checkpoints" / "discriminator.keras").is_file()


@needs_tf
def test_ctrl_c_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    """SIGINT after the first epoch: train.py writes metrics.json (interrupted) and exits 130."""
    proj = tmp_path / "c"
    svc.scaffold("cnn", "cifar10", proj, {"batch_size": 32})
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [PY, "train.py", "--synthetic", "--synthetic-size", "64", "--epochs", "500", "--device", "cpu",
         "--progress", "json", "--run-dir", str(run)],
        cwd=proj, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
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
    assert not (run / "model.keras").exists()
