"""The numpy `pixels` embedder: torch's numbers (the reference it replaced), no heavy imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from summarizer import synth
from summarizer.embed.pixels import PixelEmbedder


def torch_reference(images: np.ndarray) -> np.ndarray:
    """The torch implementation the numpy one replaced (pixels-v1, as it was), verbatim."""
    import torch
    import torch.nn.functional as F

    def rgb_to_lab(x):
        lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
        m = torch.tensor(
            [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
            dtype=x.dtype,
        )
        xyz = torch.einsum("ij,njhw->nihw", m, lin)
        white = torch.tensor([0.95047, 1.0, 1.08883], dtype=x.dtype).view(1, 3, 1, 1)
        t = xyz / white
        f = torch.where(t > 0.008856, t.clamp_min(1e-12) ** (1 / 3), 7.787 * t + 16 / 116)
        return torch.stack(
            [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1
        )

    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
        small = F.adaptive_avg_pool2d(x, (32, 32)) / 255.0
        thumb = F.adaptive_avg_pool2d(small, (8, 8))
        n = x.shape[0]
        lab = rgb_to_lab(thumb)
        L = lab[:, 0].reshape(n, -1)
        L = L - L.mean(1, keepdim=True)
        b1 = L / L.norm(dim=1, keepdim=True).clamp_min(16.0)
        ab = lab[:, 1:].reshape(n, -1)
        b2 = ab / ab.norm(dim=1, keepdim=True).clamp_min(24.0)
        r, g, b = small[:, 0], small[:, 1], small[:, 2]
        y = (0.299 * r + 0.587 * g + 0.114 * b).reshape(n, -1)
        rel = y / y.mean(1, keepdim=True).clamp_min(0.02)
        yi = (rel / 2.5 * 16).long().clamp_(0, 15)
        h1 = torch.zeros(n, 16).scatter_add_(1, yi, torch.ones_like(y))
        b3 = torch.sqrt(h1 / h1.sum(1, keepdim=True))
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
        hi = (hue.reshape(n, -1) * 12).long().clamp_(0, 11)
        si = (sat.reshape(n, -1) * 3).long().clamp_(0, 2)
        wts = (mx * sat.clamp_min(0.05)).reshape(n, -1)
        h2 = torch.zeros(n, 36)
        h2.scatter_add_(1, hi * 3 + si, wts)
        b4 = torch.sqrt(h2 / h2.sum(1, keepdim=True).clamp_min(1e-6))
        ws = [float(np.sqrt(w)) for w in (0.45, 0.25, 0.15, 0.15)]
        v = torch.cat([ws[0] * b1, ws[1] * b2, ws[2] * b3, ws[3] * b4], dim=1)
        return (v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)).numpy()


def frame_sets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    scenes = []
    for i, kind in enumerate(["static", "pan", "zoom", "flicker", "motion"]):
        shot = synth.Shot(kind, 1.0, seed=40 + i)
        canvas = synth.scene_canvas(shot.seed, (398, 224))
        frame = synth.shot_frame(shot, canvas, 0.3, (398, 224))
        scenes.append((np.clip(frame, 0, 1) * 255).round().astype(np.uint8))
    return {
        "scenes 398x224": np.stack(scenes),
        "noise 70x50": rng.integers(0, 256, (6, 50, 70, 3), dtype=np.uint8),
        "smaller than 32": rng.integers(0, 256, (3, 17, 33, 3), dtype=np.uint8),
        "odd 401x225": rng.integers(0, 256, (2, 225, 401, 3), dtype=np.uint8),
        "flat grey": np.full((2, 40, 40, 3), 128, np.uint8),
        "black": np.zeros((2, 36, 64, 3), np.uint8),
    }


@pytest.mark.parametrize("name", list(frame_sets()))
def test_pixels_gives_the_torch_numbers(name):
    pytest.importorskip("torch")
    images = frame_sets()[name]
    ours = PixelEmbedder().embed_images(images)
    assert ours.dtype == np.float32 and ours.shape == (len(images), PixelEmbedder.dim)
    np.testing.assert_allclose(ours, torch_reference(images), atol=5e-6, rtol=0)


def test_pixels_embedder_loads_no_heavy_library():
    code = (
        "import sys, numpy as np\n"
        "from summarizer.config import EmbedSettings\n"
        "from summarizer.embed import get_embedder\n"
        "e = get_embedder(EmbedSettings(embedder='pixels'))\n"
        "v = e.embed_images(np.zeros((2, 64, 96, 3), np.uint8))\n"
        "print(v.shape, sorted(m for m in ('torch', 'sklearn', 'scipy', 'open_clip') "
        "if m in sys.modules))\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "(2, 244) []"
