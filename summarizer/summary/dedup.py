"""Dedup buffers: drop frames that repeat what was just kept, while the video streams by.

A buffer sees frames one at a time, in time order (`offer`), and releases the ones worth
keeping, each with the reason it was kept; `flush` releases what it still holds at the end.
It only ever holds a bounded number of frames, so a two-hour video streams through in flat
memory.

- ``hash``: perceptual hash (imagehash; phash, dhash or ahash) against a ring buffer of the
  last `buffer_size` kept hashes. A frame within `max_distance` bits of one of them is a
  duplicate (and refreshes that entry, so a static shot stays remembered); otherwise it is
  kept at once.
- ``grid``: the frame is cut into `grid_x` x `grid_y` cells, each hashed; a frame is kept when
  at least `min_changed_cells` cells changed (hash > `max_distance` bits away and pixels
  > `cell_tolerance` grey levels away) against the same cells of every buffered frame. Catches a small change (an object entering a corner) that a whole-frame
  hash misses.
- ``entropy`` / ``gzip``: a top-k buffer with expiry. Frames are scored (histogram entropy,
  or gzip-compressed size: both high for detailed frames, low for flat or blank ones); of
  every window of `expiry` frames the `buffer_size` best-scoring are kept ("top-k") and the
  rest expire ("outranked"). Within the window and against the last released frames,
  an average-hash duplicate is dropped.
- ``passthrough``: keeps everything.

`dedup(images, times_s, settings)` runs a buffer over a whole sequence (tests, small inputs).
"""

from __future__ import annotations

import gzip
import heapq
import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from summarizer.config import check

BUFFERS = ("hash", "grid", "entropy", "gzip", "passthrough")
HASH_METHODS = ("phash", "dhash", "ahash")


@dataclass(frozen=True)
class DedupSettings:
    """Which dedup buffer runs, and its knobs (YAML section ``dedup:``).

    buffer: hash | grid | entropy | gzip | passthrough.
    hash_method: phash | dhash | ahash (whole-frame hash of the ``hash`` buffer).
    hash_size: hash side in bits (8: 64-bit hashes); smaller hashes call more frames equal.
    buffer_size: ``hash``/``grid``: kept hashes remembered; ``entropy``/``gzip``: the k of the
        top-k, frames kept per window.
    max_distance: Hamming distance (bits) at or below which two hashes are the same picture.
    grid_x / grid_y: cells across and down (``grid``).
    min_changed_cells: cells that must change for a frame to count as new (``grid``).
    cell_tolerance: grey levels a shrunk cell must change by, somewhere, to count as changed
        (``grid``; keeps noise in flat cells from making every frame new).
    expiry: window length in frames of the top-k buffers (> buffer_size).
    gzip_level: compression level of the ``gzip`` score (1 fast ... 9 small).
    """

    buffer: str = "hash"
    hash_method: str = "phash"
    hash_size: int = 8
    buffer_size: int = 32
    max_distance: int = 8
    grid_x: int = 4
    grid_y: int = 4
    min_changed_cells: int = 1
    cell_tolerance: float = 24.0
    expiry: int = 64
    gzip_level: int = 1

    def __post_init__(self) -> None:
        check(
            self.buffer in BUFFERS,
            f"dedup buffer must be one of {', '.join(BUFFERS)}, got {self.buffer!r}",
        )
        check(
            self.hash_method in HASH_METHODS,
            f"hash_method must be one of {', '.join(HASH_METHODS)}, got {self.hash_method!r}",
        )
        check(2 <= self.hash_size <= 32, f"hash_size must be in [2, 32], got {self.hash_size}")
        check(self.buffer_size >= 1, f"buffer_size must be >= 1, got {self.buffer_size}")
        check(
            0 <= self.max_distance < self.hash_size**2,
            f"max_distance must be in [0, {self.hash_size**2 - 1}] for hash_size "
            f"{self.hash_size}, got {self.max_distance}",
        )
        check(
            1 <= self.grid_x <= 16 and 1 <= self.grid_y <= 16,
            f"grid_x and grid_y must be in [1, 16], got {self.grid_x} x {self.grid_y}",
        )
        check(
            1 <= self.min_changed_cells <= self.grid_x * self.grid_y,
            f"min_changed_cells must be in [1, {self.grid_x * self.grid_y}], "
            f"got {self.min_changed_cells}",
        )
        check(
            0 <= self.cell_tolerance < 255,
            f"cell_tolerance must be in [0, 255), got {self.cell_tolerance}",
        )
        if self.buffer in ("entropy", "gzip"):
            check(
                self.expiry > self.buffer_size,
                f"expiry ({self.expiry}) must be more than buffer_size ({self.buffer_size}): "
                "the window must hold more frames than it keeps",
            )
        check(1 <= self.gzip_level <= 9, f"gzip_level must be in [1, 9], got {self.gzip_level}")


@dataclass(frozen=True)
class Released:
    """A frame a buffer decided to keep: the caller's `item`, its time and why it was kept."""

    item: Any
    time_s: float
    reason: str
    score: float | None = None


