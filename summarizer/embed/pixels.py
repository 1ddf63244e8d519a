"""`pixels`: model-free frame features (colour layout, tones, palette), instant and offline.

Pure numpy (no torch): the CLI's model-free path must start fast and stay small.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from summarizer.config import EmbedSettings
from summarizer.errors import ModelError

CHUNK = 16  # frames converted to float at a time (memory stays small at any frame size)


class PixelEmbedder:
    """Model-free frame features: instant, offline, good at hard cuts.

    Four blocks, each L2-normalised and weighted, then the whole vector L2-normalised:
    - layout: the 8x8 Lab lightness thumbnail, standardised per frame (zero mean, unit
      spread), so a brightness change or flicker barely moves it (weight 0.45);
    - colour: the 8x8 Lab a/b thumbnail (weight 0.25);
    - tones: a 16-bin histogram of luma relative to the frame's mean luma (weight 0.15);
    - palette: a hue (12) x saturation (3) histogram weighted by value (weight 0.15).
    Histograms are square-rooted (Hellinger geometry), so cosine compares them fairly.
    The frame is first area-averaged to 32x32 (torch's ``adaptive_avg_pool2d`` windows),
    then to 8x8 for the thumbnails.
    """

    model_id = "pixels-v1"
    THUMB = 8
    POOL = 32
    LUMA_BINS = 16
    HUE_BINS = 12
    SAT_BINS = 3
    dim = THUMB * THUMB * 3 + LUMA_BINS + HUE_BINS * SAT_BINS
    _WEIGHTS = (0.45, 0.25, 0.15, 0.15)

    def __init__(self, settings: EmbedSettings | None = None):
        self.settings = settings or EmbedSettings(embedder="pixels")

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, 244) L2-normalised features of uint8 (N,H,W,3) frames."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got shape {images.shape}")
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [self._features(images[i : i + CHUNK]) for i in range(0, len(images), CHUNK)]
        return np.concatenate(out).astype(np.float32, copy=False)

    def _features(self, images: np.ndarray) -> np.ndarray:
        n, h, w, _ = images.shape
        small = area_pool(images, self.POOL, self.POOL) / np.float32(255.0)  # (n,32,32,3)
        thumb = block_mean(small, self.THUMB, self.THUMB)  # (n,8,8,3)
        L, a, b = _rgb_to_lab(thumb)
        # 1. layout: standardised lightness
        L = L.reshape(n, -1)
        L = L - L.mean(1, keepdims=True)
        b1 = L / np.maximum(np.linalg.norm(L, axis=1, keepdims=True), np.float32(8.0 * 2.0))
        # 2. colour: a/b (all a, then all b)
        ab = np.concatenate([a.reshape(n, -1), b.reshape(n, -1)], axis=1)
        b2 = ab / np.maximum(np.linalg.norm(ab, axis=1, keepdims=True), np.float32(8.0 * 3.0))
        # 3. tones: luma relative to the mean luma, bins over [0, 2.5)
        r, g, bl = small[..., 0], small[..., 1], small[..., 2]
        y = (np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * bl).reshape(n, -1)
        rel = y / np.maximum(y.mean(1, keepdims=True), np.float32(0.02))
        yi = np.clip(
            (rel / np.float32(2.5) * self.LUMA_BINS).astype(np.int64), 0, self.LUMA_BINS - 1
        )
        h1 = _row_hist(yi, None, self.LUMA_BINS)
        b3 = np.sqrt(h1 / h1.sum(1, keepdims=True))
        # 4. palette: hue x saturation, weighted by value
        mx = small.max(-1)
        mn = small.min(-1)
        delta = mx - mn
        sat = np.where(mx > 0, delta / np.maximum(mx, np.float32(1e-6)), np.float32(0.0))
        safe = np.maximum(delta, np.float32(1e-6))
        hue = np.where(
            mx == r,
            ((g - bl) / safe) % np.float32(6.0),
            np.where(mx == g, (bl - r) / safe + np.float32(2.0), (r - g) / safe + np.float32(4.0)),
        ) / np.float32(6.0)
        hi = np.clip((hue.reshape(n, -1) * self.HUE_BINS).astype(np.int64), 0, self.HUE_BINS - 1)
        si = np.clip((sat.reshape(n, -1) * self.SAT_BINS).astype(np.int64), 0, self.SAT_BINS - 1)
        wts = (mx * np.maximum(sat, np.float32(0.05))).reshape(n, -1)
        h2 = _row_hist(hi * self.SAT_BINS + si, wts, self.HUE_BINS * self.SAT_BINS)
        b4 = np.sqrt(h2 / np.maximum(h2.sum(1, keepdims=True), np.float32(1e-6)))
        ws = [np.float32(np.sqrt(wt)) for wt in self._WEIGHTS]
        v = np.concatenate([ws[0] * b1, ws[1] * b2, ws[2] * b3, ws[3] * b4], axis=1)
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), np.float32(1e-12))
        return v.astype(np.float32, copy=False)

    def embed_texts(self, prompts: Sequence[str]) -> np.ndarray:
        raise ModelError("the pixels embedder has no text side: prompt gates need --embedder clip")

    def __repr__(self) -> str:
        return "PixelEmbedder(pixels-v1)"


def _windows(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the `adaptive_avg_pool` windows:
    ``[floor(i * in / out), ceil((i + 1) * in / out))`` for i < out."""
    i = np.arange(size_out)
    return (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)


def area_pool(images: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """float32 (n, out_h, out_w, c) window means of uint8 (n, h, w, c) images, with torch's
    ``adaptive_avg_pool2d`` windows and rounding: the window sums are exact (integer
    cumulative sums), then divided by the window's height, then its width."""
    n, h, w, c = images.shape
    (h0, h1), (w0, w1) = _windows(h, out_h), _windows(w, out_w)
    acc = np.int32 if images.dtype == np.uint8 else np.float64  # float input: 0..255 too
    if h % out_h == 0:  # equal windows (224 -> 32): a plain sum, 4x cheaper
        rows = images.reshape(n, out_h, h // out_h, w, c).sum(axis=2, dtype=acc)
    else:
        cum = np.zeros((n, h + 1, w, c), dtype=acc)
        np.cumsum(images, axis=1, dtype=acc, out=cum[:, 1:])
        rows = cum[:, h1] - cum[:, h0]  # (n, out_h, w, c)
    cum = np.zeros((n, out_h, w + 1, c), dtype=acc)
    np.cumsum(rows, axis=2, out=cum[:, :, 1:])
    sums = (cum[:, :, w1] - cum[:, :, w0]).astype(np.float32)
    kh = (h1 - h0).astype(np.float32)[None, :, None, None]
    kw = (w1 - w0).astype(np.float32)[None, None, :, None]
    return sums / kh / kw


def block_mean(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """float32 means of the (h/out_h, w/out_w) blocks of float32 (n, h, w, c) `x`, summed
    in torch's order (row by row, left to right), so the result is torch's to the bit."""
    n, h, w, c = x.shape
    bh, bw = h // out_h, w // out_w
    blocks = x.reshape(n, out_h, bh, out_w, bw, c)
    acc = np.zeros((n, out_h, out_w, c), dtype=np.float32)
    for i in range(bh):
        for j in range(bw):
            acc += blocks[:, :, i, :, j, :]
    return acc / np.float32(bh) / np.float32(bw)


def _row_hist(idx: np.ndarray, weights: np.ndarray | None, bins: int) -> np.ndarray:
    """(n, bins) float32 histogram of each row of integer bin indices (n, k)."""
    n = idx.shape[0]
    flat = (idx + bins * np.arange(n)[:, None]).ravel()
    wt = None if weights is None else weights.ravel().astype(np.float64)
    return np.bincount(flat, weights=wt, minlength=n * bins).reshape(n, bins).astype(np.float32)


_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def _rgb_to_lab(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sRGB in [0,1], (..., 3) -> CIE Lab (D65) channels L, a, b, each (...)."""
    lin = np.where(
        x <= np.float32(0.04045),
        x / np.float32(12.92),
        ((x + np.float32(0.055)) / np.float32(1.055)) ** np.float32(2.4),
    )
    t = (lin @ _RGB_TO_XYZ.T) / _WHITE
    f = np.where(
        t > np.float32(0.008856),
        np.maximum(t, np.float32(1e-12)) ** np.float32(1 / 3),
        np.float32(7.787) * t + np.float32(16 / 116),
    )
    L = np.float32(116) * f[..., 1] - np.float32(16)
    a = np.float32(500) * (f[..., 0] - f[..., 1])
    b = np.float32(200) * (f[..., 1] - f[..., 2])
    return L, a, b
