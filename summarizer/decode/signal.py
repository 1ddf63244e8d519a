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

Decoding uses PyAV with frame threading; ``on_frames`` sees every chunk of tiny uint8 frames
as it goes (TransNetV2 runs on the same pass this way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from summarizer.errors import InputError

SIZE = (48, 27)  # (width, height) of the tiny frames
PIXELS = SIZE[0] * SIZE[1]
SMALL = (SIZE[0] // 2) * (SIZE[1] // 2) * 3  # values per frame for the differences
CHUNK = 256  # frames per chunk
FLASH_FRAMES = 4  # a change that comes back within this many frames is a flash
SPAN_S = 0.5  # half-width (s) of the dissolve test
HIST_BINS = 4  # per RGB channel
VERSION = 2  # bump when a feature changes (part of a store key)

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


class _Reducer:
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

    def add(self, frames: np.ndarray, final: bool = False) -> None:
        n_new = len(frames)
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
        return {
            k: (np.concatenate(v).astype(np.float32) if v else np.zeros(0, np.float32))
            for k, v in self.out.items()
        }


def signal_from_frames(
    frames: np.ndarray, times_s: np.ndarray, fps: float, chunk: int = CHUNK
) -> FrameSignal:
    """`FrameSignal` of uint8 (F, 27, 48, 3) frames already in memory (tests, synthetic)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1:] != (SIZE[1], SIZE[0], 3):
        raise InputError(f"frames must be uint8 (F, {SIZE[1]}, {SIZE[0]}, 3), got {frames.shape}")
    red = _Reducer(max(1, round(fps * SPAN_S)))
    for a in range(0, len(frames), chunk):
        red.add(frames[a : a + chunk])
    red.add(frames[:0], final=True)
    return FrameSignal(
        np.asarray(times_s, dtype=np.float64), **red.result(), fps=float(fps), lag=red.lag
    )


# --------------------------------------------------------------------------- decoding


def _ffmpeg() -> str | None:
    """An ffmpeg binary: the system's, else imageio-ffmpeg's (None: decode with PyAV)."""
    import shutil

    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def _stream_info(p: Path) -> tuple[float, np.ndarray]:
    """(fps, presentation times of every frame from the packets, sorted), without decoding."""
    import av

    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{p.name}: cannot be read as a video ({exc})") from None
    with container:
        if not container.streams.video:
            raise InputError(f"{p.name}: has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 25.0
        tb = float(stream.time_base) if stream.time_base else 1.0 / fps
        pts = []
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
        except av.error.FFmpegError:
            pass  # truncated: the packets read so far
    return fps, np.sort(np.asarray(pts, dtype=np.float64)) * tb


def _frames_ffmpeg(exe: str, p: Path, chunk: int):
    """Chunks of tiny uint8 frames from an ffmpeg pipe (decoding and scaling in ffmpeg's
    own threads, in another process, while the features are computed here)."""
    import subprocess

    w, h = SIZE
    cmd = [exe, "-nostdin", "-v", "error", "-i", str(p), "-map", "0:v:0", "-fps_mode",
           "passthrough", "-vf", f"scale={w}:{h}:flags=area", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-"]  # fmt: skip
    size = w * h * 3
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        while True:
            data = proc.stdout.read(size * chunk)
            n = len(data) // size
            if n:
                yield np.frombuffer(data[: n * size], dtype=np.uint8).reshape(n, h, w, 3)
            if len(data) < size * chunk:
                break
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0 and err and not n:
            raise InputError(f"{p.name}: cannot be decoded ({err.splitlines()[-1]})")


def _frames_pyav(p: Path, chunk: int):
    """The same chunks decoded with PyAV (when no ffmpeg binary is at hand)."""
    import av

    w, h = SIZE
    batch: list[np.ndarray] = []
    with av.open(str(p)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                batch.append(frame.to_ndarray(width=w, height=h, format="rgb24"))
                if len(batch) >= chunk:
                    yield np.stack(batch)
                    batch = []
        except av.error.FFmpegError:
            pass  # a truncated file: the frames decoded so far
    if batch:
        yield np.stack(batch)


def _prefetch(chunks, depth: int = 4):
    """Iterate `chunks` with a reader thread `depth` chunks ahead (decoding overlaps the
    features; reading a pipe and numpy release the GIL)."""
    import contextlib
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def work() -> None:
        try:
            for c in chunks:
                if stop.is_set():
                    break
                q.put(c)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)
        finally:
            q.put(end)

    thread = threading.Thread(target=work, daemon=True, name="signal-decode")
    thread.start()
    try:
        while (item := q.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let the reader finish (it may block on a full queue)
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.1)
        thread.join()


def scan(
    path: str | Path,
    *,
    on_frames: FrameHook | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
) -> FrameSignal:
    """Decode every frame of the video at `path` tiny and return its `FrameSignal`.

    Frames come from an ffmpeg pipe (PyAV without an ffmpeg binary); times from the stream's
    packets (evenly spaced from the first when their count does not match the frames').
    on_frames: called with (times, uint8 (n, 27, 48, 3) frames) for every chunk, in order.
    progress: ``progress(frames done, frames expected)`` after every chunk.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p.name}: not a video file")
    fps, pts = _stream_info(p)
    exe = _ffmpeg()
    chunks = _prefetch(_frames_ffmpeg(exe, p, chunk) if exe else _frames_pyav(p, chunk))
    red = _Reducer(max(1, round(fps * SPAN_S)))
    done = 0
    first = float(pts[0]) if len(pts) else 0.0
    for frames in chunks:
        idx = np.arange(done, done + len(frames))
        t = np.where(idx < len(pts), pts[np.minimum(idx, max(len(pts) - 1, 0))], first + idx / fps)
        if on_frames is not None:
            on_frames(t, frames)
        red.add(frames)
        done += len(frames)
        if progress is not None:
            progress(done, max(len(pts), done))
    red.add(np.zeros((0, SIZE[1], SIZE[0], 3), np.uint8), final=True)
    if done == 0:
        raise InputError(f"{p.name}: no video frames could be decoded")
    times = pts if len(pts) == done else first + np.arange(done) / fps
    return FrameSignal(np.asarray(times, dtype=np.float64), **red.result(), fps=fps, lag=red.lag)
