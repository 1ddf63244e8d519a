"""The frames written as keyframe images: decoded again at the video's resolution, or the
stored thumbnails when that is not possible (or not wanted)."""

from __future__ import annotations

from typing import Any

import numpy as np


def keyframe_images(
    ev: Any, frames: np.ndarray, sample: Any, thumbnails_only: bool
) -> list[np.ndarray]:
    """Frames `frames` (indices into `ev`) at full resolution via the decoder, or the stored
    thumbnails (an image folder that changed, a video that cannot be read again)."""
    thumbs = [np.asarray(ev.thumbnails[i]) for i in frames]
    if thumbnails_only or len(frames) == 0:
        return thumbs
    from summarizer.decode import read_frames
    from summarizer.errors import AtlasError

    try:
        batch = read_frames(ev.ref.path, ev.indices[frames], None, settings=sample)
    except (AtlasError, OSError, RuntimeError):
        return thumbs
    return [np.asarray(im) for im in batch.images]
