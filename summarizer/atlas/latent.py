"""Latent map: frame embeddings of a collection -> 2-D coordinates in [-1, 1].

Pipeline (each step a pure function over arrays; `fit_latent` runs them all):

1. **PCA** to ``min(pca_dims, D, N - 1)`` components (256 by default), computed from the
   covariance matrix in float64 chunks (no copy of the data), scaled by one scalar so the
   average component has unit variance (the geometry is kept: one scalar, no whitening).
2. **Autoencoder** (Keras 3; torch backend unless ``KERAS_BACKEND`` says otherwise):
   encoder ``d -> 50 -> 10 -> 2`` (Dense + elu + BatchNormalization, ``tanh`` code),
   decoder ``2 -> 6 -> 22 -> 76 -> d`` (Dense + elu + BatchNormalization, linear output).
   The hidden sizes are weighted geometric means of the two ends (`layer_sizes`)::

       size_k = floor(a ** (1 - k / n) * b ** (k / n)),   k = 1 .. n - 1

   with ``a`` the width the half starts from, ``b`` the width it ends at and ``n`` its number
   of Dense layers (encoder: a = 256, b = 2, n = 3 -> 50, 10; decoder: a = 2, b = 256,
   n = 4 -> 6, 22, 76). Fewer PCA dims give proportionally smaller layers.

   Loss = reconstruction MSE
        + ``activity_weight`` * (mean(code)^2 + (std(code) - code_std)^2, summed over x and y)
        + ``triplet_weight`` * triplet log-ratio loss.

   The triplet loss: for consecutive frames A, B, C of one video, the code keeps the
   log-ratio of the inputs: ``(log((e_z + |zA - zB|^2) / (e_z + |zB - zC|^2))
   - log((e_x + |xA - xB|^2) / (e_x + |xB - xC|^2)))^2``, averaged over the triplets. The
   epsilons are relative (``triplet_eps``) to the mean squared distance between two random
   points of each space (``2 * total variance``), so the ratio means the same in both spaces
   and static shots (A = B = C) give a ratio of 1, not 0/0.
   A training sample is a run of 8 consecutive frames of one video (`make_chunks`: runs
   overlap by two frames, so each frame is encoded once or twice per epoch, not three times
   as separate A, B, C inputs would need). Mini-batches of `auto_batch` frames (about N / 32,
   64 to 2048) unless set. Early stopping on a held-out ``validation_fraction`` of the runs
   (best weights kept); seeded and deterministic for a seed on one backend. Training uses one
   torch thread (`_few_threads`: the layers are too small to share).
3. **Stretch**: centre the code, optionally rotate its principal axis onto x, then move each
   point along its ray from the centre to radius ``sqrt(percentile of its radius)``, which is
   monotone in the radius and makes the points fill the disc (``shape="disc"``) or the square
   (``shape="square"``, the ray's radius scaled to reach the square's edge) evenly.
   ``stretch`` blends between no stretch (0) and the full percentile stretch (1).

Too few frames to train (< ``min_frames``): PCA to 2-D instead, said in ``LatentResult.note``.
NaN or infinite features raise `InputError`; nonsense settings `SettingsError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.config import check
from summarizer.errors import InputError, SettingsError

ProgressFn = Callable[[int, int, float], None]

MODEL_FILE = "autoencoder.keras"
ARRAYS_FILE = "latent.npz"
META_FILE = "latent.json"
# Keras' default 0.99 lags badly when an epoch is a few steps (small collections): the
# moving statistics used at inference then differ from the batch statistics trained on.
BN_MOMENTUM = 0.9


@dataclass(frozen=True)
class LatentSettings:
    """How the latent map is made (every field is part of the cache key).

    pca_dims: PCA components kept before the autoencoder (fewer when the data has fewer).
    code_std: target standard deviation of each code axis (activity regulariser).
    activity_weight / triplet_weight: weights of those loss terms (reconstruction has 1).
    triplet_eps: epsilon of the log-ratio, relative to each space's mean squared distance.
    epochs: most epochs; early stopping usually ends sooner (``patience`` epochs without a
        ``min_delta`` improvement of the validation loss).
    batch_size / learning_rate: Adam mini-batches, in frames (None: `auto_batch`).
    validation_fraction: frames held out for early stopping (0: monitor the training loss).
    min_frames: fewer frames than this: PCA to 2-D instead of training (said in the result).
    stretch: 0 = no percentile stretch, 1 = full (points fill the shape evenly).
    shape: "square" fills [-1, 1]^2, "disc" the unit disc.
    rotate: turn the principal axis of the code onto x (signs fixed by skewness).
    angle_deg: an extra rotation, counter-clockwise, after that.
    seed: seeds weights, shuffling and the validation split.
    """

    pca_dims: int = 256
    code_std: float = 0.3
    activity_weight: float = 1.0
    triplet_weight: float = 1.0
    triplet_eps: float = 0.01
    epochs: int = 100
    patience: int = 4
    min_delta: float = 1e-3
    batch_size: int | None = None
    learning_rate: float = 5e-3
    validation_fraction: float = 0.1
    min_frames: int = 64
    stretch: float = 1.0
    shape: str = "square"
    rotate: bool = True
    angle_deg: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        def finite(v: float) -> bool:
            return isinstance(v, (int, float)) and math.isfinite(v)

        check(self.pca_dims >= 2, f"pca_dims must be >= 2, got {self.pca_dims}")
        check(
            finite(self.code_std) and 0 < self.code_std < 1,
            f"code_std must be in (0, 1), got {self.code_std}",
        )
        for name in ("activity_weight", "triplet_weight"):
            v = getattr(self, name)
            check(finite(v) and v >= 0, f"{name} must be >= 0, got {v}")
        check(
            finite(self.triplet_eps) and self.triplet_eps > 0,
            f"triplet_eps must be > 0, got {self.triplet_eps}",
        )
        check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        check(self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        check(
            finite(self.min_delta) and self.min_delta >= 0,
            f"min_delta must be >= 0, got {self.min_delta}",
        )
        check(
            self.batch_size is None or (isinstance(self.batch_size, int) and self.batch_size >= 8),
            f"batch_size must be >= 8 frames (or None: automatic), got {self.batch_size}",
        )
        check(
            finite(self.learning_rate) and 0 < self.learning_rate < 1,
            f"learning_rate must be in (0, 1), got {self.learning_rate}",
        )
        check(
            finite(self.validation_fraction) and 0 <= self.validation_fraction < 0.5,
            f"validation_fraction must be in [0, 0.5), got {self.validation_fraction}",
        )
        check(self.min_frames >= 8, f"min_frames must be >= 8, got {self.min_frames}")
        check(
            finite(self.stretch) and 0 <= self.stretch <= 1,
            f"stretch must be in [0, 1], got {self.stretch}",
        )
        check(self.shape in ("square", "disc"), f"shape must be square or disc, got {self.shape!r}")
        check(finite(self.angle_deg), f"angle_deg must be a number, got {self.angle_deg}")
        check(
            isinstance(self.seed, int) and 0 <= self.seed < 2**31,
            f"seed must be an integer in [0, 2^31), got {self.seed}",
        )


# --------------------------------------------------------------------------- sizes


def layer_sizes(a: int, b: int, n: int) -> list[int]:
    """Hidden widths between widths `a` and `b` for `n` Dense layers: weighted geometric means.

    ``floor(a ** (1 - k/n) * b ** (k/n))`` for k = 1 .. n-1, at least ``min(a, b)``.
    ``layer_sizes(256, 2, 3) == [50, 10]``; ``layer_sizes(2, 256, 4) == [6, 22, 76]``.
    """
    out = []
    for k in range(1, n):
        t = k / n
        v = math.exp((1 - t) * math.log(a) + t * math.log(b))
        out.append(max(min(a, b), int(math.floor(v + 1e-9))))
    return out


# --------------------------------------------------------------------------- PCA


@dataclass(frozen=True)
class PCA:
    """``(x - mean) @ components.T / scale``; components (k, D) orthonormal rows."""

    mean: np.ndarray
    components: np.ndarray
    scale: float
    explained_variance: np.ndarray

    def transform(self, x: np.ndarray, chunk: int = 32768) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        out = np.empty((len(x), len(self.components)), dtype=np.float32)
        comp_t = (self.components.T / self.scale).astype(np.float32)
        mean = self.mean.astype(np.float32)
        for i in range(0, len(x), chunk):
            out[i : i + chunk] = (x[i : i + chunk] - mean) @ comp_t
        return out


def fit_pca(x: np.ndarray, k: int, chunk: int = 32768) -> PCA:
    """PCA to at most `k` components (fewer when rank allows fewer), deterministic signs.

    N >= D: eigen-decomposition of the covariance (accumulated in float64 chunks, so memory
    stays at one chunk beside the data); N < D: SVD of the centred data. Each component's
    sign makes its largest-magnitude loading positive. The scale makes the mean variance of
    the kept components 1.
    """
    x = np.asarray(x)
    n, d = x.shape
    mean = x.mean(axis=0, dtype=np.float64)
    k = int(max(1, min(k, d, n - 1))) if n > 1 else 1
    if n >= d:
        cov = np.zeros((d, d), dtype=np.float64)
        m32 = mean.astype(np.float32)
        for i in range(0, n, chunk):
            c = x[i : i + chunk].astype(np.float32) - m32
            cov += (c.T @ c).astype(np.float64)
        cov /= max(n - 1, 1)
        w, v = np.linalg.eigh(cov)
        order = np.argsort(w)[::-1][:k]
        var = np.clip(w[order], 0, None)
        comps = v[:, order].T
    else:
        c = x.astype(np.float64) - mean
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        var = (s[:k] ** 2) / max(n - 1, 1)
        comps = vt[:k]
    idx = np.argmax(np.abs(comps), axis=1)
    signs = np.sign(comps[np.arange(len(comps)), idx])
    signs[signs == 0] = 1
    comps = comps * signs[:, None]
    scale = float(np.sqrt(var.sum() / len(var))) if var.sum() > 0 else 1.0
    return PCA(mean=mean, components=comps, scale=scale, explained_variance=var)


# --------------------------------------------------------------------------- triplets


def triplet_indices(video_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Previous and next frame of each frame within its video, and whether it has both.

    `video_index` (N,) labels frames that are grouped per video in time order. Returns
    ``prev, next, valid``; where a frame lacks a neighbour, the index is the frame itself.
    """
    v = np.asarray(video_index)
    n = len(v)
    i = np.arange(n)
    has_prev = np.zeros(n, bool)
    has_next = np.zeros(n, bool)
    if n > 1:
        same = v[1:] == v[:-1]
        has_prev[1:] = same
        has_next[:-1] = same
    prev = np.where(has_prev, i - 1, i)
    nxt = np.where(has_next, i + 1, i)
    return prev, nxt, has_prev & has_next