# --------------------------------------------------------------------------- hashing


def _pil(image: np.ndarray | Image.Image) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))


def _gray(image: np.ndarray | Image.Image, side: int) -> Image.Image:
    """Greyscale, box-shrunk to `side` x `side` (the hashes look at no more than this)."""
    return _pil(image).convert("L").resize((side, side), Image.BOX)


def frame_hash(image: np.ndarray | Image.Image, method: str = "phash", hash_size: int = 8) -> int:
    """Perceptual hash of a frame as an int of hash_size**2 bits (imagehash's algorithms).

    The frame is box-shrunk first to 8x the hash side: the same hash bits for a quarter of the
    time imagehash takes on a full thumbnail.
    """
    import imagehash

    fn = {"phash": imagehash.phash, "dhash": imagehash.dhash, "ahash": imagehash.average_hash}
    small = _gray(image, hash_size * 8)
    return _bits_to_int(fn[method](small, hash_size=hash_size).hash)


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes(), "big")


def grid_cells(
    image: np.ndarray | Image.Image, gx: int, gy: int, hash_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """phash of each of `gx` x `gy` cells, vectorised, and the shrunk cells themselves.

    Returns bool (gy * gx, hash_size**2) hash bits (imagehash.phash's algorithm: DCT of a
    4*hash_size square, low frequencies against their median, on every cell at once) and the
    float32 (gy * gx, 4*hash_size, 4*hash_size) box-shrunk grey cells they were computed from.
    """
    import scipy.fft

    side = hash_size * 4
    g = np.asarray(
        _pil(image).convert("L").resize((gx * side, gy * side), Image.BOX), dtype=np.float32
    )
    cells = g.reshape(gy, side, gx, side).transpose(0, 2, 1, 3).reshape(gy * gx, side, side)
    dct = scipy.fft.dct(scipy.fft.dct(cells.astype(np.float64), axis=1), axis=2)
    low = dct[:, :hash_size, :hash_size].reshape(len(cells), -1)
    return low > np.median(low, axis=1, keepdims=True), cells


def grid_hashes(image: np.ndarray | Image.Image, gx: int, gy: int, hash_size: int) -> np.ndarray:
    """Per-cell phash bits, bool (gy * gx, hash_size**2) (see `grid_cells`)."""
    return grid_cells(image, gx, gy, hash_size)[0]


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


# --------------------------------------------------------------------------- scores


def entropy_score(image: np.ndarray | Image.Image) -> float:
    """Shannon entropy (bits) of the frame's histogram: ~0 for a blank frame, up to ~8."""
    return float(_pil(image).convert("L").entropy())


def gzip_score(image: np.ndarray | Image.Image, level: int = 1) -> float:
    """gzip-compressed size over raw size of the greyscale frame: detail compresses badly."""
    raw = _pil(image).convert("L").tobytes()
    return len(gzip.compress(raw, compresslevel=level, mtime=0)) / max(len(raw), 1)


# --------------------------------------------------------------------------- buffers


class DedupBuffer:
    """Base: `offer` frames in time order, get back the ones released; `flush` at the end.

    `dropped` counts the frames not kept, by reason ("duplicate", "outranked").
    """

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self.dropped: Counter[str] = Counter()
        self.offered = 0

    def offer(self, image: np.ndarray, time_s: float, item: Any = None) -> list[Released]:
        """Offer one frame (uint8 (H, W, 3)); `item` is what comes back (default: the image)."""
        self.offered += 1
        return self._offer(image, float(time_s), image if item is None else item)

    def _offer(self, image: np.ndarray, time_s: float, item: Any) -> list[Released]:
        raise NotImplementedError

    def flush(self) -> list[Released]:
        return []


class PassthroughBuffer(DedupBuffer):
    def _offer(self, image: np.ndarray, time_s: float, item: Any) -> list[Released]:
        return [Released(item, time_s, "passthrough")]


class HashBuffer(DedupBuffer):
    """Ring buffer of the last `buffer_size` kept whole-frame hashes."""

    def __init__(self, settings: DedupSettings) -> None:
        super().__init__(settings)
        self.ring: deque[int] = deque(maxlen=settings.buffer_size)

    def _offer(self, image: np.ndarray, time_s: float, item: Any) -> list[Released]:
        s = self.settings
        h = frame_hash(image, s.hash_method, s.hash_size)
        best, where = math.inf, -1
        for i, old in enumerate(self.ring):
            d = hamming(h, old)
            if d < best:
                best, where = d, i
        if best <= s.max_distance:
            # Refresh: the matching entry becomes the newest, so a long static shot is never
            # forgotten while it lasts.
            old = self.ring[where]
            del self.ring[where]
            self.ring.append(old)
            self.dropped["duplicate"] += 1
            return []
        self.ring.append(h)
        reason = "first frame" if best == math.inf else f"new picture (hash distance {best})"
        return [Released(item, time_s, reason, None if best == math.inf else float(best))]


class GridBuffer(DedupBuffer):
    """Per-cell hashes: new when enough cells changed against every buffered frame.

    A cell counts as changed when its hash moved more than `max_distance` bits and some part
    of it (in the box-shrunk cell, where sensor and compression noise average out) changed by
    more than `cell_tolerance` grey levels: the hash of a nearly uniform cell (sky, a wall)
    flips many bits on noise alone.
    """

    def __init__(self, settings: DedupSettings) -> None:
        super().__init__(settings)
        self.ring: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=settings.buffer_size)

    def _offer(self, image: np.ndarray, time_s: float, item: Any) -> list[Released]:
        s = self.settings
        bits, cells = grid_cells(image, s.grid_x, s.grid_y, s.hash_size)
        if not self.ring:
            self.ring.append((bits, cells))
            return [Released(item, time_s, "first frame")]
        old_bits = np.stack([b for b, _ in self.ring])  # (b, cells, bits)
        old_cells = np.stack([c for _, c in self.ring])  # (b, cells, side, side)
        moved = (old_bits != bits[None]).sum(axis=2) > s.max_distance  # (b, cells)
        diff = np.abs(old_cells - cells[None]).max(axis=(2, 3)) > s.cell_tolerance
        changed = (moved & diff).sum(axis=1)  # changed cells against each buffered frame
        j = int(np.argmin(changed))
        if changed[j] < s.min_changed_cells:
            entry = self.ring[j]
            del self.ring[j]
            self.ring.append(entry)
            self.dropped["duplicate"] += 1
            return []
        fewest = int(changed[j])
        self.ring.append((bits, cells))
        return [Released(item, time_s, f"{fewest} grid cells changed", float(fewest))]


