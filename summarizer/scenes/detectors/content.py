"""The full-rate detector: hard cuts, dissolves and fades from the per-frame signal alone.

Works on a `summarizer.decode.signal.FrameSignal` (every source frame, tiny), so its
transitions are frame accurate, shots a few frames long are seen, and so is a cut in the last
half second. Three rules, each on arrays (no per-frame Python):

- **Hard cut** at frame i (the first frame of the new shot) when the step ``diff[i]``
  1. is at least ``cut_min`` (mean absolute RGB difference, 0..1),
  2. is at least ``cut_ratio`` times the median step of the half second around it (the
     frames next to i left out, so a 3-frame shot does not hide its own cuts): camera and
     subject motion raise the median with the step;
  3. is at least `SHARP` times both neighbouring steps: a cut is one step, a hand swipe or a
     jump is several;
  4. does not come back (``back[i] >= FLASH * diff[i]``): a flash or a glitch returns to the
     frame before it within a few frames, a new shot does not.
- **Dissolve**: frames whose pixels are a blend of the frames ``lag`` before and after
  (``blend <= BLEND``) while those two differ by at least ``dissolve_min`` (``span``), and the
  span stands out from its surroundings (`SPAN_RATIO` x its median over 4 lags): each run of
  such frames is one dissolve, reported from its first to its last frame (widened by half a
  lag), its seam in the middle. Motion is not a blend (``blend`` > 0.4); a hard cut is not either
  (0.5).
- **Fade** through black or white: a run of flat frames (``contrast <= FLAT``, luma near 0
  or 1) with a picture on both sides, widened to where the contrast stops changing (the fade
  out and the fade in); at least `MIN_FADE_S` long, and gradual on at least one side (a flash
  jumps in and out). Cuts and dissolves inside a fade are part of it.
"""

from __future__ import annotations

import numpy as np

from summarizer.scenes.detectors import DetectInput, Detection, Transition
from summarizer.scenes.seams import SeamSettings

SHARP = 2.0  # a cut's step is this many times both neighbouring steps
HIST_MIN = 0.06  # a cut changes the colours too (unless its step is large)
FLASH = 0.5  # back / diff below this: the picture came back (a flash)
BG_WINDOW_S = 0.5  # the median step is taken over +- this
BLEND = 0.3  # a frame this close to the blend of its lagged neighbours is in a dissolve
SPAN_RATIO = 1.5  # a dissolve's span is this many times the median span around it
FLAT = 0.02  # luma std of a flat (black or white) frame
DARK, BRIGHT = 0.12, 0.88  # a flat frame this dark / bright is black / white
MIN_FADE_S = 0.2
RAMP_FRAMES, RAMP_STEP = 3, 0.6  # a fade out / in: >= 3 steps, none > 60% of the change
FADE_REACH_S = 2.5  # a fade out / in is followed at most this far from the flat frames


