"""The embedding surveyor: a KNN look at the successor scores that adapts the threshold.

A rolling mean + k * std threshold is pulled up by the cuts inside its own window: in a
stretch with many cuts the cuts inflate the std and hide each other. The surveyor finds, in
each window, the *bulk* of ordinary within-shot scores with K-nearest neighbours and sets the
threshold from the bulk alone, so cuts do not vote on their own threshold.

The exact rule, for the successor distances ``d`` at times ``t`` and the base threshold curve
``b`` (dynamic or robust, already floored):

1. Windows ``W_m = [t_0 + m * step, t_0 + m * step + window)`` for m = 0, 1, ... until a
   window reaches the last time (``surveyor_window_s``, ``surveyor_step_s``). A window with
   fewer than 4 scores is skipped.
2. In a window with scores ``s_1..s_n`` let ``scale = max(median(s), 1e-6)``. Fit
   `sklearn.neighbors.NearestNeighbors` on the 1-D scores; ``D[i, j]`` is the distance from
   ``s_i`` to its (j+1)-th nearest other score, for j < ``K_max = min(surveyor_k_max, n - 1)``.
3. For K = 1, 2, ..., K_max: ``r_i(K) = mean(D[i, :K])`` (how far score i is from its K
   nearest neighbours); ``mu(K) = mean_i r_i(K)``, ``sigma(K) = std_i r_i(K)``. K grows while
   ``mu(K) <= surveyor_mean_target * scale`` and ``sigma(K) <= surveyor_std_target * scale``;
   ``K*`` is the last K that met both targets (1 if none did). ``K* + 1`` is the size of the
   tight groups the window's scores form.
4. The bulk is every score with ``r_i(K*) <= surveyor_mean_target * scale``: scores with K*
   close neighbours. A cut is an isolated large score, so it is not in the bulk (unless more
   than K* cuts share nearly the same score in one window).
5. The window's own threshold is ``theta = mean(bulk) + k * std(bulk)`` (the same ``k`` as
   the dynamic threshold), and its factor ``f_m = clip(theta / median(b in W_m), 1/4, 4)``:
   below 1 the surveyor lowers the threshold there, above 1 it raises it.
6. Each sample's factor is the geometric mean of the factors of the windows that cover it
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
    """Steps 2-5 of the rule for one window: (factor, K*, theta)."""
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    scale = max(float(np.median(s)), 1e-6)
    k_max = min(settings.surveyor_k_max, n - 1)
    nn = NearestNeighbors(n_neighbors=k_max).fit(s[:, None])
    dist, _ = nn.kneighbors()  # the query points are not their own neighbours
    r = np.cumsum(dist, axis=1) / np.arange(1, k_max + 1)  # r[:, K-1] = r_i(K)
    mu, sigma = r.mean(axis=0), r.std(axis=0)
    ok = (mu <= settings.surveyor_mean_target * scale) & (
        sigma <= settings.surveyor_std_target * scale
    )
    # K grows while both targets hold: K* is the last K of the leading run of True.
    k_star = int(np.argmin(ok)) if not ok.all() else k_max
    k_star = max(k_star, 1)
    bulk = s[r[:, k_star - 1] <= settings.surveyor_mean_target * scale]
    if len(bulk) < 2:
        return 1.0, k_star, float("nan")
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
