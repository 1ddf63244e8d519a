"""Decode videos (decord) and image folders into bounded batches of sampled frames.

- Times come from the stream (each frame's presentation timestamp), so variable-frame-rate
  video is sampled right: for a target fps we pick, for each target time, the frame whose
  timestamp is nearest (never index arithmetic).
- Frames are resized while decoding (decord scales inside its ffmpeg filter) to
  `short_side`, keeping the aspect ratio (sides rounded to even numbers).
- Frames come in batches of at most `settings.batch_frames`, so memory stays flat for a
  two-hour video. Between two wanted frames the decoder skips (decodes without converting
  or copying); it seeks only when a key frame lies far ahead, which is much faster than
  decord's ``get_batch`` on sparse indices.
- decord reads MP4/MOV, Matroska/WebM and AVI (recognised by their first bytes). Other
  containers, where decord gives wrong frames or none (MPEG-TS/.mts, MPEG-PS/.mpg, raw
  H.264, GIF, ...), and files decord fails on but ffmpeg reads, are decoded through an
  ffmpeg pipe (imageio-ffmpeg's binary) with the same timestamps, sampling and batches.
- Bad inputs raise `InputError` with one clear line: failures are classified with a quick
  ``ffmpeg -i`` into missing / empty / not a video / truncated / no video stream / no frames
  / a single image; decord's own native log line is kept off stderr.

An image folder is a video too: its image files in natural order (``img2`` before
``img10``), time = position / fps unless `SampleSettings.time_regex` reads the time (s) from
each file name; unreadable images are skipped with a warning and counted in `DecodeStats`.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from summarizer.config import SampleSettings
from summarizer.data import FrameBatch, Probe
from summarizer.errors import InputError, SettingsError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
IMAGE_FOLDER_FPS = 1.0  # frame rate of an image folder when settings.fps is None

# Seeking costs about as much as skipping this many frames (measured: ~18 ms per seek
# against ~0.75 ms per skipped 640x360 H.264 frame); seek only when it saves more.
_SEEK_COST_FRAMES = 48
DECODE_THREADS = 0  # decord decoder threads (0: ffmpeg picks)


class UnreadableImageWarning(UserWarning):
    """An image in an image folder could not be read and was skipped."""


@dataclass
class DecodeStats:
    """Filled in while `iter_frames` runs: what was decoded and what was skipped."""

    frames: int = 0
    skipped: int = 0
    skipped_files: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def even(x: float) -> int:
    """Round to the nearest even integer, at least 2."""
    return max(2, int(round(x / 2.0)) * 2)


def target_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) with the short side scaled to `short_side`, aspect kept, even sides.

    Never upscales: a source smaller than `short_side` keeps its size (made even).
    """
    if short_side is None or min(width, height) <= short_side:
        return even(width) if width > 1 else width, even(height) if height > 1 else height
    scale = short_side / min(width, height)
    if width <= height:
        return even(short_side), even(height * scale)
    return even(width * scale), even(short_side)


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def natural_sorted(names: Sequence[str]) -> list[str]:
    """Sort names as people do: ``frame2`` before ``frame10``."""
    return sorted(names, key=_natural_key)


def _compile_time_regex(pattern: str | None) -> re.Pattern | None:
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise SettingsError(f"time_regex {pattern!r} is not a valid regex: {exc}") from None
    if rx.groups < 1:
        raise SettingsError(f"time_regex {pattern!r} needs a group, e.g. 't(\\d+\\.?\\d*)s'")
    return rx