def _windowed_median(x: np.ndarray, half: int, hole: int, rows: int = 16384) -> np.ndarray:
    """Lower median of x over [i-half, i+half] without [i-hole, i+hole] (edges mirrored;
    as scipy's ``median_filter`` with that footprint), in row chunks so that a two-hour
    video needs a few MB."""
    half = max(half, hole + 1)
    keep = np.ones(2 * half + 1, dtype=bool)
    keep[half - hole : half + hole + 1] = False
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x.copy()
    padded = np.pad(x, half, mode="reflect" if len(x) > half else "edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    k = (int(keep.sum()) - 1) // 2
    out = np.empty(len(x))
    for a in range(0, len(x), rows):
        out[a : a + rows] = np.partition(windows[a : a + rows][:, keep], k, axis=1)[:, k]
    return out


def hard_cuts(sig, cut_min: float, cut_ratio: float) -> np.ndarray:
    """Frame indices of hard cuts (first frame of the new shot)."""
    d = np.asarray(sig.diff, dtype=np.float64)
    n = len(d)
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    half = max(2, round(sig.fps * BG_WINDOW_S))
    bg = _windowed_median(d, half, 1)
    left = np.concatenate([[0.0], d[:-1]])
    right = np.concatenate([d[1:], [0.0]])
    ok = (d >= cut_min) & (d >= cut_ratio * (bg + 1e-3)) & (d >= SHARP * np.maximum(left, right))
    ok &= np.asarray(sig.back, dtype=np.float64) >= FLASH * d
    ok &= (np.asarray(sig.hist, dtype=np.float64) >= HIST_MIN) | (d >= 3 * cut_min)
    ok[0] = False
    return np.flatnonzero(ok)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[first, last] index pairs of the runs of True."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _gradual(ramp: np.ndarray) -> bool:
    """A contrast ramp into the flat frames that takes several frames (not one jump)."""
    steps = np.abs(np.diff(ramp))
    total = float(abs(ramp[0] - ramp[-1])) if len(ramp) else 0.0
    return len(steps) >= RAMP_FRAMES and total > 0 and float(steps.max()) <= RAMP_STEP * total


def fades(sig) -> list[tuple[int, int, int, int]]:
    """(start, flat first, flat last, end) frame indices of fades through black or white."""
    c = np.asarray(sig.contrast, dtype=np.float64)
    lum = np.asarray(sig.luma, dtype=np.float64)
    n = len(c)
    flat = (c <= FLAT) & ((lum <= DARK) | (lum >= BRIGHT))
    reach = max(1, round(sig.fps * FADE_REACH_S))
    out = []
    for a, b in _runs(flat):
        if a == 0 or b == n - 1:
            continue  # a black leader or tail: no picture on that side
        s = a
        while s > 0 and a - s < reach and c[s - 1] > c[s] + 1e-4:
            s -= 1
        e = b
        while e < n - 1 and e - b < reach and c[e + 1] > c[e] + 1e-4:
            e += 1
        if (e - s + 1) / sig.fps >= MIN_FADE_S and (
            _gradual(c[s : a + 1]) or _gradual(c[b : e + 1][::-1])
        ):
            out.append((s, a, b, e))
    return out


def dissolves(sig, dissolve_min: float) -> list[tuple[int, int]]:
    """[first, last] frame indices of dissolves."""
    span = np.asarray(sig.span, dtype=np.float64)
    blend = np.asarray(sig.blend, dtype=np.float64)
    if len(span) < 3:
        return []
    lag = max(1, sig.lag)
    bg = _windowed_median(span, 4 * lag, lag)
    ok = (blend <= BLEND) & (span >= dissolve_min) & (span >= SPAN_RATIO * (bg + 1e-3))
    out: list[tuple[int, int]] = []
    for a, b in _runs(ok):
        if b - a + 1 < max(2, lag // 4):
            continue  # a blip, not a blend held over several frames
        widen = lag // 2
        a, b = max(0, a - widen), min(len(span) - 1, b + widen)
        if out and a <= out[-1][1] + 2 * lag:  # one long dissolve seen as two runs
            a = out.pop()[0]
        out.append((a, b))
    return out


def content_transitions(
    sig, cut_min: float, cut_ratio: float, dissolve_min: float
) -> list[Transition]:
    """Cuts, dissolves and fades of a `FrameSignal`, in time order (see the module docstring)."""
    t = np.asarray(sig.times_s, dtype=np.float64)
    if len(t) < 2:
        return []
    found: list[Transition] = []
    taken = np.zeros(len(t), dtype=bool)
    for s, _, _, e in fades(sig):
        found.append(Transition(float(t[s]), float(t[e]), "fade", 1.0))
        taken[s : e + 1] = True
    for a, b in dissolves(sig, dissolve_min):
        if taken[a : b + 1].any():
            continue
        score = float(np.max(sig.span[a : b + 1]))
        found.append(Transition(float(t[a]), float(t[b]), "dissolve", score))
        taken[a : b + 1] = True
    for i in hard_cuts(sig, cut_min, cut_ratio):
        if taken[i] or taken[i - 1]:
            continue
        found.append(Transition(float(t[i]), float(t[i]), "cut", float(sig.diff[i])))
    found.sort(key=lambda x: x.start_s)
    return found


class ContentDetector:
    """Transitions from the full-rate signal alone (`content_transitions`)."""

    name = "content"
    needs_signal = True

    def detect(self, inputs: DetectInput, settings: SeamSettings) -> Detection:
        if inputs.signal is None:
            from summarizer.errors import InputError

            raise InputError("the content detector needs the video file (a full-rate signal)")
        tr = content_transitions(
            inputs.signal, settings.cut_min, settings.cut_ratio, settings.dissolve_min
        )
        return Detection(tuple(tr), frame_accurate=True)
