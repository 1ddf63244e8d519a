"""Render a poster: frames of the map pasted into their cells, saved as PNG or PDF.

`render_poster` assigns frames to cells (`summarizer.poster.layout`), then pastes the tiles
into a canvas kept on disk (`summarizer.poster.canvas`) and encodes it band by band, so memory
stays bounded whatever the print size: about one encoding band (32 MB) + one tile (at most
`MAX_TILE_MEGAPIXELS`, 120 MB) + a few decoded source frames. When a video's file is at hand
its frames are decoded again from the source (resized by the decoder to what the tile needs, in
small groups per video in frame order); otherwise the stored thumbnails are used. Saved as PNG
or PDF (the PDF page is the print size), with ``<name>.layout.json`` beside it.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.config import check
from summarizer.errors import AtlasError, InputError
from summarizer.outputs.files import atomic_path, write_json
from summarizer.poster.canvas import DiskCanvas, write_pdf, write_png
from summarizer.poster.layout import (  # noqa: F401 - PosterSettings: the poster's settings
    FORMATS,
    MAX_MEGAPIXELS,
    MAX_TILE_MEGAPIXELS,
    PosterSettings,
    assign_cells,
    edges,
    poster_layout,
)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class PosterFrames:
    """Frames that can go on a poster, rows aligned with the map's coordinates.

    Build it with `from_embedded` (videos of the pipeline) or directly.
    video_index / times_s / frame_indices: (N,) per frame; thumbnails: one (n_i, h, w, 3)
    uint8 array per video (rows of video i are the frames with video_index == i, in order);
    names / hashes / paths: per video (path None: not at hand, thumbnails only).
    """

    coords: np.ndarray
    video_index: np.ndarray
    times_s: np.ndarray
    frame_indices: np.ndarray
    thumbnails: Sequence[np.ndarray]
    names: Sequence[str]
    hashes: Sequence[str]
    paths: Sequence[Path | None]

    @classmethod
    def from_embedded(cls, videos: Sequence[Any], coords: np.ndarray) -> PosterFrames:
        """From `EmbeddedVideo`s (in the order their frames were stacked for the map)."""
        counts = [len(v.times_s) for v in videos]
        if sum(counts) != len(coords):
            raise InputError(f"{len(coords)} coordinates for {sum(counts)} frames")
        return cls(
            coords=np.asarray(coords),
            video_index=np.repeat(np.arange(len(videos)), counts),
            times_s=np.concatenate([np.asarray(v.times_s, float) for v in videos]),
            frame_indices=np.concatenate([np.asarray(v.indices, np.int64) for v in videos]),
            thumbnails=[v.thumbnails for v in videos],
            names=[v.ref.name for v in videos],
            hashes=[v.ref.sha256 for v in videos],
            paths=[Path(v.ref.path) if str(v.ref.path) else None for v in videos],
        )

    def local_rows(self) -> np.ndarray:
        """Row of each frame inside its own video's arrays."""
        vi = np.asarray(self.video_index)
        out = np.zeros(len(vi), dtype=np.int64)
        for v in np.unique(vi):
            sel = np.flatnonzero(vi == v)
            out[sel] = np.arange(len(sel))
        return out


@dataclass(frozen=True)
class PosterResult:
    path: Path
    layout_path: Path
    size_px: tuple[int, int]
    assignment: np.ndarray
    tiles_from_source: int
    tiles_from_thumbnails: int
    empty_cells: int
    notes: tuple[str, ...]


