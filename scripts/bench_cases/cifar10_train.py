"""CIFAR-10 template training throughput on the CPU vs a plain Keras script of the same model (goal >= 1.0x).

Both run in fresh interpreters on the same synthetic data (uint8 32x32x3 images, seed 1337, batch 128, the
TensorFlow backend, CUDA hidden) and report training images/s of the last epoch (the first one includes
tracing), measured the same way: from the start of the epoch to the start of validation. The template
feeds a tf.data pipeline (cache, shuffle, batch, prefetch); the plain script hands numpy arrays to fit().
Runs alternate (template, plain, template, plain ...) so drift hits both alike; the median is reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

NAME = "cifar10_train"
DESCRIPTION = "CIFAR-10 template images/s vs plain Keras, CPU, same model and data (goal >= 1.0x)"
GOAL = 1.0
REPO = Path(__file__).resolve().parents[2]
PY = sys.executable

PLAIN = r'''
import os, sys, time, json
os.environ["KERAS_BACKEND"] = "tensorflow"
import numpy as np, keras
from keras import layers
n, epochs = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(1337)
x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8); y = rng.integers(0, 10, size=(n,), dtype=np.int64)
rng = np.random.default_rng(1338)
xt = rng.integers(0, 256, size=(n // 4, 32, 32, 3), dtype=np.uint8); yt = rng.integers(0, 10, size=(n // 4,), dtype=np.int64)
inp = keras.Input((32, 32, 3)); h = layers.Rescaling(1 / 255)(inp)
for f, r in ((32, 0.25), (64, 0.25)):
    h = layers.Conv2D(f, 3, padding="same", activation="relu")(h); h = layers.BatchNormalization()(h)
    h = layers.Conv2D(f, 3, padding="same", activation="relu")(h); h = layers.MaxPooling2D()(h); h = layers.Dropout(r)(h)
h = layers.Flatten()(h); h = layers.Dense(512, activation="relu")(h); h = layers.BatchNormalization()(h); h = layers.Dropout(0.5)(h)
model = keras.Model(inp, layers.Dense(10, activation="softmax")(h))
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
class T(keras.callbacks.Callback):
    def on_epoch_begin(self, e, logs=None): self.t0 = time.perf_counter(); self.tt = None
    def on_test_begin(self, logs=None):
        if self.tt is None: self.tt = time.perf_counter() - self.t0
    def on_epoch_end(self, e, logs=None): print(json.dumps({"images_per_sec": n / self.tt}), flush=True)
model.fit(x, y, batch_size=128, epochs=epochs, validation_data=(xt, yt), callbacks=[T()], verbose=0)
'''


def _last_rate(stdout: str) -> float:
    rates = [json.loads(line)["images_per_sec"] for line in stdout.splitlines()
             if line.startswith("{") and "images_per_sec" in line]
    if not rates:
        raise RuntimeError("no images/s reported:\n" + stdout[-2000:])
    return float(rates[-1])


def run(quick: bool) -> dict[str, object]:
    n, epochs, repeats = (512, 2, 1) if quick else (2048, 3, 3)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as tmp:
        proj = Path(tmp) / "cifar10"
        subprocess.run([PY, "-m", "gputk", "new", "cnn", "cifar10", str(proj)], check=True,
                       capture_output=True, cwd=REPO, timeout=120)
        template_argv = [PY, "train.py", "--synthetic", "--synthetic-size", str(n), "--epochs", str(epochs),
                         "--device", "cpu", "--progress", "json", "--run-dir", str(Path(tmp) / "run")]
        plain_argv = [PY, "-c", PLAIN, str(n), str(epochs)]
        template, plain = [], []
        for _ in range(repeats):
            for argv, sink in ((template_argv, template), (plain_argv, plain)):
                res = subprocess.run(argv, cwd=proj, env=env, capture_output=True, text=True, timeout=1200)
                if res.returncode != 0:
                    raise RuntimeError(f"{argv[:3]} failed: {res.stderr[-2000:]}")
                sink.append(_last_rate(res.stdout))
    t, p = statistics.median(template), statistics.median(plain)
    ratio = t / p
    rows = [
        {"metric": "template train.py (tf.data)", "value": t, "unit": "images/s", "n": n, "epochs": epochs},
        {"metric": "plain Keras script (numpy arrays)", "value": p, "unit": "images/s", "n": n, "epochs": epochs},
        {"metric": "template / plain", "value": ratio, "unit": "x"},
    ]
    verdict = "meets" if ratio >= GOAL else "MISSES"
    return {"rows": rows, "summary": f"template {t:.0f} vs plain {p:.0f} images/s = {ratio:.2f}x, "
                                     f"{verdict} the goal of >= {GOAL:.1f}x"}