CHUNK = 8  # frames per training sample: a run of consecutive frames of one video


def make_chunks(video_index: np.ndarray, length: int = CHUNK):
    """Runs of `length` consecutive frames of one video that cover every frame and triplet.

    Chunk k of a video starts at frame ``k * (length - 2)``: consecutive chunks overlap by two
    frames, so every frame with both neighbours in its video is the centre of exactly one
    triplet (positions 1 .. length-2 of one chunk), and each frame is encoded about
    ``length / (length - 2)`` times per epoch instead of 3 times (A, B and C separately).
    Returns ``idx`` (C, length) frame rows (padded with the video's last frame), ``rec``
    (C, length) 1 where the chunk reconstructs that frame (each frame once), ``tri``
    (C, length - 2) 1 where the centre has both neighbours.
    """
    v = np.asarray(video_index)
    step = length - 2
    bounds = np.flatnonzero(np.diff(v)) + 1
    starts_v = np.concatenate([[0], bounds]).astype(np.int64)
    ends_v = np.concatenate([bounds, [len(v)]]).astype(np.int64)
    idx, rec, tri = [], [], []
    j = np.arange(length)
    for a, b in zip(starts_v, ends_v, strict=True):
        n = int(b - a)
        k_last = max(0, (n - 3) // step) if n >= 3 else 0
        s0 = a + np.arange(k_last + 1) * step  # chunk starts
        pos = s0[:, None] + j[None, :]
        inside = pos < b
        own = (j[None, :] < step) | (np.arange(k_last + 1) == k_last)[:, None]
        idx.append(np.minimum(pos, b - 1))
        rec.append(inside & own)
        tri.append(pos[:, 1:-1] + 1 < b)
    return (
        np.concatenate(idx).astype(np.int64),
        np.concatenate(rec).astype(np.float32),
        np.concatenate(tri).astype(np.float32),
    )


def auto_batch(n_frames: int) -> int:
    """Frames per mini-batch when the settings say None: a power of two near N / 32 in
    [64, 2048] (few hundred frames: many small steps; 100 000 frames: 2048, so the fixed cost
    of a step does not dominate an epoch)."""
    target = min(max(n_frames / 32, 64), 2048)
    return int(2 ** round(math.log2(target)))


def log_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, eps: float) -> np.ndarray:
    """``log((eps + |a-b|^2) / (eps + |b-c|^2))`` row-wise (float64)."""
    ab = np.sum((a.astype(np.float64) - b) ** 2, axis=-1)
    bc = np.sum((b.astype(np.float64) - c) ** 2, axis=-1)
    return np.log(eps + ab) - np.log(eps + bc)