def _fit_tile(img, size: tuple[int, int], fit: str, background) -> Any:
    """Resize a PIL image to exactly `size`: cover (centre crop) or contain (letterbox)."""
    from PIL import Image

    tw, th = size
    w, h = img.size
    if fit == "cover":
        scale = max(tw / w, th / h)
        cw, ch = tw / scale, th / scale
        left, top = (w - cw) / 2, (h - ch) / 2
        return img.resize((tw, th), Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))
    scale = min(tw / w, th / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    tile = Image.new("RGB", (tw, th), tuple(background))
    tile.paste(img.resize((nw, nh), Image.Resampling.BILINEAR), ((tw - nw) // 2, (th - nh) // 2))
    return tile


def _decode_short_side(src_w: int, src_h: int, tile: tuple[int, int], fit: str) -> int | None:
    """Short side to decode at so a frame still covers (or fits) the tile; None = full size."""
    tw, th = tile
    scale = max(tw / src_w, th / src_h) if fit == "cover" else min(tw / src_w, th / src_h)
    short = int(math.ceil(min(src_w, src_h) * scale)) + 2
    return None if short >= min(src_w, src_h) else max(short, 16)


def _source_tiles(
    path: Path,
    frame_indices: np.ndarray,
    tile: tuple[int, int],
    fit: str,
    max_full_frames: int = 4,
):
    """Yield (position in `frame_indices`, PIL image) decoded from the source, frame order.

    Reads groups small enough that the decoded frames of a group take no more memory than
    `max_full_frames` full-size frames.
    """
    from PIL import Image

    from summarizer import decode as video_mod

    pr = video_mod.probe(path)
    short = _decode_short_side(pr.width, pr.height, tile, fit)
    full = pr.width * pr.height
    dec = full if short is None else max(1.0, full * (short / min(pr.width, pr.height)) ** 2)
    group = int(max(max_full_frames, min(256, max_full_frames * full // dec)))
    order = np.argsort(frame_indices, kind="stable")
    for g in range(0, len(order), group):
        pos = order[g : g + group]
        batch = video_mod.read_frames(path, frame_indices[pos], short_side=short)
        for p, im in zip(pos.tolist(), batch.images, strict=True):
            yield p, Image.fromarray(np.ascontiguousarray(im))
        del batch


def render_poster(
    frames: PosterFrames,
    settings: PosterSettings,
    out: str | Path,
    *,
    assignment: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> PosterResult:
    """Assign frames to cells, paste the tiles, save PNG/PDF + ``<stem>.layout.json``."""
    from PIL import Image

    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    check(fmt in FORMATS, f"poster file must end in .png or .pdf, got {out.name!r}")
    thumbs = frames.thumbnails
    aspect = 16 / 9
    for t in thumbs:
        if len(t):
            aspect = t.shape[2] / t.shape[1]
            break
    w, h = settings.canvas_size(aspect)
    grid = assign_cells(frames.coords, settings) if assignment is None else assignment
    xs = edges(w, settings.cols, settings.gap_px)
    ys = edges(h, settings.rows, settings.gap_px)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, raw = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}-", suffix=".canvas")
    os.close(fd)
    canvas = DiskCanvas(Path(raw), w, h, tuple(int(c) for c in settings.background))
    local = frames.local_rows()
    vi = np.asarray(frames.video_index)

    cells = [(r, c, int(grid[r, c])) for r in range(settings.rows) for c in range(settings.cols)]
    filled = [(r, c, f) for r, c, f in cells if f >= 0]
    source_of: dict[tuple[int, int], str] = {}
    notes: list[str] = []
    done = 0
    total = len(filled)
    by_video: dict[int, list[tuple[int, int, int]]] = {}
    for r, c, f in filled:
        by_video.setdefault(int(vi[f]), []).append((r, c, f))

    def paste(r: int, c: int, img) -> None:
        nonlocal done
        (x0, x1), (y0, y1) = xs[c], ys[r]
        tile = _fit_tile(img, (x1 - x0, y1 - y0), settings.fit, settings.background)
        canvas.paste(np.asarray(tile), x0, y0)
        done += 1
        if progress is not None:
            progress(done, total)

    with canvas:  # the raw canvas file is deleted however this ends
        for v, items in sorted(by_video.items()):
            path = frames.paths[v] if v < len(frames.paths) else None
            from_source = False
            if settings.use_source and path is not None and Path(path).exists():
                # the largest tile this video fills: decode once at that size for all its tiles
                tile = max(((xs[c][1] - xs[c][0], ys[r][1] - ys[r][0]) for r, c, _ in items))
                fidx = np.array([int(frames.frame_indices[f]) for _, _, f in items], dtype=np.int64)
                pasted: set[int] = set()
                try:
                    for pos, img in _source_tiles(Path(path), fidx, tile, settings.fit):
                        r, c, _ = items[pos]
                        paste(r, c, img)
                        source_of[(r, c)] = "video"
                        pasted.add(pos)
                    from_source = True
                except AtlasError as exc:
                    notes.append(f"{frames.names[v]}: source not readable ({exc}); used thumbnails")
                    items = [it for i, it in enumerate(items) if i not in pasted]
            if not from_source:
                th = thumbs[v]
                for r, c, f in items:
                    paste(r, c, Image.fromarray(np.ascontiguousarray(th[local[f]])))
                    source_of[(r, c)] = "thumbnail"

        with atomic_path(out, suffix=f".{fmt}") as tmp, open(tmp, "wb") as fh:
            (write_png if fmt == "png" else write_pdf)(canvas, fh, float(settings.dpi))

    layout = poster_layout(frames, settings, grid, (w, h), xs, ys, source_of, out.name)
    layout_path = out.with_suffix(".layout.json")
    write_json(layout_path, layout)
    n_src = sum(1 for s in source_of.values() if s == "video")
    return PosterResult(
        path=out,
        layout_path=layout_path,
        size_px=(w, h),
        assignment=grid,
        tiles_from_source=n_src,
        tiles_from_thumbnails=len(source_of) - n_src,
        empty_cells=len(cells) - len(filled),
        notes=tuple(notes),
    )
