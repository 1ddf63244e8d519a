"""The percentile stretch: raw 2-D codes -> [-1, 1]^2, filling the square (or disc) evenly.

Centre the code, optionally rotate its principal axis onto x, then move each point along its
ray from the centre to radius ``sqrt(F(r))``, F the empirical CDF of the radius (interpolated
between quantile knots), which is monotone in the radius and spreads the points evenly over the
area. ``strength`` blends between no stretch (0) and the full percentile stretch (1).

Frames that are exactly alike (a static shot) share one radius, a jump in F. The knots are
kept at least `MIN_GAP` (relative to the largest radius) apart, centred on such ties, so the
map is continuous with a bounded slope: two codes that differ by float noise (the same frame
encoded in another batch) land at the same place, not on either side of the jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_GAP = 1e-4  # least distance between radius knots, times the largest radius


@dataclass(frozen=True)
class Stretch:
    """Centre, rotation and radial percentile map that take codes into [-1, 1]^2."""

    center: np.ndarray  # (2,)
    rotation: np.ndarray  # (2, 2): row vectors = new x and y axes
    radius_knots: np.ndarray  # (K,) increasing radii (quantiles of the centred code radius)
    strength: float
    shape: str

    def apply(self, code: np.ndarray) -> np.ndarray:
        z = (np.asarray(code, dtype=np.float64) - self.center) @ self.rotation.T
        r = np.hypot(z[:, 0], z[:, 1])
        knots = self.radius_knots
        r_max = float(knots[-1]) if len(knots) and knots[-1] > 0 else 1.0
        q = np.interp(r, knots, np.linspace(0.0, 1.0, len(knots))) if len(knots) > 1 else r * 0
        lin = np.clip(r / r_max, 0.0, 1.0)
        new_r = (1.0 - self.strength) * lin + self.strength * np.sqrt(q)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(r[:, None] > 0, z / np.maximum(r, 1e-300)[:, None], 0.0)
        if self.shape == "square":
            edge = np.maximum(np.abs(unit[:, 0]), np.abs(unit[:, 1]))
            new_r = new_r / np.where(edge > 0, edge, 1.0)
        out = unit * new_r[:, None]
        return np.clip(out, -1.0, 1.0).astype(np.float32)


def fit_stretch(
    code: np.ndarray,
    *,
    strength: float = 1.0,
    shape: str = "square",
    rotate: bool = True,
    angle_deg: float = 0.0,
    knots: int = 1025,
) -> Stretch:
    """Fit the stretch on `code` (N, 2): centre = mean, rotation, radius quantiles.

    The radial map is ``r -> (1 - s) * r / r_max + s * sqrt(F(r))`` with F the empirical CDF of
    the radius (interpolated between `knots` quantiles): monotone in r, and at s = 1 the
    points are spread evenly over the area (the area inside radius t grows as t^2).
    """
    z = np.asarray(code, dtype=np.float64)
    center = z.mean(axis=0) if len(z) else np.zeros(2)
    zc = z - center
    rot = np.eye(2)
    if rotate and len(z) >= 2:
        cov = zc.T @ zc
        w, v = np.linalg.eigh(cov)
        rot = v[:, np.argsort(w)[::-1]].T
        proj = zc @ rot.T
        for ax in range(2):  # fix each axis' sign: positive skewness (then: positive mean |.|)
            sk = float(np.sum(proj[:, ax] ** 3))
            if sk < 0:
                rot[ax] = -rot[ax]
        if np.linalg.det(rot) < 0:  # keep a rotation, not a reflection: flip y if needed
            rot[1] = -rot[1]
    if angle_deg:
        a = math.radians(angle_deg)
        extra = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        rot = extra @ rot
    r = np.hypot(*(zc @ rot.T).T) if len(z) else np.zeros(0)
    if len(r):
        qs = spread_ties(np.quantile(r, np.linspace(0.0, 1.0, knots)))
    else:
        qs = np.array([0.0, 1.0])
    return Stretch(center=center, rotation=rot, radius_knots=qs, strength=strength, shape=shape)


def spread_ties(knots: np.ndarray, min_gap: float = MIN_GAP) -> np.ndarray:
    """Knots made strictly increasing, at least ``min_gap * max`` apart, each run of equal
    knots spread symmetrically around its value (the mean of a forward and a backward pass)."""
    q = np.maximum.accumulate(np.asarray(knots, dtype=np.float64))
    if len(q) < 2:
        return q
    g = min_gap * max(float(q[-1]), 1e-12)
    step = g * np.arange(len(q))
    forward = np.maximum.accumulate(q - step) + step  # k_i = max(q_i, k_{i-1} + g)
    backward = np.minimum.accumulate((q - step)[::-1])[::-1] + step  # k_i = min(q_i, k_{i+1} - g)
    return (forward + backward) / 2
