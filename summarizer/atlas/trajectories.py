"""Paths of videos through the latent map, similar clips, outliers, and a picture of the map.

A video's *path* is its frames' map coordinates in time order. Two ways to compare paths:

``"chamfer"`` (the default): the symmetric mean nearest-point distance,
    ``d(P, Q) = (mean_p min_q |p - q| + mean_q min_p |q - p|) / 2``.
    Chosen as the default because "similar clip" here means *shows the same kind of content*:
    it compares where two paths go, not how fast or in which order. It does not care about
    different lengths, frame rates or speeds (a slow and a fast ride through the same places
    match); it is symmetric, so a long video that wanders everywhere does not match every short
    query (each query point must be near the candidate *and* each candidate point near the
    query); and it averages instead of taking the maximum (Hausdorff), so a few odd frames do not
    dominate. Nearest points come from a KD-tree or a small distance matrix: O(n m) at worst.

``"dtw"``: dynamic time warping on paths resampled uniformly in time to 64 points, mean
    Euclidean step cost along the optimal warping (divided by the warping path's length).
    Use it when order matters (the same route ridden twice, the same edit of a scene): DTW
    forgives different speeds but not a different order.

All distances are in map units (the map spans [-1, 1]^2).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from summarizer.errors import InputError, SettingsError

METRICS = ("chamfer", "dtw")
DTW_POINTS = 64


@dataclass(frozen=True)
class VideoPath:
    """One video's frames on the map, in time order.

    video: index of the video; rows: indices of its frames in the map's arrays.
    """

    video: int
    rows: np.ndarray
    times_s: np.ndarray
    points: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def length(self) -> float:
        """Length of the path (sum of the steps) in map units."""
        if len(self.points) < 2:
            return 0.0
        return float(np.sum(np.linalg.norm(np.diff(self.points, axis=0), axis=1)))

    def window(self, start_s: float, end_s: float) -> VideoPath:
        """The part of the path with start_s <= time <= end_s."""
        sel = (self.times_s >= start_s) & (self.times_s <= end_s)
        return VideoPath(self.video, self.rows[sel], self.times_s[sel], self.points[sel])


def _check_map(coords, video_index, times_s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = np.asarray(coords, dtype=np.float64)
    v = np.asarray(video_index)
    if c.ndim != 2 or c.shape[1] != 2:
        raise InputError(f"coordinates must be (N, 2), got {c.shape}")
    if v.shape != (len(c),):
        raise InputError(f"video_index must be ({len(c)},), got {v.shape}")
    t = np.arange(len(c), dtype=np.float64) if times_s is None else np.asarray(times_s, float)
    if t.shape != (len(c),):
        raise InputError(f"times must be ({len(c)},), got {t.shape}")
    if not (np.isfinite(c).all() and np.isfinite(t).all()):
        raise InputError("coordinates or times contain NaN")
    return c, v.astype(np.int64), t


def video_paths(coords, video_index, times_s=None) -> list[VideoPath]:
    """Split the map into one time-ordered path per video (index order of `video_index`)."""
    c, v, t = _check_map(coords, video_index, times_s)
    out = []
    n_videos = int(v.max()) + 1 if len(v) else 0
    for vid in range(n_videos):
        rows = np.flatnonzero(v == vid)
        order = np.argsort(t[rows], kind="stable")
        rows = rows[order]
        out.append(VideoPath(vid, rows, t[rows], c[rows]))
    return out


# --------------------------------------------------------------------------- distances


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d2, 0.0))


def chamfer_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Symmetric mean nearest-point distance between two point sets (map units)."""
    p = np.asarray(p, float).reshape(-1, 2)
    q = np.asarray(q, float).reshape(-1, 2)
    if len(p) == 0 or len(q) == 0:
        return math.inf
    if len(p) * len(q) <= 4_000_000:
        d = _pairwise(p, q)
        return float(0.5 * (d.min(axis=1).mean() + d.min(axis=0).mean()))
    from scipy.spatial import cKDTree

    dp, _ = cKDTree(q).query(p)
    dq, _ = cKDTree(p).query(q)
    return float(0.5 * (dp.mean() + dq.mean()))


