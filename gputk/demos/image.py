"""PNG output for the demos, through Pillow.

Mandelbrot counts are coloured with the smooth Bernstein-polynomial palette
(r = 9(1-t)t^3, g = 15(1-t)^2 t^2, b = 8.5(1-t)^3 t), with points that never
escaped in black. The network's decision boundary is drawn as its predicted
probability blended between two colours, the 0.5 contour darkened, and the
training points on top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASS_COLOURS = np.array([[31, 119, 180], [255, 127, 14]], dtype=np.float64)  # class 0 blue, 1 orange


def mandelbrot_rgb(counts: np.ndarray, iters: int) -> np.ndarray:
    """(h, w) escape counts -> (h, w, 3) uint8."""
    t = (counts.astype(np.float64) + 1.0) / (iters + 1.0)
    rgb = np.stack([9.0 * (1 - t) * t**3, 15.0 * (1 - t) ** 2 * t**2, 8.5 * (1 - t) ** 3 * t], axis=-1)
    rgb = np.clip(rgb * 255.0, 0, 255).astype(np.uint8)
    rgb[counts >= iters] = 0
    return np.asarray(rgb, dtype=np.uint8)


def boundary_rgb(prob: np.ndarray) -> np.ndarray:
    """(s, s) probabilities -> (s, s, 3) uint8: a pale blend of the class colours, the 0.5 line dark."""
    p = np.clip(prob, 0.0, 1.0)[..., None]
    colour = (1 - p) * CLASS_COLOURS[0] + p * CLASS_COLOURS[1]
    rgb = 0.45 * colour + 0.55 * 255.0
    edge = np.abs(prob - 0.5) < 0.02
    rgb[edge] = 60.0
    return np.asarray(rgb, dtype=np.uint8)


def draw_points(
    rgb: np.ndarray, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float, float, float]
) -> np.ndarray:
    """Paint the points (2 x 2 px, class colour) onto ``rgb`` whose row 0 is max_y."""
    size_y, size_x = rgb.shape[:2]
    min_x, max_x, min_y, max_y = bounds
    cols = np.clip(((x[:, 0] - min_x) / (max_x - min_x) * (size_x - 1)).astype(int), 0, size_x - 2)
    rows = np.clip(((max_y - x[:, 1]) / (max_y - min_y) * (size_y - 1)).astype(int), 0, size_y - 2)
    colours = CLASS_COLOURS[(y.ravel() >= 0.5).astype(int)].astype(np.uint8)
    out: np.ndarray = rgb.copy()
    for dr in (0, 1):
        for dc in (0, 1):
            out[rows + dr, cols + dc] = colours
    return out


def png_bytes(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return buf.getvalue()


def write_png(rgb: np.ndarray, path: Path) -> Path:
    """Encode in memory, then write through a temporary sibling and a rename (never a partial PNG)."""
    from gputk.files import atomic_write_bytes

    atomic_write_bytes(str(path), png_bytes(rgb))
    return path
