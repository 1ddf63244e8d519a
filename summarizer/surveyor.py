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
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from summarizer.seams import SeamSettings

MIN_SCORES = 4
FACTOR_RANGE = (0.25, 4.0)


def window_factor(
    scores: np.ndarray, base: np.ndarray, settings: SeamSettings
) -> tuple[float, int, float]:
    """Steps 2-4 of the rule for one window: (factor, K*, theta)."""
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    m = float(np.median(s))
    scale = max(m, 1e-6)
    nn = NearestNeighbors(n_neighbors=n).fit(s[:, None])
    dist, idx = nn.kneighbors([[m]])
    dist, near = dist[0], s[idx[0]]  # neighbours of the median score, nearest first
    ks = np.arange(1, n + 1)
    mean_dist = np.cumsum(dist) / ks
    c1, c2 = np.cumsum(near), np.cumsum(near * near)
    spread = np.sqrt(np.maximum(c2 / ks - (c1 / ks) ** 2, 0.0))
    tight = (mean_dist <= settings.surveyor_mean_target * scale) & (
        spread <= settings.surveyor_std_target * scale
    )
    k0 = min(settings.surveyor_k_min, n)
    k_star = k0
    for k in range(k0, n + 1):  # grow while both targets hold
        if not tight[k - 1]:
            break
        k_star = k
    bulk = near[:k_star]
    theta = float(bulk.mean() + settings.k * bulk.std())
    ref = max(float(np.median(base)), 1e-12)
    factor = float(np.clip(theta / ref, *FACTOR_RANGE))
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
    log_sum = np.zeros_like(d)
    count = np.zeros_like(d)
    start, last = float(t[0]), float(t[-1])
    w, step = settings.surveyor_window_s, settings.surveyor_step_s
    n_windows = max(1, int(np.ceil(max(last - start - w, 0.0) / step)) + 1)
    starts = start + step * np.arange(n_windows)
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, starts + w, side="left")
    hi[-1] = len(t)  # the last window runs to the end
    for a, z in zip(lo.tolist(), hi.tolist(), strict=True):
        if z - a < MIN_SCORES:
            continue
        f, _, _ = window_factor(d[a:z], b[a:z], settings)
        log_sum[a:z] += np.log(f)
        count[a:z] += 1
    factor = np.exp(np.divide(log_sum, count, out=np.zeros_like(d), where=count > 0))
    return np.maximum(b * factor, settings.floor)