def resample(points: np.ndarray, times_s: np.ndarray | None = None, n: int = DTW_POINTS):
    """`n` points along a path, uniform in time (linear interpolation between frames)."""
    pts = np.asarray(points, float).reshape(-1, 2)
    if len(pts) == 0:
        raise InputError("cannot resample an empty path")
    if len(pts) == 1:
        return np.repeat(pts, n, axis=0)
    t = np.arange(len(pts), dtype=float) if times_s is None else np.asarray(times_s, float)
    if t[-1] <= t[0]:
        t = np.arange(len(pts), dtype=float)
    u = np.linspace(t[0], t[-1], n)
    return np.stack([np.interp(u, t, pts[:, 0]), np.interp(u, t, pts[:, 1])], axis=1)


def dtw_batch(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """DTW of one resampled path (n, 2) against many (m, n, 2); mean cost per warping step.

    Vectorised over the candidates: the O(n^2) recursion runs once for all of them.
    """
    q = np.asarray(query, float)
    c = np.asarray(candidates, float)
    if c.ndim == 2:
        c = c[None]
    n = len(q)
    m = len(c)
    cost = np.linalg.norm(c[:, None, :, :] - q[None, :, None, :], axis=-1)  # (m, n, n)
    acc = np.full((m, n + 1, n + 1), np.inf)
    steps = np.zeros((m, n + 1, n + 1))
    acc[:, 0, 0] = 0.0
    rows = np.arange(m)[:, None]
    for k in range(2, 2 * n + 1):  # anti-diagonals i + j = k depend only on k-1 and k-2
        i = np.arange(max(1, k - n), min(n, k - 1) + 1)
        j = k - i
        opts = np.stack([acc[:, i - 1, j - 1], acc[:, i - 1, j], acc[:, i, j - 1]], axis=-1)
        st = np.stack([steps[:, i - 1, j - 1], steps[:, i - 1, j], steps[:, i, j - 1]], axis=-1)
        best = np.argmin(opts, axis=-1)  # (m, len(i)); ties: the diagonal first
        cols = np.arange(len(i))[None, :]
        acc[:, i, j] = cost[:, i - 1, j - 1] + opts[rows, cols, best]
        steps[:, i, j] = st[rows, cols, best] + 1
    return acc[:, n, n] / steps[:, n, n]


def dtw_distance(p: VideoPath | np.ndarray, q: VideoPath | np.ndarray, n: int = DTW_POINTS):
    """DTW distance of two paths resampled to `n` points uniformly in time."""
    rp = resample(p.points, p.times_s, n) if isinstance(p, VideoPath) else resample(p, None, n)
    rq = resample(q.points, q.times_s, n) if isinstance(q, VideoPath) else resample(q, None, n)
    return float(dtw_batch(rp, rq[None])[0])


def path_distance(p: VideoPath, q: VideoPath, metric: str = "chamfer") -> float:
    """Distance between two paths by `metric` ("chamfer" or "dtw"; see the module doc)."""
    _check_metric(metric)
    if len(p) == 0 or len(q) == 0:
        return math.inf
    if metric == "chamfer":
        return chamfer_distance(p.points, q.points)
    return dtw_distance(p, q)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise SettingsError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")


def distance_matrix(paths: Sequence[VideoPath], metric: str = "chamfer") -> np.ndarray:
    """Symmetric (V, V) matrix of path distances (inf where a path is empty)."""
    _check_metric(metric)
    v = len(paths)
    out = np.zeros((v, v))
    if metric == "dtw":
        res = [resample(p.points, p.times_s) if len(p) else None for p in paths]
        for i in range(v):
            others = [j for j in range(i + 1, v) if res[j] is not None]
            if res[i] is None:
                out[i, i + 1 :] = math.inf
                continue
            if others:
                d = dtw_batch(res[i], np.stack([res[j] for j in others]))
                out[i, others] = d
            for j in range(i + 1, v):
                if res[j] is None:
                    out[i, j] = math.inf
    else:
        for i in range(v):
            for j in range(i + 1, v):
                out[i, j] = path_distance(paths[i], paths[j], "chamfer")
    out = out + out.T
    for i, p in enumerate(paths):
        out[i, i] = 0.0 if len(p) else math.inf
    return out


# --------------------------------------------------------------------------- similar clips


@dataclass(frozen=True)
class ClipMatch:
    """A video (or a time window of one) and its distance to the query (smaller = closer)."""

    video: int
    start_s: float
    end_s: float
    distance: float
    frames: int


def _windows(
    path: VideoPath, length_s: float, step_s: float
) -> list[tuple[float, float, int, int]]:
    """Windows [t, t + length] stepping by `step_s` over a path: (start, end, row_a, row_b)."""
    t = path.times_s
    if len(t) == 0:
        return []
    if t[-1] - t[0] <= length_s:
        return [(float(t[0]), float(t[-1]), 0, len(t))]
    starts = np.arange(t[0], t[-1] - length_s + 1e-9, step_s)
    if t[-1] - length_s - starts[-1] > 1e-9:  # make sure the end of the video is covered
        starts = np.append(starts, t[-1] - length_s)
    a = np.searchsorted(t, starts, side="left")
    b = np.searchsorted(t, starts + length_s, side="right")
    return [
        (float(s), float(s + length_s), int(i), int(j))
        for s, i, j in zip(starts, a, b, strict=True)
        if j > i
    ]


def similar_clips(
    coords,
    video_index,
    times_s,
    query_video: int,
    start_s: float | None = None,
    end_s: float | None = None,
    *,
    metric: str = "chamfer",
    top_k: int = 10,
    step_s: float | None = None,
    include_same_video: bool = False,
) -> list[ClipMatch]:
    """Rank the clips most like a query, closest first.

    No time range: the query is the whole of `query_video` and the candidates are the other
    whole videos. With ``start_s``/``end_s``: the query is that time range, the candidates
    are windows of the same duration sliding by `step_s` (default a quarter of it) over the
    other videos (and over the query's own video, outside the query, with
    `include_same_video`); overlapping windows of one video are thinned to the best one.
    """
    _check_metric(metric)
    if top_k < 1:
        raise SettingsError(f"top_k must be >= 1, got {top_k}")
    paths = video_paths(coords, video_index, times_s)
    if not 0 <= query_video < len(paths):
        raise InputError(f"query video {query_video} is not on the map (0..{len(paths) - 1})")
    qpath = paths[query_video]
    whole = start_s is None and end_s is None
    if not whole:
        t0 = float(qpath.times_s[0]) if start_s is None else float(start_s)
        t1 = float(qpath.times_s[-1]) if end_s is None else float(end_s)
        if not (math.isfinite(t0) and math.isfinite(t1)) or t1 <= t0:
            raise SettingsError(f"the query range must have end > start, got {t0:g}-{t1:g} s")
        qpath = qpath.window(t0, t1)
        if len(qpath) == 0:
            raise InputError(f"video {query_video} has no frames between {t0:g} and {t1:g} s")
    if whole:
        out = [
            ClipMatch(
                p.video,
                float(p.times_s[0]),
                float(p.times_s[-1]),
                path_distance(qpath, p, metric),
                len(p),
            )
            for p in paths
            if p.video != query_video and len(p)
        ]
        out.sort(key=lambda m: (m.distance, m.video))
        return out[:top_k]

    length = t1 - t0
    step = length / 4 if step_s is None else float(step_s)
    if not (math.isfinite(step) and step > 0):
        raise SettingsError(f"step_s must be > 0, got {step_s}")
    qres = resample(qpath.points, qpath.times_s) if metric == "dtw" else None
    matches: list[ClipMatch] = []
    for p in paths:
        if len(p) == 0 or (p.video == query_video and not include_same_video):
            continue
        wins = _windows(p, length, step)
        if p.video == query_video:  # never the query itself or windows overlapping it
            wins = [w for w in wins if w[1] <= t0 or w[0] >= t1]
        if not wins:
            continue
        if metric == "chamfer":
            d = _pairwise(p.points, qpath.points)  # (frames of p, query points)
            dists = [
                0.5 * (d[a:b].min(axis=1).mean() + d[a:b].min(axis=0).mean()) for _, _, a, b in wins
            ]
        else:
            res = np.stack([resample(p.points[a:b], p.times_s[a:b]) for _, _, a, b in wins])
            dists = list(dtw_batch(qres, res))
        cands = sorted(
            (float(dd), s, e, b - a) for (s, e, a, b), dd in zip(wins, dists, strict=True)
        )
        kept: list[tuple[float, float, float, int]] = []
        for c in cands:  # non-maximum suppression: no two kept windows overlap by > half
            if all(min(c[2], k[2]) - max(c[1], k[1]) <= 0.5 * length for k in kept):
                kept.append(c)
            if len(kept) >= top_k:
                break
        matches.extend(ClipMatch(p.video, s, e, d_, nf) for d_, s, e, nf in kept)
    matches.sort(key=lambda m: (m.distance, m.video, m.start_s))
    return matches[:top_k]


@dataclass(frozen=True)
class Outlier:
    """A video and how unlike the others it is: mean path distance to them, and the nearest."""

    video: int
    mean_distance: float
    nearest_video: int
    nearest_distance: float


def most_dissimilar(
    coords, video_index, times_s=None, *, metric: str = "chamfer", top_k: int | None = None
) -> list[Outlier]:
    """Videos ranked by their mean path distance to all the other videos, largest first.

    The mean (not the nearest neighbour alone) ranks a video that is unlike the collection as
    a whole first, even when it has one look-alike; the nearest is reported beside it.
    """
    paths = video_paths(coords, video_index, times_s)
    paths = [p for p in paths if len(p)]
    if len(paths) < 2:
        raise InputError("need at least two videos with frames to compare")
    d = distance_matrix(paths, metric)
    out = []
    for i, p in enumerate(paths):
        others = np.delete(d[i], i)
        ids = [q.video for j, q in enumerate(paths) if j != i]
        k = int(np.argmin(others))
        out.append(Outlier(p.video, float(np.mean(others)), ids[k], float(others[k])))
    out.sort(key=lambda o: (-o.mean_distance, o.video))
    return out[:top_k] if top_k else out


# --------------------------------------------------------------------------- picture


def palette(n: int) -> list[tuple[int, int, int]]:
    """`n` distinct colours (a fixed 10-colour set, then golden-ratio hues)."""
    base = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ]
    out = base[:n]
    h = 0.11
    while len(out) < n:
        h = (h + 0.618033988749895) % 1.0
        r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.85)
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return out


