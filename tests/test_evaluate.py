"""Precision / recall / F1 of seams with one-to-one matching within a tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from summarizer.errors import InputError, SettingsError
from summarizer.scenes.evaluate import match_times, score_seams


def test_perfect_and_empty_cases():
    assert score_seams([1.0, 5.0], [1.2, 4.7]).f1 == 1.0
    s = score_seams([], [])
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)
    s = score_seams([3.0], [])
    assert (s.precision, s.recall, s.f1) == (0.0, 1.0, 0.0)
    s = score_seams([], [3.0])
    assert (s.precision, s.recall, s.f1) == (1.0, 0.0, 0.0)


def test_one_to_one_and_tolerance():
    # Two detections near one cut: only one counts.
    s = score_seams([10.0, 10.3], [10.1])
    assert s.true_positives == 1 and s.precision == 0.5 and s.recall == 1.0
    assert s.f1 == pytest.approx(2 / 3)
    # Just outside the default 0.5 s.
    assert score_seams([10.51], [10.0]).true_positives == 0
    assert score_seams([10.5], [10.0]).true_positives == 1
    assert score_seams([10.9], [10.0], tolerance_s=1.0).true_positives == 1


def test_greedy_is_not_fooled_by_order():
    # A naive nearest-first matcher pairs 1.4 with 1.0 and leaves 0.6 unmatched.
    pairs = match_times([0.6, 1.4], [1.0, 1.8], tolerance_s=0.5)
    assert len(pairs) == 2


def _optimal(det, tru, tol):
    if not len(det) or not len(tru):
        return 0
    cost = (np.abs(det[:, None] - tru[None, :]) > tol).astype(float)
    r, c = linear_sum_assignment(cost)
    return int((cost[r, c] == 0).sum())


def test_greedy_matches_the_assignment_optimum():
    rng = np.random.default_rng(0)
    for _ in range(500):
        det = rng.uniform(0, 10, rng.integers(0, 12))
        tru = rng.uniform(0, 10, rng.integers(0, 12))
        tol = rng.uniform(0.05, 1.5)
        assert len(match_times(det, tru, tol)) == _optimal(det, tru, tol)


def test_bad_input():
    with pytest.raises(InputError):
        score_seams([np.nan], [1.0])
    with pytest.raises(SettingsError):
        score_seams([1.0], [1.0], tolerance_s=-1)