def select_indices(
    times: np.ndarray,
    settings: SampleSettings,
    key_indices: Sequence[int] | None = None,
    duration: float | None = None,
) -> np.ndarray:
    """Which frames to take, given each frame's start time (sorted, seconds from 0).

    Candidates are the frames starting in [start_s, end_s) (only key frames with
    keyframes_only). With a target fps, each target time start_s + k / fps before the end
    (end_s, or `duration`: when the last frame ends) picks the candidate whose timestamp is
    nearest; duplicates are dropped, so a source slower than the target gives each frame
    once. Without fps, every `every_n`-th candidate.
    """
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    eps = 1e-6
    end = np.inf if settings.end_s is None else settings.end_s
    mask = (times >= settings.start_s - eps) & (times < end - eps)
    if settings.keyframes_only and key_indices is not None:
        keymask = np.zeros(n, dtype=bool)
        keys = np.asarray(key_indices, dtype=np.int64)
        keymask[keys[(keys >= 0) & (keys < n)]] = True
        mask &= keymask
    cand = np.flatnonzero(mask)
    if len(cand) == 0:
        return cand.astype(np.int64)
    if settings.fps is None:
        return cand[:: settings.every_n].astype(np.int64)
    ct = times[cand]
    if duration is None:  # the last frame lasts as long as a typical frame
        step = float(np.median(np.diff(times))) if n > 1 else 0.0
        duration = times[-1] + max(step, eps)
    stop = min(end, max(duration, ct[-1] + eps))
    t0 = settings.start_s
    count = max(1, int(np.ceil((stop - t0) * settings.fps - eps)))
    targets = t0 + np.arange(count, dtype=np.float64) / settings.fps
    pos = np.searchsorted(ct, targets)
    left = np.clip(pos - 1, 0, len(ct) - 1)
    right = np.clip(pos, 0, len(ct) - 1)
    pick = np.where(np.abs(ct[left] - targets) <= np.abs(ct[right] - targets), left, right)
    return cand[np.unique(pick)].astype(np.int64)


# --------------------------------------------------------------------------- ffmpeg probe


@dataclass(frozen=True)
class _FfInfo:
    opened: bool
    has_video: bool
    has_audio: bool
    is_image: bool
    message: str
    width: int = 0  # as displayed (rotation applied)
    height: int = 0
    container: str = ""  # ffmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"


def _ffmpeg_info(path: Path) -> _FfInfo:
    """Ask ffmpeg (``-i``) what a file is: to explain why decord could not open it, and to
    size the ffmpeg fallback decoder."""
    import imageio_ffmpeg

    try:
        proc = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
        )
        err = proc.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _FfInfo(False, False, False, False, str(exc))
    streams = [ln for ln in err.splitlines() if re.search(r"Stream #\d+:\d+.*: (Video|Audio)", ln)]
    video = [ln for ln in streams if ": Video:" in ln and "(attached pic)" not in ln]
    has_video = bool(video)
    is_image = bool(re.search(r"Input #0, (png_pipe|jpeg_pipe|image2|webp_pipe|bmp_pipe)", err))
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    bad = [ln for ln in lines if "Invalid data" in ln or "moov atom" in ln or "error" in ln.lower()]
    msg = bad[0] if bad else (lines[-1] if lines else "")
    msg = re.sub(r"^\[[^\]]*\]\s*", "", msg)
    width = height = 0
    if video:
        m = re.search(r", (\d{1,5})x(\d{1,5})[, \[]", video[0] + " ")
        if m:
            width, height = int(m.group(1)), int(m.group(2))
        rot = re.search(r"rotation of (-?[\d.]+) degrees", err)
        if rot and round(abs(float(rot.group(1)))) % 180 == 90:
            width, height = height, width
    fmt = re.search(r"Input #0, (.+?), from ", err)
    return _FfInfo(
        "Input #0" in err,
        has_video,
        bool(streams) and not has_video,
        is_image,
        msg,
        width,
        height,
        fmt.group(1) if fmt else "",
    )


def _explain_open_failure(path: Path, exc: BaseException) -> InputError:
    info = _ffmpeg_info(path)
    name = path.name
    if info.is_image:
        return InputError(
            f"{name} is a single image, not a video (to use images, pass a folder of them)"
        )
    if info.opened and not info.has_video:
        what = "it has only audio" if info.has_audio else "it has no streams"
        return InputError(f"{name} has no video stream ({what})")
    if not info.opened:
        if "End of file" in info.message:
            return InputError(f"{name} has no frames (the file ends before its first frame)")
        if "moov atom" in info.message:
            return InputError(
                f"{name} cannot be read: not a video, or a truncated/corrupt file "
                "(the mp4 index 'moov' is missing)"
            )
        return InputError(
            f"{name} cannot be read: not a video, or a corrupt file ({info.message or exc})"
        )
    text = str(exc)
    if "av_read_frame" in text or "partial file" in text or "EOF" in text:
        return InputError(f"{name} is truncated or corrupt: its frames cannot all be read")
    first = text.strip().splitlines()[-1] if text.strip() else type(exc).__name__
    first = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", first)
    return InputError(f"{name} cannot be decoded: {first[:200]}")


