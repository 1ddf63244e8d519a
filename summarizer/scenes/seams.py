"""Successor segmentation: where does a video cut from one shot to the next?

The successor distance ``d_i`` is the distance between the embeddings of frame ``i`` and
frame ``i + 1``; it is placed at the midpoint of their times. With ``persist = p`` (default
2) it is the smallest distance between any of the p frames up to ``i`` and any of the p
frames after: a cut keeps its full distance, a change that does not last (brightness
flicker, a flash, a decoding glitch) does not. A seam is a peak of ``d`` above a threshold
curve:

- ``fixed``: one value for the whole video.
- ``dynamic``: rolling mean + ``k`` * rolling std over a centred window of ``window_s``
  seconds (a window in seconds, not samples, so variable frame rates are right).
- ``robust``: rolling median + ``k`` * 1.4826 * MAD over the same window (1.4826 makes the
  MAD comparable to a standard deviation, so the same ``k`` means roughly the same thing).

The adaptive thresholds never go below ``floor``: a static video (distances near zero, std
near zero) has no seams. The KNN embedding surveyor (`summarizer.scenes.surveyor`, on by default)
adapts the threshold window by window, so that dense cuts do not raise their own threshold.

A peak counts when it stands out from its surroundings (prominence >= ``prominence`` x its
height) and sits at the distance-weighted time of itself and its half-height neighbours
(a dissolve's middle); seams closer than ``merge_s`` are merged into the stronger one. See
`pick_seams`.

Everything is vectorised numpy over (N, D) arrays: about 20-35 ms for 10 000 512-d
embeddings with the default settings on a 2-core CPU (`benchmarks/bench_seams.py`).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from summarizer.config import check
from summarizer.errors import InputError, SettingsError

METRICS = ("euclidean", "cosine")
MODES = ("fixed", "dynamic", "robust")
MAD_SCALE = 1.4826


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class SeamSettings:
    """How seams, segments and keyframes are found (YAML section ``seams:``).

    detector: which shot-boundary detector proposes the seams (`summarizer.scenes.detectors`:
        auto, content, successor, transnetv2).
    metric: successor distance, "euclidean" (on L2-normalised rows) or "cosine" (1 - cos).
    persist: frames on each side a change must last (1: the plain successor distance; see
        `successor_distances`).
    threshold: "fixed" | "dynamic" | "robust" (see the module docstring).
    fixed: the threshold of the fixed mode.
    k: how many (robust) standard deviations above the rolling centre a seam must be.
    window_s: length of the centred rolling window in seconds.
    floor: the adaptive thresholds never go below this.
        fixed and floor are in the metric's units: the defaults suit euclidean; with cosine
        (= euclidean**2 / 2) use about 0.08 and 0.06.
    merge_s: seams closer than this are one seam (the stronger is kept).
    prominence: a seam's peak must stand out from its surroundings by this fraction of its
        height (see `pick_seams`).
    surveyor: adapt the threshold per window with the KNN embedding surveyor.
    surveyor_window_s / surveyor_step_s: the surveyor's sliding windows.
    surveyor_k_min: the smallest neighbourhood the surveyor starts growing from.
    surveyor_mean_target / surveyor_std_target: targets for the mean neighbour distance and
        the std of the neighbourhood, as fractions of the window's median successor distance.
    min_segment_s / max_segment_s: segment durations (None: no limit); shorter segments are
        merged into a neighbour, longer ones split at their largest internal distance.
    keyframes_min / keyframes_max: keyframes per segment (more for longer, more varied ones).
    cut_min / cut_ratio / dissolve_min: the full-rate detector's hard-cut step (mean absolute
        RGB difference, 0..1), how far above the local median step a cut must be, and the
        smallest picture change of a dissolve (`summarizer.scenes.detectors.content`).
    """

    detector: str = "auto"
    metric: str = "euclidean"
    persist: int = 2
    threshold: str = "dynamic"
    fixed: float = 0.4
    k: float = 3.0
    window_s: float = 30.0
    floor: float = 0.35
    merge_s: float = 1.0
    prominence: float = 0.5
    surveyor: bool = True
    surveyor_window_s: float = 30.0
    surveyor_step_s: float = 10.0
    surveyor_k_min: int = 5
    surveyor_mean_target: float = 0.5
    surveyor_std_target: float = 0.25
    min_segment_s: float | None = 2.0
    max_segment_s: float | None = 15.0
    keyframes_min: int = 2
    keyframes_max: int = 4
    cut_min: float = 0.04
    cut_ratio: float = 3.0
    dissolve_min: float = 0.07

    def __post_init__(self) -> None:
        from summarizer.scenes.detectors import detector_names

        check(
            self.detector in detector_names(),
            f"detector must be one of {', '.join(detector_names())}, got {self.detector!r}",
        )
        for name in ("cut_min", "dissolve_min"):
            v = getattr(self, name)
            check(_finite(v) and 0 <= v <= 1, f"{name} must be in [0, 1], got {v}")
        check(
            _finite(self.cut_ratio) and self.cut_ratio >= 1,
            f"cut_ratio must be >= 1, got {self.cut_ratio}",
        )
        check(self.metric in METRICS, f"metric must be euclidean or cosine, got {self.metric!r}")
        check(
            isinstance(self.persist, int) and 1 <= self.persist <= 10,
            f"persist must be an integer from 1 to 10, got {self.persist!r}",
        )
        check(
            self.threshold in MODES,
            f"threshold must be fixed, dynamic or robust, got {self.threshold!r}",
        )
        check(
            _finite(self.fixed) and self.fixed >= 0,
            f"fixed threshold must be >= 0, got {self.fixed}",
        )
        check(_finite(self.k) and self.k >= 0, f"k must be >= 0, got {self.k}")
        check(
            _finite(self.window_s) and self.window_s > 0,
            f"window_s must be > 0, got {self.window_s}",
        )
        check(_finite(self.floor) and self.floor >= 0, f"floor must be >= 0, got {self.floor}")
        check(
            _finite(self.merge_s) and self.merge_s >= 0, f"merge_s must be >= 0, got {self.merge_s}"
        )
        check(
            _finite(self.prominence) and 0 <= self.prominence <= 1,
            f"prominence must be in [0, 1], got {self.prominence}",
        )
        check(
            isinstance(self.surveyor, bool),
            f"surveyor must be true or false, got {self.surveyor!r}",
        )
        check(
            _finite(self.surveyor_window_s) and self.surveyor_window_s > 0,
            f"surveyor_window_s must be > 0, got {self.surveyor_window_s}",
        )
        check(
            _finite(self.surveyor_step_s) and self.surveyor_step_s > 0,
            f"surveyor_step_s must be > 0, got {self.surveyor_step_s}",
        )
        check(
            isinstance(self.surveyor_k_min, int) and self.surveyor_k_min >= 2,
            f"surveyor_k_min must be an integer >= 2, got {self.surveyor_k_min}",
        )
        for name in ("surveyor_mean_target", "surveyor_std_target"):
            v = getattr(self, name)
            check(_finite(v) and v > 0, f"{name} must be > 0, got {v}")
        for name in ("min_segment_s", "max_segment_s"):
            v = getattr(self, name)
            check(v is None or (_finite(v) and v >= 0), f"{name} must be >= 0 or null, got {v}")
        check(
            self.max_segment_s is None or self.max_segment_s > 0,
            f"max_segment_s must be > 0 (or null for no limit), got {self.max_segment_s}",
        )
        if self.min_segment_s is not None and self.max_segment_s is not None:
            check(
                self.min_segment_s <= self.max_segment_s,
                f"min_segment_s ({self.min_segment_s}) must not exceed max_segment_s ({self.max_segment_s})",
            )
        for name in ("keyframes_min", "keyframes_max"):
            v = getattr(self, name)
            check(isinstance(v, int) and v >= 1, f"{name} must be an integer >= 1, got {v}")
        check(
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
    embeddings: np.ndarray, times_s: np.ndarray, min_frames: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate; return (float32 (N, D) embeddings, float64 (N,) times, float64 (N,) row norms).

    Seam detection needs `min_frames` = 2 (a distance between two frames); segmenting
    accepts a single frame (one segment, see `summarizer.scenes.segments.segment_frames`).
    """
    e = np.asarray(embeddings)
    t = np.asarray(times_s, dtype=np.float64)
    if e.ndim != 2:
        raise InputError(f"embeddings must be a 2-D (frames, dims) array, got shape {e.shape}")
    if t.ndim != 1:
        raise InputError(f"times must be a 1-D array, got shape {t.shape}")
    if len(e) != len(t):
        raise InputError(f"{len(e)} embeddings but {len(t)} frame times: they must match")
    if len(e) == 0:
        raise InputError("no frames: nothing to segment")
    if len(e) < min_frames:
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


