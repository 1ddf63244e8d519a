"""`LatentMap`: the map of a collection as the flow returns it (rows in the caller's order).

`summarizer.flow.map_collection` fits a `LatentMapper` on the videos sorted by hash (so the
same set gives the same map whatever the order) and keeps the result in the store; `reorder`
turns those rows into the caller's video order.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.atlas.mapper import FILES, MODEL_FILE, LatentMapper
from summarizer.errors import InputError

MAP_ARRAYS = ("coords", "code", "video_index", "times_s", "frame_indices", "offsets")


@dataclass(frozen=True)
class LatentMap:
    """The map of a collection, rows in the order of the videos given (deduplicated by hash).

    coords (N, 2) in [-1, 1]; video_index (N,) into `hashes` / `names`; times_s and
    frame_indices (N,) of each frame.  path: the store entry (holds the mapper's files), None
    when computed without a store.  cache_hit: loaded instead of trained.
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
    _model: Any = field(default=None, compare=False, repr=False)

    @property
    def model_file(self) -> Path | None:
        """The trained autoencoder (``.keras``), None for the PCA fallback."""
        if self.method != "autoencoder" or self.path is None:
            return None
        return self.path / MODEL_FILE

    def model(self) -> LatentMapper:
        """The fitted `LatentMapper` (loaded from the store entry when needed)."""
        if self._model is not None:
            return self._model
        if self.path is None:
            raise InputError("this map was computed without a store and has no model")
        return LatentMapper.load(self.path)

    def export(self, folder: str | Path) -> list[Path]:
        """Copy the mapper's files (``latent.npz``, ``latent.json``, ``autoencoder.keras``) to
        `folder` (no Keras needed); returns the files written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.path is None:
            if self._model is None:
                raise InputError("nothing to export")
            return self._model.save(folder)
        written = []
        for name in FILES:
            if (self.path / name).is_file():
                shutil.copyfile(self.path / name, folder / name)
                written.append(folder / name)
        return written

    def video_paths(self):
        from summarizer.atlas.trajectories import video_paths

        return video_paths(self.coords, self.video_index, self.times_s)


def unique_sorted(videos: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(unique videos in the caller's order, the same sorted by hash for fitting)."""
    seen: dict[str, Any] = {}
    for v in videos:
        seen.setdefault(v.ref.sha256, v)
    uniq = list(seen.values())
    return uniq, sorted(uniq, key=lambda v: v.ref.sha256)


def reorder(
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