# --------------------------------------------------------------------------- video files


def _decord():
    import decord

    decord.logging.set_level(decord.logging.QUIET)
    return decord


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"not found: {p}")
    return p


_FD2_LOCK = threading.Lock()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send fd 2 to /dev/null meanwhile: decord's C++ logs its own line on a bad file (even
    at log level QUIET), and our `InputError` already says it in one line."""
    try:
        fd = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    with _FD2_LOCK:
        try:
            sys.stderr.flush()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)


def _open_reader(path: Path, width: int = -1, height: int = -1):
    decord = _decord()
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is an empty file")
    try:
        with _native_stderr_silenced():
            return decord.VideoReader(
                str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=DECODE_THREADS
            )
    except Exception as exc:  # decord raises RuntimeError / DECORDError / AssertionError
        raise _explain_open_failure(path, exc) from None


@dataclass(frozen=True)
class _VideoIndex:
    times: np.ndarray  # (n,) start time of each frame, seconds from the first frame
    end_s: float  # end time of the last frame
    fps: float
    width: int
    height: int
    keys: tuple[int, ...]
    backend: str = "decord"  # "decord" | "ffmpeg" (fallback for files decord cannot read)
    pts0: float = 0.0  # ffmpeg backend: stream time of the first frame


def _index(path: Path) -> _VideoIndex:
    """The frame index of a video (times, key frames, size), cached per file version."""
    st = path.stat()
    return _index_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _index_cached(path: str, size: int, mtime_ns: int) -> _VideoIndex:
    return _build_index(Path(path))


# Containers decord indexes and seeks correctly (checked frame by frame in the tests). In
# others (MPEG-TS and MPEG-PS, raw H.264/HEVC streams, GIF, ...) decord returns wrong frames
# or fails, so those go through the ffmpeg pipe.
DECORD_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"})


def _sniff_container(path: Path) -> str:
    """The ffmpeg demuxer name for MP4/MOV, Matroska/WebM and AVI files, from their first
    bytes ("" for anything else)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return ""
    if head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov,mp4,m4a,3gp,3g2,mj2"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska,webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return ""


def _build_index(path: Path) -> _VideoIndex:
    """Index a video: decord for the containers it handles, else (or when decord fails on a
    file that ffmpeg reads) ffmpeg, whose pipe then decodes it."""
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is an empty file")
    if _sniff_container(path) in DECORD_CONTAINERS:  # the common case: no ffmpeg -i call
        try:
            return _decord_index(path)
        except InputError:
            pass  # let ffmpeg say what the file is, and maybe read it
    info = _ffmpeg_info(path)
    usable = info.opened and info.has_video and not info.is_image
    if usable and info.container not in DECORD_CONTAINERS:
        return _ffmpeg_index(path, info)
    try:
        return _decord_index(path)
    except InputError as err:
        if not usable:
            raise
        try:
            return _ffmpeg_index(path, info)
        except InputError:
            raise err from None


