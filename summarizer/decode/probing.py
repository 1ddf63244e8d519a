"""One probe per file: what the container says (PyAV), and which backend reads it.

Nothing a demuxer says is trusted unchecked. The container is opened with PyAV (its own
FFmpeg) and its first frame decoded: that gives the display transform (rotation side data,
sample aspect ratio), whether it is interlaced, and the header's frame count and duration.
decord reads the file when it is a container decord handles (MP4/MOV, Matroska/WebM, AVI),
progressive, 8-bit, square pixels, and decord's figures agree with the container: frame
count within a frame, duration within two frames, times finite and in order, a sane rate.
Otherwise (MPEG-TS/PS, raw streams, GIF, FLV, AVI with B-frames whose times decord invents,
a truncated file, interlaced video, 10-bit and anamorphic video, whose pixels decord's own
FFmpeg converts differently: about 34 dB from FFmpeg's against PyAV's exact match) PyAV
reads it. The chosen backend is recorded in `Probe.backend`.

Files that cannot be used get one `InputError` line saying why: missing, empty, a single
image, only audio, no frames, not a video or corrupt, an MP4 whose index is missing.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from pathlib import Path

from summarizer.decode.indexed import IndexedSource
from summarizer.decode.source import StreamInfo
from summarizer.errors import InputError

# Containers decord indexes and seeks correctly (checked frame by frame in the tests). In
# others (MPEG-TS and MPEG-PS, raw H.264/HEVC streams, GIF, FLV, ...) decord returns wrong
# frames or fails.
DECORD_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"})
IMAGE_FORMATS = frozenset(
    {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "jpegxl_pipe"}
)
MIN_FPS, MAX_FPS = 1e-3, 1e4  # a frame rate outside this range is a demuxer's invention
FIRST_FRAME_PACKETS = 600  # give up looking for a first frame after this many packets


def _mp4_without_index(path: Path) -> bool:
    """An MP4/MOV whose top-level boxes hold no 'moov' (the index): cut before it."""
    try:
        with open(path, "rb") as f:
            size = path.stat().st_size
            pos, seen, has_moov = 0, 0, False
            while pos + 8 <= size and seen < 64:
                f.seek(pos)
                head = f.read(16)
                box, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if seen == 0 and kind != b"ftyp":
                    return False
                if box == 1 and len(head) >= 16:
                    box = int.from_bytes(head[8:16], "big")
                has_moov |= kind == b"moov"
                if box < 8:
                    break
                pos += box
                seen += 1
            return seen > 0 and not has_moov
    except OSError:
        return False


def _open_error(path: Path, exc: BaseException) -> InputError:
    name = path.name
    if _mp4_without_index(path):
        return InputError(
            f"{name} cannot be read: not a video, or a truncated/corrupt file "
            "(the mp4 index 'moov' is missing)"
        )
    text = " ".join(str(getattr(exc, "strerror", "") or exc).split())[:160]
    if "End of file" in text:
        return InputError(f"{name} has no frames (the file ends before its first frame)")
    return InputError(f"{name} cannot be read: not a video, or a corrupt file ({text})")


def inspect(path: Path) -> tuple[StreamInfo, int]:
    """What the container says about its video stream, and the stream's index; decodes the
    first frame (for the rotation and the interlacing flags, and to know it decodes)."""
    import av

    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is an empty file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise _open_error(path, exc) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path.name} cannot be read: {exc}") from None
    with container:
        fmt = container.format.name
        if fmt in IMAGE_FORMATS:
            raise InputError(
                f"{path.name} is a single image, not a video (to use images, pass a folder of them)"
            )
        cover = int(av.stream.Disposition.attached_pic)
        videos = [s for s in container.streams.video if not int(s.disposition) & cover]
        if not videos:
            what = "it has only audio" if container.streams.audio else "it has no streams"
            raise InputError(f"{path.name} has no video stream ({what})")
        stream = videos[0]
        first, errors = None, 0
        try:
            for k, pkt in enumerate(container.demux(stream)):
                try:
                    frames = pkt.decode()
                except av.FFmpegError:
                    errors += 1
                    frames = []
                if frames:
                    first = frames[0]
                    break
                if k > FIRST_FRAME_PACKETS:
                    break
        except av.FFmpegError as exc:
            raise _open_error(path, exc) from None
        if first is None:
            if errors:
                raise InputError(
                    f"{path.name} cannot be decoded: no frame of its {stream.codec_context.name} "
                    "stream decodes"
                )
            raise InputError(f"{path.name} has no frames")
        cc = stream.codec_context
        sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio
        sar_f = float(sar) if sar and float(sar) > 0 else 1.0
        if not 0.1 <= sar_f <= 10:
            sar_f = 1.0
        tb = float(stream.time_base or 0)
        duration = float(stream.duration * tb) if stream.duration and tb else 0.0
        if duration <= 0 and container.duration and len(container.streams) == 1:
            duration = container.duration / 1e6
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        field = str(getattr(cc, "field_order", "") or "").lower()
        interlaced = bool(first.interlaced_frame) or field in ("tt", "bb", "tb", "bt")
        info = StreamInfo(
            container=fmt,
            codec=cc.name,
            width=int(first.width or cc.width),
            height=int(first.height or cc.height),
            rotation=int(round(getattr(first, "rotation", 0) or 0)) % 360 // 90 * 90,
            sample_aspect=sar_f,
            interlaced=interlaced,
            frames=int(stream.frames or 0),
            duration_s=duration if math.isfinite(duration) else 0.0,
            rate=float(rate) if rate and math.isfinite(float(rate)) else 0.0,
            start_s=float(first.time) if first.time is not None else 0.0,
            pix_fmt=str(first.format.name),
            b_frames=bool(cc.has_b_frames),
        )
        return info, int(stream.index)


def _decord_unfit(info: StreamInfo) -> str | None:
    """Why decord should not read this file at all (None: try it)."""
    if info.container not in DECORD_CONTAINERS:
        return f"decord misreads the {info.container} container"
    if info.interlaced:
        return "interlaced: deinterlaced by PyAV"
    if info.container == "avi" and info.b_frames:
        return "AVI with B-frames: decord invents their times"
    if _bits(info.pix_fmt) > 8:
        return f"{info.pix_fmt}: decord's conversion to 8 bits differs from FFmpeg's"
    if abs(info.sample_aspect - 1.0) > 1e-3:
        return "anamorphic: decord's stretch to the display size differs from FFmpeg's"
    return None


def _bits(pix_fmt: str) -> int:
    """Bits per component of a pixel format (8 when unknown)."""
    import av

    try:
        return max((c.bits for c in av.VideoFormat(pix_fmt).components), default=8)
    except (ValueError, TypeError, av.FFmpegError):
        return 8


def disagreement(n: int, end_s: float, info: StreamInfo) -> str | None:
    """Why a frame count and duration do not fit the container's header (None: they fit)."""
    if n <= 0 or not (end_s > 0 and math.isfinite(end_s)):
        return f"absurd figures ({n} frames, {end_s} s)"
    fps = n / end_s
    if not MIN_FPS <= fps <= MAX_FPS:
        return f"absurd frame rate {fps:.3g}"
    if info.frames > 0 and abs(n - info.frames) > 1:
        return f"{n} frames where the container says {info.frames}"
    if info.duration_s > 0 and abs(end_s - info.duration_s) > max(2.0 / fps, 0.01 * end_s):
        return f"{end_s:.3f} s where the container says {info.duration_s:.3f} s"
    return None