# --------------------------------------------------------------------------- stretch


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
        qs = np.quantile(r, np.linspace(0.0, 1.0, knots))
        qs = np.maximum.accumulate(qs)
    else:
        qs = np.array([0.0, 1.0])
    return Stretch(center=center, rotation=rot, radius_knots=qs, strength=strength, shape=shape)


# --------------------------------------------------------------------------- keras


def _keras():
    """Import Keras lazily, on the torch backend unless KERAS_BACKEND chose another."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def backend_name() -> str:
    return _keras().backend.backend()


@contextlib.contextmanager
def _tensorflow_hidden():
    """Keep Keras from importing TensorFlow into a process on another backend.

    Keras asks ``tf.available`` in `set_random_seed` and while serialising a model, which
    imports TensorFlow whenever it is installed (seconds and hundreds of MB, for nothing: no
    TensorFlow object can exist in a process that has not imported it). While TensorFlow is
    not imported and the backend is not TensorFlow, Keras' lazy module says "unavailable"
    inside this block, and is reset afterwards.
    """
    keras = _keras()
    lazy = None
    if keras.backend.backend() != "tensorflow" and "tensorflow" not in sys.modules:
        try:
            from keras.src.utils import module_utils

            lazy = module_utils.tensorflow
        except Exception:  # noqa: BLE001 - another Keras layout: let it import TF
            lazy = None
    if lazy is None or getattr(lazy, "_available", None) is not None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


TRAIN_THREADS = 1


@contextlib.contextmanager
def _few_threads():
    """Train and encode on `TRAIN_THREADS` torch thread(s).

    The layers are tiny (256 x 50 ...): a second intra-op thread buys nothing, and when the
    CPU is shared its OpenMP threads spin waiting for each other. Measured on this 2-core
    machine under load: 10 CPU-seconds per epoch on 2 threads against 1 on one thread
    (20 000 frames). TensorFlow fixes its pools at start-up; it is left alone.
    """
    keras = _keras()
    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _quiet_keras():
    """Silence the NumPy 2 ``__array__ copy`` deprecation warning Keras' torch backend
    raises on every batch (thousands of lines in a test log, nothing to act on)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation", category=DeprecationWarning
        )
        yield


def _seed_everything(seed: int) -> None:
    """`keras.utils.set_random_seed` (Python, NumPy, the backend, Keras' seed generator);
    on TensorFlow also op determinism."""
    keras = _keras()
    with _tensorflow_hidden():
        keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with contextlib.suppress(Exception):  # older TF: best effort
            tf.config.experimental.enable_op_determinism()


def save_keras(model: Any, path: str | Path) -> None:
    """``model.save(path)`` without importing TensorFlow on other backends."""
    with _tensorflow_hidden(), _quiet_keras():
        model.save(path)


