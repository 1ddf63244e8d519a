"""PCA for the latent map: exact, streamed over chunks, so a million frames never sit in memory
twice.

`PCAAccumulator` gathers the mean and the covariance chunk by chunk (float64 sums, shifted by
the first chunk's mean for accuracy), so the data can be memory-mapped arrays read in pieces
(one video after another from the store); `fit_pca` runs it over one array. The result is the
exact PCA (unlike scikit-learn's `IncrementalPCA`, which approximates with a running SVD), in
O(D^2) memory. With fewer rows than dimensions the centred data's SVD is used instead.

Components get deterministic signs (the largest loading of each is positive) and the output is
divided by one scalar so the average kept component has unit variance: the geometry is kept
(no whitening).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

CHUNK = 32768  # rows per step: ~64 MB of float32 at D = 512


@dataclass(frozen=True)
class PCA:
    """``(x - mean) @ components.T / scale``; components (k, D) orthonormal rows."""

    mean: np.ndarray
    components: np.ndarray
    scale: float
    explained_variance: np.ndarray

    def transform(self, x: np.ndarray, chunk: int = CHUNK, out: np.ndarray | None = None):
        """Project `x` (N, D) in chunks (it may be a memory map); into `out` when given."""
        comp_t = (self.components.T / self.scale).astype(np.float32)
        mean = self.mean.astype(np.float32)
        if out is None:
            out = np.empty((len(x), len(self.components)), dtype=np.float32)
        for i in range(0, len(x), chunk):
            out[i : i + chunk] = (np.asarray(x[i : i + chunk], dtype=np.float32) - mean) @ comp_t
        return out


class PCAAccumulator:
    """Streaming sums for an exact PCA: ``add`` chunks of rows, then ``fit(k)``."""

    def __init__(self) -> None:
        self.n = 0
        self.shift: np.ndarray | None = None
        self.s1: np.ndarray | None = None
        self.s2: np.ndarray | None = None
        self._small: list[np.ndarray] | None = []  # rows, while N < D

    def add(self, x: np.ndarray, chunk: int = CHUNK) -> None:
        """Accumulate rows of `x` (N, D), read `chunk` rows at a time."""
        for i in range(0, len(x), chunk):
            c = np.asarray(x[i : i + chunk], dtype=np.float32)
            if not len(c):
                continue
            if self.shift is None:
                d = c.shape[1]
                self.shift = c.mean(axis=0, dtype=np.float64).astype(np.float32)
                self.s1 = np.zeros(d, np.float64)
                self.s2 = np.zeros((d, d), np.float64)
            c = c - self.shift
            self.s1 += c.sum(axis=0, dtype=np.float64)
            self.s2 += (c.T @ c).astype(np.float64)
            if self._small is not None and self.n + len(c) < len(self.shift):
                self._small.append(c)  # N < D so far: the SVD path may need the rows
            else:
                self._small = None
            self.n += len(c)

    def fit(self, k: int) -> PCA:
        """The PCA of everything added, at most `k` components (fewer when the rank allows)."""
        if self.shift is None or self.n == 0:
            raise ValueError("no rows to fit a PCA on")
        n, d = self.n, len(self.shift)
        k = int(max(1, min(k, d, n - 1))) if n > 1 else 1
        mean_c = self.s1 / n
        if n >= d:
            cov = (self.s2 - n * np.outer(mean_c, mean_c)) / max(n - 1, 1)
            w, v = np.linalg.eigh(cov)
            order = np.argsort(w)[::-1][:k]
            var = np.clip(w[order], 0, None)
            comps = v[:, order].T
        else:
            assert self._small is not None
            c = np.concatenate(self._small).astype(np.float64) - mean_c
            _, s, vt = np.linalg.svd(c, full_matrices=False)
            var = (s[:k] ** 2) / max(n - 1, 1)
            comps = vt[:k]
        idx = np.argmax(np.abs(comps), axis=1)
        signs = np.sign(comps[np.arange(len(comps)), idx])
        signs[signs == 0] = 1
        comps = comps * signs[:, None]
        scale = float(np.sqrt(var.sum() / len(var))) if var.sum() > 0 else 1.0
        mean = self.shift.astype(np.float64) + mean_c
        return PCA(mean=mean, components=comps, scale=scale, explained_variance=var)


def fit_pca(x: np.ndarray | Iterable[np.ndarray], k: int, chunk: int = CHUNK) -> PCA:
    """Exact PCA to at most `k` components of `x` (N, D), or of a sequence of such arrays
    (rows of all of them), streamed `chunk` rows at a time."""
    acc = PCAAccumulator()
    parts = [x] if isinstance(x, np.ndarray) else x
    for part in parts:
        acc.add(part, chunk)
    return acc.fit(k)