def choose(path: Path) -> IndexedSource:
    """Probe `path` and open it with the backend that reads it right."""
    from summarizer.decode import decord_source, pyav_source

    info, stream_index = inspect(path)

    def with_pyav(why: str) -> IndexedSource:
        index = pyav_source.build_index(path, info, stream_index)
        return pyav_source.PyAVSource(path, index, stream_index, why)

    why = _decord_unfit(info)
    if why is None:
        try:
            index, native = decord_source.build_index(path, info)
            why = disagreement(len(index.times), index.end_s, info)
            stored = (
                (info.height, info.width)
                if info.rotation in (90, 270)
                else (info.width, info.height)
            )
            if why is None and native != stored:
                why = (
                    f"decord decodes {native[0]}x{native[1]}, the stream is {stored[0]}x{stored[1]}"
                )
        except decord_source.DecordRejected as exc:
            why = str(exc)
        if why is None:
            # PyAV takes over part way with decord's index (the same frame numbers): it
            # matches decoded frames by their stream times, which both read alike.
            return decord_source.DecordSource(
                path,
                index,
                native,
                lambda: pyav_source.PyAVSource(path, index, stream_index, "decord failed"),
            )
    return with_pyav(why)


def open_video(path: Path) -> IndexedSource:
    """The source for a video file, cached per file version (path, size, mtime)."""
    st = path.stat()
    return _open_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


def open_pyav(path: Path):
    """The probe's source for `path` read through PyAV (a `PyAVSource`): the file's own
    when PyAV reads it, else decord's index decoded by PyAV (frames matched by time), so
    frame numbers, order and time origin are those of the sampled frames; None when
    neither reads it."""
    from summarizer.decode.pyav_source import PyAVSource

    src = open_video(path)
    if not isinstance(src, PyAVSource):
        src = src.fallback()
    return src if isinstance(src, PyAVSource) else None


@functools.lru_cache(maxsize=64)
def _open_cached(path: str, size: int, mtime_ns: int) -> IndexedSource:
    return choose(Path(path))