def build_autoencoder(d: int, seed: int = 0):
    """Encoder, decoder and the autoencoder (all plain Keras functional models)."""
    keras = _keras()
    layers = keras.layers
    init = keras.initializers

    def dense(units: int, k: int, activation: str | None = None):
        return layers.Dense(
            units,
            activation=activation,
            kernel_initializer=init.GlorotUniform(seed=seed * 1000 + k),
        )

    enc_in = keras.Input((d,), name="features")
    h = enc_in
    k = 0
    for units in layer_sizes(d, 2, 3):
        h = dense(units, k, "elu")(h)
        h = layers.BatchNormalization(momentum=BN_MOMENTUM)(h)
        k += 1
    code = dense(2, k, "tanh")(h)
    k += 1
    encoder = keras.Model(enc_in, code, name="encoder")

    dec_in = keras.Input((2,), name="code")
    h = dec_in
    for units in layer_sizes(2, d, 4):
        h = dense(units, k, "elu")(h)
        h = layers.BatchNormalization(momentum=BN_MOMENTUM)(h)
        k += 1
    out = dense(d, k, None)(h)
    decoder = keras.Model(dec_in, out, name="decoder")

    ae_in = keras.Input((d,), name="features")
    autoencoder = keras.Model(ae_in, decoder(encoder(ae_in)), name="autoencoder")
    return encoder, decoder, autoencoder


_TRAINER: Any = None


def _trainer_class():
    """The training wrapper (defined once Keras is imported): three encoder passes, losses."""
    global _TRAINER
    if _TRAINER is not None:
        return _TRAINER
    keras = _keras()
    ops = keras.ops

    class LatentTrainer(keras.Model):
        def __init__(self, encoder, decoder, code_std, w_act, w_tri, eps_z, **kw):
            super().__init__(**kw)
            self.encoder = encoder
            self.decoder = decoder
            self.code_std = float(code_std)
            self.w_act = float(w_act)
            self.w_tri = float(w_tri)
            self.eps_z = float(eps_z)

        def call(self, inputs, training=False):
            x = inputs["x"]  # (chunks, CHUNK, d): runs of consecutive frames of one video
            flat = ops.reshape(x, (-1, ops.shape(x)[-1]))
            z = self.encoder(flat, training=training)
            rec = self.decoder(z, training=training)
            return {"z": ops.reshape(z, (-1, CHUNK, 2)), "rec": ops.reshape(rec, ops.shape(x))}

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            r = x["r"]  # (chunks, CHUNK): frames this chunk reconstructs (each frame once)
            n_r = ops.maximum(ops.sum(r), 1.0)
            err = ops.mean(ops.square(y_pred["rec"] - x["x"]), axis=-1)
            rec = ops.sum(r * err) / n_r
            z = y_pred["z"]
            w = ops.expand_dims(r, -1)
            mu = ops.sum(w * z, axis=(0, 1)) / n_r
            var = ops.sum(w * ops.square(z - mu), axis=(0, 1)) / n_r
            sd = ops.sqrt(var + 1e-8)
            act = ops.sum(ops.square(mu)) + ops.sum(ops.square(sd - self.code_std))
            za, zb, zc = z[:, :-2], z[:, 1:-1], z[:, 2:]
            dab = ops.sum(ops.square(za - zb), axis=-1)
            dbc = ops.sum(ops.square(zb - zc), axis=-1)
            lr = ops.log(self.eps_z + dab) - ops.log(self.eps_z + dbc)
            m = x["m"]  # (chunks, CHUNK - 2): centres with both neighbours in the video
            tri = ops.sum(m * ops.square(lr - x["t"])) / ops.maximum(ops.sum(m), 1.0)
            return rec + self.w_act * act + self.w_tri * tri

    _TRAINER = LatentTrainer
    return LatentTrainer


def _progress_callback(progress: ProgressFn | None, total: int):
    keras = _keras()

    class _Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history: list[float] = []
            self.val_history: list[float] = []

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            loss = float(logs.get("loss", float("nan")))
            self.history.append(loss)
            if "val_loss" in logs:
                self.val_history.append(float(logs["val_loss"]))
            if not math.isfinite(loss):
                self.model.stop_training = True
            if progress is not None:
                progress(epoch + 1, total, loss)

    return _Progress()


# --------------------------------------------------------------------------- model + result


