"""Frame quality measures on images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from summarizer.summary import quality


def _textured(seed: int, size: int = 96) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_flat_dark_bright_and_fine_texture():
    yy, xx = np.mgrid[0:96, 0:96]
    checker = (((xx + yy) % 2) * 200 + 20).astype(np.uint8)[..., None].repeat(3, axis=2)
    frames = np.stack(
        [
            _textured(0),
            np.full((96, 96, 3), 128, np.uint8),  # flat grey
            np.full((96, 96, 3), 5, np.uint8),  # black
            np.full((96, 96, 3), 250, np.uint8),  # white
            checker,  # finest possible texture: must not look flat
        ]
    )
    assert quality.informative_mask(frames).tolist() == [True, False, False, False, True]
    assert quality.flatness(frames)[4] > 90


def test_blur_lowers_sharpness():
    sharp = _textured(1)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(3)))
    s = quality.sharpness(np.stack([sharp, blurred]))
    assert s[0] > 20 * s[1]


def test_chunking_gives_the_same_numbers(monkeypatch: pytest.MonkeyPatch):
    frames = np.stack([_textured(i) for i in range(7)])
    whole = quality.sharpness(frames), quality.flatness(frames)
    monkeypatch.setattr(quality, "CHUNK", 2)
    chunked = quality.sharpness(frames), quality.flatness(frames)
    np.testing.assert_allclose(whole, chunked, rtol=1e-6)


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB"):
        quality.sharpness(np.zeros((2, 8, 8), np.uint8))