class TopKBuffer(DedupBuffer):
    """Of every window of `expiry` frames, keep the `buffer_size` best-scoring non-duplicates."""

    def __init__(self, settings: DedupSettings) -> None:
        super().__init__(settings)
        self.heap: list[tuple[float, int, float, int, Any]] = []  # min-heap on score
        self.in_window = 0
        self.seq = 0
        self.recent: deque[int] = deque(maxlen=settings.buffer_size)  # last released hashes

    def score(self, image: np.ndarray) -> float:
        if self.settings.buffer == "gzip":
            return gzip_score(image, self.settings.gzip_level)
        return entropy_score(image)

    def _offer(self, image: np.ndarray, time_s: float, item: Any) -> list[Released]:
        s = self.settings
        self.in_window += 1
        h = frame_hash(image, "ahash", s.hash_size)
        held = [e[3] for e in self.heap]
        if any(hamming(h, o) <= s.max_distance for o in (*held, *self.recent)):
            self.dropped["duplicate"] += 1
        else:
            entry = (self.score(image), self.seq, time_s, h, item)
            self.seq += 1
            if len(self.heap) < s.buffer_size:
                heapq.heappush(self.heap, entry)
            else:
                heapq.heappushpop(self.heap, entry)  # the lowest score expires
                self.dropped["outranked"] += 1
        return self.flush() if self.in_window >= s.expiry else []

    def flush(self) -> list[Released]:
        """Release the window's top frames in time order and start a new window."""
        entries = sorted(self.heap, key=lambda e: e[1])
        ranks = {e[1]: r for r, e in enumerate(sorted(self.heap, key=lambda e: -e[0]), 1)}
        self.heap, self.in_window = [], 0
        name = self.settings.buffer
        out = []
        for score, seq, time_s, h, item in entries:
            self.recent.append(h)
            reason = f"{name} {score:.3f}, rank {ranks[seq]} of {len(entries)} in its window"
            out.append(Released(item, time_s, reason, float(score)))
        return out


def make_buffer(settings: DedupSettings | None = None) -> DedupBuffer:
    """A fresh buffer of the kind `settings.buffer` names."""
    settings = settings or DedupSettings()
    kinds = {
        "hash": HashBuffer,
        "grid": GridBuffer,
        "entropy": TopKBuffer,
        "gzip": TopKBuffer,
        "passthrough": PassthroughBuffer,
    }
    return kinds[settings.buffer](settings)


def dedup(
    images: Sequence[np.ndarray] | np.ndarray,
    times_s: Sequence[float] | np.ndarray | None = None,
    settings: DedupSettings | None = None,
) -> tuple[np.ndarray, list[Released], dict[str, int]]:
    """Run a buffer over a whole sequence of frames.

    Returns the kept mask (bool (n,)), the released frames in time order (their `item` is the
    frame's position) and the drop counts by reason.
    """
    n = len(images)
    times = np.arange(n, dtype=np.float64) if times_s is None else np.asarray(times_s, float)
    buf = make_buffer(settings)
    released: list[Released] = []
    for i in range(n):
        released.extend(buf.offer(np.asarray(images[i]), float(times[i]), item=i))
    released.extend(buf.flush())
    released.sort(key=lambda r: r.item)
    keep = np.zeros(n, dtype=bool)
    keep[[r.item for r in released]] = True
    return keep, released, dict(buf.dropped)
