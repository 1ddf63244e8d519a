"""A printable poster of the latent map: a grid of frames, each in the cell of the map it fills.

1. A **window** of the map (centre x, y and width; height = width * rows / cols unless given,
   so the cells are square in map units) is cut into ``cols x rows`` cells.
2. **Assignment** (`assign_cells`): each cell gets the frame nearest its centre. Without
   repeats (the default) no frame appears twice: candidate (cell, frame) pairs come from a
   KD-tree (the k nearest frames of every cell, k doubling while cells are left), and are
   taken greedily, closest pair first, skipping cells and frames already used. A cell gets its
   own nearest frame unless a cell closer to that frame took it. Only frames inside the window
   are candidates; with fewer frames than cells, the cells farthest from any frame stay empty.
   With ``allow_repeats`` each cell simply shows its nearest frame.
3. **Rendering** (`render_poster`): one PIL canvas of the print size (``size_cm`` at ``dpi``,
   or ``size_px``, or ``tile_px`` per column); tiles are pasted one by one. When a video's
   file is at hand its frames are decoded again from the source (resized by the decoder to
   what the tile needs, in small groups per video in frame order, so at most a few full-size
   frames are in memory); otherwise the stored thumbnails are used. Saved as PNG or PDF (the
   PDF page is the print size), with ``<name>.layout.json`` beside it: tile -> video, time, frame.

Bad input raises `SettingsError` (absurd print size, no frame in the window, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.config import check
from summarizer.errors import AtlasError, InputError, SettingsError
from summarizer.outputs.files import atomic_path, write_json

MAX_MEGAPIXELS = 1000.0  # about 3 GB of RGB canvas: beyond that a print size is a mistake
MIN_TILE_PX = 4
FORMATS = ("png", "pdf")
ProgressFn = Callable[[int, int], None]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class PosterSettings:
    """The poster's window on the map, its grid and its print size.

    cols / rows: the grid.  center / width / height: the window on the map (height None:
    width * rows / cols).  size_cm + dpi: print size (e.g. (60, 90) at 150 dpi); or size_px;
    or neither: ``tile_px`` wide columns with the thumbnails' aspect ratio.  allow_repeats:
    a frame may fill several cells.  fit: "cover" (fill the cell, crop) or "contain" (whole
    frame, letterboxed).  gap_px: blank pixels between tiles.  background: RGB.
    use_source: decode tiles from the video files when they are at hand.
    """

    cols: int = 12
    rows: int = 8
    center: tuple[float, float] = (0.0, 0.0)
    width: float = 2.0
    height: float | None = None
    size_cm: tuple[float, float] | None = None
    dpi: float = 150.0
    size_px: tuple[int, int] | None = None
    tile_px: int = 256
    allow_repeats: bool = False
    fit: str = "cover"
    gap_px: int = 0
    background: tuple[int, int, int] = (255, 255, 255)
    use_source: bool = True

    def __post_init__(self) -> None:
        check(
            isinstance(self.cols, int) and 1 <= self.cols <= 2000,
            f"cols must be in [1, 2000], got {self.cols}",
        )
        check(
            isinstance(self.rows, int) and 1 <= self.rows <= 2000,
            f"rows must be in [1, 2000], got {self.rows}",
        )
        check(
            len(self.center) == 2 and all(_finite(c) for c in self.center),
            f"center must be two numbers, got {self.center}",
        )
        check(_finite(self.width) and self.width > 0, f"width must be > 0, got {self.width}")
        check(
            self.height is None or (_finite(self.height) and self.height > 0),
            f"height must be > 0, got {self.height}",
        )
        check(
            _finite(self.dpi) and 10 <= self.dpi <= 2400,
            f"dpi must be in [10, 2400], got {self.dpi}",
        )
        if self.size_cm is not None:
            check(
                len(self.size_cm) == 2 and all(_finite(v) and 1 <= v <= 1000 for v in self.size_cm),
                f"print size must be two lengths in [1, 1000] cm, got {self.size_cm}",
            )
        if self.size_px is not None:
            check(
                len(self.size_px) == 2
                and all(
                    isinstance(v, (int, np.integer)) and 16 <= v <= 200_000 for v in self.size_px
                ),
                f"size_px must be two sizes in [16, 200000] px, got {self.size_px}",
            )
        check(
            self.size_cm is None or self.size_px is None,
            "give size_cm (+ dpi) or size_px, not both",
        )
        check(16 <= self.tile_px <= 4096, f"tile_px must be in [16, 4096], got {self.tile_px}")
        check(self.fit in ("cover", "contain"), f"fit must be cover or contain, got {self.fit!r}")
        check(0 <= self.gap_px <= 200, f"gap_px must be in [0, 200], got {self.gap_px}")
        check(
            len(self.background) == 3 and all(0 <= int(c) <= 255 for c in self.background),
            f"background must be an RGB triple, got {self.background}",
        )

    @property
    def window_height(self) -> float:
        return self.height if self.height is not None else self.width * self.rows / self.cols

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the window on the map."""
        cx, cy = self.center
        w, h = self.width, self.window_height
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    def canvas_size(self, tile_aspect: float = 16 / 9) -> tuple[int, int]:
        """Poster size in pixels (width, height); `SettingsError` when absurd."""
        if self.size_px is not None:
            w, h = int(self.size_px[0]), int(self.size_px[1])
        elif self.size_cm is not None:
            w = int(round(self.size_cm[0] / 2.54 * self.dpi))
            h = int(round(self.size_cm[1] / 2.54 * self.dpi))
        else:
            w = self.cols * self.tile_px
            h = self.rows * max(1, int(round(self.tile_px / tile_aspect)))
        mp = w * h / 1e6
        check(
            mp <= MAX_MEGAPIXELS,
            f"poster of {w} x {h} px ({mp:,.0f} megapixels) is too big "
            f"(limit {MAX_MEGAPIXELS:,.0f}); lower the size or the dpi",
        )
        tw = (w - self.gap_px * (self.cols - 1)) / self.cols
        th = (h - self.gap_px * (self.rows - 1)) / self.rows
        check(
            tw >= MIN_TILE_PX and th >= MIN_TILE_PX,
            f"tiles of {tw:.1f} x {th:.1f} px are too small: a {w} x {h} px poster "
            f"cannot hold {self.cols} x {self.rows} tiles",
        )
        return w, h


