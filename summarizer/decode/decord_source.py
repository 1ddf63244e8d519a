"""The decord backend: the first choice for MP4/MOV, Matroska/WebM and AVI whose figures
check out against the container (see `summarizer.decode.probing`).

decord scales inside its FFmpeg filter (so frames come out at the display size, sample
aspect corrected) and skips between wanted frames without converting them; it seeks only
when a key frame lies far enough ahead to pay off, which is much faster than its own
``get_batch`` on sparse indices. When it fails part way (a corrupt packet) or mangles a frame
size (widths such as 16, 24 or 48 px come out with 6 or 4 channels), it raises
`BackendFailed` and PyAV carries on.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from summarizer.data import FrameBatch
from summarizer.decode.indexed import BackendFailed, IndexedSource
from summarizer.decode.source import Batcher, DamageLog, StreamInfo, VideoIndex

# Seeking costs about as much as skipping this many frames (measured: ~18 ms per seek
# against ~0.75 ms per skipped 640x360 H.264 frame); seek only when it saves more.
SEEK_COST_FRAMES = 48
DECODE_THREADS = 0  # decord decoder threads (0: FFmpeg picks)


class DecordRejected(Exception):
    """decord cannot be trusted with this file (the reason says why)."""


def _decord():
    import decord

    decord.logging.set_level(decord.logging.QUIET)
    return decord


def _reader(path: Path, width: int = -1, height: int = -1):
    return _decord().VideoReader(
        str(path), ctx=_decord().cpu(0), width=width, height=height, num_threads=DECODE_THREADS
    )


def build_index(path: Path, info: StreamInfo) -> tuple[VideoIndex, tuple[int, int]]:
    """decord's own frame index of a file, and its native output size (w, h); raises
    `DecordRejected` when it cannot open the file or its figures are absurd."""
    try:
        vr = _reader(path)
        n = len(vr)
        if n <= 0:
            raise DecordRejected("no frames")
        ts = np.asarray(vr.get_frame_timestamp(np.arange(n)), dtype=np.float64)
        first = vr.next().asnumpy()
        keys = tuple(int(k) for k in vr.get_key_indices())
    except DecordRejected:
        raise
    except Exception as exc:  # decord raises RuntimeError / DECORDError / AssertionError
        raise DecordRejected(f"decord cannot read it ({type(exc).__name__})") from None
    starts = ts[:, 0]
    if not (np.all(np.isfinite(ts)) and np.all(np.diff(starts) >= 0) and starts[-1] > starts[0]):
        raise DecordRejected("its frame times are missing or out of order")
    if first.ndim != 3 or first.shape[2] != 3:
        raise DecordRejected(f"it decodes frames of shape {first.shape}")
    t0 = float(starts[0])
    times = starts - t0
    end = float(max(ts[-1, 1] - t0, times[-1]))
    if end <= times[-1]:
        end = float(times[-1] + times[-1] / max(n - 1, 1))
    times.setflags(write=False)
    native = (int(first.shape[1]), int(first.shape[0]))
    # decord's times count from the stream's start time, not in stream time: PyAV (which
    # takes over, and the full-rate signal) matches its frames by stream time, so the
    # origin is the stream time of the first frame as the probe decoded it.
    return VideoIndex(times, end, keys or (0,), info, info.start_s), native


class _Cursor:
    """Moves a decord reader forward to wanted frames: skips (decodes without converting)
    between them, and seeks only when a key frame lies far enough ahead to pay off."""

    def __init__(self, vr, keys: Sequence[int]):
        self.vr = vr
        self.keys = sorted(keys)
        self.pos = 0  # index of the frame `take()` returns (a fresh reader is at 0)
        self.peeked: np.ndarray | None = None

    def peek(self) -> np.ndarray:
        self.peeked = self.vr.next().asnumpy()
        return self.peeked

    def goto(self, target: int) -> None:
        if self.peeked is not None and target > 0:
            self.peeked = None
            self.pos = 1
        k = bisect.bisect_right(self.keys, target) - 1
        key = self.keys[k] if k >= 0 else 0
        if key > self.pos and key - self.pos > SEEK_COST_FRAMES:
            self.vr.seek_accurate(target)
        elif target > self.pos:
            self.vr.skip_frames(target - self.pos)
        self.pos = target

    def take(self) -> np.ndarray:
        if self.peeked is not None:
            frame, self.peeked = self.peeked, None
        else:
            frame = self.vr.next().asnumpy()
        self.pos += 1
        return frame


class DecordSource(IndexedSource):
    """Decodes through decord; falls back to PyAV (`fallback`) when decord fails."""

    backend = "decord"

    def __init__(
        self,
        path: Path,
        index: VideoIndex,
        native: tuple[int, int],
        fallback,
        why: str = "",
    ):
        super().__init__(path, index, why)
        self.native = native  # decord's own output size (rotation applied, not the aspect)
        self._fallback = fallback  # () -> PyAVSource, built on first need

    def fallback(self) -> IndexedSource | None:
        return self._fallback()

    def decode(
        self,
        wanted: np.ndarray,
        size: tuple[int, int],
        batch: int,
        damage: DamageLog,
        tail: bool,
    ) -> Iterator[FrameBatch]:
        times, n = self.index.times, len(self.index.times)
        w, h = size
        try:
            vr = _reader(self.path, *((w, h) if (w, h) != self.native else (-1, -1)))
            cur = _Cursor(vr, self.index.keys)
            if cur.peek().shape != (h, w, 3):
                raise BackendFailed(-1, "decord mangles this frame size")
        except BackendFailed:
            raise
        except Exception as exc:
            raise BackendFailed(-1, f"decord failed ({type(exc).__name__})") from None
        out = Batcher(times, batch)
        try:
            for target in wanted:
                target = int(target)
                if target < cur.pos:
                    continue
                cur.goto(target)
                if (full := out.add(target, cur.take())) is not None:
                    yield full
            if tail and cur.pos < n:
                cur.goto(n - 1)
                cur.take()
        except GeneratorExit:
            raise
        except Exception as exc:  # StopIteration (data ends early) or DECORDError (corrupt)
            if (rest := out.flush()) is not None:
                yield rest
            raise BackendFailed(out.done, f"decord stopped ({type(exc).__name__})") from None
        if (rest := out.flush()) is not None:
            yield rest