def _decord_index(path: Path) -> _VideoIndex:
    vr = _open_reader(path)
    try:
        n = len(vr)
        if n <= 0:
            raise InputError(f"{path.name} has no frames")
        ts = np.asarray(vr.get_frame_timestamp(np.arange(n)), dtype=np.float64)
        avg = float(vr.get_avg_fps() or 0.0)
        first = vr.next().asnumpy()  # size of the decoded frames (decoding frame 0 is cheap)
        keys = tuple(int(k) for k in vr.get_key_indices())
    except InputError:
        raise
    except Exception as exc:
        raise _explain_open_failure(path, exc) from None
    starts = ts[:, 0]
    ok = np.all(np.isfinite(ts)) and np.all(np.diff(starts) >= 0) and starts[-1] > starts[0]
    if not ok:  # no usable timestamps: fall back to the average rate
        rate = avg if avg > 0 else 25.0
        starts = np.arange(n, dtype=np.float64) / rate
        end = n / rate
    else:
        t0 = starts[0]
        starts = starts - t0
        end = float(max(ts[-1, 1] - t0, starts[-1]))
        if end <= starts[-1]:
            end = starts[-1] + (starts[-1] / max(n - 1, 1))
    fps = n / end if end > 0 else (avg or 25.0)
    h, w = first.shape[:2]
    starts.setflags(write=False)
    return _VideoIndex(starts, float(end), float(fps), int(w), int(h), keys)


def is_image_folder(path: str | Path) -> bool:
    """True when `path` is a folder holding at least one image file (jpg/png/webp/bmp)."""
    p = Path(path)
    return p.is_dir() and any(f.suffix.lower() in IMAGE_EXTS and f.is_file() for f in p.iterdir())


def probe(path: str | Path, *, settings: SampleSettings | None = None) -> Probe:
    """Rate, frame count, duration and size of a video file or an image folder.

    For an image folder, time = position / `settings.fps` (default settings: 2 fps) unless
    `settings.time_regex` reads the times from the names.
    """
    p = _check_path(path)
    if p.is_dir():
        return _folder_probe(p, settings or SampleSettings())
    idx = _index(p)
    return Probe(
        fps=idx.fps,
        frame_count=len(idx.times),
        duration_s=idx.end_s,
        width=idx.width,
        height=idx.height,
    )


FIRST_BATCH = 4  # batches start this small and double up to batch_frames


def _ramp(batch: int) -> Iterator[int]:
    """Batch sizes 4, 8, 16, ... up to `batch`: the consumer (the embedder, in the pipeline)
    starts after a few frames instead of a whole batch, and each batch decodes while the one
    before, half its size, is embedded."""
    size = max(1, min(batch, FIRST_BATCH))
    while True:
        yield size
        size = min(batch, size * 2)


class _Cursor:
    """Moves a decord reader forward to wanted frames: skips (decodes without converting)
    between them, and seeks only when a key frame lies far enough ahead to pay off."""

    def __init__(self, vr, keys: Sequence[int]):
        self.vr = vr
        self.keys = sorted(keys)
        self.pos = 0  # index of the frame `next()` returns (a fresh reader is at 0)

    def goto(self, target: int) -> None:
        k = bisect.bisect_right(self.keys, target) - 1
        key = self.keys[k] if k >= 0 else 0
        if key > self.pos and key - self.pos > _SEEK_COST_FRAMES:
            self.vr.seek_accurate(target)
        elif target > self.pos:
            self.vr.skip_frames(target - self.pos)
        self.pos = target

    def take(self) -> np.ndarray:
        frame = self.vr.next().asnumpy()
        self.pos += 1
        return frame


def _read(
    path: Path,
    vr,
    index: _VideoIndex,
    wanted: np.ndarray,
    batch: int,
    check_tail: bool = False,
) -> Iterator[FrameBatch]:
    """Decode `wanted` (sorted unique) frames in batches of at most `batch`.

    `check_tail`: also decode the last frame of the video (cheap after a sequential pass), so
    a file cut short after its index (a truncated "faststart" mp4) is an error, not a
    silently shorter video.
    """
    images: list[np.ndarray] = []
    idxs: list[int] = []
    n = len(index.times)
    cur = _Cursor(vr, index.keys)
    sizes = _ramp(batch)
    cap = next(sizes)
    try:
        for target in wanted:
            target = int(target)
            if target < cur.pos:
                continue
            cur.goto(target)
            images.append(cur.take())
            idxs.append(target)
            if len(images) >= cap:
                yield _batch(index, idxs, images)
                images, idxs = [], []
                cap = next(sizes)
        if check_tail and cur.pos < n:
            cur.goto(n - 1)
            cur.take()
    except StopIteration:
        if n - cur.pos > 2:  # the index promised frames that are not there
            raise _truncated(path, index, cur.pos, None) from None
    except InputError:
        raise
    except Exception as exc:
        raise _truncated(path, index, cur.pos, exc) from exc
    if images:
        yield _batch(index, idxs, images)


