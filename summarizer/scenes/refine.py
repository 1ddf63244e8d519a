"""Frame-accurate seams: move each cut from between two sampled frames onto a source frame.

Seams are detected on sampled frames (2 fps by default), so a seam's time lies somewhere
between the last sampled frame of the old shot and the first sampled frame of the new one:
a segment starting there begins with a few frames of the previous shot, and so does its
clip. When the source video is at hand, `refine_segmentation` decodes, for each cut, the
source frames between those two samples (both included) at a small size (short side
`SHORT_SIDE`) and puts the cut on the first frame of the new shot (`cut_in_run`):

- a hard cut: the largest mean absolute difference between successive frames, when that one
  step carries at least `HARD_CUT_SHARE` of the difference between the two samples;
- otherwise (a dissolve or fade spread over the frames): the split that best explains the
  run as "like the first sample" then "like the last sample" (least total mean absolute
  difference to the two), which lands at a dissolve's midpoint. As a dissolve often
  outlasts the sampling step, this is done on the frames from one sample further on each
  side (a second, equally short decode, for gradual changes only).

The refined time is the presentation time of that frame, so a segment starting there holds
no frame of the previous shot. It lies in (t[c-1], t[c]] for the two samples c-1, c around
the cut, so every sampled frame (and every keyframe) stays in the segment it was in.

Cost: one `summarizer.decode.read_frames` call per group of cuts (sorted source indices,
decoded in one sequential pass that skips between cuts and seeks when a key frame lies far
ahead), about (source fps / sample fps) small frames per cut. Image folders have no frames
between samples: they are returned unchanged.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from summarizer.errors import AtlasError, InputError

SHORT_SIDE = 64  # decode size (short side, px) of the frames between two samples
HARD_CUT_SHARE = 0.5  # a step this large a share of |first - last| is a hard cut
CHUNK_FRAMES = 1024  # at most this many frames decoded (and held) per read_frames call


class RefineWarning(UserWarning):
    """Seams could not be refined (the video could not be read again); kept as sampled."""


# --------------------------------------------------------------------------- pure core


def frame_features(images: np.ndarray) -> np.ndarray:
    """float32 (m, P) of uint8 (m, H, W, 3) frames, scaled to [0, 1] (RGB pixels, flattened)."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise InputError(f"frames must be uint8 (m, H, W, 3), got shape {x.shape}")
    return x.reshape(len(x), -1).astype(np.float32) / 255.0


def cut_in_run(images: np.ndarray) -> int:
    """Index (1..m-1) of the first frame of the new shot; see `locate_cut`."""
    return locate_cut(images)[0]


def locate_cut(images: np.ndarray) -> tuple[int, bool]:
    """Index k (1..m-1) of the first frame of the new shot among m >= 2 consecutive frames.

    `images` (uint8 (m, H, W, 3)) run from a frame of the old shot (first) to one of the new
    shot (last). Steps are mean absolute differences of successive frames. If the largest
    step carries at least `HARD_CUT_SHARE` of the difference between the first and last
    frame, it is the cut (k = its index + 1). Otherwise the change is gradual (a dissolve):
    k minimises sum_{i<k} |f_i - f_0| + sum_{i>=k} |f_i - f_last|, i.e. the first frame that
    is closer to the new shot than to the old one. Returns (k, whether it is a hard cut).
    """
    f = frame_features(images)
    m = len(f)
    if m < 2:
        raise InputError(f"a cut needs at least two frames around it, got {m}")
    if m == 2:
        return 1, True
    steps = np.abs(np.diff(f, axis=0)).mean(axis=1)
    total = float(np.abs(f[-1] - f[0]).mean())
    j = int(np.argmax(steps))
    if steps[j] >= HARD_CUT_SHARE * total:
        return j + 1, True
    to_first = np.abs(f - f[0]).mean(axis=1)
    to_last = np.abs(f - f[-1]).mean(axis=1)
    # cost(k) = sum(to_first[:k]) + sum(to_last[k:]), for k = 1..m-1
    before = np.cumsum(to_first)[:-1]
    after = np.cumsum(to_last[::-1])[::-1][1:]
    return int(np.argmin(before + after)) + 1, False


