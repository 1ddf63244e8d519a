"""The `FrameSource` interface every decoder backend implements, and what they share.

A source is opened once per file (see `summarizer.decode.probing.open_source`) and answers
three questions: what the video is (`probe`), its sampled frames in bounded batches
(`iter_frames`) and specific frames by index (`read_frames`). Video backends share the
frame index (`VideoIndex`: each frame's start time, key frames, display size) built by the
probe, so decord and PyAV number frames alike and one can take over from the other.

Damage is reported, not hidden: frames that cannot be decoded are a `DamagedFramesWarning`
with their times (and listed in `DecodeStats.damaged_spans`), a file that ends before its
index says is a `TruncatedVideoWarning` saying what is missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from summarizer.config import SampleSettings
from summarizer.data import FrameBatch, Probe

FIRST_BATCH = 4  # batches start this small and double up to batch_frames
MAX_BATCH_BYTES = 256 * 2**20  # a batch never holds more pixels than this, whatever the settings


class DecodeWarning(UserWarning):
    """Something about the video is wrong, but there are frames to work with."""


class UnreadableImageWarning(DecodeWarning):
    """An image in an image folder could not be read and was skipped."""


class DamagedFramesWarning(DecodeWarning):
    """Frames in [start_s, end_s) could not be decoded (corrupt data); decoding went on."""

    def __init__(self, message: str, start_s: float = 0.0, end_s: float = 0.0):
        super().__init__(message)
        self.start_s = start_s
        self.end_s = end_s


class TruncatedVideoWarning(DecodeWarning):
    """The file ends before its index says: only the frames that are there are given."""


@dataclass
class DecodeStats:
    """Filled in while `iter_frames` runs: what was decoded, skipped and found damaged.

    damaged_spans: (start_s, end_s) of frames that could not be decoded, in time order; a
    seam or cut there would be invented by the damage, not by the content.
    missing_s: seconds the file's index promises that its data does not hold (truncated).
    """

    frames: int = 0
    skipped: int = 0
    skipped_files: list[str] = field(default_factory=list)
    damaged_spans: list[tuple[float, float]] = field(default_factory=list)
    missing_s: float = 0.0


@dataclass(frozen=True)
class StreamInfo:
    """What the container (read by PyAV) says about the video stream.

    width/height are the stored (coded) size; `display_size` applies the sample aspect ratio
    and the rotation. frames/duration_s are the header's figures (0 when it has none).
    """

    container: str  # demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str
    width: int
    height: int
    rotation: int  # clockwise degrees the picture must be turned: 0, 90, 180, 270
    sample_aspect: float  # pixel width / pixel height (1.0: square pixels)
    interlaced: bool
    frames: int  # as the header says (0: unknown)
    duration_s: float  # as the header says (0: unknown)
    rate: float  # average frame rate the header says (0: unknown)
    start_s: float  # presentation time of the first decoded frame, in stream time
    pix_fmt: str = ""
    b_frames: bool = False  # the codec reorders frames (B-frames)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as people see it: sample aspect applied, then the rotation."""
        w = max(1, int(round(self.width * self.sample_aspect)))
        h = self.height
        return (h, w) if self.rotation in (90, 270) else (w, h)


@dataclass(frozen=True)
class VideoIndex:
    """Every frame of a video file: start times (s, from the first frame), key frames, size.

    pts0: stream time (s) of the first frame, to match decoded frames to the index.
    ordered: frames carry no usable timestamps; the n-th decoded frame is frame n (the
    decoder must then run from the start: no seeking).
    missing_s: seconds the header promises beyond the data (a truncated file).
    """

    times: np.ndarray
    end_s: float
    keys: tuple[int, ...]
    info: StreamInfo
    pts0: float = 0.0
    ordered: bool = False
    missing_s: float = 0.0

    @property
    def fps(self) -> float:
        n = len(self.times)
        return n / self.end_s if self.end_s > 0 else (self.info.rate or 25.0)

    @property
    def size(self) -> tuple[int, int]:
        return self.info.display_size

    def probe(self, backend: str) -> Probe:
        w, h = self.size
        return Probe(
            fps=float(self.fps),
            frame_count=len(self.times),
            duration_s=float(self.end_s),
            width=w,
            height=h,
            backend=backend,
            codec=self.info.codec,
            container=self.info.container,
            rotation=self.info.rotation,
            sample_aspect=round(float(self.info.sample_aspect), 6),
            interlaced=self.info.interlaced,
            missing_s=round(float(self.missing_s), 3),
        )


class FrameSource(Protocol):
    """A decoder for one input (a video file with one backend, or a folder of images)."""

    backend: str

    def probe(self) -> Probe:
        """What the input is: rate, frame count, duration, display size, backend."""
        ...

    def iter_frames(
        self, settings: SampleSettings, stats: DecodeStats | None = None
    ) -> Iterator[FrameBatch]:
        """The frames `settings` samples, in time order, in batches of at most
        `settings.batch_frames`."""
        ...

    def read_frames(self, indices: np.ndarray, short_side: int | None) -> FrameBatch:
        """Frames by source index, in the order asked (duplicates allowed)."""
        ...


