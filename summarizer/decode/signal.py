"""A cheap per-frame signal at the source frame rate, for shot boundaries.

Seams need the source frame rate (a shot of a few frames, a cut in the last half second);
the sampled embeddings (2 fps) cannot see those. `scan` decodes *every* frame once, tiny
(`SIZE`, 48x27 like TransNetV2's input, aspect ignored), in bounded chunks, and reduces each
frame on the fly to a few numbers, so memory stays flat for a two-hour video (the tiny
frames are never all kept: a tail of ``2 * lag`` frames carries over between chunks):

- ``luma``, ``contrast``: mean and std of the frame's luma (fades to black or white go flat);
- ``diff``: mean absolute RGB difference to the previous frame (a hard cut is one spike);
- ``hist``: histogram distance to the previous frame (half the L1 distance of 4x4x4 RGB
  histograms; motion moves pixels but keeps colours);
- ``back``: the smallest difference between the frame before this one and any of the next
  `FLASH_FRAMES` frames, or between this frame and any of the `FLASH_FRAMES` before the
  previous one (a flash or a glitch comes back, a cut does not);
- ``span``: difference between the frames ``lag`` before and ``lag`` after (``lag`` is
  `SPAN_S` seconds), and ``blend``: how far this frame is from the mean of those two, as a
  fraction of ``span`` (a dissolve's frames are blends of its ends, ~0; motion is not, >0.4).

All values are float32 in [0, 1] (``blend`` is capped at 2); a value that needs frames
beyond either end of the video is 0 (``blend``: 1). `FrameSignal` holds them as arrays, so
the store can keep them and detection can run again without decoding (the Seams page).

Frames are those of the probe's frame index (`summarizer.decode.probing`), decoded by PyAV
with frame threads and scaled in an FFmpeg filter graph: the same numbering, order and time
origin as the sampled frames whatever the container (MPEG-TS/PS streams that start after
0 s, AVI with packed B-frames, MP4 with an edit list), so full-rate seams fall on the frames
the sampled ones name. Frames that do not decode are reported (a `DamagedFramesWarning`
with times) and left out; where damage would make a step (the frame after the gap, a
corrupt frame, the key frame where the picture snaps back: `_Quiet`) ``diff``, ``hist`` and
``back`` are 0, so damage invents no cut. ``on_frames`` sees every chunk of tiny
uint8 frames as it goes (TransNetV2 runs on the same pass this way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from summarizer.decode.source import DecodeStats
from summarizer.errors import InputError

SIZE = (48, 27)  # (width, height) of the tiny frames
PIXELS = SIZE[0] * SIZE[1]
SMALL = (SIZE[0] // 2) * (SIZE[1] // 2) * 3  # values per frame for the differences
CHUNK = 256  # frames per chunk
FLASH_FRAMES = 4  # a change that comes back within this many frames is a flash
SPAN_S = 0.5  # half-width (s) of the dissolve test
HIST_BINS = 4  # per RGB channel
REPAIR_S = 1.0  # a key frame this soon after damage repairs the picture (no cut there)
REPAIR = 0.75  # a key frame after damage this much closer to the picture before it: repair
VERSION = 3  # bump when a feature changes (part of a store key)

FrameHook = Callable[[np.ndarray, np.ndarray], None]  # (times_s (n,), frames uint8 (n,h,w,3))


@dataclass(frozen=True)
class FrameSignal:
    """Per-frame features of every source frame (see the module docstring); all (F,) arrays."""

    times_s: np.ndarray  # float64
    luma: np.ndarray
    contrast: np.ndarray
    diff: np.ndarray
    hist: np.ndarray
    back: np.ndarray
    span: np.ndarray
    blend: np.ndarray
    fps: float
    lag: int  # frames on each side of ``span`` / ``blend``

    def __len__(self) -> int:
        return len(self.times_s)

    @property
    def duration_s(self) -> float:
        """End of the last frame."""
        return float(self.times_s[-1] + 1.0 / self.fps) if len(self.times_s) else 0.0

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name, plus ``meta`` = [fps, lag, VERSION] (for the store)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("fps", "lag")}
        out["meta"] = np.array([self.fps, self.lag, VERSION], dtype=np.float64)
        return out

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> FrameSignal:
        """The inverse of `arrays`."""
        fps, lag, version = (float(x) for x in np.asarray(data["meta"]))
        if int(version) != VERSION:
            raise InputError(f"frame signal version {int(version)} is not {VERSION}: recompute it")
        names = [f.name for f in fields(cls) if f.name not in ("fps", "lag")]
        arrays = {n: np.asarray(data[n]) for n in names}
        return cls(**arrays, fps=fps, lag=int(lag))


# --------------------------------------------------------------------------- features


def _luma(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _hists(frames: np.ndarray) -> np.ndarray:
    """(n, HIST_BINS**3) normalised colour histograms of uint8 (n, h, w, 3) frames."""
    q = (frames.astype(np.int32) * HIST_BINS) >> 8
    code = (q[..., 0] * HIST_BINS + q[..., 1]) * HIST_BINS + q[..., 2]
    n, bins = len(frames), HIST_BINS**3
    flat = code.reshape(n, -1) + (np.arange(n)[:, None] * bins)
    counts = np.bincount(flat.ravel(), minlength=n * bins).reshape(n, bins)
    return counts.astype(np.float32) / code[0].size


def _mad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference per frame of (n, P) arrays."""
    return np.abs(a - b).mean(axis=1)