def _truncated(path: Path, index: _VideoIndex, frame: int, exc: BaseException | None):
    t = index.times[min(frame, len(index.times) - 1)]
    return InputError(
        f"{path.name} is truncated or corrupt: decoding failed near frame {frame} ({t:.2f} s)"
    )


def _batch(index: _VideoIndex, idxs: list[int], images: list[np.ndarray]) -> FrameBatch:
    ii = np.asarray(idxs, dtype=np.int64)
    return FrameBatch(
        times_s=index.times[ii].astype(np.float64), indices=ii, images=np.stack(images)
    )


def iter_frames(
    path: str | Path, settings: SampleSettings, *, stats: DecodeStats | None = None
) -> Iterator[FrameBatch]:
    """Sampled frames of a video file or image folder, in time order, in bounded batches."""
    p = _check_path(path)
    if p.is_dir():
        yield from _iter_folder(p, settings, stats)
        return
    index = _index(p)
    wanted = select_indices(index.times, settings, index.keys, index.end_s)
    if len(wanted) == 0:
        raise InputError(
            f"{p.name}: no frames in the range {settings.start_s:g}-"
            f"{'end' if settings.end_s is None else f'{settings.end_s:g}'} s "
            f"(the video lasts {index.end_s:.2f} s)"
        )
    w, h = target_size(index.width, index.height, settings.short_side)
    tail = settings.end_s is None
    if index.backend == "ffmpeg":
        reader = _ffmpeg_read(p, index, wanted, settings.batch_frames, (w, h), check_tail=tail)
    else:
        vr = _open_reader(p, *((w, h) if (w, h) != (index.width, index.height) else (-1, -1)))
        reader = _read(p, vr, index, wanted, settings.batch_frames, check_tail=tail)
    for b in reader:
        if stats is not None:
            stats.frames += len(b)
        yield b


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
    p = _check_path(path)
    ask = np.asarray(indices, dtype=np.int64).reshape(-1)
    if p.is_dir():
        return _folder_read(p, ask, short_side, settings or SampleSettings())
    index = _index(p)
    n = len(index.times)
    if len(ask) and (ask.min() < 0 or ask.max() >= n):
        raise InputError(f"{p.name}: frame index out of range 0..{n - 1}")
    uniq = np.unique(ask)
    w, h = target_size(index.width, index.height, short_side)
    if len(uniq) == 0:
        return FrameBatch(
            np.zeros(0, np.float64), np.zeros(0, np.int64), np.zeros((0, h, w, 3), np.uint8)
        )
    if index.backend == "ffmpeg":
        got = list(_ffmpeg_read(p, index, uniq, len(uniq), (w, h)))
    else:
        vr = _open_reader(p, *((w, h) if (w, h) != (index.width, index.height) else (-1, -1)))
        got = list(_read(p, vr, index, uniq, len(uniq)))
    got_idx = np.concatenate([b.indices for b in got]) if got else np.zeros(0, np.int64)
    if len(got_idx) != len(uniq):
        missing = int(np.setdiff1d(uniq, got_idx)[0])
        raise _truncated(p, index, missing, None)
    images = got[0].images if len(got) == 1 else np.concatenate([b.images for b in got])
    times = np.concatenate([b.times_s for b in got])
    pos = np.searchsorted(got_idx, ask)
    return FrameBatch(times_s=times[pos], indices=ask.copy(), images=images[pos])


# --------------------------------------------------------------------------- ffmpeg fallback


