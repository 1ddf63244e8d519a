"""Segments cut at forced times (e.g. where subtitle keywords start and end): `split_at`.

The forced boundaries are kept as given; the 2-15 s rule of `summarizer.scenes.segments` is
kept where it can be around them, and keyframes are picked again by the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from summarizer.scenes.seams import SeamCurve, check_inputs
from summarizer.scenes.segments import Segmentation, cut_frames, segments_from_seams, split_long


def split_at(
    embeddings: np.ndarray,
    times_s: np.ndarray,
    segmentation: Segmentation,
    forced_s: Any,
    thumbnails: np.ndarray | None = None,
) -> Segmentation:
    """`segmentation` with extra boundaries at the times `forced_s` (e.g. where subtitle
    keywords start and end), keyframes picked again.

    A forced time on the same first frame as an existing boundary keeps that boundary (and
    its refined time). Forced boundaries are never removed; a segment shorter than
    ``min_segment_s`` loses its other boundary (the one towards the shorter neighbour), a
    segment longer than ``max_segment_s`` is split as in `segments_from_seams`. The seams,
    the curve and the refined flag are those of `segmentation`.
    """
    import dataclasses

    settings = segmentation.settings
    e, t, _ = check_inputs(embeddings, times_s)
    if len(t) != len(segmentation.frame_times_s):
        raise ValueError("the segmentation was not computed from these frames")
    segs = segmentation.segments
    start, end = float(t[0]), float(segs[-1].end_s)
    bounds: dict[int, tuple[float, bool]] = {s.first: (float(s.start_s), False) for s in segs[1:]}
    forced = np.asarray([f for f in np.atleast_1d(forced_s) if start < f < end], np.float64)
    cuts, times = cut_frames(t, forced)
    if not set(cuts.tolist()) - set(bounds):
        return segmentation  # every forced time is a boundary already
    for c, f in zip(cuts.tolist(), times.tolist(), strict=True):
        bounds[c] = (bounds[c][0], True) if c in bounds else (float(f), True)
    min_s = settings.min_segment_s or 0.0
    while min_s > 0 and bounds:  # merge too-short segments across boundaries not forced
        order = sorted(bounds)
        edges = [start] + [bounds[c][0] for c in order] + [end]
        best = None
        for i in range(len(edges) - 1):
            dur = edges[i + 1] - edges[i]
            if dur >= min_s:
                continue
            left = order[i - 1] if i > 0 else None  # the boundaries at its two ends
            right = order[i] if i < len(order) else None
            if not any(c is not None and bounds[c][1] for c in (left, right)):
                continue  # untouched by the forced cuts: left as it was
            options = []
            if right is not None and not bounds[right][1]:
                options.append((edges[i + 2] - edges[i], right))
            if left is not None and not bounds[left][1]:
                options.append((edges[i + 1] - edges[i - 1], left))
            if options and (best is None or dur < best[0]):
                best = (dur, min(options)[1])
        if best is None:
            break
        del bounds[best[1]]
    distances = np.asarray(segmentation.distances, dtype=np.float64)
    if len(distances) != len(t) - 1:
        unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        distances = np.linalg.norm(np.diff(unit, axis=0), axis=1)
    order = sorted(bounds)
    if settings.max_segment_s:
        firsts, stops = [0, *order], [*order, len(t)]
        edges = [start] + [bounds[c][0] for c in order] + [end]
        for a, z, t0, t1 in zip(firsts, stops, edges[:-1], edges[1:], strict=True):
            for c, tc in split_long(a, z, t0, t1, t, distances, settings.max_segment_s, min_s):
                bounds[c] = (tc, False)
    order = sorted(bounds)
    curve = SeamCurve(
        segmentation.times_s,
        distances,
        segmentation.thresholds,
        np.zeros(0, dtype=np.int64),
        np.array([bounds[c][0] for c in order], dtype=np.float64),
    )
    no_merge = dataclasses.replace(settings, min_segment_s=0.0)
    segments = segments_from_seams(e, t, curve, no_merge, thumbnails, end)
    return dataclasses.replace(segmentation, segments=segments)
