"""Which frames to take and at what size: pure functions over frame times, no decoding.

- `select_indices`: for a target fps, each target time takes the frame whose timestamp is
  nearest (never index arithmetic), so variable-frame-rate video is sampled right. The work
  is bounded whatever the settings: a target rate above the source's own gives every frame
  without listing the targets, and more than `MAX_TARGETS` targets is a `SettingsError`.
- `target_size`: the decode size for a short side, aspect kept, sides even, never upscaled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from summarizer.config import SampleSettings
from summarizer.errors import SettingsError

# At most this many target times per video (80 MB of float64 if listed at once; they are
# handled in chunks of `_TARGET_CHUNK`). 10 million is 58 days at 2 fps, or 3 s at 3.3 MHz.
MAX_TARGETS = 10_000_000
_TARGET_CHUNK = 1 << 20


def even(x: float) -> int:
    """Round to the nearest even integer, at least 2."""
    return max(2, int(round(x / 2.0)) * 2)


def target_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) with the short side scaled to `short_side`, aspect kept, even sides.

    Never upscales: a source smaller than `short_side` keeps its size (made even).
    """
    if short_side is None or min(width, height) <= short_side:
        return even(width) if width > 1 else width, even(height) if height > 1 else height
    scale = short_side / min(width, height)
    if width <= height:
        return even(short_side), even(height * scale)
    return even(width * scale), even(short_side)


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def natural_sorted(names: Sequence[str]) -> list[str]:
    """Sort names as people do: ``frame2`` before ``frame10``."""
    return sorted(names, key=_natural_key)


def compile_time_regex(pattern: str | None) -> re.Pattern | None:
    """The image-folder time regex, checked: valid, with a group for the time in seconds."""
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise SettingsError(f"time_regex {pattern!r} is not a valid regex: {exc}") from None
    if rx.groups < 1:
        raise SettingsError(f"time_regex {pattern!r} needs a group, e.g. 't(\\d+\\.?\\d*)s'")
    return rx


def select_indices(
    times: np.ndarray,
    settings: SampleSettings,
    key_indices: Sequence[int] | None = None,
    duration: float | None = None,
) -> np.ndarray:
    """Which frames to take, given each frame's start time (sorted, seconds from 0).

    Candidates are the frames starting in [start_s, end_s) (only key frames with
    keyframes_only). With a target fps, each target time start_s + k / fps before the end
    (end_s, or `duration`: when the last frame ends) picks the candidate whose timestamp is
    nearest; duplicates are dropped, so a source slower than the target gives each frame
    once. Without fps, every `every_n`-th candidate.
    """
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    eps = 1e-6
    end = np.inf if settings.end_s is None else settings.end_s
    mask = (times >= settings.start_s - eps) & (times < end - eps)
    if settings.keyframes_only and key_indices is not None:
        keymask = np.zeros(n, dtype=bool)
        keys = np.asarray(key_indices, dtype=np.int64)
        keymask[keys[(keys >= 0) & (keys < n)]] = True
        mask &= keymask
    cand = np.flatnonzero(mask)
    if len(cand) == 0:
        return cand.astype(np.int64)
    if settings.fps is None:
        return cand[:: settings.every_n].astype(np.int64)
    ct = times[cand]
    if duration is None:  # the last frame lasts as long as a typical frame
        step = float(np.median(np.diff(times))) if n > 1 else 0.0
        duration = times[-1] + max(step, eps)
    stop = min(end, max(duration, ct[-1] + eps))
    t0 = settings.start_s
    count = max(1, int(np.ceil((stop - t0) * settings.fps - eps)))
    if count > MAX_TARGETS:
        raise SettingsError(
            f"fps {settings.fps:g} asks for {count:.3g} frames from {stop - t0:.2f} s of video "
            f"(at most {MAX_TARGETS:,}); lower fps, or set fps to none to take every frame"
        )
    gaps = np.diff(ct)
    if len(ct) > 1 and gaps.min() > 2.5 / settings.fps:
        # Every frame's Voronoi cell holds a target: all candidates, without the targets.
        return cand.astype(np.int64)
    picks = []
    for first in range(0, count, _TARGET_CHUNK):
        k = np.arange(first, min(count, first + _TARGET_CHUNK), dtype=np.float64)
        targets = t0 + k / settings.fps
        pos = np.searchsorted(ct, targets)
        left = np.clip(pos - 1, 0, len(ct) - 1)
        right = np.clip(pos, 0, len(ct) - 1)
        picks.append(
            np.unique(
                np.where(np.abs(ct[left] - targets) <= np.abs(ct[right] - targets), left, right)
            )
        )
    return cand[np.unique(np.concatenate(picks))].astype(np.int64)