def _ffmpeg_index(path: Path, info: _FfInfo) -> _VideoIndex:
    """Frame times and key frames from the packets (``-c copy -f framecrc``: no decoding)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    cmd += ["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{path.name} cannot be indexed: {exc}") from None
    tb = 0.0
    nopts = False
    pts, durs, keys = [], [], []
    for line in proc.stdout.splitlines():
        if line.startswith("#tb 0:"):
            num, _, den = line.split(":", 1)[1].strip().partition("/")
            tb = float(num) / float(den or 1)
            continue
        if line.startswith("#") or not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 5 or fields[0] != "0":
            continue
        pt, dur = int(fields[2]), int(fields[3])
        if pt <= -(2**62):  # no pts (raw streams, MPEG-PS): frames are matched by order
            nopts = True
        pts.append(pt)
        durs.append(dur)
        flags = next((f for f in fields[5:] if f.startswith("F=")), None)
        keys.append(flags is None or bool(int(flags[2:], 16) & 1))
    if not pts or tb <= 0:
        raise InputError(f"{path.name} has no frames")
    if nopts:  # packets without times (raw streams, MPEG-PS): ask the decoder
        return _ffmpeg_decoded_index(path, info)
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    raw = np.asarray(pts, dtype=np.float64)[order] * tb
    times = raw - raw[0]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    last_dur = float(np.asarray(durs)[order][-1]) * tb
    end = float(times[-1] + (last_dur if last_dur > 0 else step))
    n = len(times)
    fps = n / end if end > 0 else 25.0
    key_idx = tuple(int(i) for i in np.flatnonzero(np.asarray(keys)[order]))
    if info.width <= 0 or info.height <= 0:
        raise InputError(f"{path.name}: the video size is unknown")
    times.setflags(write=False)
    return _VideoIndex(
        times,
        end,
        float(fps),
        info.width,
        info.height,
        key_idx or (0,),
        "ffmpeg",
        float("nan") if nopts else float(raw[0]),
    )


def _ffmpeg_decoded_index(path: Path, info: _FfInfo) -> _VideoIndex:
    """Frame times and key frames as the decoder outputs them (a full decode: slower, for
    streams whose packets carry no usable times)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info"]
    cmd += ["-i", str(path), "-map", "0:v:0", "-vf", "showinfo", "-fps_mode", "passthrough"]
    cmd += ["-f", "null", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{path.name} cannot be indexed: {exc}") from None
    rx = re.compile(r"Parsed_showinfo.*\bn:\s*\d+\s.*\bpts_time:\s*(\S+).*\biskey:\s*(\d)")
    raw, keys = [], []
    for line in proc.stderr.splitlines():
        m = rx.search(line)
        if m:
            try:
                raw.append(float(m.group(1)))
            except ValueError:
                continue
            keys.append(m.group(2) == "1")
    if not raw:
        raise InputError(f"{path.name} has no frames that can be decoded")
    t = np.asarray(raw, dtype=np.float64)
    times = t - t[0]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    end = float(times[-1] + step)
    if info.width <= 0 or info.height <= 0:
        raise InputError(f"{path.name}: the video size is unknown")
    key_idx = tuple(int(i) for i in np.flatnonzero(keys)) or (0,)
    times.setflags(write=False)
    fps = len(times) / end if end > 0 else 25.0
    return _VideoIndex(
        times, end, float(fps), info.width, info.height, key_idx, "ffmpeg", float(t[0])
    )


def _ffmpeg_read(
    path: Path,
    index: _VideoIndex,
    wanted: np.ndarray,
    batch: int,
    size: tuple[int, int],
    check_tail: bool = False,
) -> Iterator[FrameBatch]:
    """Decode through an ffmpeg pipe (scaled by ffmpeg), keeping the `wanted` frames.

    Each decoded frame is matched to the index by its presentation time (showinfo).
    """
    import queue

    import imageio_ffmpeg

    w, h = size
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info"]
    cmd += ["-i", str(path), "-map", "0:v:0", "-vf", f"scale={w}:{h}:flags=bicubic,showinfo"]
    cmd += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stamps: queue.Queue = queue.Queue()
    rx = re.compile(rb"Parsed_showinfo.*\bpts_time:\s*(-?[0-9.eE+-]+)")

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = rx.search(line)
            if m:
                try:
                    stamps.put(float(m.group(1)))
                except ValueError:
                    stamps.put(float("nan"))
        stamps.put(None)

    threading.Thread(target=drain, daemon=True).start()
    nbytes = w * h * 3
    want = np.asarray(wanted, dtype=np.int64)
    n = len(index.times)
    pos = 0  # next wanted position
    last = -1
    sizes = _ramp(batch)
    cap = next(sizes)
    images: list[np.ndarray] = []
    idxs: list[int] = []
    try:
        assert proc.stdout is not None
        while pos < len(want) or (check_tail and last < n - 1):
            buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            t = stamps.get(timeout=120)
            if t is None:
                break
            if np.isnan(index.pts0) or np.isnan(t):  # no timestamps: the order is the index
                k = min(last + 1, n - 1)
            else:
                rel = t - index.pts0
                k = int(np.clip(np.searchsorted(index.times, rel), 0, n - 1))
                if k > 0 and abs(index.times[k - 1] - rel) <= abs(index.times[k] - rel):
                    k -= 1
            last = max(last, k)
            while pos < len(want) and want[pos] < k:
                pos += 1  # a wanted frame the decoder did not deliver
            if pos < len(want) and want[pos] == k:
                images.append(np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy())
                idxs.append(k)
                pos += 1
                if len(images) >= cap:
                    yield _batch(index, idxs, images)
                    images, idxs = [], []
                    cap = next(sizes)
    finally:
        proc.kill()
        proc.wait()
    if last < 0:
        raise InputError(f"{path.name} cannot be decoded (ffmpeg gave no frames)")
    if check_tail and last < n - 3:
        raise _truncated(path, index, last + 1, None)
    if images:
        yield _batch(index, idxs, images)


# --------------------------------------------------------------------------- image folders


@dataclass(frozen=True)
class _Folder:
    files: tuple[Path, ...]
    times: np.ndarray
    fps: float
    skipped: tuple[str, ...]  # names with no time in them (time_regex given)


def _list_images(folder: Path) -> list[Path]:
    files = [f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTS and f.is_file()]
    return [folder / n for n in natural_sorted([f.name for f in files])]


def _folder(folder: Path, settings: SampleSettings) -> _Folder:
    files = _list_images(folder)
    if not files:
        raise InputError(
            f"{folder} has no images ({', '.join(sorted(IMAGE_EXTS))}) and is not a video"
        )
    rx = _compile_time_regex(settings.time_regex)
    fps = settings.fps or IMAGE_FOLDER_FPS
    if rx is None:
        times = np.arange(len(files), dtype=np.float64) / fps
        return _Folder(tuple(files), times, fps, ())
    kept, times, skipped = [], [], []
    for f in files:
        m = rx.search(f.name)
        try:
            t = float(m.group(1)) if m else None
        except (TypeError, ValueError):
            t = None
        if t is None or not np.isfinite(t):
            skipped.append(f.name)
            continue
        kept.append(f)
        times.append(t)
    if not kept:
        raise InputError(f"no image name in {folder} matches time_regex {settings.time_regex!r}")
    order = np.argsort(np.asarray(times), kind="stable")
    files_sorted = tuple(kept[i] for i in order)
    t = np.asarray(times, dtype=np.float64)[order]
    span = t[-1] - t[0]
    rate = (len(t) - 1) / span if span > 0 else fps
    return _Folder(files_sorted, t, float(rate), tuple(skipped))


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) as displayed (EXIF rotation applied), from the header only."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(274, 1)
        except Exception:
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _folder_size(folder: Path, files: Sequence[Path]) -> tuple[int, int]:
    """The frame size of an image folder: that of its first readable image."""
    for f in files:
        try:
            return _image_size(f)
        except Exception:
            continue
    raise InputError(f"no readable image in {folder}")


