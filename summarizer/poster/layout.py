"""The poster's layout: its settings, the grid of cells on the map and which frame fills each.

1. A **window** of the map (centre x, y and width; height = width * rows / cols unless given,
   so the cells are square in map units) is cut into ``cols x rows`` cells.
2. **Assignment** (`assign_cells`): each cell gets the frame nearest its centre. Without
   repeats (the default) no frame appears twice: candidate (cell, frame) pairs come from a
   KD-tree (the k nearest frames of every cell, k doubling while cells are left), and are
   taken greedily, closest pair first, skipping cells and frames already used. A cell gets its
   own nearest frame unless a cell closer to that frame took it. Only frames inside the window
   are candidates; with fewer frames than cells, the cells farthest from any frame stay empty.
   With ``allow_repeats`` each cell simply shows its nearest frame.
3. `poster_layout`: the JSON written beside the poster (tile -> video, time, frame).

Print sizes are bounded (`MAX_MEGAPIXELS` for the whole poster, `MAX_TILE_MEGAPIXELS` for one
tile) so that rendering (`summarizer.poster.render`) stays within a known memory bound.
Bad input raises `SettingsError` (absurd print size, no frame in the window, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from summarizer.config import check, check_fields
from summarizer.errors import InputError, SettingsError

MAX_MEGAPIXELS = 1000.0  # 3 GB of RGB on disk while rendering: beyond that, a mistake
MAX_TILE_MEGAPIXELS = 40.0  # one tile (120 MB of RGB) is the most held in memory at once
MIN_TILE_PX = 4
FORMATS = ("png", "pdf")
FITS = ("cover", "contain")  # fill the cell and crop, or the whole frame letterboxed


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
        check_fields(
            self,
            cols="[1, 2000]",
            rows="[1, 2000]",
            center="finite",
            width="> 0",
            height="> 0",
            dpi="[10, 2400]",
            size_px="[16, 200000]",
            tile_px="[16, 4096]",
            fit=FITS,
            gap_px="[0, 200]",
            background="[0, 255]",
        )
        check(  # said as a print size: what the app and --size-cm call it
            self.size_cm is None
            or (
                len(self.size_cm) == 2 and all(_finite(v) and 1 <= v <= 1000 for v in self.size_cm)
            ),
            f"print size must be two lengths in [1, 1000] cm, got {self.size_cm}",
        )
        check(
            self.size_cm is None or self.size_px is None,
            "give size_cm (+ dpi) or size_px, not both",
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
        tile_mp = math.ceil(tw) * math.ceil(th) / 1e6
        check(
            tile_mp <= MAX_TILE_MEGAPIXELS,
            f"tiles of {tw:.0f} x {th:.0f} px ({tile_mp:,.0f} megapixels, "
            f"{tile_mp * 3:,.0f} MB each) are too big (limit {MAX_TILE_MEGAPIXELS:,.0f} "
            "megapixels a tile); use more columns and rows, or a smaller size or dpi",
        )
        return w, h


# --------------------------------------------------------------------------- assignment


def edges(total: int, n: int, gap: int) -> list[tuple[int, int]]:
    """Pixel spans of `n` tiles over `total` px with `gap` px between them."""
    usable = total - gap * (n - 1)
    b = np.round(np.arange(n + 1) * usable / n).astype(int)
    return [(int(b[i]) + i * gap, int(b[i + 1]) + i * gap) for i in range(n)]


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


def poster_layout(
    frames: Any,
    settings: PosterSettings,
    grid: np.ndarray,
    size: tuple[int, int],
    xs: list[tuple[int, int]],
    ys: list[tuple[int, int]],
    source_of: Mapping[tuple[int, int], str],
    file_name: str,
) -> dict[str, Any]:
    """The layout JSON: which frame (video, time, frame index, map position) is in each tile.

    frames: a `summarizer.poster.render.PosterFrames`."""
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
