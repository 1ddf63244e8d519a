"""Successor segmentation: where does a video cut from one shot to the next?

The successor distance ``d_i`` is the distance between the embeddings of frame ``i`` and
frame ``i + 1``; it is placed at the midpoint of their times. A seam is a place where ``d``
rises above a threshold curve:

- ``fixed``: one value for the whole video.
- ``dynamic``: rolling mean + ``k`` * rolling std over a centred window of ``window_s``
  seconds (a window in seconds, not samples, so variable frame rates are right).
- ``robust``: rolling median + ``k`` * 1.4826 * MAD over the same window (1.4826 makes the
  MAD comparable to a standard deviation, so the same ``k`` means roughly the same thing).

The adaptive thresholds never go below ``floor``: a static video (distances near zero, std
near zero) has no seams. Optionally the KNN embedding surveyor (`summarizer.surveyor`) adapts
the threshold window by window.

A run of consecutive distances above the threshold (a dissolve spreads one cut over several
samples) is one seam, placed at the distance-weighted mean time of the run; seams closer than
``merge_s`` are merged into the stronger one.

Everything is vectorised numpy over (N, D) arrays: about 10 ms for 10 000 embeddings.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from summarizer.errors import InputError, SettingsError

METRICS = ("euclidean", "cosine")
MODES = ("fixed", "dynamic", "robust")
MAD_SCALE = 1.4826


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise SettingsError(msg)


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class SeamSettings:
    """How seams, segments and keyframes are found (YAML section ``seams:``).

    metric: successor distance, "euclidean" (on L2-normalised rows) or "cosine" (1 - cos).
    threshold: "fixed" | "dynamic" | "robust" (see the module docstring).
    fixed: the threshold of the fixed mode.
    k: how many (robust) standard deviations above the rolling centre a seam must be.
    window_s: length of the centred rolling window in seconds.
    floor: the adaptive thresholds never go below this.
    merge_s: seams closer than this are one seam (the stronger is kept).
    surveyor: adapt the threshold per window with the KNN embedding surveyor.
    surveyor_window_s / surveyor_step_s: the surveyor's sliding windows.
    surveyor_k_min: the smallest neighbourhood the surveyor starts growing from.
    surveyor_mean_target / surveyor_std_target: targets for the mean neighbour distance and
        the std of the neighbourhood, as fractions of the window's median successor distance.
    min_segment_s / max_segment_s: segment durations (None: no limit); shorter segments are
        merged into a neighbour, longer ones split at their largest internal distance.
    keyframes_min / keyframes_max: keyframes per segment (more for longer, more varied ones).
    """

    metric: str = "euclidean"
    threshold: str = "dynamic"
    fixed: float = 0.2
    k: float = 3.0
    window_s: float = 30.0
    floor: float = 0.1
    merge_s: float = 1.0
    surveyor: bool = False
    surveyor_window_s: float = 30.0
    surveyor_step_s: float = 10.0
    surveyor_k_min: int = 5
    surveyor_mean_target: float = 0.5
    surveyor_std_target: float = 0.25
    min_segment_s: float | None = 2.0
    max_segment_s: float | None = 15.0
    keyframes_min: int = 2
    keyframes_max: int = 4

    def __post_init__(self) -> None:
        _check(self.metric in METRICS, f"metric must be euclidean or cosine, got {self.metric!r}")
        _check(
            self.threshold in MODES,
            f"threshold must be fixed, dynamic or robust, got {self.threshold!r}",
        )
        _check(
            _finite(self.fixed) and self.fixed >= 0,
            f"fixed threshold must be >= 0, got {self.fixed}",
        )
        _check(_finite(self.k) and self.k >= 0, f"k must be >= 0, got {self.k}")
        _check(
            _finite(self.window_s) and self.window_s > 0,
            f"window_s must be > 0, got {self.window_s}",
        )
        _check(_finite(self.floor) and self.floor >= 0, f"floor must be >= 0, got {self.floor}")
        _check(
            _finite(self.merge_s) and self.merge_s >= 0, f"merge_s must be >= 0, got {self.merge_s}"
        )
        _check(
            isinstance(self.surveyor, bool),
            f"surveyor must be true or false, got {self.surveyor!r}",
        )
        _check(
            _finite(self.surveyor_window_s) and self.surveyor_window_s > 0,
            f"surveyor_window_s must be > 0, got {self.surveyor_window_s}",
        )
        _check(
            _finite(self.surveyor_step_s) and self.surveyor_step_s > 0,
            f"surveyor_step_s must be > 0, got {self.surveyor_step_s}",
        )
        _check(
            isinstance(self.surveyor_k_min, int) and self.surveyor_k_min >= 2,
            f"surveyor_k_min must be an integer >= 2, got {self.surveyor_k_min}",
        )
        for name in ("surveyor_mean_target", "surveyor_std_target"):
            v = getattr(self, name)
            _check(_finite(v) and v > 0, f"{name} must be > 0, got {v}")
        for name in ("min_segment_s", "max_segment_s"):
            v = getattr(self, name)
            _check(v is None or (_finite(v) and v >= 0), f"{name} must be >= 0 or null, got {v}")
        _check(
            self.max_segment_s is None or self.max_segment_s > 0,
            f"max_segment_s must be > 0 (or null for no limit), got {self.max_segment_s}",
        )
        if self.min_segment_s is not None and self.max_segment_s is not None:
            _check(
                self.min_segment_s <= self.max_segment_s,
                f"min_segment_s ({self.min_segment_s}) must not exceed max_segment_s ({self.max_segment_s})",
            )
        for name in ("keyframes_min", "keyframes_max"):
            v = getattr(self, name)
            _check(isinstance(v, int) and v >= 1, f"{name} must be an integer >= 1, got {v}")
        _check(
            self.keyframes_min <= self.keyframes_max,
            f"keyframes_min ({self.keyframes_min}) must not exceed keyframes_max ({self.keyframes_max})",
        )

    def replace(self, **changes: object) -> SeamSettings:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SeamCurve:
    """Successor distances and the threshold they were compared with.

    times_s: float64 (N-1,) time of each distance (midpoint of the two frames).
    distances / thresholds: float64 (N-1,).
    seam_positions: int64 (S,) index into `distances` of each seam's strongest distance.
    seams_s: float64 (S,) time of each seam (distance-weighted mean time of its run).
    """

    times_s: np.ndarray
    distances: np.ndarray
    thresholds: np.ndarray
    seam_positions: np.ndarray
    seams_s: np.ndarray


# --------------------------------------------------------------------------- input checks


def check_inputs(
    embeddings: np.ndarray, times_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate; return (float32 (N, D) embeddings, float64 (N,) times, float64 (N,) row norms)."""
    e = np.asarray(embeddings)
    t = np.asarray(times_s, dtype=np.float64)
    if e.ndim != 2:
        raise InputError(f"embeddings must be a 2-D (frames, dims) array, got shape {e.shape}")
    if t.ndim != 1:
        raise InputError(f"times must be a 1-D array, got shape {t.shape}")
    if len(e) != len(t):
        raise InputError(f"{len(e)} embeddings but {len(t)} frame times: they must match")
    if len(e) < 2:
        raise InputError(f"seam detection needs at least two frames, got {len(e)}")
    if e.shape[1] == 0:
        raise InputError("embeddings have zero dimensions")
    if not np.issubdtype(e.dtype, np.number):
        raise InputError(f"embeddings must be numeric, got dtype {e.dtype}")
    e = e.astype(np.float32, copy=False)
    # One pass gives the norms and the NaN/inf check: a bad value makes its row's norm non-finite.
    norms = np.sqrt(np.einsum("ij,ij->i", e, e).astype(np.float64))
    if not np.isfinite(norms).all():
        bad = int((~np.isfinite(norms)).sum())
        raise InputError(f"embeddings contain NaN or infinite values ({bad} frame(s))")
    if not np.isfinite(t).all():
        raise InputError("frame times contain NaN or infinite values")
    if (np.diff(t) < 0).any():
        raise InputError("frame times must be in increasing order")
    return e, t, norms


