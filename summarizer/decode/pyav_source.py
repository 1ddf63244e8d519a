"""The PyAV backend: any container FFmpeg reads (MPEG-TS/PS, raw H.264, GIF, FLV, packed
XVID in AVI, interlaced video, and every file whose decord figures do not add up).

- The index comes from the packets (a demux without decoding): presentation times sorted,
  key frames, and the header's promise (frame count, duration) to tell a truncated file.
  Streams whose packets carry no usable times (raw H.264, AVI with packed B-frames) are
  `ordered`: the n-th decoded frame is frame n, decoded from the start.
- Decoded frames are matched to the index by their presentation time; frames the decoder
  flags as corrupt, frames that never come out and packets it rejects are damage (reported
  with times, decoding goes on). Between wanted frames it decodes without converting; it
  seeks only when a key frame lies far ahead.
- Frames as people see them: scaled straight to the display size (sample aspect ratio),
  turned by the rotation side data, deinterlaced (bwdif) when the stream is interlaced.

`open_stream` and `FrameConverter` are the reusable part: open a file's video stream with
threads on, and turn its frames into upright RGB arrays at a display size.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from summarizer.data import FrameBatch
from summarizer.decode.indexed import IndexedSource
from summarizer.decode.source import Batcher, DamageLog, StreamInfo, VideoIndex
from summarizer.errors import InputError

# Seeking costs about as much as decoding this many frames; seek only when it saves more.
SEEK_COST_FRAMES = 48
MAX_INDEX_DECODE_S = 6 * 3600.0  # an index made by decoding (no packet times) stops here


@contextlib.contextmanager
def open_stream(path: str | Path, stream_index: int | None = None):
    """(container, video stream) of a file, with frame threads on; closed afterwards.

    The first video stream that is not cover art, unless `stream_index` is given.
    """
    import av

    container = av.open(str(path), metadata_errors="ignore")
    try:
        if stream_index is None:
            streams = [s for s in container.streams.video if not _is_cover(s)]
            if not streams:
                raise InputError(f"{Path(path).name} has no video stream")
            stream = streams[0]
        else:
            stream = container.streams[stream_index]
        stream.thread_type = "AUTO"
        yield container, stream
    finally:
        container.close()


def _is_cover(stream) -> bool:
    import av

    return bool(int(stream.disposition) & int(av.stream.Disposition.attached_pic))


MAX_DEMUX_ERRORS = 32  # read errors in a row before the data is taken to end there


def packets(container, stream, errors: list[int] | None = None) -> Iterator:
    """The stream's packets, reading on past damaged data (as FFmpeg's command line does):
    after a read error the demuxer resyncs at the next packet it recognises. Stops at the
    end, or after `MAX_DEMUX_ERRORS` errors in a row; each error is counted in `errors`."""
    import av

    failures = 0
    while failures < MAX_DEMUX_ERRORS:
        try:
            for pkt in container.demux(stream):
                failures = 0
                yield pkt
            return
        except av.EOFError:
            return
        except av.FFmpegError:
            failures += 1
            if errors is not None:
                errors.append(1)


class FrameConverter:
    """Decoded frames -> uint8 RGB (h, w, 3) at display size (w, h): one scale that also
    corrects the sample aspect ratio, then the rotation.

    The scale runs in an FFmpeg filter graph (``scale`` then ``format=rgb24``), as FFmpeg's
    command line does it: much faster than a per-frame ``to_ndarray(width, height)`` and
    the same pixels as ``ffmpeg -vf scale``. The graph is rebuilt when the frames' size or
    pixel format changes mid-stream. `size` None: no scale (the frames' stored size).
    It reads the frame it is given and nothing else, so it can run beside other users of
    that frame (``frame.to_ndarray`` shares the frame's own converter).
    """

    def __init__(
        self, info: StreamInfo, size: tuple[int, int] | None, flags: str = "bicubic"
    ) -> None:
        self.turns = (info.rotation // 90) % 4
        self.scale = None if size is None else (size[::-1] if self.turns % 2 else size)
        self.flags = flags
        self.graph = None
        self.shape: tuple = ()

    def _build(self, frame) -> None:
        import av.filter

        g = av.filter.Graph()
        src = g.add_buffer(
            width=frame.width,
            height=frame.height,
            format=frame.format.name,
            time_base=frame.time_base or Fraction(1, 1000),
        )
        chain = [src]
        if self.scale is not None:
            sw, sh = self.scale
            chain.append(g.add("scale", f"{sw}:{sh}:flags={self.flags}"))
        chain += [g.add("format", "rgb24"), g.add("buffersink")]
        for a, b in itertools.pairwise(chain):
            a.link_to(b)
        g.configure()
        self.graph = g
        self.shape = (frame.width, frame.height, frame.format.name)

    def __call__(self, frame) -> np.ndarray:
        if self.graph is None or self.shape != (frame.width, frame.height, frame.format.name):
            self._build(frame)
        self.graph.push(frame)
        img = self.graph.pull().to_ndarray()
        if self.turns:
            img = np.ascontiguousarray(np.rot90(img, self.turns))
        return img


class _Deinterlacer:
    """bwdif on frames flagged interlaced (progressive ones pass), one frame of delay."""

    def __init__(self, stream):
        import av.filter

        self.graph = av.filter.Graph()
        src = self.graph.add_buffer(template=stream)
        bw = self.graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
        sink = self.graph.add("buffersink")
        src.link_to(bw)
        bw.link_to(sink)
        self.graph.configure()

    def __call__(self, frame) -> list:
        self.graph.push(frame)
        return self._pull()

    def flush(self) -> list:
        self.graph.push(None)
        return self._pull()

    def _pull(self) -> list:
        import av

        out = []
        while True:
            try:
                out.append(self.graph.pull())
            except (av.BlockingIOError, av.EOFError):
                return out


# --------------------------------------------------------------------------- the index


def build_index(path: Path, info: StreamInfo, stream_index: int) -> VideoIndex:
    """The frame index from the packets (no decoding), or by decoding when they have no times."""

    pts: list[int | None] = []
    durs: list[int] = []
    keys: list[bool] = []
    tb = 0.0
    cut = False
    with open_stream(path, stream_index) as (container, stream):
        tb = float(stream.time_base or 0)
        errors: list[int] = []
        for pkt in packets(container, stream, errors):
            if pkt.size == 0:
                continue
            pts.append(pkt.pts)
            durs.append(int(pkt.duration or 0))
            keys.append(bool(pkt.is_keyframe))
        cut = bool(errors)  # the container's data breaks somewhere
    if not pts:
        raise InputError(f"{path.name} has no frames")
    if tb <= 0 or any(p is None for p in pts):
        return _decoded_index(path, info, stream_index, cut)
    # AVI has no presentation times, only frame numbers (which packed B-frames scramble):
    # the times are right once sorted, but decoded frames are matched by their order.
    ordered = info.container == "avi"
    p = np.asarray(pts, dtype=np.int64)
    order = np.argsort(p, kind="stable")
    raw = p[order].astype(np.float64) * tb
    times = raw - raw[0]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / (info.rate or 25.0)
    last = float(np.asarray(durs)[order][-1]) * tb
    end = float(times[-1] + (last if last > 0 else step))
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        ordered = True  # equal times (MPEG-PS guesses them): match decoded frames by order
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    key_idx = tuple(sorted(int(rank[i]) for i in np.flatnonzero(keys)))
    return _finish(path, info, times, end, key_idx, float(raw[0]), ordered, cut)


def _decoded_index(path: Path, info: StreamInfo, stream_index: int, cut: bool) -> VideoIndex:
    """Frame times by decoding (for streams whose packets carry no times): slower."""
    import av

    times: list[float] = []
    keys: list[int] = []
    rate = info.rate or 25.0
    with open_stream(path, stream_index) as (container, stream):
        errors: list[int] = []
        for pkt in packets(container, stream, errors):
            try:
                frames = pkt.decode()
            except av.FFmpegError:
                continue
            for fr in frames:
                t = fr.time
                times.append(float(t) if t is not None else np.nan)
                if fr.key_frame:
                    keys.append(len(times) - 1)
            if len(times) / rate > MAX_INDEX_DECODE_S:
                break
        cut = cut or bool(errors)
    if not times:
        raise InputError(f"{path.name} has no frames that can be decoded")
    t = np.asarray(times, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        t = np.arange(len(t), dtype=np.float64) / rate  # no usable times: the header's rate
    t0 = float(t[0])
    t = t - t0
    step = float(np.median(np.diff(t))) if len(t) > 1 else 1.0 / rate
    return _finish(path, info, t, float(t[-1] + step), tuple(keys) or (0,), t0, True, cut)


def _finish(
    path: Path,
    info: StreamInfo,
    times: np.ndarray,
    end: float,
    keys: tuple[int, ...],
    pts0: float,
    ordered: bool,
    cut: bool,
) -> VideoIndex:
    """The index, with what the header promises beyond the data (a truncated file)."""
    n = len(times)
    step = end / n if n and end > 0 else 1.0 / (info.rate or 25.0)
    short_frames = info.frames - n if info.frames else 0
    short_s = info.duration_s - end if info.duration_s else 0.0
    missing = 0.0
    if short_s > max(2 * step, 0.02 * info.duration_s) and (not info.frames or short_frames > 2):
        missing = short_s
    elif not info.duration_s and short_frames > max(2, 0.02 * info.frames):
        missing = short_frames * step
    elif cut:
        missing = max(0.0, short_s)
    times = np.ascontiguousarray(times, dtype=np.float64)
    times.setflags(write=False)
    return VideoIndex(times, float(end), keys or (0,), info, pts0, ordered, float(missing))


# --------------------------------------------------------------------------- decoding


class PyAVSource(IndexedSource):
    """Decodes through PyAV (FFmpeg's libraries): see the module docstring."""

    backend = "pyav"

    def __init__(self, path: Path, index: VideoIndex, stream_index: int, why: str = ""):
        super().__init__(path, index, why)
        self.stream_index = stream_index

    def _frames(self, container, stream, damage: DamageLog, last: list[int]) -> Iterator:
        """Decoded (deinterlaced) frames from the container's current position."""
        import av

        deint = _Deinterlacer(stream) if self.index.info.interlaced else None
        tb = float(stream.time_base)
        for pkt in packets(container, stream):
            try:
                frames = pkt.decode()
            except av.FFmpegError:  # a packet the decoder rejects: damage near it
                if pkt.pts is not None and not self.index.ordered:
                    damage.add(max(last[0] + 1, self._match(pkt.pts * tb, last[0])))
                continue
            if deint is not None:
                frames = [g for f in frames for g in deint(f)]
            yield from frames
        if deint is not None:
            yield from deint.flush()

    def decode(
        self,
        wanted: np.ndarray,
        size: tuple[int, int],
        batch: int,
        damage: DamageLog,
        tail: bool,
        convert: Callable[[object], np.ndarray] | None = None,
    ) -> Iterator[FrameBatch]:
        """See `IndexedSource.decode`; `convert` turns a decoded frame into the array given
        (default: `FrameConverter` at `size`)."""
        import av

        idx = self.index
        times, n = idx.times, len(idx.times)
        want = np.asarray(wanted, dtype=np.int64)
        if len(want) == 0 and not tail:
            return
        convert = convert or FrameConverter(idx.info, size)
        keys = sorted(idx.keys)
        out = Batcher(times, batch)
        pos = 0  # next wanted position
        last = [-1]  # last frame matched (boxed: `_frames` reads it)
        seekable = not idx.ordered
        seeked = False
        back = 0  # how many key frames before the wanted one to seek to (raised on a miss)
        force = False  # seek even if the key frame is near (the last seek missed)
        with contextlib.ExitStack() as stack:
            container, stream = stack.enter_context(open_stream(self.path, self.stream_index))
            tb = float(stream.time_base)
            frames = self._frames(container, stream, damage, last)
            while True:
                if pos < len(want):
                    target = int(want[pos])
                elif tail and last[0] < n - 1:
                    target = n - 1
                else:
                    break
                k = bisect.bisect_right(keys, target) - 1 - back
                key = keys[k] if k >= 0 else 0
                if seekable and (force or key > last[0] + SEEK_COST_FRAMES):
                    force = False
                    container.seek(
                        int(round((times[key] + idx.pts0) / tb)), stream=stream, backward=True
                    )
                    frames = self._frames(container, stream, damage, last)
                    last[0], seeked = key - 1, True
                try:
                    fr = next(frames)
                except StopIteration:
                    fr = None
                except av.FFmpegError:  # the container breaks here
                    fr = None
                k = -1 if fr is None else self._match(fr.time, last[0])
                if seeked:
                    seeked = False
                    if fr is None or k > target:
                        # The seek landed past the frame wanted (containers without an index
                        # seek by guess): seek further back, or read on from the start.
                        back += 1
                        force = True
                        if back > 2:  # read on from the start, without seeking
                            seekable = False
                            stack.close()
                            container, stream = stack.enter_context(
                                open_stream(self.path, self.stream_index)
                            )
                            frames = self._frames(container, stream, damage, last)
                        last[0] = -1
                        continue
                    last[0] = k - 1  # where the seek landed: frames before it are not damage
                if fr is None:
                    break
                if k <= last[0]:
                    continue
                if k > last[0] + 1:
                    damage.add(last[0] + 1, k - 1)  # frames that never came out
                if fr.is_corrupt:
                    damage.add(k)
                last[0] = k
                while pos < len(want) and want[pos] < k:
                    pos += 1  # a wanted frame that did not decode (damage)
                if pos < len(want) and want[pos] == k:
                    pos += 1
                    if (full := out.add(k, convert(fr))) is not None:
                        yield full
        end = n - 1 if tail else (int(want[-1]) if len(want) else -1)
        if last[0] < end and not (idx.missing_s > 0 and last[0] >= n - 1 - self._cut_slack()):
            damage.add(last[0] + 1, end)  # the data ends (or breaks) before these
        if (rest := out.flush()) is not None:
            yield rest

    def _cut_slack(self) -> int:
        """Frames at the cut of a truncated file that may not decode (their references or
        their own data were cut off): part of the truncation, not separate damage."""
        return max(4, int(round(self.index.fps)))

    def _match(self, t: float | None, last: int) -> int:
        """The index of a decoded frame: by its time, or by its order when it has none."""
        idx = self.index
        n = len(idx.times)
        if idx.ordered or t is None:
            return min(last + 1, n - 1)
        rel = float(t) - idx.pts0
        k = int(np.clip(np.searchsorted(idx.times, rel), 0, n - 1))
        if k > 0 and abs(idx.times[k - 1] - rel) <= abs(idx.times[k] - rel):
            k -= 1
        nxt = last + 1
        if k <= last and nxt < n and abs(idx.times[nxt] - rel) <= abs(idx.times[k] - rel) + 1e-9:
            k = nxt  # frames with equal times (MPEG-PS guesses): the next one in order
        return k
