"""CIFAR-10 template training throughput on the CPU vs a plain Keras script with the same pipeline (goal >= 1.0x).

Both run in fresh interpreters on the same synthetic data (the project's own `data.synthetic_arrays`: uint8
32x32x3 images, seed 1337), batch 128, the TensorFlow backend, CUDA hidden, and report training images/s of
the last epoch (the first one includes tracing), measured the same way: from the start of the epoch to the
start of validation. Both feed the same tf.data pipeline (from_tensor_slices, cache, shuffle, batch,
prefetch) to the same model (the project's `build_model`, the seed architecture). The template runs as
generated: seeded, with deterministic kernels, progress events, best/last checkpoints, early stopping and
the learning-rate callback; the plain script has none of that. Runs alternate (template, plain, template,
plain ...) so drift hits both alike; the median is reported.
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
import keras, tensorflow as tf
from data import synthetic_arrays
from model import build_model
n, epochs = int(sys.argv[1]), int(sys.argv[2])
def pipeline(arrays, training):
    ds = tf.data.Dataset.from_tensor_slices(arrays).cache()
    if training:
        ds = ds.shuffle(min(n, 10_000), seed=1337, reshuffle_each_iteration=True)
    return ds.batch(128).prefetch(tf.data.AUTOTUNE)
train = pipeline(synthetic_arrays(n, 32, 3, 10, 1337), True)
val = pipeline(synthetic_arrays(n // 4, 32, 3, 10, 1338), False)
model = build_model(32, 32, 3, 10)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
class T(keras.callbacks.Callback):
    def on_epoch_begin(self, e, logs=None): self.t0 = time.perf_counter(); self.tt = None
    def on_test_begin(self, logs=None):
        if self.tt is None: self.tt = time.perf_counter() - self.t0
    def on_epoch_end(self, e, logs=None): print(json.dumps({"images_per_sec": n / self.tt}), flush=True)
model.fit(train, epochs=epochs, validation_data=val, callbacks=[T()], verbose=0)
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
        {"metric": "template train.py (as generated)", "value": t, "unit": "images/s", "n": n, "epochs": epochs},
        {"metric": "plain Keras script (same tf.data pipeline)", "value": p, "unit": "images/s", "n": n, "epochs": epochs},
        {"metric": "template / plain", "value": ratio, "unit": "x"},
    ]
    verdict = "meets" if ratio >= GOAL else "MISSES"
    return {"rows": rows, "summary": f"template {t:.0f} vs plain {p:.0f} images/s = {ratio:.2f}x, "
                                     f"{verdict} the goal of >= {GOAL:.1f}x"}
