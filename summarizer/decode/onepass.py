"""One decode pass for both rates: the sampled frames and the full-rate signal.

The seams stage needs every frame, tiny (`summarizer.decode.signal`), and the embedding
stage the sampled frames at model size. Decoding the video twice for them cost as much as
the rest of ``keyframe-atlas seams`` together, so `sample_with_signal` decodes it once with
PyAV over the probe's frame index (the frame numbers, times and sampled frames of
`summarizer.decode.iter_frames`) and reduces every decoded frame, tiny, on the way (the same
area scale and reduction as `signal.scan`).

The pass gives a signal only when it saw every frame of a clean stream in order: the whole
video is sampled (no --start/--end), the sampled frames are close enough that the decoder
never seeks, and no frame is damaged, missing, rotated or interlaced. Otherwise the sampled
frames are still right and the signal is None: `signal.scan` computes it (with its damage
handling) when a detector asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from summarizer.config import SampleSettings
from summarizer.data import FrameBatch
from summarizer.decode.sampling import select_indices

QUEUE_FRAMES = 32  # decoded frames waiting for the tiny scale (a few MB)
KEEP_BYTES = 64 << 20  # encoded full-size sampled frames kept at most (then: decode again)


class SignalTap:
    """Every decoded frame -> tiny RGB -> the signal reducer; `result()` is the
    `FrameSignal`, or None when a frame was missed (see the module docstring).

    The tiny scale (FFmpeg's, which lets go of the GIL) and the reduction run in a thread of
    their own, beside the decoding and the embedding: on two cores that takes them off the
    decoding's path.

    With `keep` (uint8 RGB frame -> bytes, e.g. a JPEG encoder), the sampled frames
    (`wanted`) are also kept at full size, encoded (`full`: source index -> bytes, up to
    `KEEP_BYTES` in all), so the keyframes written later need no decoding either.
    """

    def __init__(self, index, match, wanted=(), keep: Callable[[np.ndarray], bytes] | None = None):
        import queue
        import threading

        from summarizer.decode import signal

        self.sig = signal
        self.index = index
        self.match = match  # (frame time, last index) -> index (the source's own matching)
        self.red = signal.Reducer.at(self.fps)
        self.prev = -1
        self.ok = True
        self.error: BaseException | None = None
        from summarizer.decode.pyav_source import FrameConverter

        self.tiny = FrameConverter(index.info, signal.SIZE, flags="area")  # signal.scan's
        self.full_size = FrameConverter(index.info, None)  # the stored frame, as RGB
        self.wanted = frozenset(int(i) for i in wanted) if keep is not None else frozenset()
        self.keep = keep
        self.full: dict[int, bytes] = {}
        self.kept = 0  # bytes in `full`
        w, h = index.size
        self.upright = (w, h)  # frames at this size are what people see (no SAR, no rotation)
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.thread = threading.Thread(target=self._work, daemon=True, name="signal-tap")
        self.thread.start()

    @property
    def fps(self) -> float:
        return float(self.index.fps) if self.index.fps > 0 else 25.0

    def _work(self) -> None:
        chunk: list[np.ndarray] = []
        try:
            while (item := self.queue.get()) is not None:
                if self.error is not None:
                    continue  # drain: the producer must never block
                frame, k = item
                chunk.append(self.tiny(frame))
                if k in self.wanted and self.kept < KEEP_BYTES:
                    self._keep(frame, k)
                if len(chunk) >= self.sig.CHUNK:
                    self.red.add(np.stack(chunk))
                    chunk = []
            if chunk and self.error is None:
                self.red.add(np.stack(chunk))
        except BaseException as exc:  # noqa: BLE001 - the signal is then left to scan
            self.error = exc
            while self.queue.get() is not None:
                pass

    def _keep(self, frame, k: int) -> None:
        if (frame.width, frame.height) != self.upright:
            return
        # Not ``frame.to_ndarray``: that converter belongs to the frame, and the decoding
        # thread converts the same frame at the sampled size meanwhile.
        data = self.keep(self.full_size(frame))
        self.full[k] = data
        self.kept += len(data)

    def __call__(self, frame) -> None:
        if not self.ok:
            return
        k = self.match(frame.time, self.prev)
        if k <= self.prev:
            return  # a frame the source skips too (a repeat)
        if k != self.prev + 1 or frame.is_corrupt:
            self.ok = False  # a gap or damage: leave the signal to `signal.scan`
            self.close()
            return
        self.prev = k
        self.queue.put((frame, k))

    def close(self) -> None:
        """Stop the thread (idempotent); `result()` calls it."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def result(self):
        """The `FrameSignal` of every frame, or None."""
        self.close()
        n = len(self.index.times)
        if not self.ok or self.error is not None or self.prev != n - 1:
            return None
        h, w = self.sig.SIZE[1], self.sig.SIZE[0]
        self.red.add(np.zeros((0, h, w, 3), np.uint8), final=True)
        times = np.asarray(self.index.times, dtype=np.float64)
        return self.sig.FrameSignal(times, **self.red.result(), fps=self.fps, lag=self.red.lag)


def _tapped(base, tap):
    """A copy of PyAV source `base` whose decoded frames all pass through `tap`."""
    from summarizer.decode.pyav_source import PyAVSource

    class Tapped(PyAVSource):
        def _frames(self, container, stream, damage, last) -> Iterator:
            for fr in super()._frames(container, stream, damage, last):
                tap(fr)
                yield fr

    return Tapped(base.path, base.index, base.stream_index, base.why)


def one_pass_fits(index, settings: SampleSettings) -> bool:
    """Whether one pass sees every frame (see the module docstring)."""
    from summarizer.decode.pyav_source import SEEK_COST_FRAMES

    info = index.info
    if settings.start_s > 0 or settings.end_s is not None or settings.keyframes_only:
        return False
    if index.ordered or index.missing_s > 0 or info.interlaced or info.rotation % 360:
        return False
    wanted = select_indices(index.times, settings, index.keys, index.end_s)
    if len(wanted) == 0:
        return False
    gaps = np.diff(np.concatenate([[-1], wanted, [len(index.times) - 1]]))
    return int(gaps.max()) <= SEEK_COST_FRAMES  # the decoder never seeks past a frame


def sample_with_signal(
    path: str | Path,
    settings: SampleSettings,
    stats=None,
    keep: Callable[[np.ndarray], bytes] | None = None,
) -> tuple[Iterator[FrameBatch], SignalTap] | None:
    """(the sampled frames, as `iter_frames` gives them, and the tap whose `result()` is the
    full-rate `FrameSignal` once they are all read), or None when one pass cannot see every
    frame (then use `iter_frames` and `signal.scan`). keep: see `SignalTap`."""
    p = Path(path)
    if not p.is_file():
        return None
    from summarizer.decode import probing

    base = probing.open_pyav(p)
    if base is None or not one_pass_fits(base.index, settings):
        return None
    index = base.index
    wanted = select_indices(index.times, settings, index.keys, index.end_s)
    tap = SignalTap(index, base._match, wanted, keep)
    return _tapped(base, tap).iter_frames(settings, stats), tap