class Reducer:
    """Feature arrays from chunks of tiny frames, carrying a tail between chunks."""

    def __init__(self, lag: int):
        self.lag = lag
        self.keep = max(2 * lag, 2 * FLASH_FRAMES + 2)
        self.tail = np.zeros((0, SMALL), dtype=np.float32)
        self.tail_hist = np.zeros((0, HIST_BINS**3), dtype=np.float32)
        self.first = 0  # global index of tail[0]
        self.out: dict[str, list[np.ndarray]] = {
            k: [] for k in ("luma", "contrast", "diff", "hist", "back", "span", "blend")
        }
        self.done = {"back": 0, "span": 0}  # frames whose delayed features are final
        self.quiet: list[np.ndarray] = []  # frames whose steps come from damage
        self.count = 0  # frames added

    @classmethod
    def at(cls, fps: float) -> Reducer:
        """The reducer for a video at `fps` (``lag``: `SPAN_S` seconds of frames)."""
        return cls(max(1, round(fps * SPAN_S)))

    def add(self, frames: np.ndarray, final: bool = False, quiet: np.ndarray | None = None) -> None:
        """Reduce the next `frames`; `quiet` (bool per frame): the steps into these frames
        come from damage, not from the content (their diff, hist and back are 0)."""
        n_new = len(frames)
        if quiet is not None and np.any(quiet):
            self.quiet.append(self.count + np.flatnonzero(quiet))
        self.count += n_new
        # Differences on 2x2 block means (24x13): as telling, 4x cheaper.
        x = (
            frames[:, : 2 * (SIZE[1] // 2)]
            .astype(np.float32)
            .reshape(n_new, SIZE[1] // 2, 2, SIZE[0] // 2, 2, 3)
        )
        x = x.mean(axis=(2, 4)).reshape(n_new, SMALL) / 255.0
        lum = _luma(frames.astype(np.float32) / 255.0).reshape(n_new, PIXELS)
        self.out["luma"].append(lum.mean(axis=1))
        self.out["contrast"].append(lum.std(axis=1))
        h = _hists(frames) if n_new else np.zeros((0, HIST_BINS**3), dtype=np.float32)
        buf = np.concatenate([self.tail, x])
        hbuf = np.concatenate([self.tail_hist, h])
        t0 = len(self.tail)  # position of the first new frame in buf
        g0 = self.first  # global index of buf[0]
        # diff / hist to the previous frame
        if g0 + t0 == 0:
            d = np.concatenate([[0.0], _mad(buf[1:], buf[:-1])]) if len(buf) else np.zeros(0)
            hd = (
                np.concatenate([[0.0], 0.5 * np.abs(hbuf[1:] - hbuf[:-1]).sum(1)])
                if len(buf)
                else d
            )
        else:
            d = _mad(buf[t0:], buf[t0 - 1 : -1])
            hd = 0.5 * np.abs(hbuf[t0:] - hbuf[t0 - 1 : -1]).sum(1)
        self.out["diff"].append(np.asarray(d, dtype=np.float32))
        self.out["hist"].append(np.asarray(hd, dtype=np.float32))
        self._delayed(buf, g0, final)
        self.tail = buf[-self.keep :] if len(buf) else buf
        self.tail_hist = hbuf[-self.keep :] if len(hbuf) else hbuf
        self.first = g0 + len(buf) - len(self.tail)

    def _delayed(self, buf: np.ndarray, g0: int, final: bool) -> None:
        """`back`, `span` and `blend` of every frame whose future is now decoded."""
        end = g0 + len(buf)  # global index after the last decoded frame
        # back[i] = min(mad(f[i-1], f[i+b]) for b = 1..F, mad(f[i-a], f[i]) for a = 2..F+1):
        # the frame before comes back after, or this frame was there before (a flash's end).
        a = self.done["back"]
        z = end if final else max(a, end - FLASH_FRAMES)
        if z > a:
            i = np.arange(a, z)
            best = np.full(len(i), np.inf, dtype=np.float32)
            prev = i - 1
            for b in range(1, FLASH_FRAMES + 1):
                j = i + b
                ok = (prev >= 0) & (j < end)
                if ok.any():
                    best[ok] = np.minimum(best[ok], _mad(buf[prev[ok] - g0], buf[j[ok] - g0]))
            for b in range(2, FLASH_FRAMES + 2):
                j = i - b
                ok = j >= max(g0, 0)
                if ok.any():
                    best[ok] = np.minimum(best[ok], _mad(buf[j[ok] - g0], buf[i[ok] - g0]))
            none = ~np.isfinite(best)  # no frame to compare: judge by the step itself
            prev_ok = none & (prev >= 0)
            best[none] = 0.0
            best[prev_ok] = _mad(buf[prev[prev_ok] - g0], buf[i[prev_ok] - g0])
            self.out["back"].append(best)
            self.done["back"] = z
        # span[i] = mad(f[i-L], f[i+L]); blend[i] = mad(f[i], mean) / span
        L = self.lag
        a = self.done["span"]
        z = end if final else max(a, end - L)
        if z > a:
            i = np.arange(a, z)
            ok = (i - L >= 0) & (i + L < end)
            span = np.zeros(len(i), dtype=np.float32)
            blend = np.ones(len(i), dtype=np.float32)
            if ok.any():
                lo, mid, hi = buf[i[ok] - L - g0], buf[i[ok] - g0], buf[i[ok] + L - g0]
                s = _mad(lo, hi)
                r = _mad(mid, 0.5 * (lo + hi))
                span[ok] = s
                blend[ok] = np.minimum(r / np.maximum(s, 1e-6), 2.0)
            self.out["span"].append(span)
            self.out["blend"].append(blend)
            self.done["span"] = z

    def result(self) -> dict[str, np.ndarray]:
        out = {
            k: (np.concatenate(v).astype(np.float32) if v else np.zeros(0, np.float32))
            for k, v in self.out.items()
        }
        if self.quiet:
            q = np.concatenate(self.quiet)
            for k in ("diff", "hist", "back"):
                out[k][q] = 0.0
        return out


def signal_from_frames(
    frames: np.ndarray, times_s: np.ndarray, fps: float, chunk: int = CHUNK
) -> FrameSignal:
    """`FrameSignal` of uint8 (F, 27, 48, 3) frames already in memory (tests, synthetic)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1:] != (SIZE[1], SIZE[0], 3):
        raise InputError(f"frames must be uint8 (F, {SIZE[1]}, {SIZE[0]}, 3), got {frames.shape}")
    red = Reducer.at(fps)
    for a in range(0, len(frames), chunk):
        red.add(frames[a : a + chunk])
    red.add(frames[:0], final=True)
    return FrameSignal(
        np.asarray(times_s, dtype=np.float64), **red.result(), fps=float(fps), lag=red.lag
    )


# --------------------------------------------------------------------------- decoding


def _reader(p: Path):
    """The probe's source of `p` read through PyAV (`probing.open_pyav`, cached): the same
    frame index, numbering and time origin as the sampled frames."""
    from summarizer.decode import probing

    src = probing.open_pyav(p)
    if src is None:
        raise InputError(f"{p.name}: not a video file")
    return src


class _Tiny:
    """Decoded frame -> tiny RGB (`SIZE`, area average in an FFmpeg filter graph), noting
    for each whether the decoder flagged it corrupt and whether it is a key frame."""

    def __init__(self, info):
        from summarizer.decode.pyav_source import FrameConverter

        self.convert = FrameConverter(info, SIZE, flags="area")
        self.corrupt: list[bool] = []
        self.key: list[bool] = []

    def __call__(self, frame) -> np.ndarray:
        self.corrupt.append(bool(frame.is_corrupt))
        self.key.append(bool(frame.key_frame))
        return self.convert(frame)

    def take(self, n: int) -> tuple[list[bool], list[bool]]:
        """The flags of the next `n` frames delivered."""
        c, k = self.corrupt[:n], self.key[:n]
        del self.corrupt[:n], self.key[:n]
        return c, k


def _mad1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 frames."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


class _Quiet:
    """Which frames' steps damage would invent (a cut that is not in the content).

    Damage is frames that did not decode (a gap in the frame numbers), a frame flagged
    corrupt, and, in a constant-rate stream whose frames are matched by time (`timed`), a
    hole in the frame times (packets the demuxer dropped, as in a damaged MPEG-TS: no frame
    number is missing, the index never had them; in AVI the times are frame numbers and
    packed B-frames leave holes of their own).
    Quiet are the first frame after a gap or hole, a corrupt frame and the one after it, and
    the first key frame after damage when it looks like a repair: the frames between are
    decoded from damaged references and the picture snaps back at the key frame. It is taken
    for a repair when it comes within `REPAIR_S` of the damage, or when it is closer to the
    last clean frame before the damage than `REPAIR` times its own step (a cut is as far
    from both). So a real cut on a key frame within `REPAIR_S` after damage is lost with it;
    cuts elsewhere still show.
    """

    def __init__(self, times: np.ndarray, timed: bool = True) -> None:
        self.prev = -1  # index of the last frame delivered
        self.prev_t = np.nan
        self.prev_bad = False
        self.clean: np.ndarray | None = None  # last frame before damage not yet repaired
        self.last: np.ndarray | None = None  # the frame before the current one
        self.since = -np.inf  # time of the last damaged frame
        steps = np.diff(times)
        step = float(np.median(steps)) if len(steps) else 0.0
        regular = timed and step > 0 and float(np.mean(np.abs(steps - step) <= 0.05 * step)) >= 0.95
        self.hole = 1.5 * step if regular else np.inf  # a longer step is a hole

    def __call__(
        self,
        idx: np.ndarray,
        times: np.ndarray,
        frames: np.ndarray,
        corrupt: list[bool],
        key: list[bool],
    ) -> np.ndarray:
        out = np.zeros(len(idx), dtype=bool)
        for j, (k, t, bad, kf) in enumerate(
            zip(idx.tolist(), times.tolist(), corrupt, key, strict=True)
        ):
            f = frames[j]  # uint8; as float only where compared
            gap = self.prev >= 0 and (k > self.prev + 1 or t - self.prev_t > self.hole)
            damaged = bad or self.prev_bad or gap
            if damaged and self.clean is None and self.last is not None and not self.prev_bad:
                self.clean = self.last  # the picture before the damage
            if kf and not damaged and self.clean is not None:
                back = _mad1(f, self.clean)
                step = _mad1(f, self.last) if self.last is not None else 0.0
                out[j] = t - self.since <= REPAIR_S or back < REPAIR * step  # a snap back
                self.clean = None
            if damaged:
                self.since = t
            out[j] |= damaged
            self.prev, self.prev_t, self.prev_bad, self.last = k, t, bad, f
        return out


def _frames(reader, chunk: int, stats):
    """Chunks of (times, tiny uint8 frames, `_Quiet` mask) of every frame that decodes.

    PyAV decodes with frame threads; frames are matched to the probe's index as the sampled
    ones are, and frames that do not decode are reported (a `DamagedFramesWarning` with
    times, and in `stats`)."""
    from summarizer.decode.source import DamageLog

    index = reader.index
    damage = DamageLog(reader.path.name, index, stats)
    tiny, quiet = _Tiny(index.info), _Quiet(index.times, not index.ordered)
    try:
        every = np.arange(len(index.times))
        for b in reader.decode(every, SIZE, chunk, damage, True, convert=tiny):
            yield b.times_s, b.images, quiet(b.indices, b.times_s, b.images, *tiny.take(len(b)))
    finally:
        damage.flush()


def scan(
    path: str | Path,
    *,
    on_frames: FrameHook | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
    stats: DecodeStats | None = None,
) -> FrameSignal:
    """Decode every frame of the video at `path` tiny and return its `FrameSignal`.

    Frames and times are those of the probe's frame index (`summarizer.decode.probing`):
    a frame's time here is its time in the sampled frames (same origin, same order), so
    full-rate seams and sampled frames agree in every container.
    on_frames: called with (times, uint8 (n, 27, 48, 3) frames) for every chunk, in order.
    progress: ``progress(frames done, frames expected)`` after every chunk.
    stats: filled with the damaged spans (frames that did not decode, also warned about).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p.name}: not a video file")
    reader = _reader(p)
    fps, total = float(reader.index.fps), len(reader.index.times)
    red = Reducer.at(fps)
    times: list[np.ndarray] = []
    done = 0
    for t, frames, quiet in _frames(reader, chunk, stats):
        if on_frames is not None:
            on_frames(t, frames)
        red.add(frames, quiet=quiet)
        times.append(t)
        done += len(frames)
        if progress is not None:
            progress(done, max(total, done))
    red.add(np.zeros((0, SIZE[1], SIZE[0], 3), np.uint8), final=True)
    if done == 0:
        raise InputError(f"{p.name}: no video frames could be decoded")
    return FrameSignal(np.concatenate(times), **red.result(), fps=fps, lag=red.lag)