@dataclass
class LatentModel:
    """A fitted map: PCA, the encoder (None for the PCA fallback) and the stretch.

    `transform` maps new embeddings of the same embedder onto the same map.
    """

    pca: PCA
    stretch: Stretch
    method: str  # "autoencoder" | "pca"
    settings: LatentSettings
    autoencoder: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def encoder(self):
        return None if self.autoencoder is None else self.autoencoder.get_layer("encoder")

    def encode(self, features: np.ndarray, batch: int = 8192) -> np.ndarray:
        """Raw code (before the stretch), (N, 2) float32."""
        x = _validated(features, "features")
        p = self.pca.transform(x)
        if self.autoencoder is None:
            return p[:, :2].astype(np.float32)
        keras = _keras()
        enc = self.encoder
        out = np.empty((len(p), 2), dtype=np.float32)
        with _quiet_keras(), _few_threads():
            for i in range(0, len(p), batch):
                z = enc(p[i : i + batch], training=False)
                out[i : i + batch] = keras.ops.convert_to_numpy(z)
        return out

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Coordinates in [-1, 1]^2 for `features` (N, D)."""
        if len(features) == 0:
            return np.zeros((0, 2), np.float32)
        return self.stretch.apply(self.encode(features))

    # -- persistence (no pickle: .keras + arrays loaded with allow_pickle=False + JSON)
    def to_arrays_meta(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything but the Keras model, as arrays + JSON-able metadata."""
        arrays = {
            "pca_mean": np.asarray(self.pca.mean),
            "pca_components": np.asarray(self.pca.components),
            "pca_var": np.asarray(self.pca.explained_variance),
            "center": np.asarray(self.stretch.center),
            "rotation": np.asarray(self.stretch.rotation),
            "radius_knots": np.asarray(self.stretch.radius_knots),
        }
        meta = {
            "method": self.method,
            "pca_scale": float(self.pca.scale),
            "stretch_strength": float(self.stretch.strength),
            "shape": self.stretch.shape,
            "settings": dataclasses.asdict(self.settings),
            "info": self.info,
        }
        return arrays, meta

    @classmethod
    def from_arrays_meta(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], model_file: Path | None
    ) -> LatentModel:
        """Inverse of `to_arrays_meta`; loads the Keras model from `model_file` if needed."""
        try:
            pca = PCA(
                mean=np.asarray(arrays["pca_mean"]),
                components=np.asarray(arrays["pca_components"]),
                scale=float(meta["pca_scale"]),
                explained_variance=np.asarray(arrays["pca_var"]),
            )
            stretch = Stretch(
                center=np.asarray(arrays["center"]),
                rotation=np.asarray(arrays["rotation"]),
                radius_knots=np.asarray(arrays["radius_knots"]),
                strength=float(meta["stretch_strength"]),
                shape=str(meta["shape"]),
            )
            settings = LatentSettings(**meta["settings"])
            method = str(meta["method"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"latent model data is incomplete: {exc}") from None
        ae = None
        if method == "autoencoder":
            if model_file is None or not Path(model_file).is_file():
                raise InputError(f"latent model file missing: {model_file}")
            keras = _keras()
            try:
                with _tensorflow_hidden(), _quiet_keras():
                    ae = keras.saving.load_model(model_file, compile=False)
            except Exception as exc:  # noqa: BLE001 - a damaged file is an input problem
                raise InputError(f"cannot load {model_file}: {exc}") from None
        return cls(pca, stretch, method, settings, ae, dict(meta.get("info", {})))

    def save(self, folder: str | Path) -> Path:
        """Write ``latent.npz``, ``latent.json`` and (autoencoder) ``autoencoder.keras``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays, meta = self.to_arrays_meta()
        np.savez(folder / ARRAYS_FILE, **arrays)
        (folder / META_FILE).write_text(json.dumps(meta, indent=1, default=float))
        if self.autoencoder is not None:
            save_keras(self.autoencoder, folder / MODEL_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LatentModel:
        """Read a folder written by `save` (or a store entry of `map_videos`)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text())
            with np.load(folder / ARRAYS_FILE, allow_pickle=False) as z:
                arr = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot read latent model in {folder}: {exc}") from None
        return cls.from_arrays_meta(arr, meta, folder / MODEL_FILE)