def draw_map(
    coords,
    video_index,
    times_s=None,
    names: Sequence[str] | None = None,
    *,
    size: int = 1200,
    point_radius: float | None = None,
    legend: bool = True,
):
    """A PIL image of the map: every frame a dot coloured by video, each video's path a line.

    y points up (the map's +y is the top of the picture). A legend lists the videos
    (the first 30) when `legend`.
    """
    from PIL import Image, ImageDraw, ImageFont

    if size < 64 or size > 20000:
        raise SettingsError(f"map picture size must be in [64, 20000] px, got {size}")
    paths = video_paths(coords, video_index, times_s)
    names = list(names) if names is not None else [f"video {i}" for i in range(len(paths))]
    cols = palette(len(paths))
    n = len(np.asarray(coords))
    r = point_radius if point_radius is not None else max(1.0, min(4.0, 600 / math.sqrt(n + 1)))
    margin = int(size * 0.04)
    legend_w = int(size * 0.28) if legend and paths else 0
    img = Image.new("RGB", (size + legend_w, size), "white")
    draw = ImageDraw.Draw(img, "RGBA")
    span = size - 2 * margin

    def px(pts: np.ndarray) -> np.ndarray:
        x = margin + (pts[:, 0] + 1) / 2 * span
        y = margin + (1 - (pts[:, 1] + 1) / 2) * span
        return np.stack([x, y], axis=1)

    draw.rectangle([margin, margin, margin + span, margin + span], outline=(200, 200, 200))
    for p, col in zip(paths, cols, strict=True):
        if len(p) >= 2:
            draw.line([tuple(v) for v in px(p.points)], fill=(*col, 110), width=1)
    for p, col in zip(paths, cols, strict=True):
        for x, y in px(p.points):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(*col, 200))
    if legend_w:
        fsize = max(11, size // 70)
        try:
            font = ImageFont.load_default(size=fsize)
        except TypeError:  # Pillow < 10.1
            font = ImageFont.load_default()
        y = margin
        for i, (nm, col) in enumerate(zip(names, cols, strict=False)):
            if i >= 30:
                draw.text((size + 8, y), f"... {len(paths) - 30} more", fill="black", font=font)
                break
            draw.rectangle([size + 8, y + 2, size + 8 + fsize, y + 2 + fsize], fill=col)
            draw.text((size + 14 + fsize, y), str(nm)[:40], fill="black", font=font)
            y += int(fsize * 1.5)
    return img