def refine_time(times_s: np.ndarray, images: np.ndarray) -> float:
    """Time of the first frame of the new shot among consecutive frames (see `cut_in_run`)."""
    t = np.asarray(times_s, dtype=np.float64)
    if len(t) != len(images):
        raise InputError(f"{len(images)} frames but {len(t)} times: they must match")
    return float(t[cut_in_run(images)])


# --------------------------------------------------------------------------- decoding


def _decode_runs(
    path: str | Path, runs: list[np.ndarray], short_side: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(run number, times, images) of each run of source indices, decoded in as few
    `read_frames` calls (each one sequential pass) as `CHUNK_FRAMES` allows."""
    from summarizer.decode import read_frames

    i = 0
    while i < len(runs):
        j, frames = i, 0
        while j < len(runs) and (j == i or frames + len(runs[j]) <= CHUNK_FRAMES):
            frames += len(runs[j])
            j += 1
        batch = read_frames(path, np.concatenate(runs[i:j]), short_side)
        at = 0
        for k in range(i, j):
            n = len(runs[k])
            yield k, batch.times_s[at : at + n], batch.images[at : at + n]
            at += n
        i = j


def refine_cuts(
    path: str | Path,
    frame_times_s: np.ndarray,
    frame_indices: np.ndarray,
    cuts: np.ndarray,
    short_side: int = SHORT_SIDE,
) -> np.ndarray:
    """Refined time of each cut, given as the index c (1..N-1) of the first sampled frame after it.

    The source frames `frame_indices[c-1] .. frame_indices[c]` are decoded and the cut put
    on the first frame of the new shot (`locate_cut`). A gradual change (a dissolve longer
    than the sampling step) is located again on the frames from sample c-2 to sample c+1,
    so that its midpoint is found even when it lies on a sample, and kept in
    (t[c-1], t[c]]. Consecutive source frames (nothing in between) give t[c] directly.
    Returns float64 (len(cuts),).
    """
    t = np.asarray(frame_times_s, dtype=np.float64)
    idx = np.asarray(frame_indices, dtype=np.int64)
    c = np.asarray(cuts, dtype=np.int64).reshape(-1)
    if len(c) and (c.min() < 1 or c.max() > len(t) - 1):
        raise InputError(f"cut positions must lie in 1..{len(t) - 1}")
    out = t[c].copy()
    todo = [int(i) for i in np.argsort(c, kind="stable") if idx[c[i]] - idx[c[i] - 1] > 1]
    runs = [np.arange(idx[c[i] - 1], idx[c[i]] + 1) for i in todo]
    gradual: list[int] = []
    lower: dict[int, float] = {}  # time of the first frame after sample c-1
    for k, times, images in _decode_runs(path, runs, short_side):
        at, hard = locate_cut(images)
        out[todo[k]] = times[at]
        lower[todo[k]] = float(times[1])
        if not hard:
            gradual.append(todo[k])
    wide = [np.arange(idx[max(c[i] - 2, 0)], idx[min(c[i] + 1, len(t) - 1)] + 1) for i in gradual]
    for k, times, images in _decode_runs(path, wide, short_side):
        i = gradual[k]
        at = cut_in_run(images)
        out[i] = float(np.clip(times[at], lower[i], t[c[i]]))
    return out


def refine_segmentation(
    path: str | Path,
    embedded,
    segmentation,
    *,
    short_side: int = SHORT_SIDE,
):
    """`segmentation` with frame-accurate seams and segment boundaries (a new Segmentation).

    `embedded` is the `EmbeddedVideo` the segmentation was computed from (its sampled
    frames' times and source indices), `path` the video file it was sampled from. Every
    seam in ``seams_s`` and every boundary between final segments moves to the time of the
    first source frame of the new shot (see the module docstring); the number of seams,
    the segments' frames and their keyframes do not change. An image folder or a
    segmentation already refined is returned as is, one with nothing to move (no seams, no
    boundaries) is only marked refined; a video that cannot be decoded again gives a
    `RefineWarning` and the unrefined result.

    The Streamlit Seams page: ``seg = refine_segmentation(ev.ref.path, ev, seg)`` right
    after ``seg = segment_video(ev, settings)``.
    """
    p = Path(path)
    ref = getattr(embedded, "ref", None)
    if p.is_dir() or getattr(ref, "kind", "video") != "video" or segmentation.refined:
        return segmentation
    t = np.asarray(embedded.times_s, dtype=np.float64)
    if len(t) != len(segmentation.frame_times_s) or not np.allclose(t, segmentation.frame_times_s):
        raise InputError("the segmentation was not computed from these embedded frames")
    seams = np.asarray(segmentation.seams_s, dtype=np.float64)
    seam_c = np.searchsorted(t, seams, side="left")
    seam_ok = (seam_c >= 1) & (seam_c <= len(t) - 1)
    bound_c = np.array([s.first for s in segmentation.segments[1:]], dtype=np.int64)
    if getattr(segmentation, "exact_seams", False):
        return _refine_loose_bounds(p, embedded, segmentation, short_side)
    cuts = np.unique(np.concatenate([seam_c[seam_ok], bound_c]).astype(np.int64))
    if len(cuts) == 0:
        return dataclasses.replace(segmentation, refined=True)
    try:
        times = refine_cuts(p, t, embedded.indices, cuts, short_side)
    except (AtlasError, OSError, RuntimeError) as exc:
        warnings.warn(f"{p.name}: seams not refined ({exc})", RefineWarning, stacklevel=2)
        return segmentation
    new_seams = seams.copy()
    new_seams[seam_ok] = times[np.searchsorted(cuts, seam_c[seam_ok])]
    bounds = times[np.searchsorted(cuts, bound_c)]
    starts = np.concatenate([[segmentation.segments[0].start_s], bounds])
    ends = np.concatenate([bounds, [segmentation.segments[-1].end_s]])
    segments = tuple(
        dataclasses.replace(s, start_s=float(a), end_s=float(b))
        for s, a, b in zip(segmentation.segments, starts, ends, strict=True)
    )
    transitions = segmentation.transitions
    if len(transitions) == len(new_seams):  # the successor's seams: cuts at the refined times
        transitions = tuple(
            dataclasses.replace(tr, start_s=float(x), end_s=float(x))
            for tr, x in zip(transitions, new_seams, strict=True)
        )
    return dataclasses.replace(
        segmentation, seams_s=new_seams, segments=segments, refined=True, transitions=transitions
    )


def _refine_loose_bounds(path: Path, embedded, segmentation, short_side: int):
    """Seams on source frames already: refine only the boundaries that are no seam."""
    seams = np.asarray(segmentation.seams_s, dtype=np.float64)
    bounds = np.array([s.start_s for s in segmentation.segments[1:]], dtype=np.float64)
    loose = [i for i, b in enumerate(bounds) if not np.any(np.abs(seams - b) < 1e-9)]
    if loose:
        firsts = np.array([segmentation.segments[i + 1].first for i in loose], dtype=np.int64)
        try:
            bounds[loose] = refine_cuts(
                path, embedded.times_s, embedded.indices, firsts, short_side
            )
        except (AtlasError, OSError, RuntimeError) as exc:
            warnings.warn(
                f"{path.name}: boundaries not refined ({exc})", RefineWarning, stacklevel=3
            )
            return segmentation
    starts = np.concatenate([[segmentation.segments[0].start_s], bounds])
    ends = np.concatenate([bounds, [segmentation.segments[-1].end_s]])
    segments = tuple(
        dataclasses.replace(s, start_s=float(a), end_s=float(b))
        for s, a, b in zip(segmentation.segments, starts, ends, strict=True)
    )
    return dataclasses.replace(segmentation, segments=segments, refined=True)
