"""The embedding surveyor: a KNN look at the successor scores that adapts the threshold.

A rolling mean + k * std threshold is pulled up by the cuts inside its own window: in a
stretch with many cuts, the cuts inflate the std and hide each other. The surveyor finds, in
each window, the *bulk* of ordinary within-shot scores as the K nearest neighbours of the
window's median score, K grown as far as the neighbourhood stays tight, and sets the
threshold from the bulk alone, so cuts do not vote on their own threshold.

The exact rule, for the successor distances ``d`` at times ``t`` and the base threshold curve
``b`` (dynamic or robust, already floored):

1. Windows ``W_m = [t_0 + m * step, t_0 + m * step + window)`` for m = 0, 1, ... until a
   window reaches the last time (``surveyor_window_s``, ``surveyor_step_s``; the last window
   runs to the end). A window with fewer than 4 scores keeps the base threshold.
2. In a window with scores ``s_1..s_n``: ``m = median(s)``, ``scale = max(m, 1e-6)``. A
   `sklearn.neighbors.NearestNeighbors` fitted on the 1-D scores orders them by their
   distance ``|s_j - m|`` to the median score (cuts are a minority, so the median is an
   ordinary within-shot score).
3. Let ``N_K`` be the K scores nearest to ``m``. K grows from ``K0 = min(surveyor_k_min, n)``
   one at a time while the neighbourhood stays tight: the mean neighbour distance
   ``mean_{j in N_K} |s_j - m| <= surveyor_mean_target * scale`` and the neighbourhood's
   spread ``std_{j in N_K} s_j <= surveyor_std_target * scale``. ``K*`` is the largest K that
   meets both targets (K0 if none does); the bulk is ``N_{K*}``. An isolated large score (a
   cut) joining the neighbourhood makes its std jump, so cuts stay out of the bulk, however
   many of them share a window.
4. The window's threshold is ``theta = mean(bulk) + k * std(bulk)`` (the same ``k`` as the
   dynamic threshold) and its factor ``f_m = clip(theta / median(b in W_m), 1/4, 4)``:
   below 1 the surveyor lowers the threshold there, above 1 it raises it.
5. Each sample's factor is the geometric mean of the factors of the windows that cover it
   (1 where none does); the result is ``max(b * factor, floor)``.

`survey_thresholds` runs the rule for all windows at once (`window_factors`: in one
dimension, sorting a window's scores by their distance to the median is an exact brute-force
KNN), about 50x faster than one `NearestNeighbors` fit per window. The tests hold the rule
written literally for one window with scikit-learn and check that both agree.

Does it help? On `benchmarks/bench_seams.py` (cuts every 3-8 s) dynamic alone scores
F1 0.63 on hard cuts and 0.07 on dissolves with the pixels embedder, dynamic + surveyor
0.98 and 0.91 (held-out seeds), so it is on by default (``SeamSettings.surveyor``).
"""

from __future__ import annotations

import numpy as np

from summarizer.scenes.seams import SeamSettings

MIN_SCORES = 4
FACTOR_RANGE = (0.25, 4.0)


def _windows(t: np.ndarray, window_s: float, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) sample ranges of the sliding windows (step 1 of the rule)."""
    start, last = float(t[0]), float(t[-1])
    n_windows = max(1, int(np.ceil(max(last - start - window_s, 0.0) / step_s)) + 1)
    starts = start + step_s * np.arange(n_windows)
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, starts + window_s, side="left")
    hi[-1] = len(t)  # the last window runs to the end
    return lo, hi


def window_factors(
    distances: np.ndarray, base: np.ndarray, lo: np.ndarray, hi: np.ndarray, settings: SeamSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 2-4 for all windows at once: (factor, K*, theta) per window.

    The rule of the module docstring, vectorised over a (windows, longest window) matrix: in
    one dimension the K nearest neighbours of the median are the first K scores sorted by
    their distance to it, so a row sort is an exact brute-force KNN.
    """
    d = np.asarray(distances, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    n = (hi - lo).astype(np.int64)
    width = int(n.max())
    cols = np.arange(width)
    idx = lo[:, None] + cols[None, :]
    inside = cols[None, :] < n[:, None]
    safe = np.minimum(idx, len(d) - 1)
    s = np.where(inside, d[safe], np.inf)
    rows = np.arange(len(n))
    srt = np.sort(s, axis=1)
    med = (srt[rows, (n - 1) // 2] + srt[rows, n // 2]) / 2.0
    scale = np.maximum(med, 1e-6)
    dist = np.abs(s - med[:, None])  # inf outside the window
    order = np.argsort(dist, axis=1, kind="stable")
    near = np.take_along_axis(s, order, axis=1)
    ndist = np.take_along_axis(dist, order, axis=1)
    ks = np.arange(1, width + 1, dtype=np.float64)
    fin_near = np.where(np.isfinite(near), near, 0.0)
    fin_dist = np.where(np.isfinite(ndist), ndist, 0.0)
    mean_dist = np.cumsum(fin_dist, axis=1) / ks
    c1 = np.cumsum(fin_near, axis=1) / ks
    c2 = np.cumsum(fin_near * fin_near, axis=1) / ks
    spread = np.sqrt(np.maximum(c2 - c1 * c1, 0.0))
    tight = (mean_dist <= settings.surveyor_mean_target * scale[:, None]) & (
        spread <= settings.surveyor_std_target * scale[:, None]
    )
    tight &= cols[None, :] < n[:, None]
    k0 = np.minimum(settings.surveyor_k_min, n)
    # K grows from k0 while tight: K* = (first failing K >= k0) - 1, at least k0.
    fails = ~tight & (cols[None, :] + 1 >= k0[:, None])
    first_fail = np.where(fails.any(axis=1), fails.argmax(axis=1) + 1, n + 1)
    k_star = np.maximum(first_fail - 1, k0)
    mean_b = c1[rows, k_star - 1]
    std_b = spread[rows, k_star - 1]
    theta = mean_b + settings.k * std_b
    bsrt = np.sort(np.where(inside, b[safe], np.inf), axis=1)
    ref = np.maximum((bsrt[rows, (n - 1) // 2] + bsrt[rows, n // 2]) / 2.0, 1e-12)
    factor = np.clip(theta / ref, *FACTOR_RANGE)
    return factor, k_star, theta


def survey_thresholds(
    distances: np.ndarray, times_s: np.ndarray, base: np.ndarray, settings: SeamSettings
) -> np.ndarray:
    """The base threshold curve adapted window by window (the rule in the module docstring)."""
    d = np.asarray(distances, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    if len(d) < MIN_SCORES:
        return b.copy()
    lo, hi = _windows(t, settings.surveyor_window_s, settings.surveyor_step_s)
    use = (hi - lo) >= MIN_SCORES
    if not use.any():
        return b.copy()
    lo, hi = lo[use], hi[use]
    factor, _, _ = window_factors(d, b, lo, hi, settings)
    # Sum of log factors and count of covering windows per sample, by difference arrays.
    acc = np.zeros(len(d) + 1)
    cnt = np.zeros(len(d) + 1)
    np.add.at(acc, lo, np.log(factor))
    np.add.at(acc, hi, -np.log(factor))
    np.add.at(cnt, lo, 1.0)
    np.add.at(cnt, hi, -1.0)
    log_sum, count = np.cumsum(acc)[:-1], np.cumsum(cnt)[:-1]
    mean_log = np.divide(log_sum, count, out=np.zeros_like(d), where=count > 0.5)
    return np.maximum(b * np.exp(mean_log), settings.floor)
