"""Cut segments out of a video with the ffmpeg that imageio-ffmpeg ships.

By default each clip is re-encoded (H.264 + AAC) and holds exactly its segment. Stream copy
(``reencode=False``) is instant and lossless but not exact: a copied clip starts at the key
frame before the segment (with 10 s between key frames, whole earlier scenes) and, with
B-frames, ends with a few frames after it. Audio is kept when there is some. Clips of the
same video left from an earlier run in the folder are removed.
"""

from __future__ import annotations

import glob
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from summarizer.errors import InputError, SettingsError


@dataclass(frozen=True)
class Clip:
    index: int
    start_s: float
    end_s: float
    path: Path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def clip_name(stem: str, index: int, start_s: float, end_s: float, ext: str = ".mp4") -> str:
    """'<stem>_seg003_0012.50-0018.00.mp4': sorts in time order, says what it holds."""
    return f"{stem}_seg{index:03d}_{start_s:07.2f}-{end_s:07.2f}{ext}"


def ffmpeg_args(
    src: Path, dst: Path, start_s: float, end_s: float, reencode: bool = False
) -> list[str]:
    """The ffmpeg command line that cuts [start_s, end_s) of `src` into `dst`."""
    if not end_s > start_s >= 0:
        raise SettingsError(f"a clip must have 0 <= start < end, got {start_s:g}-{end_s:g} s")
    duration = end_s - start_s
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    # -ss before -i seeks fast; when re-encoding ffmpeg still decodes from the previous key
    # frame and drops what comes before start_s, so the cut is frame accurate.
    # Absolute paths: a name starting with '-' must never read as an option.
    src, dst = Path(src).absolute(), Path(dst).absolute()
    cmd += ["-ss", f"{start_s:.3f}", "-i", str(src), "-t", f"{duration:.3f}"]
    cmd += ["-map", "0:v:0", "-map", "0:a?"]
    if reencode:
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
        cmd += ["-c:a", "aac", "-b:a", "160k"]
    else:
        cmd += ["-c", "copy", "-avoid_negative_ts", "make_zero"]
    cmd += ["-movflags", "+faststart", str(dst)]
    return cmd


def cut_clip(
    src: str | Path, dst: str | Path, start_s: float, end_s: float, reencode: bool = False
) -> Path:
    """Cut one clip; written to a temporary name and renamed, so no half clip is left."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise InputError(f"{src}: cannot cut clips, no such video file")
    dst.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this writer's own (two processes may cut into one folder), renamed
    # onto `dst` when complete.
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.stem}.", suffix=dst.suffix)
    os.close(fd)
    tmp = Path(name)
    cmd = ffmpeg_args(src, tmp, start_s, end_s, reencode)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot run ffmpeg: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        lines = (proc.stderr or "").strip().splitlines()
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        raise InputError(f"ffmpeg could not cut {src.name} at {start_s:.2f}-{end_s:.2f} s: {why}")
    os.chmod(tmp, 0o644)  # mkstemp makes files owner-only; clips are ordinary files
    os.replace(tmp, dst)
    return dst


def cut_segments(
    src: str | Path,
    segments: Sequence[tuple[float, float]],
    out_dir: str | Path,
    stem: str | None = None,
    reencode: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[Clip]:
    """One clip per (start_s, end_s) segment, into `out_dir` (see the module docstring)."""
    src = Path(src)
    stem = stem or src.stem
    out_dir = Path(out_dir)
    out: list[Clip] = []
    for i, (a, b) in enumerate(segments):
        path = cut_clip(src, out_dir / clip_name(stem, i, a, b), a, b, reencode)
        out.append(Clip(i, float(a), float(b), path))
        if progress is not None:
            progress(i + 1, len(segments))
    made = {c.path.name for c in out}
    for old in out_dir.glob(f"{glob.escape(stem)}_seg*"):
        if old.name not in made:  # a clip of an earlier run with other segments
            old.unlink()
    return out
