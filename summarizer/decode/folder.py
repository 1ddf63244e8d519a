"""A folder of images read as a video: its image files in natural order (``img2`` before
``img10``), time = position / fps unless `SampleSettings.time_regex` reads the time (s) from
each file name. Images are turned upright (EXIF orientation) and scaled to cover the size of
the first readable image, centre-cropped; unreadable ones are skipped with a warning each and
counted in `DecodeStats`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from summarizer.config import SampleSettings
from summarizer.data import FrameBatch, Probe
from summarizer.decode.sampling import (
    compile_time_regex,
    natural_sorted,
    select_indices,
    target_size,
)
from summarizer.decode.source import Batcher, DecodeStats, UnreadableImageWarning, batch_cap
from summarizer.errors import InputError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
IMAGE_FOLDER_FPS = 1.0  # frame rate of an image folder when settings.fps is None


def is_image_folder(path: str | Path) -> bool:
    """True when `path` is a folder holding at least one image file (jpg/png/webp/bmp)."""
    p = Path(path)
    return p.is_dir() and any(f.suffix.lower() in IMAGE_EXTS and f.is_file() for f in p.iterdir())


def list_images(folder: Path) -> list[Path]:
    files = [f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTS and f.is_file()]
    return [folder / n for n in natural_sorted([f.name for f in files])]


@dataclass(frozen=True)
class _Listing:
    files: tuple[Path, ...]
    times: np.ndarray
    fps: float
    skipped: tuple[str, ...]  # names with no time in them (time_regex given)


def _listing(folder: Path, settings: SampleSettings) -> _Listing:
    files = list_images(folder)
    if not files:
        raise InputError(
            f"{folder} has no images ({', '.join(sorted(IMAGE_EXTS))}) and is not a video"
        )
    rx = compile_time_regex(settings.time_regex)
    fps = settings.fps or IMAGE_FOLDER_FPS
    if rx is None:
        times = np.arange(len(files), dtype=np.float64) / fps
        return _Listing(tuple(files), times, fps, ())
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
    return _Listing(files_sorted, t, float(rate), tuple(skipped))


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


def load_image(path: Path, size: tuple[int, int]) -> np.ndarray:
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


class FolderSource:
    """A folder of images as a `FrameSource` (its times depend on the sample settings)."""

    backend = "images"

    def __init__(self, folder: Path, settings: SampleSettings | None = None):
        self.folder = folder
        self.settings = settings or SampleSettings()

    def probe(self) -> Probe:
        info = _listing(self.folder, self.settings)
        w, h = _folder_size(self.folder, info.files)
        duration = float(info.times[-1] - info.times[0]) + 1.0 / info.fps
        return Probe(
            fps=info.fps,
            frame_count=len(info.files),
            duration_s=duration,
            width=w,
            height=h,
            backend=self.backend,
        )

    def iter_frames(
        self, settings: SampleSettings, stats: DecodeStats | None = None
    ) -> Iterator[FrameBatch]:
        folder = self.folder
        info = _listing(folder, settings)
        for name in info.skipped:
            warnings.warn(
                f"{name}: no time in the name (time_regex {settings.time_regex!r}), skipped",
                UnreadableImageWarning,
                stacklevel=3,
            )
        if stats is not None:
            stats.skipped += len(info.skipped)
            stats.skipped_files.extend(info.skipped)
        if settings.time_regex is None:  # the times are positions: no target rate to meet
            sel = select_indices(info.times, replace(settings, fps=None, keyframes_only=False))
        else:
            sel = select_indices(info.times, settings)
        if len(sel) == 0:
            raise InputError(f"{folder}: no images in the time range asked for")
        size = target_size(*_folder_size(folder, info.files), settings.short_side)
        out = Batcher(info.times, batch_cap(settings.batch_frames, size))
        produced = 0
        for i in sel:
            f = info.files[int(i)]
            try:
                img = load_image(f, size)
            except Exception as exc:
                warnings.warn(
                    f"{f.name}: unreadable image, skipped ({exc})",
                    UnreadableImageWarning,
                    stacklevel=2,
                )
                if stats is not None:
                    stats.skipped += 1
                    stats.skipped_files.append(f.name)
                continue
            if (full := out.add(int(i), img)) is None:
                continue
            produced += len(full)
            if stats is not None:
                stats.frames += len(full)
            yield full
        if (rest := out.flush()) is not None:
            produced += len(rest)
            if stats is not None:
                stats.frames += len(rest)
            yield rest
        if produced == 0:
            raise InputError(f"no readable image in {folder}")

    def read_frames(self, indices: np.ndarray, short_side: int | None) -> FrameBatch:
        ask = np.asarray(indices, dtype=np.int64).reshape(-1)
        info = _listing(self.folder, self.settings)
        files = info.files
        if len(ask) and (ask.min() < 0 or ask.max() >= len(files)):
            raise InputError(f"{self.folder.name}: image index out of range 0..{len(files) - 1}")
        w, h = target_size(*_folder_size(self.folder, files), short_side)
        imgs = []
        for i in ask:
            try:
                imgs.append(load_image(files[int(i)], (w, h)))
            except Exception as exc:
                raise InputError(f"{files[int(i)].name}: unreadable image ({exc})") from None
        images = np.stack(imgs) if imgs else np.zeros((0, h, w, 3), np.uint8)
        return FrameBatch(
            times_s=info.times[ask].astype(np.float64), indices=ask.copy(), images=images
        )