def _lag_distances(e: np.ndarray, norms: np.ndarray, lag: int, metric: str) -> np.ndarray:
    """Distance between frame j and frame j + lag, for j = 0..N-1-lag (float64)."""
    dot = np.einsum("ij,ij->i", e[lag:], e[:-lag]).astype(np.float64)
    n = np.maximum(norms, 1e-12)
    cos = np.clip(dot / (n[lag:] * n[:-lag]), -1.0, 1.0)
    # A zero row (no information) is as far from everything as an orthogonal one.
    cos[(norms[lag:] < 1e-12) | (norms[:-lag] < 1e-12)] = 0.0
    return np.sqrt(2.0 - 2.0 * cos) if metric == "euclidean" else 1.0 - cos


def successor_distances(
    embeddings: np.ndarray, times_s: np.ndarray, metric: str = "euclidean", persist: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Distance between each frame and the next, and the time of each (frame midpoints).

    On L2-normalised rows (normalised here if they are not): euclidean ``||e_{i+1} - e_i||``
    in [0, 2]; cosine ``1 - <e_{i+1}, e_i>`` in [0, 2] (= euclidean**2 / 2). Computed from
    row dot products (float32, absolute error ~1e-4), never materialising a difference matrix.

    ``persist = p > 1`` asks that a change lasts: the score between frames i and i+1 is the
    *smallest* distance between any of the p frames up to i and any of the p frames from
    i+1 on. A cut keeps its full distance (everything before differs from everything after);
    a one-frame flash, brightness flicker or decoding glitch does not (some frame after looks
    like some frame before again). Where fewer than p frames exist on a side (the first and
    last p-1 steps) the score is 0: a change there cannot be confirmed.
    Returns (times float64 (N-1,), scores float64 (N-1,)).
    """
    e, t, norms = check_inputs(embeddings, times_s)
    if metric not in METRICS:
        raise SettingsError(f"metric must be euclidean or cosine, got {metric!r}")
    if not (isinstance(persist, int) and persist >= 1):
        raise SettingsError(f"persist must be an integer >= 1, got {persist!r}")
    n = len(e)
    d = _lag_distances(e, norms, 1, metric)
    if persist > 1:
        steps = np.arange(n - 1)
        for lag in range(2, 2 * persist):
            dl = _lag_distances(e, norms, lag, metric) if lag < n else np.zeros(0)
            # Pairs (a, a + lag) straddle step i when i - p < a <= i and a + lag <= i + p.
            for back in range(max(0, lag - persist), min(lag, persist)):
                a = steps - back  # a = i - back, b = a + lag = i + (lag - back)
                ok = (a >= 0) & (a < len(dl))
                d[ok] = np.minimum(d[ok], dl[a[ok]])
        d[: persist - 1] = 0.0
        d[max(0, n - persist) :] = 0.0
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
    distances: np.ndarray,
    times_s: np.ndarray,
    thresholds: np.ndarray,
    merge_s: float = 1.0,
    prominence: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Seams: peaks of `distances` above `thresholds` that stand out from their surroundings.

    1. Candidates are the local maxima above the threshold (`peak_prominences`: what
       ``scipy.signal.find_peaks(x, prominence=0)`` finds, without importing scipy.signal).
    2. A candidate is kept when its topographic prominence is at least `prominence` times its
       height: two cuts around a busy shot (a fast pan whose distances stay high) are two
       seams, the ripples of the busy shot between them are none.
    3. Its time is the distance-weighted mean time of the peak and those of its two
       neighbours that reach half its height: a hard cut's own time (pulled by at most half a
       frame interval), a dissolve's middle (a dissolve spans about three frame intervals at
       2 fps). Wider neighbourhoods let a busy shot next to a cut drag the seam away.
    4. Seams closer than `merge_s` seconds become one: the stronger is kept.
    Returns (positions: int64 index of each seam's peak distance, seam times float64).
    """
    d = np.asarray(distances, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), d.shape)
    if not (d > thr).any():
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    padded = np.concatenate([[-1.0], d, [-1.0]])  # so the first and last samples can be peaks
    peaks, prom = peak_prominences(padded)
    peaks -= 1
    keep = (d[peaks] > thr[peaks]) & (prom >= prominence * d[peaks])
    positions = peaks[keep].astype(np.int64)
    if len(positions) == 0:
        return positions, np.zeros(0)
    # Half-height neighbourhood of each peak, within +-1 sample.
    span = 1
    offs = np.arange(-span, span + 1)
    idx = positions[:, None] + offs[None, :]
    valid = (idx >= 0) & (idx < len(d))
    vals = np.where(valid, d[np.clip(idx, 0, len(d) - 1)], -1.0)
    level = np.maximum(0.5 * d[positions], 0.0)[:, None]
    ok = vals >= level
    right = np.cumprod(ok[:, span:], axis=1).astype(bool)
    left = np.cumprod(ok[:, span::-1], axis=1).astype(bool)[:, ::-1]
    member = np.concatenate([left[:, :-1], right], axis=1)
    w = np.where(member, vals, 0.0)
    tt = t[np.clip(idx, 0, len(d) - 1)]
    seam_t = (w * tt).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-300)
    if merge_s > 0 and len(positions) > 1:
        positions, seam_t = _merge_close(positions, seam_t, d[positions], merge_s)
    return positions, seam_t


