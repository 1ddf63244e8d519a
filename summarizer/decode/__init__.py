"""video -> frames: probe a video file or image folder, sample its frames in bounded batches.

- `probe(path)`: rate, frame count, duration, display size and the backend that reads it.
- `iter_frames(path, settings)`: the sampled frames, in time order, in batches of at most
  `settings.batch_frames` (memory stays flat for a two-hour video), resized while decoding.
  Times come from the stream (each frame's presentation time), so variable-frame-rate video
  is sampled right.
- `read_frames(path, indices, short_side)`: specific frames by source index.

One probe per file (`summarizer.decode.probing`) checks the demuxers' figures against each other
and picks the backend: decord (`decord_source`) where it is right, PyAV (`pyav_source`) for
everything else; folders of images are `folder`. Frames come out as people see them (sample
aspect ratio, rotation, deinterlacing). Bad input raises one `InputError` line; damaged or
truncated files give the frames they have with a `DamagedFramesWarning` or
`TruncatedVideoWarning` (also recorded in `DecodeStats`).

Nothing here changes process state; decord and PyAV are imported when first used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from summarizer.config import SampleSettings
from summarizer.data import FrameBatch, Probe
from summarizer.decode.folder import IMAGE_EXTS, IMAGE_FOLDER_FPS, FolderSource, is_image_folder
from summarizer.decode.sampling import (
    MAX_TARGETS,
    even,
    natural_sorted,
    select_indices,
    target_size,
)
from summarizer.decode.source import (
    DamagedFramesWarning,
    DecodeStats,
    DecodeWarning,
    FrameSource,
    TruncatedVideoWarning,
    UnreadableImageWarning,
)
from summarizer.errors import InputError

__all__ = [
    "IMAGE_EXTS",
    "IMAGE_FOLDER_FPS",
    "MAX_TARGETS",
    "DamagedFramesWarning",
    "DecodeStats",
    "DecodeWarning",
    "FrameSource",
    "TruncatedVideoWarning",
    "UnreadableImageWarning",
    "even",
    "is_image_folder",
    "iter_frames",
    "natural_sorted",
    "open_source",
    "probe",
    "read_frames",
    "select_indices",
    "target_size",
]


def open_source(path: str | Path, settings: SampleSettings | None = None) -> FrameSource:
    """The `FrameSource` for a video file (its backend chosen by the probe, cached per file
    version) or an image folder (whose times depend on `settings`: fps, time_regex)."""
    from summarizer.decode.probing import open_video

    p = Path(path)
    if not p.exists():
        raise InputError(f"not found: {p}")
    if p.is_dir():
        return FolderSource(p, settings)
    return open_video(p)


def probe(path: str | Path, *, settings: SampleSettings | None = None) -> Probe:
    """Rate, frame count, duration, display size and backend of a video file or image folder.

    For an image folder, time = position / `settings.fps` (default settings: 2 fps) unless
    `settings.time_regex` reads the times from the names.
    """
    return open_source(path, settings).probe()


def iter_frames(
    path: str | Path, settings: SampleSettings, *, stats: DecodeStats | None = None
) -> Iterator[FrameBatch]:
    """Sampled frames of a video file or image folder, in time order, in bounded batches.

    Lazy: nothing is opened until the first batch is asked for.
    """
    yield from open_source(path, settings).iter_frames(settings, stats)


def read_frames(
    path: str | Path,
    indices: Sequence[int] | np.ndarray,
    short_side: int | None = None,
    *,
    settings: SampleSettings | None = None,
) -> FrameBatch:
    """Specific frames (source indices, any order) at `short_side` (None: full size).

    Returned in the order asked for (duplicates allowed). For image folders the indices are
    the ones `iter_frames` gave (positions in the folder's ordered image list, made with the
    same `settings`: its fps and time_regex; default `SampleSettings()`).
    """
    ask = np.asarray(indices, dtype=np.int64).reshape(-1)
    return open_source(path, settings).read_frames(ask, short_side)