def ramp(batch: int) -> Iterator[int]:
    """Batch sizes 4, 8, 16, ... up to `batch`: the consumer (the embedder, in the pipeline)
    starts after a few frames instead of a whole batch, and each batch decodes while the one
    before, half its size, is embedded."""
    size = max(1, min(batch, FIRST_BATCH))
    while True:
        yield size
        size = min(batch, size * 2)


def batch_cap(batch_frames: int, size: tuple[int, int]) -> int:
    """Frames per batch: `batch_frames`, but at most `MAX_BATCH_BYTES` of RGB at `size`."""
    w, h = size
    return max(1, min(int(batch_frames), MAX_BATCH_BYTES // max(1, w * h * 3)))


def make_batch(times: np.ndarray, idxs: Sequence[int], images: list[np.ndarray]) -> FrameBatch:
    ii = np.asarray(idxs, dtype=np.int64)
    return FrameBatch(times_s=times[ii].astype(np.float64), indices=ii, images=np.stack(images))


class Batcher:
    """Frames decoded one by one -> `FrameBatch`es of `ramp` sizes (what every backend does
    between its decoder and the consumer).

    ``add`` returns a full batch (else None); ``flush`` the rest (None when empty);
    ``done`` is the index of the last frame handed out in a batch (-1 before any).
    """

    def __init__(self, times: np.ndarray, batch: int):
        self.times = times
        self.sizes = ramp(batch)
        self.cap = next(self.sizes)
        self.images: list[np.ndarray] = []
        self.idxs: list[int] = []
        self.done = -1

    def add(self, index: int, image: np.ndarray) -> FrameBatch | None:
        self.images.append(image)
        self.idxs.append(int(index))
        if len(self.images) < self.cap:
            return None
        self.cap = next(self.sizes)
        return self.flush()

    def flush(self) -> FrameBatch | None:
        if not self.images:
            return None
        out = make_batch(self.times, self.idxs, self.images)
        self.done = self.idxs[-1]
        self.images, self.idxs = [], []
        return out

    def __len__(self) -> int:
        return len(self.images)


def empty_batch(size: tuple[int, int]) -> FrameBatch:
    w, h = size
    return FrameBatch(
        np.zeros(0, np.float64), np.zeros(0, np.int64), np.zeros((0, h, w, 3), np.uint8)
    )


class DamageLog:
    """Collects frames that could not be decoded into spans, and warns once per span."""

    def __init__(self, name: str, index: VideoIndex, stats: DecodeStats | None = None):
        self.name = name
        self.index = index
        self.stats = stats
        self.spans: list[tuple[int, int]] = []  # [first, last] frame indices
        self._open: list[int] | None = None
        self._frames: set[int] = set()  # damaged frames of the open span (good ones between)
        # damage less than half a second apart is one span (one warning)
        self.merge_gap = max(2, int(round(index.fps * 0.5)))

    def add(self, first: int, last: int | None = None) -> None:
        """Frames first..last (inclusive) are damaged."""
        last = first if last is None else last
        if last < first:
            return
        if self._open is not None and (
            first <= self._open[1] + self.merge_gap and last >= self._open[0] - self.merge_gap
        ):
            # Decoders report damage out of order (a rejected packet is a later frame in
            # decode order than the frames that then never come out): the span grows both ways.
            self._open = [min(self._open[0], first), max(self._open[1], last)]
            self._frames.update(range(first, last + 1))
            return
        self.flush()
        self._open = [first, last]
        self._frames = set(range(first, last + 1))

    def flush(self) -> None:
        if self._open is None:
            return
        first, last = self._open
        self._open = None
        times, n = self.index.times, len(self.index.times)
        start = float(times[min(first, n - 1)])
        end = float(times[last + 1]) if last + 1 < n else float(self.index.end_s)
        self.spans.append((first, last))
        if self.stats is not None:
            self.stats.damaged_spans.append((start, end))
        count = len(self._frames)
        warnings.warn(
            DamagedFramesWarning(
                f"{self.name}: {count} frame{'s' * (count > 1)} from {start:.2f} s to "
                f"{end:.2f} s could not be decoded (corrupt data); decoding went on past them",
                start,
                end,
            ),
            stacklevel=4,
        )


def warn_truncated(name: str, index: VideoIndex, stats: DecodeStats | None) -> None:
    """Say that the file holds less than its index promises (a cut download or upload)."""
    if index.missing_s <= 0:
        return
    if stats is not None:
        stats.missing_s = index.missing_s
    have = index.end_s
    warnings.warn(
        TruncatedVideoWarning(
            f"{name} is truncated (or its data breaks off): its index says "
            f"{have + index.missing_s:.2f} s but the readable data ends at {have:.2f} s "
            f"({index.missing_s:.2f} s missing); only the frames that are there are used"
        ),
        stacklevel=4,
    )
