"""Score detected seams against known cut times, like shot-boundary detection.

A detection matches a true cut when they are at most `tolerance_s` apart, each used at most
once (one-to-one). Precision = matched / detected, recall = matched / true,
F1 = their harmonic mean. With no true cuts and no detections all three are 1 (a static shot
with no seams is perfect); with no true cuts but some detections precision and F1 are 0.

The matching is a greedy sweep over both sorted lists, which is optimal (maximum cardinality)
in one dimension: the tolerance intervals [g - tol, g + tol] of the sorted truths have sorted
left and right ends, so matching each truth, left to right, to the earliest detection still
inside its interval never blocks a larger matching (the classic exchange argument for
interval scheduling). `tests/test_evaluate.py` checks it against
`scipy.optimize.linear_sum_assignment`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from summarizer.errors import InputError, SettingsError


@dataclass(frozen=True)
class SeamScore:
    """Precision / recall / F1 of detected seams, and which matched which."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    n_detected: int
    n_true: int
    matches: tuple[tuple[int, int], ...]  # (index in detected, index in truth), both sorted
    tolerance_s: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.true_positives,
            "detected": self.n_detected,
            "true": self.n_true,
        }


def _times(x: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.isfinite(a).all():
        raise InputError(f"{what} times contain NaN or infinite values")
    return np.sort(a)


def _check_tolerance(tolerance_s: float) -> None:
    if not (np.isfinite(tolerance_s) and tolerance_s >= 0):
        raise SettingsError(f"tolerance must be >= 0 seconds, got {tolerance_s}")


def match_times(
    detected: Sequence[float] | np.ndarray,
    truth: Sequence[float] | np.ndarray,
    tolerance_s: float = 0.5,
) -> list[tuple[int, int]]:
    """A maximum one-to-one matching of sorted `detected` and `truth` within `tolerance_s`.

    Returns (i, j) pairs of indices into the *sorted* arrays.
    """
    _check_tolerance(tolerance_s)
    d = _times(detected, "detected")
    g = _times(truth, "true")
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < len(d) and j < len(g):
        if d[i] < g[j] - tolerance_s:  # too early for this truth and every later one
            i += 1
        elif d[i] > g[j] + tolerance_s:  # this truth can no longer be matched
            j += 1
        else:
            pairs.append((i, j))
            i += 1
            j += 1
    return pairs


def score_seams(
    detected: Sequence[float] | np.ndarray,
    truth: Sequence[float] | np.ndarray,
    tolerance_s: float = 0.5,
) -> SeamScore:
    """Precision, recall and F1 of `detected` seam times against `truth` cut times."""
    pairs = match_times(detected, truth, tolerance_s)
    n_det, n_true = int(np.asarray(detected).size), int(np.asarray(truth).size)
    return _score(pairs, n_det, n_true, tolerance_s)


def score_spans(
    detected: Sequence[float] | np.ndarray,
    truth: Sequence[tuple[float, float]],
    tolerance_s: float = 0.5,
    ignore: Sequence[tuple[float, float]] = (),
) -> SeamScore:
    """`score_seams` for transitions with a length: truth ``(start, end)`` spans (a cut has
    start == end), a detection matching one when it lies within `tolerance_s` of its span.

    Detections inside an `ignore` span (say, a fade in from black at the very start) count
    neither way. The matching (one-to-one, maximum) takes the spans by their right ends and
    gives each the earliest free detection inside it: optimal for points and intervals on
    a line (the same exchange argument as `match_times`).
    """
    _check_tolerance(tolerance_s)
    d = _times(detected, "detected")
    for a, b in ignore:
        d = d[(d < a) | (d > b)]
    spans = np.asarray(truth, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(spans).all():
        raise InputError("true spans contain NaN or infinite values")
    lo, hi = spans.min(axis=1) - tolerance_s, spans.max(axis=1) + tolerance_s
    used = np.zeros(len(d), dtype=bool)
    pairs: list[tuple[int, int]] = []
    for j in np.argsort(hi, kind="stable"):
        k = int(np.searchsorted(d, lo[j], side="left"))
        while k < len(d) and (used[k] and d[k] <= hi[j]):
            k += 1
        if k < len(d) and d[k] <= hi[j] and not used[k]:
            used[k] = True
            pairs.append((k, int(j)))
    return _score(sorted(pairs), len(d), len(spans), tolerance_s)


def _score(pairs: list[tuple[int, int]], n_det: int, n_true: int, tolerance_s: float) -> SeamScore:
    """The `SeamScore` of a matching: `pairs` matched out of `n_det` detections and `n_true`
    truths (none of either: a perfect 1)."""
    tp = len(pairs)
    precision = tp / n_det if n_det else 1.0
    recall = tp / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return SeamScore(
        precision=precision,
        recall=recall,
        f1=f1,
        true_positives=tp,
        n_detected=n_det,
        n_true=n_true,
        matches=tuple(pairs),
        tolerance_s=float(tolerance_s),
    )
