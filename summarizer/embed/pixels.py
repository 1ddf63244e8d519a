"""`pixels`: model-free frame features (colour layout, tones, palette), instant and offline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from summarizer.config import EmbedSettings
from summarizer.errors import ModelError


class PixelEmbedder:
    """Model-free frame features: instant, offline, good at hard cuts.

    Four blocks, each L2-normalised and weighted, then the whole vector L2-normalised:
    - layout: the 8x8 Lab lightness thumbnail, standardised per frame (zero mean, unit
      spread), so a brightness change or flicker barely moves it (weight 0.45);
    - colour: the 8x8 Lab a/b thumbnail (weight 0.25);
    - tones: a 16-bin histogram of luma relative to the frame's mean luma (weight 0.15);
    - palette: a hue (12) x saturation (3) histogram weighted by value (weight 0.15).
    Histograms are square-rooted (Hellinger geometry), so cosine compares them fairly.
    """

    model_id = "pixels-v1"
    THUMB = 8
    LUMA_BINS = 16
    HUE_BINS = 12
    SAT_BINS = 3
    dim = THUMB * THUMB * 3 + LUMA_BINS + HUE_BINS * SAT_BINS
    _WEIGHTS = (0.45, 0.25, 0.15, 0.15)

    def __init__(self, settings: EmbedSettings | None = None):
        self.settings = settings or EmbedSettings(embedder="pixels")

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, 244) L2-normalised features of uint8 (N,H,W,3) frames."""
        import torch

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got shape {images.shape}")
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), 256):
                chunk = np.ascontiguousarray(images[i : i + 256])
                out.append(self._features(torch.from_numpy(chunk)))
        return np.concatenate(out).astype(np.float32, copy=False)

    def _features(self, x) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        x = x.permute(0, 3, 1, 2).float()  # (n,3,H,W), 0..255
        # histograms over 1024 averaged pixels; scale to [0, 1] after pooling (cheaper)
        small = F.adaptive_avg_pool2d(x, (32, 32)) / 255.0
        thumb = F.adaptive_avg_pool2d(small, (self.THUMB, self.THUMB))
        n = x.shape[0]
        lab = _rgb_to_lab(thumb)
        # 1. layout: standardised lightness
        L = lab[:, 0].reshape(n, -1)
        L = L - L.mean(1, keepdim=True)
        b1 = L / L.norm(dim=1, keepdim=True).clamp_min(8.0 * 2.0)
        # 2. colour: a/b
        ab = lab[:, 1:].reshape(n, -1)
        b2 = ab / ab.norm(dim=1, keepdim=True).clamp_min(8.0 * 3.0)
        # 3. tones: luma relative to the mean luma, bins over [0, 2.5)
        r, g, b = small[:, 0], small[:, 1], small[:, 2]
        y = (0.299 * r + 0.587 * g + 0.114 * b).reshape(n, -1)
        rel = y / y.mean(1, keepdim=True).clamp_min(0.02)
        yi = (rel / 2.5 * self.LUMA_BINS).long().clamp_(0, self.LUMA_BINS - 1)
        h1 = torch.zeros(n, self.LUMA_BINS).scatter_add_(1, yi, torch.ones_like(y))
        b3 = torch.sqrt(h1 / h1.sum(1, keepdim=True))
        # 4. palette: hue x saturation, weighted by value
        mx, _ = small.max(1)
        mn, _ = small.min(1)
        delta = mx - mn
        sat = torch.where(mx > 0, delta / mx.clamp_min(1e-6), torch.zeros_like(mx))
        safe = delta.clamp_min(1e-6)
        hue = (
            torch.where(
                mx == r,
                ((g - b) / safe) % 6,
                torch.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4),
            )
            / 6.0
        )
        hi = (hue.reshape(n, -1) * self.HUE_BINS).long().clamp_(0, self.HUE_BINS - 1)
        si = (sat.reshape(n, -1) * self.SAT_BINS).long().clamp_(0, self.SAT_BINS - 1)
        wts = (mx * sat.clamp_min(0.05)).reshape(n, -1)
        h2 = torch.zeros(n, self.HUE_BINS * self.SAT_BINS)
        h2.scatter_add_(1, hi * self.SAT_BINS + si, wts)
        b4 = torch.sqrt(h2 / h2.sum(1, keepdim=True).clamp_min(1e-6))
        ws = [float(np.sqrt(w)) for w in self._WEIGHTS]
        v = torch.cat([ws[0] * b1, ws[1] * b2, ws[2] * b3, ws[3] * b4], dim=1)
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return v.numpy()

    def embed_texts(self, prompts: Sequence[str]) -> np.ndarray:
        raise ModelError("the pixels embedder has no text side: prompt gates need --embedder clip")

    def __repr__(self) -> str:
        return "PixelEmbedder(pixels-v1)"


def _rgb_to_lab(x):
    """sRGB in [0,1], (n,3,h,w) -> CIE Lab (D65), same shape."""
    import torch

    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
        dtype=x.dtype,
    )
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=x.dtype).view(1, 3, 1, 1)
    t = xyz / white
    f = torch.where(t > 0.008856, t.clamp_min(1e-12) ** (1 / 3), 7.787 * t + 16 / 116)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)
