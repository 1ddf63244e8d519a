"""The frames written as keyframe images: decoded again at the video's resolution, or the
stored thumbnails when that is not possible (or not wanted).

The embedding pass of the seams command keeps the sampled frames at full size, as JPEG
(`summarizer.decode.onepass`, `remember_frames`): keyframes found there are neither decoded
again nor encoded again.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 16  # full-size frames decoded (and held) at a time
FRAME_CACHE = 2  # videos whose encoded sampled frames are kept in memory
_FULL: OrderedDict[tuple[str, int, int], dict[int, bytes]] = OrderedDict()


def _key(video: str | Path) -> tuple[str, int, int] | None:
    p = Path(video)
    try:
        st = p.stat()
    except OSError:
        return None
    return (str(p.resolve()), st.st_size, st.st_mtime_ns)


def remember_frames(video: str | Path, frames: dict[int, bytes]) -> None:
    """Keep JPEG `frames` (source frame index -> bytes, the video's full size) of `video`."""
    key = _key(video)
    if key is None or not frames:
        return
    _FULL[key] = dict(frames)
    _FULL.move_to_end(key)
    while len(_FULL) > FRAME_CACHE:
        _FULL.popitem(last=False)


def keyframe_images(
    ev: Any, frames: np.ndarray, sample: Any, thumbnails_only: bool
) -> list[np.ndarray]:
    """Frames `frames` (indices into `ev`) at full resolution via the decoder, or the stored
    thumbnails (an image folder that changed, a video that cannot be read again)."""
    return [
        im if im is not None else _decode_jpeg(data)
        for im, data in iter_keyframes(ev, frames, sample, thumbnails_only)
    ]


def _decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def iter_keyframes(
    ev: Any, frames: np.ndarray, sample: Any, thumbnails_only: bool, chunk: int = CHUNK
) -> Iterator[tuple[np.ndarray | None, bytes | None]]:
    """(None, its JPEG bytes) for a frame kept from the embedding pass, else (image, None),
    for each of `frames`, in order, as `keyframe_images` gives them: the rest is decoded `chunk` frames
    per pass, so that memory holds a few full-size frames whatever their number. Frames that
    cannot be decoded are the stored thumbnails."""
    frames = np.asarray(frames, dtype=np.int64)
    if thumbnails_only or len(frames) == 0:
        yield from ((np.asarray(ev.thumbnails[i]), None) for i in frames)
        return
    ref = ev.ref
    kept = _FULL.get(_key(ref.path) or ("", 0, 0), {}) if ref.kind == "video" else {}
    source = np.asarray(ev.indices)[frames]
    pending: list[int] = []  # positions in `frames` still to decode, in order
    for pos, src in enumerate(source.tolist()):
        data = kept.get(src)
        if data is not None:
            yield from _flush(ev, frames, source, pending, sample, chunk, force=True)
            yield None, data
        else:
            pending.append(pos)
            yield from _flush(ev, frames, source, pending, sample, chunk, force=False)
    yield from _flush(ev, frames, source, pending, sample, chunk, force=True)


def _flush(ev, frames, source, pending, sample, chunk, force):
    """Decode the `pending` positions when `chunk` of them wait (or `force`), yield them."""
    if not pending or (len(pending) < chunk and not force):
        return
    from summarizer.decode import read_frames
    from summarizer.errors import AtlasError

    try:
        batch = read_frames(ev.ref.path, source[pending], None, settings=sample)
        images = [np.asarray(im) for im in batch.images]
    except (AtlasError, OSError, RuntimeError):
        images = [np.asarray(ev.thumbnails[frames[p]]) for p in pending]
    pending.clear()
    yield from ((im, None) for im in images)
