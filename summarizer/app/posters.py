"""Default poster layout for a map: a window that holds every frame, a grid that fills it."""

from __future__ import annotations

import math

import numpy as np

# The largest poster the app renders: a shared server's memory is bounded by it (the canvas,
# its PNG encoding and the tiles; the CLI renders larger ones, up to the library's limit).
APP_MAX_PIXELS = 150_000_000
MAX_CELLS = 600  # default grid at most this many cells (a large collection: a sample of it)
GRID_MAX = 200  # the page's largest columns / rows


def fit_window(
    coords: np.ndarray, size_cm: tuple[float, float], pad: float = 0.03
) -> tuple[float, float, float]:
    """(centre x, centre y, width) of the smallest window with the print's aspect ratio that
    holds every point of `coords` (N, 2), centred on their bounding box, `pad` wider."""
    c = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if not len(c):
        return 0.0, 0.0, 2.0
    (x0, y0), (x1, y1) = c.min(axis=0), c.max(axis=0)
    w_cm, h_cm = size_cm
    width = max(x1 - x0, (y1 - y0) * w_cm / h_cm)
    width = max(width * (1 + pad), width + 0.02, 0.05)
    return (
        round(float(x0 + x1) / 2, 2) + 0.0,  # + 0.0: no -0 in the URL
        round(float(y0 + y1) / 2, 2) + 0.0,
        math.ceil(float(width) * 100) / 100,  # a hundredth, rounded up: still holds every point
    )


def fit_grid(
    n_frames: int, size_cm: tuple[float, float], tile_aspect: float = 16 / 9
) -> tuple[int, int]:
    """(cols, rows) with at most `n_frames` (and `MAX_CELLS`) cells, as many as can be, whose
    cells on a `size_cm` print have about the frames' `tile_aspect` (width / height), so
    every cell gets its own frame and the print is full."""
    budget = max(1, min(int(n_frames), MAX_CELLS))
    w_cm, h_cm = size_cm
    best: tuple[float, int, int] | None = None
    for cols in range(1, min(budget, GRID_MAX) + 1):
        rows = min(budget // cols, GRID_MAX)
        if rows < 1:
            break
        shape_error = abs(math.log((w_cm / cols) / (h_cm / rows) / tile_aspect))
        # fewer cells than frames costs as much as cells a third off the frames' shape
        score = shape_error + 3.0 * (1.0 - cols * rows / budget)
        if best is None or score < best[0] - 1e-12:
            best = (score, cols, rows)
    assert best is not None
    return best[1], best[2]


def render_bytes(width: int, height: int) -> int:
    """About the memory rendering a `width` x `height` poster takes: the RGB canvas plus its
    PNG or PDF encoding and working copies, taken as three canvases (an upper estimate)."""
    return int(width) * int(height) * 3 * 3
