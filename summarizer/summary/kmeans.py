"""KMeans summary: a few frames that stand for the whole video.

Cluster the frame embeddings and keep, for each cluster, the frame nearest its centre, in
time order. The number of clusters is fixed, chosen automatically (the silhouette score over
k in [2, ceil(sqrt(n))], searched on a subsample in a PCA-reduced space so 20 000 frames take
about a second), or a budget of picks per minute of video. Before clustering, uninformative
frames (near-uniform, too dark, too bright, blurred; see `summarizer.summary.quality`) are set aside;
after it, a pick whose cosine similarity to an earlier pick exceeds `max_similarity` is
dropped and its frames are counted with that earlier pick.

`select_keyframes(embeddings, times_s, settings, images=...)` is the whole stage: arrays in,
a `Summary` out.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from summarizer.config import check
from summarizer.errors import InputError, SettingsError
from summarizer.outputs.files import plural
from summarizer.summary import quality

K_MODES = ("auto", "budget")


def parse_k(value: Any) -> int | str:
    """A k setting from a flag or YAML: an int >= 1, "auto" or "budget"."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in K_MODES:
            return text
        try:
            value = int(text)
        except ValueError:
            raise SettingsError(
                f"k must be a whole number >= 1, 'auto' or 'budget', got {value!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SettingsError(f"k must be a whole number >= 1, 'auto' or 'budget', got {value!r}")
    if value < 1:
        raise SettingsError(f"k must be >= 1, got {value}")
    return int(value)


@dataclass(frozen=True)
class SummarySettings:
    """How many keyframes a summary keeps and which frames may be picked.

    k: clusters: a number >= 1, "auto" (silhouette) or "budget" (`per_minute` picks per minute).
    per_minute: picks per minute of video when k is "budget".
    k_max: upper bound on the automatic k (None: ceil(sqrt(n))).
    search_sample: frames the automatic-k search clusters (a random subsample when n is larger).
    silhouette_sample: frames the silhouette score is computed on.
    pca_dims: the search and the clustering run on embeddings reduced to this many dimensions
        by PCA (0: no reduction); picks and scores are measured on the full embeddings.
    max_similarity: drop a pick whose cosine similarity to an earlier pick exceeds this (1: off).
    drop_uninformative: set aside flat, dark, bright and blurred frames before clustering
        (when frames are given; if every frame is uninformative, all are used).
    min_std / dark / bright / min_sharpness: what "uninformative" means (see `summarizer.summary.quality`;
        luma std below `min_std`, mean luma <= `dark` or >= `bright`, Laplacian variance below
        `min_sharpness`; 0 turns the blur test off).
    seed: random seed of the subsample and of KMeans (same inputs, same picks).
    """

    k: int | str = "auto"
    per_minute: float = 4.0
    k_max: int | None = None
    search_sample: int = 2000
    silhouette_sample: int = 2000
    pca_dims: int = 64
    max_similarity: float = 0.95
    drop_uninformative: bool = True
    min_std: float = 8.0
    dark: float = 16.0
    bright: float = 240.0
    min_sharpness: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", parse_k(self.k))
        check(
            math.isfinite(self.per_minute) and self.per_minute > 0,
            f"per_minute must be > 0, got {self.per_minute}",
        )
        check(self.k_max is None or self.k_max >= 2, f"k_max must be >= 2, got {self.k_max}")
        check(self.search_sample >= 10, f"search_sample must be >= 10, got {self.search_sample}")
        check(
            self.silhouette_sample >= 10,
            f"silhouette_sample must be >= 10, got {self.silhouette_sample}",
        )
        check(self.pca_dims >= 0, f"pca_dims must be >= 0, got {self.pca_dims}")
        check(
            -1.0 <= self.max_similarity <= 1.0,
            f"max_similarity must be in [-1, 1], got {self.max_similarity}",
        )
        check(self.min_std >= 0, f"min_std must be >= 0, got {self.min_std}")
        check(
            0 <= self.dark < self.bright <= 255,
            f"need 0 <= dark < bright <= 255, got dark={self.dark}, bright={self.bright}",
        )
        check(self.min_sharpness >= 0, f"min_sharpness must be >= 0, got {self.min_sharpness}")


@dataclass(frozen=True)
class Pick:
    """One keyframe of a summary.

    index: row of the frame in the embeddings (and thumbnails) given.
    time_s: its time in the video.
    cluster: the cluster it stands for (numbered in time order of the picks).
    cluster_size: frames it stands for (its cluster plus any near-duplicate picks merged in).
    score: cosine similarity of the frame to its cluster centre (1: the centre itself).
    """

    index: int
    time_s: float
    cluster: int
    cluster_size: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["time_s"] = round(self.time_s, 6)
        return d


@dataclass(frozen=True)
class Summary:
    """The result of `select_keyframes`.

    picks: the keyframes, in time order.
    k: clusters fitted; mode: "fixed", "auto" or "budget".
    silhouette: k -> silhouette score of every k the automatic search tried.
    n_frames: frames given; n_used: frames clustered (after setting aside uninformative ones).
    set_aside: reason -> count of frames not clustered ("flat", "dark", "bright", "blurred").
    merged: picks dropped as near-duplicates of an earlier pick.
    notes: anything the caller should tell the user (k clamped, every frame uninformative...).
    """

    picks: tuple[Pick, ...]
    k: int
    mode: str
    n_frames: int
    n_used: int
    silhouette: dict[int, float] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)
    merged: int = 0
    notes: tuple[str, ...] = ()

    @property
    def indices(self) -> np.ndarray:
        return np.array([p.index for p in self.picks], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "mode": self.mode,
            "n_frames": self.n_frames,
            "n_used": self.n_used,
            "merged": self.merged,
            "set_aside": dict(self.set_aside),
            "silhouette": {str(k): round(v, 4) for k, v in sorted(self.silhouette.items())},
            "notes": list(self.notes),
            "picks": [p.to_dict() for p in self.picks],
        }


