"""The map's network: a small Keras autoencoder to a 2-D ``tanh`` code, and its training.

Encoder ``d -> 50 -> 10 -> 2`` (Dense + elu + BatchNormalization, ``tanh`` code), decoder
``2 -> 6 -> 22 -> 76 -> d`` (Dense + elu + BatchNormalization, linear output); the hidden
sizes are weighted geometric means of the two ends (`layer_sizes`)::

    size_k = floor(a ** (1 - k / n) * b ** (k / n)),   k = 1 .. n - 1

Loss = reconstruction MSE
     + ``activity_weight`` * (mean(code)^2 + (std(code) - code_std)^2, summed over x and y)
     + ``triplet_weight`` * the triplet log-ratio loss (`summarizer.atlas.triplets`).

Training streams mini-batches (`ChunkBatches`, a `keras.utils.PyDataset`) of runs of
consecutive frames gathered from the PCA'd frames, so only one batch is copied at a time:
a million frames train in the memory of their PCA (N x 256 float32). Early stopping follows
`LatentSettings.monitor`: the trustworthiness (k = 10) of the code on a fixed sample of frames,
i.e. what makes a map good (frames near each other on the map are neighbours in the
features), or the loss; the best weights are kept. Everything is built through Keras' public
API, seeded (initialisers, batch order, validation split) and deterministic on one backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from summarizer.atlas.backend import keras, quiet, torch_threads
from summarizer.atlas.settings import LatentSettings
from summarizer.atlas.triplets import CHUNK, make_chunks

ProgressFn = Callable[[int, int, float], None]
# Keras' default 0.99 lags badly when an epoch is a few steps (small collections): the
# moving statistics used at inference then differ from the batch statistics trained on.
BN_MOMENTUM = 0.9
MONITOR_SAMPLE = 1000  # frames whose map trustworthiness early stopping follows
MONITOR_STEPS = 25  # optimiser steps between two trustworthiness checks (at least 1 epoch)
TRUST_K = 10


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


def auto_batch(n_frames: int) -> int:
    """Frames per mini-batch when the settings say None: a power of two near N / 32 in
    [64, 2048] (few hundred frames: many small steps; 100 000 frames: 2048, so the fixed cost
    of a step does not dominate an epoch)."""
    target = min(max(n_frames / 32, 64), 2048)
    return int(2 ** round(math.log2(target)))


def build_autoencoder(d: int, seed: int = 0):
    """Encoder, decoder and the autoencoder (all plain Keras functional models)."""
    k_ = keras()
    layers = k_.layers

    def dense(units: int, k: int, activation: str | None = None):
        init = k_.initializers.GlorotUniform(seed=seed * 1000 + k)
        return layers.Dense(units, activation=activation, kernel_initializer=init)

    enc_in = k_.Input((d,), name="features")
    h = enc_in
    k = 0
    for units in layer_sizes(d, 2, 3):
        h = layers.BatchNormalization(momentum=BN_MOMENTUM)(dense(units, k, "elu")(h))
        k += 1
    code = dense(2, k, "tanh")(h)
    k += 1
    encoder = k_.Model(enc_in, code, name="encoder")

    dec_in = k_.Input((2,), name="code")
    h = dec_in
    for units in layer_sizes(2, d, 4):
        h = layers.BatchNormalization(momentum=BN_MOMENTUM)(dense(units, k, "elu")(h))
        k += 1
    decoder = k_.Model(dec_in, dense(d, k, None)(h), name="decoder")

    ae_in = k_.Input((d,), name="features")
    autoencoder = k_.Model(ae_in, decoder(encoder(ae_in)), name="autoencoder")
    return encoder, decoder, autoencoder


def encode(encoder: Any, p: np.ndarray, batch: int = 8192) -> np.ndarray:
    """The encoder's code of `p` (N, d) in inference mode, in batches: (N, 2) float32."""
    ops = keras().ops
    out = np.empty((len(p), 2), dtype=np.float32)
    with quiet():
        for i in range(0, len(p), batch):
            chunk = np.asarray(p[i : i + batch], dtype=np.float32)
            out[i : i + batch] = ops.convert_to_numpy(encoder(chunk, training=False))
    return out


def decode(decoder: Any, z: np.ndarray) -> np.ndarray:
    with quiet():
        return keras().ops.convert_to_numpy(decoder(z, training=False))