@dataclass(frozen=True)
class LatentResult:
    """Coordinates of every frame, in input order (videos concatenated).

    coords: float32 (N, 2) in [-1, 1].  code: float32 (N, 2), the raw tanh code (or PCA).
    video_index: int32 (N,) which input array each row came from; offsets: (V + 1,) row
    ranges per video.  method: "autoencoder" or "pca"; note: why, when it is "pca".
    history / val_history: loss per epoch.  metrics: final loss terms and code statistics.
    """

    coords: np.ndarray
    code: np.ndarray
    video_index: np.ndarray
    offsets: np.ndarray
    method: str
    note: str
    epochs_run: int
    history: tuple[float, ...]
    val_history: tuple[float, ...]
    metrics: dict[str, float]
    model: LatentModel = dataclasses.field(compare=False, repr=False)

    def per_video(self) -> list[np.ndarray]:
        return [self.coords[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]


def _validated(x: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} are not numeric: {exc}") from None
    if a.ndim != 2:
        raise InputError(f"{what} must be a 2-D array (frames x dims), got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise InputError(f"{what} contain NaN or infinite values (first at row {bad[0]})")
    return a


def _concat(features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(features, np.ndarray) and features.ndim == 2:
        features = [features]
    if len(features) == 0:
        raise InputError("no videos to map")
    arrs = []
    dims = set()
    for i, f in enumerate(features):
        a = _validated(f, f"features of video {i}")
        dims.add(a.shape[1])
        arrs.append(a)
    if len(dims) != 1:
        raise InputError(f"videos have embeddings of different sizes: {sorted(dims)}")
    counts = np.array([len(a) for a in arrs])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if offsets[-1] == 0:
        raise InputError("no frames to map (all videos are empty)")
    x = np.concatenate(arrs, axis=0) if len(arrs) > 1 else arrs[0]
    vidx = np.repeat(np.arange(len(arrs), dtype=np.int32), counts)
    return x, vidx, offsets


def fit_latent(
    features: Sequence[np.ndarray] | np.ndarray,
    settings: LatentSettings | None = None,
    progress: ProgressFn | None = None,
) -> LatentResult:
    """Fit the map on the frames of several videos and return every frame's coordinates.

    features: one (n_i, D) array per video, rows in time order (or one array = one video).
    progress: called as ``progress(epoch, total_epochs, loss)`` after each epoch.
    """
    s = settings or LatentSettings()
    x, vidx, offsets = _concat(features)
    n = len(x)
    if n < s.min_frames:
        return _fit_pca_fallback(
            x,
            vidx,
            offsets,
            s,
            f"only {n} frames (fewer than min_frames={s.min_frames}): "
            "used PCA to 2-D instead of training the autoencoder",
        )
    pca = fit_pca(x, s.pca_dims)
    p = pca.transform(x)
    if pca.explained_variance.sum() <= 0 or len(pca.components) < 2:
        return _fit_pca_fallback(
            x, vidx, offsets, s, "the features have no variance: used PCA to 2-D", pca=pca
        )
    del x
    d = p.shape[1]
    prev, nxt, valid = triplet_indices(vidx)
    total_var = float(np.sum(pca.explained_variance) / pca.scale**2)  # == d after scaling
    eps_x = s.triplet_eps * 2.0 * total_var
    eps_z = s.triplet_eps * 2.0 * 2.0 * s.code_std**2
    target = log_ratio(p[prev], p, p[nxt], eps_x).astype(np.float32)
    target[~valid] = 0.0

    keras = _keras()
    _seed_everything(s.seed)
    rng = np.random.default_rng(s.seed)
    encoder, decoder, autoencoder = build_autoencoder(d, seed=s.seed)
    trainer = _trainer_class()(
        encoder, decoder, s.code_std, s.activity_weight, s.triplet_weight, eps_z
    )
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate=s.learning_rate))

    idx, rec_mask, tri_mask = make_chunks(vidx)
    n_chunks = len(idx)
    batch_frames = s.batch_size if s.batch_size is not None else auto_batch(n)
    batch = max(1, batch_frames // CHUNK)
    n_val = int(round(n_chunks * s.validation_fraction))
    if n_chunks - n_val < 2 * batch or n_val < 4:
        n_val = 0  # too little data to hold some out: stop on the training loss
    perm = rng.permutation(n_chunks)
    val_c, tr_c = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    def inputs(c: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "x": p[idx[c]],
            "r": rec_mask[c],
            "t": target[idx[c][:, 1:-1]],
            "m": tri_mask[c],
        }

    train = inputs(tr_c)
    val = inputs(val_c) if n_val else None
    monitor = "val_loss" if val is not None else "loss"
    cb = _progress_callback(progress, s.epochs)
    stop = keras.callbacks.EarlyStopping(
        monitor=monitor,
        patience=s.patience,
        min_delta=s.min_delta,
        restore_best_weights=True,
    )
    with _quiet_keras(), _few_threads():
        trainer.fit(
            train,
            None,
            batch_size=int(min(batch, len(tr_c))),
            epochs=s.epochs,
            validation_data=(val,) if val is not None else None,
            shuffle=True,
            callbacks=[cb, stop],
            verbose=0,
        )
    del train, val
    if not cb.history or not all(math.isfinite(v) for v in cb.history):
        raise SettingsError(
            "training diverged (loss became NaN); lower learning_rate or the loss weights"
        )

    with _quiet_keras(), _few_threads():
        code = _encode(keras, encoder, p)
    if not np.isfinite(code).all():
        raise SettingsError("the trained map produced NaN coordinates; lower learning_rate")
    stretch = fit_stretch(
        code, strength=s.stretch, shape=s.shape, rotate=s.rotate, angle_deg=s.angle_deg
    )
    coords = stretch.apply(code)
    with _quiet_keras(), _few_threads():
        metrics = _metrics(keras, decoder, p, code, prev, nxt, valid, eps_x, eps_z)
    info = {
        "frames": int(n),
        "videos": len(offsets) - 1,
        "pca_dims": int(d),
        "encoder_sizes": [d, *layer_sizes(d, 2, 3), 2],
        "decoder_sizes": [2, *layer_sizes(2, d, 4), d],
        "epochs_run": len(cb.history),
        "backend": keras.backend.backend(),
        "metrics": metrics,
    }
    model = LatentModel(pca, stretch, "autoencoder", s, autoencoder, info)
    return LatentResult(
        coords=coords,
        code=code,
        video_index=vidx,
        offsets=offsets,
        method="autoencoder",
        note="",
        epochs_run=len(cb.history),
        history=tuple(cb.history),
        val_history=tuple(cb.val_history),
        metrics=metrics,
        model=model,
    )


def _encode(keras, encoder, p: np.ndarray, batch: int = 8192) -> np.ndarray:
    out = np.empty((len(p), 2), dtype=np.float32)
    for i in range(0, len(p), batch):
        out[i : i + batch] = keras.ops.convert_to_numpy(encoder(p[i : i + batch], training=False))
    return out


def _metrics(keras, decoder, p, code, prev, nxt, valid, eps_x, eps_z) -> dict[str, float]:
    """Final loss terms on all frames (inference mode) and code statistics."""
    sq = 0.0
    for i in range(0, len(p), 8192):
        rec = keras.ops.convert_to_numpy(decoder(code[i : i + 8192], training=False))
        sq += float(np.sum((rec - p[i : i + 8192]) ** 2))
    mse = sq / p.size
    total_var = float(np.mean(p.var(axis=0)))
    m: dict[str, float] = {
        "reconstruction_mse": mse,
        "explained_by_code": float(1.0 - mse / total_var) if total_var > 0 else 0.0,
        "code_mean_x": float(code[:, 0].mean()),
        "code_mean_y": float(code[:, 1].mean()),
        "code_std_x": float(code[:, 0].std()),
        "code_std_y": float(code[:, 1].std()),
    }
    if valid.any():
        tz = log_ratio(code[prev[valid]], code[valid], code[nxt[valid]], eps_z)
        tx = log_ratio(p[prev[valid]], p[valid], p[nxt[valid]], eps_x)
        m["triplet_mse"] = float(np.mean((tz - tx) ** 2))
        m["triplet_corr"] = (
            float(np.corrcoef(tz, tx)[0, 1]) if len(tz) > 2 and tz.std() > 0 else 0.0
        )
    return m


def _fit_pca_fallback(
    x: np.ndarray,
    vidx: np.ndarray,
    offsets: np.ndarray,
    s: LatentSettings,
    note: str,
    pca: PCA | None = None,
) -> LatentResult:
    n = len(x)
    if pca is None or len(pca.components) > 2:
        pca = fit_pca(x, 2) if n > 1 else fit_pca(np.vstack([x, x]), 2)
    code = pca.transform(x)
    if code.shape[1] < 2:
        code = np.concatenate([code, np.zeros((n, 2 - code.shape[1]), np.float32)], axis=1)
        pca = PCA(
            mean=pca.mean,
            components=np.vstack([pca.components, np.zeros((1, pca.components.shape[1]))]),
            scale=pca.scale,
            explained_variance=np.append(pca.explained_variance, 0.0),
        )
    stretch = fit_stretch(
        code, strength=s.stretch, shape=s.shape, rotate=s.rotate, angle_deg=s.angle_deg
    )
    coords = stretch.apply(code)
    info = {"frames": int(n), "videos": len(offsets) - 1, "note": note}
    model = LatentModel(pca, stretch, "pca", s, None, info)
    return LatentResult(
        coords=coords,
        code=code.astype(np.float32),
        video_index=vidx,
        offsets=offsets,
        method="pca",
        note=note,
        epochs_run=0,
        history=(),
        val_history=(),
        metrics={},
        model=model,
    )


# --------------------------------------------------------------------------- store-backed


LATENT_STAGE = "latent"
_MAP_ARRAYS = ("coords", "code", "video_index", "times_s", "frame_indices", "offsets")


@dataclass(frozen=True)
class LatentMap:
    """The map of a collection, rows in the order of the videos given (deduplicated by hash).

    coords (N, 2) in [-1, 1]; video_index (N,) into `hashes` / `names`; times_s and
    frame_indices (N,) of each frame.  path: the store entry (holds ``autoencoder.keras``),
    None when computed without a store.  cache_hit: loaded instead of trained.
    """

    coords: np.ndarray
    video_index: np.ndarray
    times_s: np.ndarray
    frame_indices: np.ndarray
    hashes: tuple[str, ...]
    names: tuple[str, ...]
    method: str
    note: str
    epochs_run: int
    history: tuple[float, ...]
    metrics: dict[str, Any]
    path: Path | None
    cache_hit: bool
    seconds: float = 0.0
    _model: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def model_file(self) -> Path | None:
        """The trained autoencoder (``.keras``), None for the PCA fallback."""
        if self.method != "autoencoder":
            return None
        if self.path is not None:
            return self.path / MODEL_FILE
        return None

    def model(self) -> LatentModel:
        """The fitted `LatentModel` (loads Keras and the model file from the store entry)."""
        if self._model is not None:
            return self._model
        if self.path is None:
            raise InputError("this map was computed without a store and has no model")
        arrays = {}
        for name in ("pca_mean", "pca_components", "pca_var", "center", "rotation", "radius_knots"):
            arrays[name] = np.load(self.path / f"{name}.npy", allow_pickle=False)
        meta = json.loads((self.path / "meta.json").read_text())["model"]
        return LatentModel.from_arrays_meta(arrays, meta, self.model_file)

    def export(self, folder: str | Path) -> list[Path]:
        """Write the model to `folder` (``autoencoder.keras`` + ``latent.npz`` + ``latent.json``)
        without loading Keras; returns the files written."""
        import shutil

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        if self.path is None:
            if self._model is None:
                raise InputError("nothing to export")
            self._model.save(folder)
            return sorted(folder.glob("latent.*")) + sorted(folder.glob("*.keras"))
        names = ("pca_mean", "pca_components", "pca_var", "center", "rotation", "radius_knots")
        arrays = {n: np.load(self.path / f"{n}.npy", allow_pickle=False) for n in names}
        np.savez(folder / ARRAYS_FILE, **arrays)
        written.append(folder / ARRAYS_FILE)
        meta = json.loads((self.path / "meta.json").read_text())["model"]
        (folder / META_FILE).write_text(json.dumps(meta, indent=1))
        written.append(folder / META_FILE)
        if self.model_file is not None:
            shutil.copyfile(self.model_file, folder / MODEL_FILE)
            written.append(folder / MODEL_FILE)
        return written

    def video_paths(self):
        from summarizer.atlas.trajectories import video_paths

        return video_paths(self.coords, self.video_index, self.times_s)


def _fingerprint(videos: Sequence[Any]) -> str:
    """Which frames were embedded (times, indices, shape): the part of the key that sampling
    settings change, read from the data so callers cannot forget it."""
    import hashlib

    h = hashlib.sha256()
    for v in videos:
        h.update(v.ref.sha256.encode())
        h.update(np.ascontiguousarray(np.asarray(v.times_s, np.float64)).tobytes())
        h.update(np.ascontiguousarray(np.asarray(v.indices, np.int64)).tobytes())
        h.update(str(tuple(np.shape(v.embeddings))).encode())
    return h.hexdigest()[:16]


def latent_key(store: Any, videos: Sequence[Any], settings: LatentSettings):
    """Store key: collection hash of the videos + settings (seed included) + frames + model."""
    from summarizer.config import settings_hash
    from summarizer.store import collection_hash

    model_ids = sorted({str(v.model_id) for v in videos})
    if len(model_ids) != 1:
        raise InputError(f"videos were embedded by different models: {', '.join(model_ids)}")
    group = collection_hash(v.ref.sha256 for v in videos)
    shash = settings_hash({"latent": dataclasses.asdict(settings), "frames": _fingerprint(videos)})
    return store.key(group, LATENT_STAGE, shash, model_ids[0])


def _unique_sorted(videos: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(unique videos in the caller's order, the same sorted by hash for fitting)."""
    seen: dict[str, Any] = {}
    for v in videos:
        seen.setdefault(v.ref.sha256, v)
    uniq = list(seen.values())
    return uniq, sorted(uniq, key=lambda v: v.ref.sha256)


def _result_to_map(
    uniq: list[Any],
    fit_order: list[Any],
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any],
    path: Path | None,
    hit: bool,
    seconds: float,
    model: Any = None,
) -> LatentMap:
    """Reorder stored rows (fit order, sorted by hash) into the caller's video order."""
    offsets = np.asarray(arrays["offsets"])
    pos = {v.ref.sha256: i for i, v in enumerate(fit_order)}
    rows = [np.arange(offsets[pos[v.ref.sha256]], offsets[pos[v.ref.sha256] + 1]) for v in uniq]
    sel = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    counts = [len(r) for r in rows]
    return LatentMap(
        coords=np.asarray(arrays["coords"])[sel],
        video_index=np.repeat(np.arange(len(uniq), dtype=np.int32), counts),
        times_s=np.asarray(arrays["times_s"])[sel],
        frame_indices=np.asarray(arrays["frame_indices"])[sel],
        hashes=tuple(v.ref.sha256 for v in uniq),
        names=tuple(v.ref.name for v in uniq),
        method=str(meta["method"]),
        note=str(meta.get("note", "")),
        epochs_run=int(meta.get("epochs_run", 0)),
        history=tuple(meta.get("history", ())),
        metrics=dict(meta.get("metrics", {})),
        path=path,
        cache_hit=hit,
        seconds=seconds,
        _model=model,
    )


def map_videos(
    videos: Sequence[Any],
    settings: LatentSettings | None = None,
    store: Any = None,
    progress: ProgressFn | None = None,
) -> LatentMap:
    """The latent map of `EmbeddedVideo`s, from the store or trained and saved there.

    Keyed by the set of video hashes (order and duplicates do not matter) + settings (the
    seed included) + the sampled frames + the embedding model. The entry holds the
    coordinates, the PCA/stretch arrays and ``autoencoder.keras``.
    """
    import time

    s = settings or LatentSettings()
    if not videos:
        raise InputError("no videos to map")
    uniq, fit_order = _unique_sorted(videos)
    t0 = time.perf_counter()

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any], LatentResult]:
        res = fit_latent([v.embeddings for v in fit_order], s, progress)
        arrays = {
            "coords": res.coords,
            "code": res.code,
            "video_index": res.video_index,
            "offsets": res.offsets,
            "times_s": np.concatenate([np.asarray(v.times_s, np.float64) for v in fit_order]),
            "frame_indices": np.concatenate([np.asarray(v.indices, np.int64) for v in fit_order]),
        }
        marr, mmeta = res.model.to_arrays_meta()
        arrays.update(marr)
        meta = {
            "method": res.method,
            "note": res.note,
            "epochs_run": res.epochs_run,
            "history": list(res.history),
            "val_history": list(res.val_history),
            "metrics": res.metrics,
            "videos": [{"sha256": v.ref.sha256, "name": v.ref.name} for v in fit_order],
            "model": mmeta,
        }
        return arrays, meta, res

    if store is None:
        arrays, meta, res = compute()
        return _result_to_map(
            uniq, fit_order, arrays, meta, None, False, time.perf_counter() - t0, res.model
        )

    key = latent_key(store, fit_order, s)

    def valid(r) -> bool:
        return (
            r is not None
            and all(n in r for n in _MAP_ARRAYS)
            and "model" in r.meta
            and (r.meta.get("method") != "autoencoder" or (r.path / MODEL_FILE).is_file())
            and len(r["offsets"]) == len(fit_order) + 1
        )

    entry = store.load(key)
    hit = valid(entry)
    if not hit:
        with store.lock(key):
            entry = store.load(key)
            hit = valid(entry)
            if not hit:
                arrays, meta, res = compute()
                with store.writer(key) as w:
                    for name, arr in arrays.items():
                        w.add(name, arr)
                    if res.model.autoencoder is not None:
                        save_keras(res.model.autoencoder, w.tmp / MODEL_FILE)
                    w.commit(meta)
                entry = store.load(key)
                if not valid(entry):
                    from summarizer.errors import StoreError

                    raise StoreError(f"latent map {key} could not be read back after writing")
    seconds = time.perf_counter() - t0
    store.record_run(key, seconds, hit, dataclasses.asdict(s))
    return _result_to_map(uniq, fit_order, dict(entry.arrays), entry.meta, entry.path, hit, seconds)