# ---------------------------------------------------------------------------------------------
# Uninformative frames


def uninformative_reasons(
    images: np.ndarray, settings: SummarySettings, chunk: int = 256
) -> np.ndarray:
    """Per frame, why it is uninformative ("flat", "dark", "bright", "blurred") or "" if fine.

    Works through `images` (n, H, W, 3) uint8 in chunks, so memory-mapped thumbnails of a long
    video are never all loaded at once.
    """
    n = len(images)
    out = np.full(n, "", dtype=object)
    for lo in range(0, n, chunk):
        batch = np.asarray(images[lo : lo + chunk])
        std = quality.flatness(batch)
        mean = quality.brightness(batch)
        reason = np.full(len(batch), "", dtype=object)
        if settings.min_sharpness > 0:
            reason[quality.sharpness(batch) < settings.min_sharpness] = "blurred"
        reason[mean >= settings.bright] = "bright"
        reason[mean <= settings.dark] = "dark"
        reason[std < settings.min_std] = "flat"  # flat wins: a black frame is flat first
        out[lo : lo + len(batch)] = reason
    return out


# ---------------------------------------------------------------------------------------------
# Clustering


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def pca_project(x: np.ndarray, fit_on: np.ndarray, dims: int) -> np.ndarray:
    """Rows of `x` projected on the top `dims` principal axes of `fit_on` (float32).

    An eigen-decomposition of the D x D covariance: exact, deterministic and faster than a
    randomized SVD for the few thousand rows the axes are fitted on.
    """
    fit = np.asarray(fit_on, dtype=np.float64)
    mean = fit.mean(axis=0)
    centred = fit - mean
    _, vecs = np.linalg.eigh(centred.T @ centred)
    axes = vecs[:, ::-1][:, :dims].astype(np.float32)
    return (x - mean.astype(np.float32)) @ axes


def _kmeans(z: np.ndarray, k: int, seed: int, init: np.ndarray | None = None) -> np.ndarray:
    """Labels of KMeans with `k` clusters on rows of `z` (MiniBatchKMeans for very large n)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer distinct points than k: handled by the caller
        if len(z) > 50_000:
            model = MiniBatchKMeans(
                k,
                init=init if init is not None else "k-means++",
                n_init=1 if init is not None else 3,
                batch_size=4096,
                random_state=seed,
            )
        else:
            model = KMeans(
                k,
                init=init if init is not None else "k-means++",
                n_init=1 if init is not None else 3,
                max_iter=100,
                random_state=seed,
            )
        return model.fit_predict(z)


def pairwise_distances(z: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix (float64) of the rows of `z`."""
    z = np.asarray(z, dtype=np.float64)
    sq = np.einsum("ij,ij->i", z, z)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2, out=d2)


def silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient from a precomputed distance matrix (sklearn's definition).

    Computing the matrix once and reusing it for every k is what makes the search fast.
    -1 when there are fewer than 2 clusters or as many clusters as points (undefined).
    """
    labels = np.unique(labels, return_inverse=True)[1].ravel()
    n, k = len(labels), int(labels.max()) + 1
    if k < 2 or k >= n:
        return -1.0
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1.0
    counts = onehot.sum(axis=0)
    sums = dist @ onehot  # (n, k): total distance from each point to each cluster
    own = counts[labels]
    a = sums[np.arange(n), labels] / np.maximum(own - 1, 1)
    mean_other = sums / counts
    mean_other[np.arange(n), labels] = np.inf
    b = mean_other.min(axis=1)
    s = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    s[own == 1] = 0.0
    return float(s.mean())


def _candidate_ks(lo: int, hi: int, count: int) -> list[int]:
    if hi - lo + 1 <= count:
        return list(range(lo, hi + 1))
    return sorted({int(round(v)) for v in np.geomspace(lo, hi, count)})


def choose_k(
    z: np.ndarray, k_max: int, settings: SummarySettings
) -> tuple[int, dict[int, float], dict[int, np.ndarray]]:
    """The k in [2, k_max] with the best silhouette on `z` (a subsample), with every score.

    A coarse geometric grid of k, then every k between the neighbours of the best one (again
    coarsely when that gap is wide). Returns the k, k -> score, and k -> centres found.
    """
    from sklearn.cluster import KMeans

    scores: dict[int, float] = {}
    centres: dict[int, np.ndarray] = {}
    rows = np.arange(len(z))
    if len(z) > settings.silhouette_sample:
        rng = np.random.default_rng(settings.seed + 1)
        rows = np.sort(rng.choice(len(z), settings.silhouette_sample, replace=False))
    z = np.asarray(z, dtype=np.float64)  # sklearn's float32 distances take a slow upcast path
    dist = pairwise_distances(z[rows])

    def evaluate(k: int) -> None:
        if k in scores:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = KMeans(k, n_init=1, max_iter=30, tol=1e-3, random_state=settings.seed)
            model.fit(z)
        scores[k] = silhouette(dist, model.labels_[rows])
        centres[k] = model.cluster_centers_

    grid = _candidate_ks(2, k_max, 10)
    for k in grid:
        evaluate(k)
    for _ in range(8):  # refine between the neighbours of the best k so far, down to k +- 1
        tried = sorted(scores)
        best = max(tried, key=lambda k: (scores[k], -k))
        i = tried.index(best)
        lo = tried[i - 1] + 1 if i > 0 else best
        hi = tried[i + 1] - 1 if i + 1 < len(tried) else best
        todo = [k for k in _candidate_ks(lo, hi, 6) if k not in scores]
        if not todo:
            break
        for k in todo:
            evaluate(k)
    best = max(scores, key=lambda k: (scores[k], -k))
    return best, scores, centres


def select_keyframes(
    embeddings: np.ndarray,
    times_s: np.ndarray,
    settings: SummarySettings | None = None,
    *,
    images: np.ndarray | None = None,
    duration_s: float | None = None,
) -> Summary:
    """Summarise a video by KMeans over its frame embeddings.

    embeddings: (n, D) frame vectors (normalised here if they are not).
    times_s: (n,) frame times in seconds.
    images: optional (n, H, W, 3) uint8 frames (thumbnails are fine): enables setting aside
        uninformative frames.
    duration_s: the video's length, for k = "budget" (default: the span of `times_s`).
    """
    from threadpoolctl import threadpool_limits

    # One thread: these problems are small (2 000 x 64 during the search), and on a busy
    # 2-core machine KMeans' OpenMP threads and BLAS threads waiting on each other made the
    # search 7x and one eigh 50x slower than a single thread.
    with threadpool_limits(1):
        return _select(embeddings, times_s, settings or SummarySettings(), images, duration_s)


def _select(
    embeddings: np.ndarray,
    times_s: np.ndarray,
    settings: SummarySettings,
    images: np.ndarray | None,
    duration_s: float | None,
) -> Summary:
    x = np.asarray(embeddings)
    times = np.asarray(times_s, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise InputError(f"no frames to summarise (embeddings of shape {x.shape})")
    if len(times) != len(x):
        raise InputError(f"{len(x)} embeddings but {len(times)} times")
    if images is not None and len(images) != len(x):
        raise InputError(f"{len(x)} embeddings but {len(images)} images")
    x = _normalise(x.astype(np.float32, copy=False))
    if not np.isfinite(x).all():
        raise InputError("embeddings contain NaN or infinite values")
    n = len(x)
    notes: list[str] = []

    # 1. Set aside uninformative frames.
    used = np.arange(n)
    set_aside: dict[str, int] = {}
    if images is not None and settings.drop_uninformative:
        reasons = uninformative_reasons(images, settings)
        keep = reasons == ""
        if keep.any():
            used = np.flatnonzero(keep)
            for r in ("flat", "dark", "bright", "blurred"):
                c = int((reasons == r).sum())
                if c:
                    set_aside[r] = c
        else:
            notes.append(
                "every frame looks uninformative (flat, dark, bright or blurred): used all"
            )
    xu = x[used]
    m = len(xu)

    # 2. Reduce dimensions (fit on a subsample) for the search and the clustering.
    rng = np.random.default_rng(settings.seed)
    sub = (
        np.sort(rng.choice(m, settings.search_sample, replace=False))
        if m > settings.search_sample
        else np.arange(m)
    )
    z = xu
    if 0 < settings.pca_dims < x.shape[1] and len(sub) > settings.pca_dims:
        z = pca_project(xu, xu[sub], settings.pca_dims)

    # 3. How many clusters.
    silhouette: dict[int, float] = {}
    init = None
    if isinstance(settings.k, int):
        mode, k = "fixed", settings.k
        if k > m:
            notes.append(f"k={k} is more than the {plural(m, 'frame')} to cluster: used k={m}")
            k = m
    elif settings.k == "budget":
        mode = "budget"
        span = (
            duration_s if duration_s is not None else float(times[-1] - times[0]) if n > 1 else 0.0
        )
        k = max(1, math.ceil(span / 60.0 * settings.per_minute))
        if k > m:
            notes.append(
                f"a budget of {plural(k, 'pick')} is more than the {plural(m, 'frame')}: used k={m}"
            )
            k = m
    else:
        mode = "auto"
        if m <= 2:
            k = m
        else:
            k_max = math.ceil(math.sqrt(m))
            if settings.k_max is not None:
                k_max = min(k_max, settings.k_max)
            k_max = max(2, min(k_max, len(sub) - 1))
            k, silhouette, centres = choose_k(z[sub], k_max, settings)
            init = centres[k].astype(z.dtype)

    # 4. Cluster every used frame; the pick of a cluster is the member nearest its centre.
    labels = np.zeros(m, dtype=np.int64) if k == 1 else _kmeans(z, k, settings.seed, init)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    raw: list[tuple[int, int, float]] = []  # (row in used, size, score)
    for members in np.split(order, bounds):
        if len(members) == 0:
            continue
        centre = _normalise(xu[members].mean(axis=0, keepdims=True))[0]
        sims = xu[members] @ centre
        j = int(np.argmax(sims))
        raw.append((int(members[j]), len(members), float(sims[j])))
    raw.sort(key=lambda r: (times[used[r[0]]], r[0]))
    if len(raw) < k:  # KMeans leaves clusters empty when the frames hold fewer distinct looks
        notes.append(f"only {len(raw)} of the {k} clusters hold frames: the frames are too alike")

    # 5. Drop near-duplicate picks (cosine > max_similarity to an earlier kept pick).
    kept: list[list[Any]] = []
    merged = 0
    for row, size, score in raw:
        if kept and settings.max_similarity < 1.0:
            sims = xu[[r[0] for r in kept]] @ xu[row]
            j = int(np.argmax(sims))
            if sims[j] > settings.max_similarity:
                kept[j][1] += size
                merged += 1
                continue
        kept.append([row, size, score])

    picks = tuple(
        Pick(
            index=int(used[row]),
            time_s=float(times[used[row]]),
            cluster=c,
            cluster_size=int(size),
            score=round(float(score), 6),
        )
        for c, (row, size, score) in enumerate(kept)
    )
    return Summary(
        picks=picks,
        k=int(k),
        mode=mode,
        n_frames=n,
        n_used=m,
        silhouette=silhouette,
        set_aside=set_aside,
        merged=merged,
        notes=tuple(notes),
    )