def _trainer(encoder, decoder, s: LatentSettings, eps_z: float):
    """The training wrapper: encodes runs of frames, returns the three loss terms' sum."""
    k_ = keras()
    ops = k_.ops

    class LatentTrainer(k_.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.encoder = encoder
            self.decoder = decoder

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
            act = ops.sum(ops.square(mu)) + ops.sum(ops.square(sd - s.code_std))
            za, zb, zc = z[:, :-2], z[:, 1:-1], z[:, 2:]
            dab = ops.sum(ops.square(za - zb), axis=-1)
            dbc = ops.sum(ops.square(zb - zc), axis=-1)
            lr = ops.log(eps_z + dab) - ops.log(eps_z + dbc)
            m = x["m"]  # (chunks, CHUNK - 2): centres with both neighbours in the video
            tri = ops.sum(m * ops.square(lr - x["t"])) / ops.maximum(ops.sum(m), 1.0)
            return rec + s.activity_weight * act + s.triplet_weight * tri

    return LatentTrainer()


def _batches(p, idx, rec, tri, target, chunks, batch, rng):
    """A `keras.utils.PyDataset` of mini-batches of runs, reshuffled every epoch (`rng`
    None: in order). Only one batch of frames is gathered from `p` at a time."""
    k_ = keras()

    class ChunkBatches(k_.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.order = np.array(chunks)
            self.on_epoch_end()

        def __len__(self) -> int:
            return max(1, math.ceil(len(self.order) / batch))

        def __getitem__(self, i: int):
            c = self.order[i * batch : (i + 1) * batch]
            rows = idx[c]
            return ({"x": p[rows], "r": rec[c], "t": target[rows[:, 1:-1]], "m": tri[c]},)

        def on_epoch_end(self) -> None:
            if rng is not None:
                self.order = rng.permutation(chunks)

    return ChunkBatches()


def trustworthiness(x: np.ndarray, y: np.ndarray, k: int = TRUST_K) -> float:
    """scikit-learn's trustworthiness of the embedding `y` of `x` (1: no false neighbours)."""
    from sklearn.manifold import trustworthiness as tw

    k = int(min(k, max(1, (len(x) - 1) // 2 - 1)))
    return float(tw(x, y, n_neighbors=k))


@dataclass
class Training:
    """What `train` returns: the networks and how training went."""

    encoder: Any
    decoder: Any
    autoencoder: Any
    history: list[float] = field(default_factory=list)
    val_history: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    best_epoch: int = 0
    steps: int = 0
    seen: int = 0


def _monitor_callback(
    s: LatentSettings,
    encoder,
    sample: np.ndarray | None,
    steps_per_epoch: int,
    frames_per_epoch: int,
    progress: ProgressFn | None,
    use_val: bool,
    out: Training,
):
    """Per epoch: record the losses, report progress, and stop early when the monitored score
    (higher trustworthiness, or lower loss) has not improved by `min_delta` for `patience`
    checks after training saw at least `min_seen` frames; the best weights are put back at the end."""
    k_ = keras()
    every = max(1, math.ceil(MONITOR_STEPS / max(steps_per_epoch, 1)))

    class Monitor(k_.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = -math.inf
            self.best_weights = None
            self.wait = 0

        def _score(self, epoch: int, logs: dict) -> float | None:
            if s.monitor == "loss":
                return -float(logs.get("val_loss" if use_val else "loss", math.nan))
            last = epoch + 1 == s.epochs
            if (epoch + 1) % every and not last:
                return None
            code = encode(encoder, sample)
            if not np.isfinite(code).all():
                return -math.inf
            score = trustworthiness(sample, code)
            out.scores.append(score)
            return score

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            loss = float(logs.get("loss", float("nan")))
            out.history.append(loss)
            if "val_loss" in logs:
                out.val_history.append(float(logs["val_loss"]))
            out.steps += steps_per_epoch
            out.seen += frames_per_epoch
            if progress is not None:
                progress(epoch + 1, s.epochs, loss)
            if not math.isfinite(loss):
                self.model.stop_training = True
                return
            score = self._score(epoch, logs)
            if score is None:
                return
            if score > self.best:
                self.wait = 0 if score > self.best + s.min_delta else self.wait + 1
                self.best, self.best_weights = score, self.model.get_weights()
                out.best_epoch = epoch + 1
            else:
                self.wait += 1
            if self.wait >= s.patience and out.seen >= s.min_seen:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return Monitor()


def train(
    p: np.ndarray,
    video_index: np.ndarray,
    target: np.ndarray,
    eps_z: float,
    s: LatentSettings,
    progress: ProgressFn | None = None,
    threads: int | None = None,
) -> Training:
    """Train the autoencoder on `p` (N, d) PCA'd frames grouped per video in time order.

    target: the inputs' triplet log-ratio per frame (0 where a frame lacks a neighbour).
    threads: torch threads for training (None: the process' setting).
    """
    k_ = keras()
    rng = np.random.default_rng(s.seed)
    n, d = p.shape
    encoder, decoder, autoencoder = build_autoencoder(d, seed=s.seed)
    trainer = _trainer(encoder, decoder, s, eps_z)
    trainer.compile(optimizer=k_.optimizers.Adam(learning_rate=s.learning_rate))

    idx, rec_mask, tri_mask = make_chunks(video_index)
    n_chunks = len(idx)
    batch_frames = s.batch_size if s.batch_size is not None else auto_batch(n)
    batch = max(1, batch_frames // CHUNK)
    use_val = s.monitor == "loss"
    n_val = int(round(n_chunks * s.validation_fraction)) if use_val else 0
    if n_chunks - n_val < 2 * batch or n_val < 4:
        n_val = 0  # too little data to hold some out: stop on the training loss
    perm = rng.permutation(n_chunks)
    val_c, tr_c = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    batch = int(min(batch, len(tr_c)))
    train_data = _batches(p, idx, rec_mask, tri_mask, target, tr_c, batch, rng)
    val_data = _batches(p, idx, rec_mask, tri_mask, target, val_c, batch, None) if n_val else None
    sample = None
    if s.monitor == "trustworthiness":
        rows = np.sort(rng.choice(n, size=min(n, MONITOR_SAMPLE), replace=False))
        sample = np.asarray(p[rows], dtype=np.float32)
    out = Training(encoder, decoder, autoencoder)
    monitor = _monitor_callback(
        s, encoder, sample, len(train_data), len(tr_c) * CHUNK, progress, n_val > 0, out
    )
    with quiet(), torch_threads(threads):
        trainer.fit(
            train_data,
            epochs=s.epochs,
            validation_data=val_data,
            shuffle=False,  # the batches reshuffle themselves, from the seeded `rng`
            callbacks=[monitor],
            verbose=0,
        )
    return out