def peak_prominences(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of `x` and their topographic prominences, as scipy's ``find_peaks(x,
    prominence=0)`` gives them (a flat peak is its middle sample, rounded down; the ends
    are never peaks; a peak's bases reach to the nearest strictly higher sample).

    The loops are scipy's (``_local_maxima_1d``, ``_peak_prominences``) in Python: the curves
    are a few samples per second of video, and importing scipy.signal costs about a second.
    """
    v = np.asarray(x, dtype=np.float64).tolist()
    n = len(v)
    peaks: list[int] = []
    i = 1
    while i < n - 1:
        if v[i - 1] < v[i]:
            ahead = i + 1
            while ahead < n - 1 and v[ahead] == v[i]:
                ahead += 1
            if v[ahead] < v[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    prom: list[float] = []
    for p in peaks:
        top = v[p]
        left_min = top
        j = p
        while j >= 0 and v[j] <= top:
            left_min = min(left_min, v[j])
            j -= 1
        right_min = top
        j = p
        while j < n and v[j] <= top:
            right_min = min(right_min, v[j])
            j += 1
        prom.append(top - max(left_min, right_min))
    return np.asarray(peaks, dtype=np.int64), np.asarray(prom, dtype=np.float64)


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
    t_d, d = successor_distances(embeddings, times_s, settings.metric, settings.persist)
    thr = threshold_curve(d, t_d, settings)
    if settings.surveyor and settings.threshold != "fixed":
        from summarizer.scenes.surveyor import survey_thresholds

        thr = survey_thresholds(d, t_d, thr, settings)
    positions, seams_s = pick_seams(d, t_d, thr, settings.merge_s, settings.prominence)
    return SeamCurve(
        times_s=t_d, distances=d, thresholds=thr, seam_positions=positions, seams_s=seams_s
    )
