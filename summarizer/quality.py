"""Cheap per-frame quality measures over uint8 RGB batches (n, H, W, 3).

Used to avoid flat, dark, bright or blurred frames when choosing keyframes and summaries.
All functions are vectorised over the batch and return float64 (n,) or bool (n,).
"""

from __future__ import annotations

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, H, W, 3) RGB images, got shape {images.shape}")
    return images


def luma(images: np.ndarray) -> np.ndarray:
    """Luma in [0, 255] as float32 (n, H, W)."""
    return _batch(images).astype(np.float32) @ _LUMA


def sharpness(images: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of luma: low for blurred or flat frames."""
    y = luma(images)
    if y.shape[1] < 3 or y.shape[2] < 3:
        return np.zeros(len(y))
    lap = (
        y[:, 1:-1, :-2] + y[:, 1:-1, 2:] + y[:, :-2, 1:-1] + y[:, 2:, 1:-1] - 4.0 * y[:, 1:-1, 1:-1]
    )
    return lap.reshape(len(y), -1).var(axis=1).astype(np.float64)


def flatness(images: np.ndarray) -> np.ndarray:
    """Standard deviation of luma: near 0 for a uniform frame (a fade, a blank slate)."""
    y = luma(images)
    return y.reshape(len(y), -1).std(axis=1).astype(np.float64)


def brightness(images: np.ndarray) -> np.ndarray:
    """Mean luma in [0, 255]."""
    y = luma(images)
    return y.reshape(len(y), -1).mean(axis=1).astype(np.float64)


def informative_mask(
    images: np.ndarray,
    min_std: float = 8.0,
    dark: float = 16.0,
    bright: float = 240.0,
    min_sharpness: float = 0.0,
) -> np.ndarray:
    """True for frames worth showing: not near-uniform, not too dark or bright, not blurred."""
    images = _batch(images)
    mean = brightness(images)
    ok = (flatness(images) >= min_std) & (mean > dark) & (mean < bright)
    if min_sharpness > 0:
        ok &= sharpness(images) >= min_sharpness
    return ok
