"""The frames written as keyframe images: decoded again at the video's resolution, or the
stored thumbnails when that is not possible (or not wanted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

CHUNK = 16  # full-size frames decoded (and held) at a time


def keyframe_images(
    ev: Any, frames: np.ndarray, sample: Any, thumbnails_only: bool
) -> list[np.ndarray]:
    """Frames `frames` (indices into `ev`) at full resolution via the decoder, or the stored
    thumbnails (an image folder that changed, a video that cannot be read again)."""
    return list(iter_keyframe_images(ev, frames, sample, thumbnails_only))


def iter_keyframe_images(
    ev: Any, frames: np.ndarray, sample: Any, thumbnails_only: bool, chunk: int = CHUNK
) -> Iterator[np.ndarray]:
    """`keyframe_images` one at a time, decoded `chunk` frames per pass, so that memory
    holds a few full-size frames whatever their number. Frames that cannot be decoded
    (from the first failure on) are the stored thumbnails."""
    frames = np.asarray(frames, dtype=np.int64)
    if thumbnails_only or len(frames) == 0:
        yield from (np.asarray(ev.thumbnails[i]) for i in frames)
        return
    from summarizer.decode import read_frames
    from summarizer.errors import AtlasError

    for i in range(0, len(frames), chunk):
        part = frames[i : i + chunk]
        try:
            batch = read_frames(ev.ref.path, ev.indices[part], None, settings=sample)
        except (AtlasError, OSError, RuntimeError):
            yield from (np.asarray(ev.thumbnails[j]) for j in frames[i:])
            return
        yield from (np.asarray(im) for im in batch.images)
        del batch