# --------------------------------------------------------------------------- distances


def successor_distances(
    embeddings: np.ndarray, times_s: np.ndarray, metric: str = "euclidean"
) -> tuple[np.ndarray, np.ndarray]:
    """Distance between each frame and the next, and the time of each (frame midpoints).

    On L2-normalised rows (normalised here if they are not): euclidean ``||e_{i+1} - e_i||``
    in [0, 2]; cosine ``1 - <e_{i+1}, e_i>`` in [0, 2] (= euclidean**2 / 2). Computed from
    row dot products (float32, absolute error ~1e-4), never materialising a difference matrix.
    Returns (times float64 (N-1,), distances float64 (N-1,)).
    """
    e, t, norms = check_inputs(embeddings, times_s)
    if metric not in METRICS:
        raise SettingsError(f"metric must be euclidean or cosine, got {metric!r}")
    dot = np.einsum("ij,ij->i", e[1:], e[:-1]).astype(np.float64)
    n = np.maximum(norms, 1e-12)
    cos = np.clip(dot / (n[1:] * n[:-1]), -1.0, 1.0)
    # A zero row (no information) is as far from everything as an orthogonal one.
    cos[(norms[1:] < 1e-12) | (norms[:-1] < 1e-12)] = 0.0
    d = np.sqrt(2.0 - 2.0 * cos) if metric == "euclidean" else 1.0 - cos
    return (t[1:] + t[:-1]) / 2.0, d