def _folder_probe(folder: Path, settings: SampleSettings) -> Probe:
    info = _folder(folder, settings)
    w, h = _folder_size(folder, info.files)
    n = len(info.files)
    duration = float(info.times[-1] - info.times[0]) + 1.0 / info.fps
    return Probe(fps=info.fps, frame_count=n, duration_s=duration, width=w, height=h)


def _load_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """One image as RGB uint8 (h, w, 3) for `size` = (w, h): scaled to cover it, centre-cropped."""
    from PIL import Image, ImageOps

    tw, th = size
    with Image.open(path) as im:
        im.draft("RGB", (tw, th))  # JPEG: scale down while decoding
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")
        if im.size != (tw, th):
            scale = max(tw / im.width, th / im.height)
            rw, rh = max(tw, round(im.width * scale)), max(th, round(im.height * scale))
            im = im.resize((rw, rh), Image.BILINEAR, reducing_gap=2.0)
            x0, y0 = (rw - tw) // 2, (rh - th) // 2
            im = im.crop((x0, y0, x0 + tw, y0 + th))
        return np.asarray(im, dtype=np.uint8)


def _iter_folder(
    folder: Path, settings: SampleSettings, stats: DecodeStats | None
) -> Iterator[FrameBatch]:
    info = _folder(folder, settings)
    for name in info.skipped:
        warnings.warn(
            f"{name}: no time in the name (time_regex {settings.time_regex!r}), skipped",
            UnreadableImageWarning,
            stacklevel=3,
        )
    if stats is not None:
        stats.skipped += len(info.skipped)
        stats.skipped_files.extend(info.skipped)
    if settings.time_regex is None:
        sel = select_indices(
            info.times,
            SampleSettings(
                fps=None, every_n=settings.every_n, start_s=settings.start_s, end_s=settings.end_s
            ),
        )
    else:
        sel = select_indices(info.times, settings)
    if len(sel) == 0:
        raise InputError(f"{folder}: no images in the time range asked for")
    size = target_size(*_folder_size(folder, info.files), settings.short_side)
    images: list[np.ndarray] = []
    idxs: list[int] = []
    produced = 0
    sizes = _ramp(settings.batch_frames)
    cap = next(sizes)
    for i in sel:
        f = info.files[int(i)]
        try:
            img = _load_image(f, size)
        except Exception as exc:
            warnings.warn(
                f"{f.name}: unreadable image, skipped ({exc})", UnreadableImageWarning, stacklevel=2
            )
            if stats is not None:
                stats.skipped += 1
                stats.skipped_files.append(f.name)
            continue
        images.append(img)
        idxs.append(int(i))
        if len(images) >= cap:
            produced += len(images)
            if stats is not None:
                stats.frames += len(images)
            yield _folder_batch(info, idxs, images)
            images, idxs = [], []
            cap = next(sizes)
    if images:
        produced += len(images)
        if stats is not None:
            stats.frames += len(images)
        yield _folder_batch(info, idxs, images)
    if produced == 0:
        raise InputError(f"no readable image in {folder}")


def _folder_batch(info: _Folder, idxs: list[int], images: list[np.ndarray]) -> FrameBatch:
    ii = np.asarray(idxs, dtype=np.int64)
    return FrameBatch(
        times_s=info.times[ii].astype(np.float64), indices=ii, images=np.stack(images)
    )


def _folder_read(
    folder: Path, ask: np.ndarray, short_side: int | None, settings: SampleSettings
) -> FrameBatch:
    info = _folder(folder, settings)
    files = info.files
    if len(ask) and (ask.min() < 0 or ask.max() >= len(files)):
        raise InputError(f"{folder.name}: image index out of range 0..{len(files) - 1}")
    w, h = target_size(*_folder_size(folder, files), short_side)
    imgs = []
    for i in ask:
        try:
            imgs.append(_load_image(files[int(i)], (w, h)))
        except Exception as exc:
            raise InputError(f"{files[int(i)].name}: unreadable image ({exc})") from None
    images = np.stack(imgs) if imgs else np.zeros((0, h, w, 3), np.uint8)
    return FrameBatch(times_s=info.times[ask].astype(np.float64), indices=ask.copy(), images=images)
