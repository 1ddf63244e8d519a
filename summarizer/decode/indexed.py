"""What the video backends share: sampling over the frame index, batches, damage, fallback.

A backend only implements `decode(wanted, size, batch, damage, tail)`: the wanted frames
(sorted, unique source indices) at `size`, in batches, reporting frames it could not decode
to `damage`. When a backend fails part way (decord on a corrupt packet, or on a frame size it
mangles), it raises `BackendFailed` and the `fallback` backend (PyAV) carries on from the
last frame delivered, with the same index.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from summarizer.config import SampleSettings
from summarizer.data import FrameBatch, Probe
from summarizer.decode.sampling import select_indices, target_size
from summarizer.decode.source import (
    DamageLog,
    DecodeStats,
    VideoIndex,
    batch_cap,
    empty_batch,
    warn_truncated,
)
from summarizer.errors import InputError


class BackendFailed(Exception):
    """The backend cannot go on; frames up to and including `done` were delivered."""

    def __init__(self, done: int, reason: str = ""):
        super().__init__(reason)
        self.done = done


class IndexedSource:
    """A video file read by one backend over a `VideoIndex` (see `FrameSource`)."""

    backend = ""

    def __init__(self, path: Path, index: VideoIndex, why: str = ""):
        self.path = path
        self.index = index
        self.why = why  # why the probe chose this backend (for logs and reports)

    # ----------------------------------------------------------------- to implement
    def decode(
        self,
        wanted: np.ndarray,
        size: tuple[int, int],
        batch: int,
        damage: DamageLog,
        tail: bool,
    ) -> Iterator[FrameBatch]:
        raise NotImplementedError

    def fallback(self) -> IndexedSource | None:
        return None

    # ----------------------------------------------------------------- FrameSource
    def probe(self) -> Probe:
        return self.index.probe(self.backend)

    def iter_frames(
        self, settings: SampleSettings, stats: DecodeStats | None = None
    ) -> Iterator[FrameBatch]:
        index = self.index
        wanted = select_indices(index.times, settings, index.keys, index.end_s)
        if len(wanted) == 0:
            raise InputError(
                f"{self.path.name}: no frames in the range {settings.start_s:g}-"
                f"{'end' if settings.end_s is None else f'{settings.end_s:g}'} s "
                f"(the video lasts {index.end_s:.2f} s)"
            )
        warn_truncated(self.path.name, index, stats)
        size = target_size(*index.size, settings.short_side)
        damage = DamageLog(self.path.name, index, stats)
        produced = 0
        try:
            batch = batch_cap(settings.batch_frames, size)
            for b in self._run(wanted, size, batch, damage, settings.end_s is None):
                produced += len(b)
                if stats is not None:
                    stats.frames += len(b)
                yield b
        finally:
            damage.flush()
        if produced == 0:
            raise InputError(f"{self.path.name} cannot be decoded: none of its frames decode")

    def read_frames(self, indices: np.ndarray, short_side: int | None) -> FrameBatch:
        ask = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self.index.times)
        if len(ask) and (ask.min() < 0 or ask.max() >= n):
            raise InputError(f"{self.path.name}: frame index out of range 0..{n - 1}")
        size = target_size(*self.index.size, short_side)
        if len(ask) == 0:
            return empty_batch(size)
        uniq = np.unique(ask)
        damage = DamageLog(self.path.name, self.index)
        try:
            got = list(self._run(uniq, size, len(uniq), damage, False))
        finally:
            damage.flush()
        if not got:
            raise InputError(f"{self.path.name} cannot be decoded near frame {int(uniq[0])}")
        got_idx = np.concatenate([b.indices for b in got])
        images = got[0].images if len(got) == 1 else np.concatenate([b.images for b in got])
        # A damaged frame that did not decode is stood in for by the nearest one that did.
        pos = np.clip(np.searchsorted(got_idx, ask), 0, len(got_idx) - 1)
        prev = np.clip(pos - 1, 0, len(got_idx) - 1)
        nearer = np.abs(got_idx[prev] - ask) < np.abs(got_idx[pos] - ask)
        pos = np.where(nearer, prev, pos)
        return FrameBatch(
            times_s=self.index.times[ask].astype(np.float64),
            indices=ask.copy(),
            images=images[pos],
        )

    # ----------------------------------------------------------------- driver
    def _run(
        self,
        wanted: np.ndarray,
        size: tuple[int, int],
        batch: int,
        damage: DamageLog,
        tail: bool,
    ) -> Iterator[FrameBatch]:
        """Decode with this backend; on `BackendFailed`, go on with the fallback."""
        done = -1
        try:
            for b in self.decode(wanted, size, batch, damage, tail):
                done = int(b.indices[-1])
                yield b
            return
        except BackendFailed as exc:
            done = max(done, exc.done)
            other = self.fallback()
            if other is None:
                raise InputError(
                    f"{self.path.name} cannot be decoded past frame {done + 1}: {exc}"
                ) from None
        yield from other.decode(wanted[wanted > done], size, batch, damage, tail)
