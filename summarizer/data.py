"""Plain data passed between stages: frozen dataclasses over numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Probe:
    """What a video (or image folder) is: rate, length, size as displayed, who decodes it.

    width/height: as people see it (sample aspect ratio and rotation applied).
    backend: the decoder the probe chose ("decord", "pyav", "images"; "" when unknown).
    rotation: clockwise degrees the stored picture is turned for display.
    sample_aspect: pixel width / pixel height of the stored picture (anamorphic != 1).
    missing_s: seconds the file's index promises but its data lacks (a truncated file).
    """

    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    backend: str = ""
    codec: str = ""
    container: str = ""
    rotation: int = 0
    sample_aspect: float = 1.0
    interlaced: bool = False
    missing_s: float = 0.0


@dataclass(frozen=True)
class VideoRef:
    """A video identified by the sha256 of its bytes (an image folder: of its files' bytes)."""

    path: Path
    sha256: str
    name: str
    probe: Probe
    kind: str = "video"  # "video" | "images"
    # What `sha256` hashes: "bytes", or "stream" (a URL + its identity); None: not said
    # (the catalog keeps what it has, else "bytes").
    key_kind: str | None = None


@dataclass(frozen=True)
class FrameBatch:
    """A bounded batch of sampled frames, in time order.

    times_s: float64 (n,) presentation time of each frame, from the stream.
    indices: int64 (n,) index of the frame in the source.
    images: uint8 (n, H, W, 3) RGB, already resized during decode.
    """

    times_s: np.ndarray
    indices: np.ndarray
    images: np.ndarray

    def __len__(self) -> int:
        return len(self.times_s)


@dataclass(frozen=True)
class EmbeddedVideo:
    """The result of the embedding stage for one video.

    embeddings: float32 (N, D), L2-normalised rows, made by `model_id`.
    thumbnails: uint8 (N, h, w, 3), small RGB frames for display (memory-mapped from the store).
    """

    ref: VideoRef
    times_s: np.ndarray
    indices: np.ndarray
    embeddings: np.ndarray
    thumbnails: np.ndarray
    model_id: str
    cache_hit: bool = False