# --------------------------------------------------------------------------- thresholds


def _window_bounds(times_s: np.ndarray, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) index range of the centred window of each sample."""
    half = window_s / 2.0
    lo = np.searchsorted(times_s, times_s - half, side="left")
    hi = np.searchsorted(times_s, times_s + half, side="right")
    return lo, hi


def rolling_mean_std(
    values: np.ndarray, times_s: np.ndarray, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std of `values` over a centred window of `window_s` seconds."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = _window_bounds(np.asarray(times_s, dtype=np.float64), window_s)
    c = v - v.mean()  # centring keeps the cumulative sums well conditioned
    s1 = np.concatenate([[0.0], np.cumsum(c)])
    s2 = np.concatenate([[0.0], np.cumsum(c * c)])
    n = (hi - lo).astype(np.float64)
    m = (s1[hi] - s1[lo]) / n
    var = np.maximum((s2[hi] - s2[lo]) / n - m * m, 0.0)
    return m + v.mean(), np.sqrt(var)


def rolling_median_mad(
    values: np.ndarray, times_s: np.ndarray, window_s: float, max_cells: int = 4_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Median and median absolute deviation over a centred window of `window_s` seconds.

    Vectorised as an (N, W) gather (W = widest window) sorted along rows, cells outside a
    window set to +inf so they sort last; in row chunks of at most `max_cells` cells.
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    lo, hi = _window_bounds(t, window_s)
    width = int((hi - lo).max())
    med = np.empty_like(v)
    mad = np.empty_like(v)
    padded = np.concatenate([v, np.zeros(width)])
    cols = np.arange(width)
    step = max(1, max_cells // max(width, 1))
    for a in range(0, len(v), step):
        b = min(len(v), a + step)
        idx = lo[a:b, None] + cols[None, :]
        outside = idx >= hi[a:b, None]
        n = hi[a:b] - lo[a:b]
        block = padded[idx]
        block[outside] = np.inf
        m = _sorted_median(np.sort(block, axis=1), n)
        dev = np.abs(block - m[:, None])
        dev[outside] = np.inf
        med[a:b] = m
        mad[a:b] = _sorted_median(np.sort(dev, axis=1), n)
    return med, mad


def _sorted_median(rows: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Median of the first n[i] entries of each sorted row i."""
    r = np.arange(len(rows))
    return (rows[r, (n - 1) // 2] + rows[r, n // 2]) / 2.0


def threshold_curve(
    distances: np.ndarray, times_s: np.ndarray, settings: SeamSettings
) -> np.ndarray:
    """The threshold at each distance for `settings.threshold` (before the surveyor)."""
    d = np.asarray(distances, dtype=np.float64)
    if settings.threshold == "fixed":
        return np.full_like(d, settings.fixed)
    if settings.threshold == "dynamic":
        m, s = rolling_mean_std(d, times_s, settings.window_s)
        thr = m + settings.k * s
    else:
        med, mad = rolling_median_mad(d, times_s, settings.window_s)
        thr = med + settings.k * MAD_SCALE * mad
    return np.maximum(thr, settings.floor)


# --------------------------------------------------------------------------- seams


def pick_seams(
    distances: np.ndarray, times_s: np.ndarray, thresholds: np.ndarray, merge_s: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Seams where `distances` > `thresholds`.

    Each run of consecutive samples above the threshold is one seam at the distance-weighted
    mean time of the run (a dissolve's middle; a hard cut's own time). Seams whose times are
    closer than `merge_s` become one: the one with the stronger peak is kept.
    Returns (positions: int64 index of the peak distance of each seam, seam times float64).
    """
    d = np.asarray(distances, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    above = d > np.asarray(thresholds, dtype=np.float64)
    if not above.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)  # exclusive
    run_id = np.cumsum(edges[:-1] == 1) - 1  # valid where above
    idx = np.flatnonzero(above)
    rid = run_id[idx]
    w = d[idx]
    wsum = np.bincount(rid, weights=w, minlength=len(starts))
    tsum = np.bincount(rid, weights=w * t[idx], minlength=len(starts))
    seam_t = np.where(wsum > 0, tsum / np.maximum(wsum, 1e-300), t[starts])
    # Peak of each run: reduceat of max, then the first index reaching it.
    peak_val = np.maximum.reduceat(d[idx], np.concatenate([[0], np.cumsum(stops - starts)[:-1]]))
    is_peak = d[idx] == peak_val[rid]
    first = np.full(len(starts), -1, dtype=np.int64)
    pk = idx[is_peak][::-1]
    first[rid[is_peak][::-1]] = pk  # reversed so the earliest index wins
    positions = first
    if merge_s > 0 and len(positions) > 1:
        positions, seam_t = _merge_close(positions, seam_t, d[positions], merge_s)
    return positions.astype(np.int64), seam_t


def _merge_close(
    positions: np.ndarray, seam_t: np.ndarray, strength: np.ndarray, merge_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the strongest of seams closer than `merge_s`: greedy by strength, O(S log S)."""
    order = np.argsort(-strength, kind="stable")
    kept_t: list[float] = []  # sorted times of the seams kept so far
    kept: list[int] = []
    for i in order.tolist():
        x = float(seam_t[i])
        j = bisect.bisect_left(kept_t, x)
        if (j < len(kept_t) and kept_t[j] - x < merge_s) or (j > 0 and x - kept_t[j - 1] < merge_s):
            continue
        kept_t.insert(j, x)
        kept.append(i)
    keep = np.sort(np.asarray(kept, dtype=np.int64))
    return positions[keep], seam_t[keep]


def detect_seams(
    embeddings: np.ndarray, times_s: np.ndarray, settings: SeamSettings | None = None
) -> SeamCurve:
    """Successor distances, the threshold curve and the seams of one video's frames."""
    settings = settings or SeamSettings()
    t_d, d = successor_distances(embeddings, times_s, settings.metric)
    thr = threshold_curve(d, t_d, settings)
    if settings.surveyor and settings.threshold != "fixed":
        from summarizer.surveyor import survey_thresholds

        thr = survey_thresholds(d, t_d, thr, settings)
    positions, seams_s = pick_seams(d, t_d, thr, settings.merge_s)
    return SeamCurve(
        times_s=t_d, distances=d, thresholds=thr, seam_positions=positions, seams_s=seams_s
    )
