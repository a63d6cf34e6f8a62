"""CPU backends against their references, at sizes that are not multiples of anything convenient."""

from __future__ import annotations

import numpy as np
import pytest

from gputk.demos import mandelbrot as mb
from gputk.demos import matmul as mm
from gputk.demos import nn
from gputk.demos import vector_add as va


@pytest.mark.parametrize("n", [1, 3, 255, 257, 1000, 1_500_007])
def test_vector_add_cpu_matches_numpy(n: int) -> None:
    runs = va.run_cpu(n, repeats=1)
    assert [r.backend for r in runs] == ["numba-parallel", "numpy"]
    assert runs[0].verified and runs[0].max_error == 0.0
    assert runs[0].metrics["bandwidth_GBps"] > 0


@pytest.mark.parametrize("n", [7, 1_400_003])  # below and above the streaming-store threshold
def test_add_into_both_store_paths(n: int) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.random(n), rng.random(n)
    c = np.full(n, np.nan)
    va.add_into(a, b, c)
    np.testing.assert_array_equal(c, a + b)


def test_parallel_copy_copies() -> None:
    src = np.arange(100_003, dtype=np.float64)
    dst = np.zeros_like(src)
    va.copy_cpu(src, dst)
    np.testing.assert_array_equal(dst, src)


@pytest.mark.parametrize(("w", "h", "iters"), [(1, 1, 20), (37, 23, 20), (64, 48, 50), (33, 17, 1)])
def test_mandelbrot_cpu_equals_plain_python(w: int, h: int, iters: int) -> None:
    np.testing.assert_array_equal(mb.render_cpu(w, h, iters), mb.render_python(w, h, iters))


def test_mandelbrot_counts_known_points() -> None:
    assert mb.mandel_python(0.0, 0.0, 20) == 20  # in the set: never escapes
    assert mb.mandel_python(-2.0, -1.0, 20) == 0  # |z1|^2 = 5 >= 4 at the first step
    assert mb.mandel_python(0.5, 0.0, 20) == 4  # 0.5, 0.75, 1.0625, 1.6289, 3.15 -> escapes at i=4


def test_compare_counts_reports_fraction_and_size() -> None:
    a = np.zeros((2, 5), dtype=np.int32)
    b = a.copy()
    b[1, 3] = 3
    assert mb.compare_counts(a, b) == (0.1, 3)


@pytest.mark.parametrize("n", [1, 17, 64])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_matmul_numpy_within_tolerance(n: int, dtype: str) -> None:
    run = mm.run_numpy(n, dtype, repeats=1)
    assert run.verified, (run.max_error, run.tolerance)
    assert run.metrics["tflops"] > 0
    assert (run.note is not None) == (dtype == "float16")


def test_matmul_error_measure_catches_a_wrong_product() -> None:
    a, b = mm.make_inputs(32, "float32")
    c = a @ b
    assert mm.sample_error(a, b, lambda r, k: c[r, k], 32) < mm.tolerance(32, "float32")
    wrong = c.copy()
    wrong[:, 5] += 0.05
    assert mm.sample_error(a, b, lambda r, k: wrong[r, k], 32) > mm.tolerance(32, "float32")


def test_nn_gradients_match_finite_differences() -> None:
    assert nn.gradient_check(np) < 1e-6


def test_nn_gradient_check_catches_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    real = nn.loss_and_grads

    def broken(xp, p, x, y):  # type: ignore[no-untyped-def]
        loss, grads = real(xp, p, x, y)
        grads["W1"] = grads["W1"] * 1.01
        return loss, grads

    monkeypatch.setattr(nn, "loss_and_grads", broken)
    assert nn.gradient_check(np) > 1e-3


def test_nn_learns_two_moons_and_reports_each_epoch() -> None:
    x, y = nn.two_moons(400)
    assert x.shape == (400, 2) and set(np.unique(y)) == {0.0, 1.0}
    seen: list[tuple[int, int]] = []
    result = nn.train(
        np, x, y, hidden=16, epochs=300, lr=5.0, progress=lambda e, t, lo, ac: seen.append((e, t))
    )
    assert seen[0] == (1, 300) and seen[-1] == (300, 300) and len(seen) == 300
    assert result.losses[-1] < result.losses[0] / 3
    assert result.accuracies[-1] >= 0.9
    prob = nn.predict_grid(np, result.params, (-2.0, 2.0, -2.0, 2.0), 9)
    assert prob.shape == (9, 9) and prob.min() >= 0.0 and prob.max() <= 1.0
