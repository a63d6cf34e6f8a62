"""A two-layer neural network from scratch, written once for any array module (NumPy or CuPy).

2 inputs -> ``hidden`` sigmoid units -> 1 sigmoid output, binary cross-entropy,
gradients by hand (backpropagation), full-batch gradient descent, on "two
moons" (two interleaved half circles with Gaussian noise, generated here with
a fixed seed). ``xp`` is the array module: ``numpy`` on the CPU, ``cupy`` on the
GPU; nothing else changes. The analytic gradients are checked once against
central finite differences in float64 on a small batch before training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Params = dict[str, Any]
ProgressFn = Callable[[int, int, float, float], None]


def two_moons(n: int, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points (float64, standardised) and labels 0/1 (shape (n, 1))."""
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = rng.uniform(0.0, np.pi, n0)
    t1 = rng.uniform(0.0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, size=(n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n1)]).reshape(-1, 1)
    order = rng.permutation(n)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x[order], y[order]


def init_params(xp: Any, hidden: int, seed: int = 1, dtype: Any = np.float64) -> Params:
    rng = np.random.default_rng(seed)
    host = {
        "W1": rng.normal(0.0, 1.0, size=(2, hidden)),
        "b1": np.zeros(hidden),
        "W2": rng.normal(0.0, 1.0 / np.sqrt(hidden), size=(hidden, 1)),
        "b2": np.zeros(1),
    }
    return {k: xp.asarray(v, dtype=dtype) for k, v in host.items()}


def sigmoid(xp: Any, z: Any) -> Any:
    return 1.0 / (1.0 + xp.exp(-z))


def forward(xp: Any, p: Params, x: Any) -> tuple[Any, Any, Any]:
    """(hidden activations, output logits, output probabilities)."""
    h = sigmoid(xp, x @ p["W1"] + p["b1"])
    z2 = h @ p["W2"] + p["b2"]
    return h, z2, sigmoid(xp, z2)


def bce_from_logits(xp: Any, z: Any, y: Any) -> Any:
    """Mean binary cross-entropy, the stable form: max(z, 0) - z*y + log(1 + exp(-|z|))."""
    return xp.mean(xp.maximum(z, 0.0) - z * y + xp.log1p(xp.exp(-xp.abs(z))))


def loss_and_grads(xp: Any, p: Params, x: Any, y: Any) -> tuple[Any, Params]:
    """Loss and its gradients by backpropagation."""
    n = x.shape[0]
    h, z2, prob = forward(xp, p, x)
    loss = bce_from_logits(xp, z2, y)
    dz2 = (prob - y) / n  # d loss / d z2 for sigmoid + BCE
    grads = {"W2": h.T @ dz2, "b2": dz2.sum(axis=0)}
    dz1 = (dz2 @ p["W2"].T) * h * (1.0 - h)
    grads["W1"] = x.T @ dz1
    grads["b1"] = dz1.sum(axis=0)
    return loss, grads


def to_host(a: Any) -> np.ndarray:
    """A NumPy copy of a NumPy or CuPy array (CuPy arrays have ``.get()``)."""
    return np.asarray(a.get() if hasattr(a, "get") else a)


def gradient_check(xp: Any, hidden: int = 8, batch: int = 64, eps: float = 1e-6) -> float:
    """Largest relative difference between analytic and central-difference gradients (float64)."""
    x_h, y_h = two_moons(batch, seed=7)
    x, y = xp.asarray(x_h), xp.asarray(y_h)
    p = init_params(xp, hidden, seed=3)
    _, grads = loss_and_grads(xp, p, x, y)
    worst = 0.0
    for name, value in p.items():
        flat = value.reshape(-1)
        g = to_host(grads[name]).reshape(-1)
        for i in range(flat.size):
            old = float(flat[i])
            flat[i] = old + eps
            up = float(loss_and_grads(xp, p, x, y)[0])
            flat[i] = old - eps
            down = float(loss_and_grads(xp, p, x, y)[0])
            flat[i] = old
            numeric = (up - down) / (2 * eps)
            denom = max(abs(numeric) + abs(float(g[i])), 1e-8)
            worst = max(worst, abs(numeric - float(g[i])) / denom)
    return worst


@dataclass
class TrainResult:
    params: Params
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    epoch_s: list[float] = field(default_factory=list)


def train(
    xp: Any,
    x_h: np.ndarray,
    y_h: np.ndarray,
    hidden: int,
    epochs: int,
    lr: float,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Full-batch gradient descent; each epoch's loss and accuracy are read back (that synchronises)."""
    x, y = xp.asarray(x_h), xp.asarray(y_h)
    p = init_params(xp, hidden)
    result = TrainResult(params=p)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        loss, grads = loss_and_grads(xp, p, x, y)
        for k in p:
            p[k] -= lr * grads[k]
        loss_f = float(loss)
        correct = (forward(xp, p, x)[2] >= 0.5) == (y >= 0.5)
        acc = float(correct.astype(xp.float64).mean())
        result.epoch_s.append(time.perf_counter() - t0)
        result.losses.append(loss_f)
        result.accuracies.append(acc)
        if progress is not None:
            progress(epoch + 1, epochs, loss_f, acc)
    return result


def predict_grid(xp: Any, p: Params, bounds: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Probabilities on a size x size grid over (min_x, max_x, min_y, max_y); row 0 is max_y."""
    min_x, max_x, min_y, max_y = bounds
    gx, gy = np.meshgrid(np.linspace(min_x, max_x, size), np.linspace(max_y, min_y, size))
    pts = xp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1))
    return to_host(forward(xp, p, pts)[2]).reshape(size, size)