# --------------------------------------------------------------------------- assignment


def cell_centers(settings: PosterSettings) -> np.ndarray:
    """(rows, cols, 2) map coordinates of the cell centres; row 0 is the top (largest y)."""
    x0, y0, x1, y1 = settings.bounds
    xs = x0 + (np.arange(settings.cols) + 0.5) * (x1 - x0) / settings.cols
    ys = y1 - (np.arange(settings.rows) + 0.5) * (y1 - y0) / settings.rows
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], axis=-1)


def assign_cells(coords: np.ndarray, settings: PosterSettings) -> np.ndarray:
    """(rows, cols) int64: the frame (row of `coords`) shown in each cell, -1 for none.

    See the module docstring for the rule. Deterministic: ties go to the lower cell, then
    the lower frame index.
    """
    from scipy.spatial import cKDTree

    c = np.asarray(coords, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 2:
        raise InputError(f"coordinates must be (N, 2), got {c.shape}")
    if not np.isfinite(c).all():
        raise InputError("coordinates contain NaN")
    x0, y0, x1, y1 = settings.bounds
    inside = np.flatnonzero((c[:, 0] >= x0) & (c[:, 0] <= x1) & (c[:, 1] >= y0) & (c[:, 1] <= y1))
    if len(inside) == 0:
        raise SettingsError(
            f"no frames in the poster window (centre {settings.center[0]:g}, "
            f"{settings.center[1]:g}, width {settings.width:g}); the map spans "
            f"x {c[:, 0].min():.2f}..{c[:, 0].max():.2f}, y {c[:, 1].min():.2f}..{c[:, 1].max():.2f}"
            if len(c)
            else "no frames to put on the poster"
        )
    pts = c[inside]
    centres = cell_centers(settings).reshape(-1, 2)
    n_cells = len(centres)
    tree = cKDTree(pts)
    if settings.allow_repeats:
        _, j = tree.query(centres, k=1)
        return inside[np.asarray(j)].reshape(settings.rows, settings.cols).astype(np.int64)

    out = np.full(n_cells, -1, dtype=np.int64)
    used = np.zeros(len(pts), dtype=bool)
    k = min(len(pts), 8)
    while True:
        open_cells = np.flatnonzero(out < 0)
        if len(open_cells) == 0 or used.all():
            break
        d, j = tree.query(centres[open_cells], k=k)
        d = np.asarray(d).reshape(len(open_cells), -1)
        j = np.asarray(j).reshape(len(open_cells), -1)
        cell = np.repeat(open_cells, d.shape[1])
        d, j = d.ravel(), j.ravel()
        keep = ~used[j]
        cell, d, j = cell[keep], d[keep], j[keep]
        order = np.lexsort((j, cell, d))
        for ci, fj in zip(cell[order].tolist(), j[order].tolist(), strict=True):
            if out[ci] < 0 and not used[fj]:
                out[ci] = fj
                used[fj] = True
        if k >= len(pts):  # every open cell saw every frame: nothing more to find
            break
        k = min(len(pts), k * 4)
    res = np.where(out >= 0, inside[np.maximum(out, 0)], -1)
    return res.reshape(settings.rows, settings.cols)


# --------------------------------------------------------------------------- rendering


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


def _edges(total: int, n: int, gap: int) -> list[tuple[int, int]]:
    """Pixel spans of `n` tiles over `total` px with `gap` px between them."""
    usable = total - gap * (n - 1)
    b = np.round(np.arange(n + 1) * usable / n).astype(int)
    return [(int(b[i]) + i * gap, int(b[i + 1]) + i * gap) for i in range(n)]


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
    xs = _edges(w, settings.cols, settings.gap_px)
    ys = _edges(h, settings.rows, settings.gap_px)
    canvas = Image.new("RGB", (w, h), tuple(int(c) for c in settings.background))
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
        canvas.paste(
            _fit_tile(img, (x1 - x0, y1 - y0), settings.fit, settings.background), (x0, y0)
        )
        done += 1
        if progress is not None:
            progress(done, total)

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

    with atomic_path(out, suffix=f".{fmt}") as tmp:
        if fmt == "png":
            canvas.save(tmp, "PNG", compress_level=1, dpi=(settings.dpi, settings.dpi))
        else:
            canvas.save(tmp, "PDF", resolution=float(settings.dpi), quality=92)

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


def poster_layout(
    frames: PosterFrames,
    settings: PosterSettings,
    grid: np.ndarray,
    size: tuple[int, int],
    xs: list[tuple[int, int]],
    ys: list[tuple[int, int]],
    source_of: dict[tuple[int, int], str],
    file_name: str,
) -> dict[str, Any]:
    """The layout JSON: which frame (video, time, frame index, map position) is in each tile."""
    centres = cell_centers(settings)
    tiles = []
    for r in range(settings.rows):
        for c in range(settings.cols):
            f = int(grid[r, c])
            t: dict[str, Any] = {
                "row": r,
                "col": c,
                "box_px": [xs[c][0], ys[r][0], xs[c][1], ys[r][1]],
                "cell_xy": [round(float(v), 6) for v in centres[r, c]],
            }
            if f < 0:
                t["empty"] = True
            else:
                v = int(frames.video_index[f])
                t.update(
                    video_index=v,
                    video_sha256=str(frames.hashes[v]),
                    video_name=str(frames.names[v]),
                    time_s=round(float(frames.times_s[f]), 4),
                    frame_index=int(frames.frame_indices[f]),
                    map_xy=[round(float(x), 6) for x in frames.coords[f]],
                    source=source_of.get((r, c), "thumbnail"),
                )
            tiles.append(t)
    s = dataclasses.asdict(settings)
    return {
        "file": file_name,
        "size_px": list(size),
        "dpi": settings.dpi,
        "size_cm": [
            round(size[0] / settings.dpi * 2.54, 2),
            round(size[1] / settings.dpi * 2.54, 2),
        ],
        "cols": settings.cols,
        "rows": settings.rows,
        "window": {
            "center": list(settings.center),
            "width": settings.width,
            "height": settings.window_height,
        },
        "settings": json.loads(json.dumps(s, default=str)),
        "videos": [
            {"index": i, "sha256": str(h), "name": str(n)}
            for i, (h, n) in enumerate(zip(frames.hashes, frames.names, strict=True))
        ],
        "tiles": tiles,
    }
