"""Frames as pictures for pages: JPEG data URLs for tooltips, or re-decoded from the source."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def image_data_url(image: np.ndarray, width: int = 160, quality: int = 70) -> str:
    """A small JPEG of `image` as a ``data:`` URL (Vega tooltips show a field named 'image')."""
    im = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if im.width > width:
        im = im.resize((width, max(1, round(im.height * width / im.width))), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def spread_indices(n: int, limit: int) -> np.ndarray:
    """At most `limit` indices spread evenly over range(n) (all of them when n <= limit)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def frame_images(thumbnails: np.ndarray, max_images: int = 400, width: int = 160) -> dict[int, str]:
    """Small data-URL images of at most `max_images` frames spread over a video, by frame."""
    return {
        int(i): image_data_url(thumbnails[int(i)], width=width)
        for i in spread_indices(len(thumbnails), max_images)
    }


def decode_frames(ev: Any, positions: Sequence[int], short_side: int | None) -> np.ndarray:
    """Frames at `positions` from the kept source (uncached; thumbnails if it is gone)."""
    from summarizer.decode import read_frames
    from summarizer.errors import AtlasError

    positions = [int(p) for p in positions]
    thumbs = np.stack([np.asarray(ev.thumbnails[p]) for p in positions])
    path = str(ev.ref.path or "")
    if path in ("", ".") or not Path(path).exists():
        return thumbs
    try:
        batch = read_frames(path, np.asarray(ev.indices)[positions], short_side)
    except (AtlasError, OSError, RuntimeError):
        return thumbs
    return np.asarray(batch.images)
