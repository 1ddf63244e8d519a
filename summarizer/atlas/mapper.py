"""`LatentMapper`: frame embeddings of a collection -> 2-D coordinates in [-1, 1], fit once,
then transform new frames of the same embedder; saved and loaded in one format.

Steps (each a module of `summarizer.atlas`):

1. **PCA** (`pca`) to ``min(pca_dims, D, N - 1)`` components (256 by default), exact and
   streamed over the videos' arrays (they may be memory maps), one scalar scale.
2. **Autoencoder** (`autoencoder`) to a 2-D ``tanh`` code with the activity regulariser and the
   triplet log-ratio loss on consecutive frames (`triplets`), trained in mini-batches with early
   stopping on the map's trustworthiness (or the loss).
3. **Stretch** (`stretch`): percentile stretch so the points fill the square (or disc).

Too few frames to train (< ``min_frames``): PCA to 2-D instead, said in ``LatentResult.note``.
NaN or infinite features raise `InputError`; nonsense settings `SettingsError`.

On disk (`save` / `load`; no pickle) a mapper is three files in a folder: ``latent.npz``
(PCA and stretch arrays, read with ``allow_pickle=False``), ``latent.json`` (method, scales,
settings, info) and ``autoencoder.keras`` (the Keras model; absent for the PCA fallback). The
store keeps a map's model as exactly these files.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.atlas.autoencoder import ProgressFn, decode, encode, layer_sizes
from summarizer.atlas.pca import PCA, PCAAccumulator
from summarizer.atlas.settings import LatentSettings
from summarizer.atlas.stretch import Stretch, fit_stretch
from summarizer.atlas.triplets import log_ratio, triplet_indices
from summarizer.errors import InputError, SettingsError

MODEL_FILE = "autoencoder.keras"
ARRAYS_FILE = "latent.npz"
META_FILE = "latent.json"
FILES = (ARRAYS_FILE, META_FILE, MODEL_FILE)
ROWS = 65536  # rows per step when checking, projecting and scoring


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
    model: LatentMapper = dataclasses.field(compare=False, repr=False)

    def per_video(self) -> list[np.ndarray]:
        return [self.coords[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]


def _as_videos(features: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """Check every video's features in chunks (no copy: they may be memory maps)."""
    if isinstance(features, np.ndarray) and features.ndim == 2:
        features = [features]
    if len(features) == 0:
        raise InputError("no videos to map")
    arrs, dims = [], set()
    for i, f in enumerate(features):
        what = f"features of video {i}"
        a = f if isinstance(f, np.ndarray) else _numeric(f, what)
        if a.ndim != 2:
            raise InputError(f"{what} must be a 2-D array (frames x dims), got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise InputError(f"{what} are not numeric (dtype {a.dtype})")
        for j in range(0, len(a), ROWS):
            ok = np.isfinite(a[j : j + ROWS])
            if not ok.all():
                bad = np.argwhere(~ok)[0]
                raise InputError(
                    f"{what} contain NaN or infinite values (first at row {j + bad[0]})"
                )
        dims.add(a.shape[1])
        arrs.append(a)
    if len(dims) != 1:
        raise InputError(f"videos have embeddings of different sizes: {sorted(dims)}")
    if sum(len(a) for a in arrs) == 0:
        raise InputError("no frames to map (all videos are empty)")
    return arrs


def _numeric(x: Any, what: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} are not numeric: {exc}") from None


class LatentMapper:
    """Fit a latent map on the frames of several videos; transform, save, load (sklearn style).

    ``LatentMapper(settings).fit(videos)``: `videos` is one (n_i, D) array per video, rows in
    time order (memory maps welcome), or one array = one video. After fitting: ``method``
    ("autoencoder" or "pca"), ``pca``, ``stretch``, ``autoencoder`` (Keras, None for PCA),
    ``info`` and ``result_`` (the fitted frames' `LatentResult`). `threads`: torch threads
    while training (None: leave the process' setting).
    """

    def __init__(self, settings: LatentSettings | None = None, *, threads: int | None = None):
        self.settings = settings or LatentSettings()
        self.threads = threads
        self.pca: PCA | None = None
        self.stretch: Stretch | None = None
        self.method = ""
        self.autoencoder: Any = None
        self.info: dict[str, Any] = {}
        self.result_: LatentResult | None = None

    # -- fit ---------------------------------------------------------------------------
    def fit(self, features: Sequence[np.ndarray] | np.ndarray, progress: ProgressFn | None = None):
        """Fit on the frames; ``progress(epoch, total_epochs, loss)`` after each epoch."""
        s = self.settings
        vids = _as_videos(features)
        counts = np.array([len(a) for a in vids])
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        vidx = np.repeat(np.arange(len(vids), dtype=np.int32), counts)
        n = int(offsets[-1])
        if n < s.min_frames:
            note = (
                f"only {n} frames (fewer than min_frames={s.min_frames}): "
                "used PCA to 2-D instead of training the autoencoder"
            )
            return self._fit_pca(vids, vidx, offsets, note)
        acc = PCAAccumulator()
        for a in vids:
            acc.add(a)
        pca = acc.fit(s.pca_dims)
        if pca.explained_variance.sum() <= 0 or len(pca.components) < 2:
            return self._fit_pca(
                vids, vidx, offsets, "the features have no variance: used PCA to 2-D"
            )
        p = np.empty((n, len(pca.components)), dtype=np.float32)
        for a, lo, hi in zip(vids, offsets[:-1], offsets[1:], strict=True):
            pca.transform(a, out=p[lo:hi])
        self._fit_autoencoder(pca, p, vidx, offsets, progress)
        return self

    def _fit_autoencoder(self, pca, p, vidx, offsets, progress) -> None:
        from summarizer.atlas import autoencoder as ae
        from summarizer.atlas.backend import backend_name

        s = self.settings
        n, d = p.shape
        prev, nxt, valid = triplet_indices(vidx)
        eps_x = s.triplet_eps * 2.0 * float(np.sum(pca.explained_variance) / pca.scale**2)
        eps_z = s.triplet_eps * 2.0 * 2.0 * s.code_std**2
        target = np.zeros(n, np.float32)
        for i in range(0, n, ROWS):
            j = np.arange(i, min(n, i + ROWS))
            target[j] = log_ratio(p[prev[j]], p[j], p[nxt[j]], eps_x)
        target[~valid] = 0.0
        tr = ae.train(p, vidx, target, eps_z, s, progress, self.threads)
        if not tr.history or not all(math.isfinite(v) for v in tr.history):
            raise SettingsError(
                "training diverged (loss became NaN); lower learning_rate or the loss weights"
            )
        code = encode(tr.encoder, p)
        if not np.isfinite(code).all():
            raise SettingsError("the trained map produced NaN coordinates; lower learning_rate")
        self.pca, self.method, self.autoencoder = pca, "autoencoder", tr.autoencoder
        self.stretch = fit_stretch(
            code, strength=s.stretch, shape=s.shape, rotate=s.rotate, angle_deg=s.angle_deg
        )
        coords = self.stretch.apply(code)
        metrics = _metrics(tr.decoder, p, code, prev, nxt, valid, eps_x, eps_z)
        if tr.scores:
            metrics["monitor_trustworthiness"] = max(tr.scores)
        self.info = {
            "frames": int(n),
            "videos": len(offsets) - 1,
            "pca_dims": int(d),
            "encoder_sizes": [d, *layer_sizes(d, 2, 3), 2],
            "decoder_sizes": [2, *layer_sizes(2, d, 4), d],
            "epochs_run": len(tr.history),
            "best_epoch": tr.best_epoch,
            "steps": tr.steps,
            "frames_seen": tr.seen,
            "backend": backend_name(),
            "metrics": metrics,
        }
        self.result_ = LatentResult(
            coords=coords,
            code=code,
            video_index=vidx,
            offsets=offsets,
            method="autoencoder",
            note="",
            epochs_run=len(tr.history),
            history=tuple(tr.history),
            val_history=tuple(tr.val_history),
            metrics=metrics,
            model=self,
        )

    def _fit_pca(self, vids, vidx, offsets, note: str):
        s = self.settings
        x = np.concatenate([np.asarray(a, dtype=np.float32) for a in vids])
        n = len(x)
        pca = PCAAccumulator()
        pca.add(x if n > 1 else np.vstack([x, x]))
        self.pca = pca.fit(2)
        if len(self.pca.components) < 2:  # one component: pad with a zero axis
            self.pca = PCA(
                mean=self.pca.mean,
                components=np.vstack([self.pca.components, np.zeros((1, x.shape[1]))]),
                scale=self.pca.scale,
                explained_variance=np.append(self.pca.explained_variance, 0.0),
            )
        code = self.pca.transform(x)
        self.method, self.autoencoder = "pca", None
        self.stretch = fit_stretch(
            code, strength=s.stretch, shape=s.shape, rotate=s.rotate, angle_deg=s.angle_deg
        )
        self.info = {"frames": int(n), "videos": len(offsets) - 1, "note": note}
        self.result_ = LatentResult(
            coords=self.stretch.apply(code),
            code=code,
            video_index=vidx,
            offsets=offsets,
            method="pca",
            note=note,
            epochs_run=0,
            history=(),
            val_history=(),
            metrics={},
            model=self,
        )
        return self

    # -- transform ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.pca is None or self.stretch is None:
            raise InputError("the latent map is not fitted yet")

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Raw code (before the stretch), (N, 2) float32, computed in chunks."""
        self._check_fitted()
        x = _as_videos([features])[0] if len(features) else np.zeros((0, 2))
        out = np.empty((len(x), 2), dtype=np.float32)
        for i in range(0, len(x), ROWS):
            p = self.pca.transform(x[i : i + ROWS])
            out[i : i + ROWS] = p[:, :2] if self.autoencoder is None else encode(self._encoder(), p)
        return out

    def _encoder(self):
        return self.autoencoder.get_layer("encoder")

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Coordinates in [-1, 1]^2 for `features` (N, D)."""
        if len(features) == 0:
            return np.zeros((0, 2), np.float32)
        return self.stretch.apply(self.encode(features))

    def fit_transform(self, features, progress: ProgressFn | None = None) -> np.ndarray:
        return self.fit(features, progress).result_.coords

    # -- persistence ----------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[Path]:
        """Write ``latent.npz``, ``latent.json`` and (autoencoder) ``autoencoder.keras``."""
        from summarizer.atlas.backend import quiet

        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
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
        np.savez(folder / ARRAYS_FILE, **arrays)
        (folder / META_FILE).write_text(json.dumps(meta, indent=1, default=float))
        written = [folder / ARRAYS_FILE, folder / META_FILE]
        if self.autoencoder is not None:
            with quiet():
                self.autoencoder.save(folder / MODEL_FILE)
            written.append(folder / MODEL_FILE)
        return written

    @classmethod
    def load(cls, folder: str | Path) -> LatentMapper:
        """Read a folder written by `save` (an export, or a map's store entry)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text())
            with np.load(folder / ARRAYS_FILE, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            self = cls(LatentSettings(**meta["settings"]))
            self.pca = PCA(
                mean=arrays["pca_mean"],
                components=arrays["pca_components"],
                scale=float(meta["pca_scale"]),
                explained_variance=arrays["pca_var"],
            )
            self.stretch = Stretch(
                center=arrays["center"],
                rotation=arrays["rotation"],
                radius_knots=arrays["radius_knots"],
                strength=float(meta["stretch_strength"]),
                shape=str(meta["shape"]),
            )
            self.method = str(meta["method"])
            self.info = dict(meta.get("info", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot read the latent map in {folder}: {exc}") from None
        if self.method == "autoencoder":
            self.autoencoder = _load_keras(folder / MODEL_FILE)
        return self


def _load_keras(path: Path) -> Any:
    from summarizer.atlas.backend import keras, quiet

    if not path.is_file():
        raise InputError(f"latent model file missing: {path}")
    try:
        with quiet():
            return keras().saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - a damaged file is an input problem
        raise InputError(f"cannot load {path}: {exc}") from None


def _metrics(decoder, p, code, prev, nxt, valid, eps_x, eps_z) -> dict[str, float]:
    """Final loss terms on all frames (inference mode, in chunks) and code statistics."""
    n, d = p.shape
    sq, s1, s2 = 0.0, np.zeros(d), np.zeros(d)
    for i in range(0, n, ROWS):
        pc = p[i : i + ROWS]
        sq += float(np.sum((decode(decoder, code[i : i + ROWS]) - pc) ** 2))
        s1 += pc.sum(axis=0, dtype=np.float64)
        s2 += np.square(pc, dtype=np.float64).sum(axis=0)
    mse = sq / p.size
    total_var = float(np.mean(s2 / n - (s1 / n) ** 2))
    m: dict[str, float] = {
        "reconstruction_mse": mse,
        "explained_by_code": float(1.0 - mse / total_var) if total_var > 0 else 0.0,
        "code_mean_x": float(code[:, 0].mean()),
        "code_mean_y": float(code[:, 1].mean()),
        "code_std_x": float(code[:, 0].std()),
        "code_std_y": float(code[:, 1].std()),
    }
    if valid.any():
        v = np.flatnonzero(valid)
        v = v[:: max(1, len(v) // 100_000)]  # a strided sample keeps the temporaries small
        tz = log_ratio(code[prev[v]], code[v], code[nxt[v]], eps_z)
        tx = log_ratio(p[prev[v]], p[v], p[nxt[v]], eps_x)
        m["triplet_mse"] = float(np.mean((tz - tx) ** 2))
        m["triplet_corr"] = (
            float(np.corrcoef(tz, tx)[0, 1]) if len(tz) > 2 and tz.std() > 0 else 0.0
        )
    return m


def fit_latent(
    features: Sequence[np.ndarray] | np.ndarray,
    settings: LatentSettings | None = None,
    progress: ProgressFn | None = None,
    *,
    threads: int | None = None,
) -> LatentResult:
    """Fit the map on the frames of several videos; every frame's coordinates (`LatentResult`,
    whose ``model`` is the fitted `LatentMapper`)."""
    mapper = LatentMapper(settings, threads=threads).fit(features, progress)
    assert mapper.result_ is not None
    return mapper.result_
