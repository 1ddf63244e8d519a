"""Cheap per-frame quality measures over uint8 RGB batches (n, H, W, 3).

Used to avoid flat, dark, bright or blurred frames when choosing keyframes and summaries.
All functions are vectorised over the batch and return float64 (n,) or bool (n,).
"""

from __future__ import annotations

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


CHUNK = 64  # frames per pass: bounded memory (float copies of a chunk are ~0.3 MB a frame)


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


def _pixel_sample(h: int, w: int, fraction: float = 0.25) -> np.ndarray:
    """A fixed random quarter of the pixel positions: unbiased for any texture (a regular
    stride would alias fine patterns such as a checkerboard into a flat image)."""
    n = h * w
    if n <= 4096:
        return np.arange(n)
    rng = np.random.default_rng(n)
    return np.sort(rng.choice(n, int(n * fraction), replace=False))


def _per_chunk(images: np.ndarray, fn, subsample: bool = False) -> np.ndarray:
    """Apply `fn` to the luma of chunks of frames (of a fixed pixel sample), concatenated."""
    images = _batch(images)
    n, h, w = images.shape[:3]
    idx = _pixel_sample(h, w) if subsample else None
    out = []
    for lo in range(0, n, CHUNK):
        chunk = np.asarray(images[lo : lo + CHUNK])
        if idx is not None:
            chunk = chunk.reshape(len(chunk), h * w, 3)[:, idx][:, None]
        out.append(fn(luma(chunk)))
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _laplacian_var(y: np.ndarray) -> np.ndarray:
    if y.shape[1] < 3 or y.shape[2] < 3:
        return np.zeros(len(y))
    lap = (
        y[:, 1:-1, :-2] + y[:, 1:-1, 2:] + y[:, :-2, 1:-1] + y[:, 2:, 1:-1] - 4.0 * y[:, 1:-1, 1:-1]
    )
    return lap.reshape(len(y), -1).var(axis=1)


def _mean_std(y: np.ndarray) -> np.ndarray:
    flat = y.reshape(len(y), -1)
    return np.stack([flat.mean(axis=1), flat.std(axis=1)], 1)


def sharpness(images: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of luma: low for blurred or flat frames."""
    return _per_chunk(images, _laplacian_var)


def flatness(images: np.ndarray) -> np.ndarray:
    """Standard deviation of luma: near 0 for a uniform frame (a fade, a blank slate).

    Measured on a fixed random quarter of the pixels: the same statistic, less work.
    """
    return _per_chunk(images, lambda y: y.reshape(len(y), -1).std(axis=1), subsample=True)


def brightness(images: np.ndarray) -> np.ndarray:
    """Mean luma in [0, 255] (on a pixel sample, like `flatness`)."""
    return _per_chunk(images, lambda y: y.reshape(len(y), -1).mean(axis=1), subsample=True)


def informative_mask(
    images: np.ndarray,
    min_std: float = 8.0,
    dark: float = 16.0,
    bright: float = 240.0,
    min_sharpness: float = 0.0,
) -> np.ndarray:
    """True for frames worth showing: not near-uniform, not too dark or bright, not blurred."""
    images = _batch(images)
    stats = _per_chunk(images, _mean_std, subsample=True).reshape(-1, 2)
    mean, std = stats[:, 0], stats[:, 1]
    ok = (std >= min_std) & (mean > dark) & (mean < bright)
    if min_sharpness > 0:
        ok &= sharpness(images) >= min_sharpness
    return ok
