"""Segments from seams, and 2-4 representative keyframes per segment.

1. Every detected seam (`summarizer.scenes.seams`) cuts the frames: frames before the seam's time go
   to the left segment, the others to the right.
2. Too short (< ``min_segment_s``): the shortest such segment first, each is merged into the
   neighbour whose mean embedding is closer to its own; repeated until none is left (or one
   segment remains).
3. Too long (> ``max_segment_s``): split between the two frames with the largest successor
   distance inside it such that both parts keep at least ``min_segment_s`` (so not blindly
   every 15 s), recursively until every part fits.
4. Keyframes: ``keyframes_min`` to ``keyframes_max`` per segment, more for longer and more
   varied segments (mean distance of its frames to their mean, relative to the video's
   segments; see `keyframe_count`). They are k-medoids of the segment's embeddings,
   started by farthest-point sampling from the segment's medoid: representative and
   different from each other. Frames within 1 s (at most a quarter of the segment) of a
   cut, where a dissolve mixes two shots, are not chosen when the segment has others; with
   thumbnails, neither are flat, too dark or too bright frames
   (`summarizer.summary.quality.informative_mask`) nor blurred ones (Laplacian variance under
   0.3 x its 75th percentile in the segment).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from summarizer.data import EmbeddedVideo
from summarizer.scenes.seams import SeamCurve, SeamSettings, check_inputs, detect_seams

MAX_KEYFRAME_CANDIDATES = 256
TRANSITION_MARGIN_S = 1.0  # keyframes keep this far from cuts (at most a quarter segment)
BLUR_RATIO = 0.3  # of the 75th percentile of the segment's sharpness


@dataclass(frozen=True)
class Segment:
    """Frames ``first .. stop-1`` (indices into the video's frame arrays), ``start_s .. end_s``."""

    index: int
    start_s: float
    end_s: float
    first: int
    stop: int
    keyframes: tuple[int, ...] = ()  # frame indices, in time order
    keyframe_times_s: tuple[float, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def n_frames(self) -> int:
        return self.stop - self.first


@dataclass(frozen=True)
class Segmentation:
    """The result of `segment_video` / `segment_frames`.

    seams_s: every detected seam (s), before the min/max-duration merging and splitting.
        Detected between two sampled frames; once `refined` (`summarizer.scenes.refine`), the
        seams and the segment boundaries are the time of the first source frame of the new
        shot, so a segment (and its clip) holds no frame of the previous shot.
    segments: the final segments with their keyframes.
    times_s / distances / thresholds: the successor-distance curve and its threshold (N-1,;
        empty for a single frame).
    frame_times_s: time of each frame (N,).
    refined: seams and boundaries were made frame accurate on the source video.
    transitions: what the detector found at each seam (cut, dissolve or fade, with the
        start and end of a gradual one; `summarizer.scenes.find.find_segments`).
    exact_seams: the detector put the seams on source frames (refining moves only the
        boundaries that are no seam: splits of long segments).
    """

    seams_s: np.ndarray
    segments: tuple[Segment, ...]
    times_s: np.ndarray
    distances: np.ndarray
    thresholds: np.ndarray
    frame_times_s: np.ndarray
    settings: SeamSettings = field(default_factory=SeamSettings)
    refined: bool = False
    transitions: tuple = ()  # summarizer.scenes.detectors.Transition: kind, start_s, end_s
    exact_seams: bool = False  # the seams are source frames already (full-rate detectors)

    @property
    def boundaries_s(self) -> np.ndarray:
        """Times between consecutive final segments."""
        return np.array([s.start_s for s in self.segments[1:]], dtype=np.float64)

    @property
    def keyframe_indices(self) -> np.ndarray:
        return np.array([k for s in self.segments for k in s.keyframes], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (keyframe image names are added by whoever writes them)."""
        return {
            "seams_s": [round(float(x), 4) for x in self.seams_s],
            "refined": self.refined,
            "transitions": [t.to_dict() for t in self.transitions],
            "segments": [
                {
                    "index": s.index,
                    "start_s": round(s.start_s, 4),
                    "end_s": round(s.end_s, 4),
                    "duration_s": round(s.duration_s, 4),
                    "keyframes": [
                        {"frame": int(k), "time_s": round(float(t), 4)}
                        for k, t in zip(s.keyframes, s.keyframe_times_s, strict=True)
                    ],
                }
                for s in self.segments
            ],
            "curve": {
                "times_s": [round(float(x), 4) for x in self.times_s],
                "distance": [round(float(x), 6) for x in self.distances],
                "threshold": [round(float(x), 6) for x in self.thresholds],
            },
        }


# --------------------------------------------------------------------------- helpers


def _unit(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, dtype=np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def _dist(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Pairwise distances between unit rows of a (m, D) and b (n, D)."""
    cos = np.clip(a @ b.T, -1.0, 1.0)
    return np.sqrt(np.maximum(2.0 - 2.0 * cos, 0.0)) if metric == "euclidean" else 1.0 - cos


def _end_time(frame_times: np.ndarray, end_s: float | None) -> float:
    last = float(frame_times[-1])
    if end_s is not None and end_s > last:
        return float(end_s)
    step = float(np.median(np.diff(frame_times))) if len(frame_times) > 1 else 0.0
    return last + step


def cut_frames(frame_times: np.ndarray, seams_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first frame index after each seam, the seam's time): sorted, unique cuts in 1..N-1.

    Frames before a seam's time belong to the segment before it. Several seams between the
    same two frames are one cut (at the first seam's time).
    """
    seams = np.sort(np.asarray(seams_s, dtype=np.float64))
    c = np.searchsorted(frame_times, seams, side="left")
    ok = (c >= 1) & (c <= len(frame_times) - 1)
    cuts, first = np.unique(c[ok], return_index=True)
    return cuts.astype(np.int64), seams[ok][first]


# --------------------------------------------------------------------------- merge / split


def merge_short(
    cuts: np.ndarray,
    bounds_s: np.ndarray,
    unit_emb: np.ndarray,
    start_s: float,
    end_s: float,
    min_s: float,
    metric: str = "euclidean",
) -> tuple[np.ndarray, np.ndarray]:
    """Remove cuts until no segment is shorter than `min_s` (or only one is left).

    `cuts` are first-frame indices, `bounds_s` their times. The shortest too-short segment is
    merged first, into the neighbour whose mean embedding is closer. Returns the kept
    (cuts, bounds_s).
    """
    n_seg = len(cuts) + 1
    if n_seg == 1 or min_s <= 0:
        return cuts, bounds_s
    firsts = np.concatenate([[0], cuts]).astype(np.int64)
    stops = np.concatenate([cuts, [len(unit_emb)]]).astype(np.int64)
    starts_t = np.concatenate([[start_s], bounds_s]).astype(np.float64)
    ends_t = np.concatenate([bounds_s, [end_s]]).astype(np.float64)
    csum = np.concatenate([np.zeros((1, unit_emb.shape[1])), np.cumsum(unit_emb, axis=0)])
    sums = csum[stops] - csum[firsts]
    prev = np.arange(-1, n_seg - 1)
    nxt = np.arange(1, n_seg + 1)
    nxt[-1] = -1
    alive = np.ones(n_seg, dtype=bool)
    heap = [(ends_t[i] - starts_t[i], i) for i in range(n_seg) if ends_t[i] - starts_t[i] < min_s]
    heapq.heapify(heap)
    remaining = n_seg
    while heap and remaining > 1:
        dur, i = heapq.heappop(heap)
        if not alive[i] or abs((ends_t[i] - starts_t[i]) - dur) > 1e-12:
            continue  # stale entry
        p, q = prev[i], nxt[i]
        if p < 0 and q < 0:
            break
        if p < 0:
            target = q
        elif q < 0:
            target = p
        else:
            mine, left, right = _unit(sums[[i, p, q]])
            dl = _dist(mine[None], left[None], metric)[0, 0]
            dr = _dist(mine[None], right[None], metric)[0, 0]
            target = p if dl <= dr else q
        # Merge i into target: the survivor is the left one of the pair.
        a, b = (target, i) if target == p else (i, target)
        sums[a] += sums[b]
        ends_t[a] = ends_t[b]
        stops[a] = stops[b]
        alive[b] = False
        nxt[a] = nxt[b]
        if nxt[b] >= 0:
            prev[nxt[b]] = a
        remaining -= 1
        new_dur = ends_t[a] - starts_t[a]
        if new_dur < min_s:
            heapq.heappush(heap, (new_dur, a))
    keep = np.flatnonzero(alive)[1:]  # every alive segment but the first starts at a cut
    return firsts[keep], starts_t[keep]


def split_long(
    first: int,
    stop: int,
    start_s: float,
    end_s: float,
    frame_times: np.ndarray,
    distances: np.ndarray,
    max_s: float,
    min_s: float,
) -> list[tuple[int, float]]:
    """Cuts (first-frame index, time) that split frames first..stop-1 into parts <= `max_s`.

    Each split goes between the two frames with the largest successor distance such that
    both parts last at least `min_s` and the segment still ends up in the fewest parts of at
    most `max_s` (these are relaxed in turn when impossible), recursively.
    """
    out: list[tuple[int, float]] = []
    stack = [(first, stop, start_s, end_s)]
    while stack:
        a, z, t0, t1 = stack.pop()
        if t1 - t0 <= max_s or z - a < 2:
            continue
        pos = np.arange(a + 1, z)  # cut before frame p
        tb = (frame_times[pos - 1] + frame_times[pos]) / 2.0
        score = distances[pos - 1]
        # Keep the fewest parts possible: both sides together need no more parts than the whole.
        parts = np.ceil((t1 - t0) / max_s - 1e-9)
        fewest = np.ceil((tb - t0) / max_s - 1e-9) + np.ceil((t1 - tb) / max_s - 1e-9) <= parts
        best = -1
        for need, frugal in ((min_s, True), (min_s, False), ((t1 - t0) / 3.0, False), (0.0, False)):
            ok = (tb - t0 >= need) & (t1 - tb >= need)
            if frugal:
                ok &= fewest
            if ok.any():
                cand = np.flatnonzero(ok)
                best = int(cand[np.argmax(score[cand])])
                break
        if best < 0:
            continue
        p, tp = int(pos[best]), float(tb[best])
        out.append((p, tp))
        stack.append((a, p, t0, tp))
        stack.append((p, z, tp, t1))
    out.sort()
    return out


# --------------------------------------------------------------------------- keyframes


def keyframe_count(
    duration_s: float, spread: float, spread_ref: float, settings: SeamSettings
) -> int:
    """kmin..kmax keyframes: more for segments that are longer *and* more varied.

    ``x = sqrt(duration / max_segment_s * spread / spread_ref)`` (each part clipped to
    [0, 1]), then ``kmin + round(x * (kmax - kmin))``: a static segment gets kmin however
    long it is, a full-length segment twice as varied as the reference gets kmax.
    """
    lo, hi = settings.keyframes_min, settings.keyframes_max
    full = settings.max_segment_s or 15.0
    dur_frac = min(max(duration_s / full, 0.0), 1.0)
    var_frac = min(spread / spread_ref, 1.0) if spread_ref > 0 else 0.0
    x = float(np.sqrt(dur_frac * var_frac))
    return int(lo + np.floor(x * (hi - lo) + 0.5))


def pick_keyframes(
    unit_emb: np.ndarray,
    k: int,
    metric: str = "euclidean",
    allowed: np.ndarray | None = None,
    iters: int = 20,
) -> np.ndarray:
    """k medoids of the rows (indices, sorted), farthest-point initialised from the medoid.

    `allowed` (bool per row) restricts which rows may be chosen; every row still counts when
    judging how representative a choice is. Ties (identical frames) are broken towards
    frames spread in time.
    """
    m = len(unit_emb)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    cand = np.flatnonzero(allowed) if allowed is not None and allowed.any() else np.arange(m)
    k = max(1, min(k, len(cand)))
    dist = _dist(unit_emb[cand], unit_emb, metric)  # (candidates, rows)
    # A tiny time term so identical frames are told apart by when they are.
    pos = np.arange(m) / max(m - 1, 1)
    dist_t = dist + 1e-4 * np.abs(pos[cand][:, None] - pos[None, :])
    cost = dist_t.sum(axis=1)
    chosen = [int(np.argmin(cost))]
    near = dist_t[chosen[0], cand].copy()  # distance of each candidate to the chosen set
    for _ in range(1, k):
        j = int(np.argmax(near))
        if near[j] <= 0:
            break
        chosen.append(j)
        near = np.minimum(near, dist_t[j, cand])
    med = np.array(chosen)
    for _ in range(iters):
        label = np.argmin(dist_t[med], axis=0)  # nearest medoid of every row
        new = med.copy()
        for c in range(len(med)):
            members = label == c
            if members.any():
                new[c] = int(np.argmin(dist_t[:, members].sum(axis=1)))
        if len(set(new.tolist())) < len(new):
            break  # two clusters want the same frame: keep the distinct previous set
        if np.array_equal(new, med):
            break
        med = new
    return np.sort(cand[med])


def _keyframes_for(
    seg_rows: np.ndarray,
    k: int,
    metric: str,
    masks: list[np.ndarray],
) -> np.ndarray:
    """Keyframe indices within a segment (0-based), evenly subsampled when it is long.

    `masks` are the frames allowed, best first: the first that leaves at least one frame is
    used (none: every frame may be chosen).
    """
    m = len(seg_rows)
    if m > MAX_KEYFRAME_CANDIDATES:
        take = np.unique(np.linspace(0, m - 1, MAX_KEYFRAME_CANDIDATES).round().astype(np.int64))
    else:
        take = np.arange(m)
    allowed = next((mask[take] for mask in masks if mask[take].any()), None)
    return take[pick_keyframes(seg_rows[take], k, metric, allowed)]


def _away_from_cuts(times: np.ndarray, t0: float, t1: float, left: bool, right: bool) -> np.ndarray:
    """Frames not in the transition zone next to a cut (a dissolve's mixed frames)."""
    margin = min(TRANSITION_MARGIN_S, 0.25 * (t1 - t0))
    ok = np.ones(len(times), dtype=bool)
    if left:
        ok &= times >= t0 + margin
    if right:
        ok &= times <= t1 - margin
    return ok


# --------------------------------------------------------------------------- top level


def segments_from_seams(
    embeddings: np.ndarray,
    times_s: np.ndarray,
    curve: SeamCurve,
    settings: SeamSettings,
    thumbnails: np.ndarray | None = None,
    end_s: float | None = None,
) -> tuple[Segment, ...]:
    """Steps 1-4 of the module docstring for frames that `curve` was computed on."""
    e, t, _ = check_inputs(embeddings, times_s)
    unit = _unit(e)
    start, end = float(t[0]), _end_time(t, end_s)
    cuts, bounds = cut_frames(t, curve.seams_s)
    if settings.min_segment_s:
        cuts, bounds = merge_short(
            cuts, bounds, unit, start, end, settings.min_segment_s, settings.metric
        )
    firsts = np.concatenate([[0], cuts]).astype(np.int64)
    stops = np.concatenate([cuts, [len(t)]]).astype(np.int64)
    starts_t = np.concatenate([[start], bounds])
    ends_t = np.concatenate([bounds, [end]])
    if settings.max_segment_s:
        extra: list[tuple[int, float]] = []
        for a, z, t0, t1 in zip(firsts, stops, starts_t, ends_t, strict=True):
            extra += split_long(
                int(a), int(z), float(t0), float(t1), t, curve.distances,
                settings.max_segment_s, settings.min_segment_s or 0.0,
            )  # fmt: skip
        if extra:
            all_cuts = sorted(
                [(int(c), float(b)) for c, b in zip(cuts, bounds, strict=True)] + extra
            )
            cuts = np.array([c for c, _ in all_cuts], dtype=np.int64)
            bounds = np.array([b for _, b in all_cuts], dtype=np.float64)
            firsts = np.concatenate([[0], cuts]).astype(np.int64)
            stops = np.concatenate([cuts, [len(t)]]).astype(np.int64)
            starts_t = np.concatenate([[start], bounds])
            ends_t = np.concatenate([bounds, [end]])

    informative = sharp = None
    if thumbnails is not None and len(thumbnails) == len(t):
        from summarizer.summary.quality import informative_mask, sharpness

        informative = np.asarray(informative_mask(thumbnails), dtype=bool)
        sharp = np.asarray(sharpness(thumbnails), dtype=np.float64)

    spreads = []
    for a, z in zip(firsts, stops, strict=True):
        rows = unit[a:z]
        centre = _unit(rows.mean(axis=0))
        spreads.append(float(_dist(rows, centre[None], settings.metric).mean()))
    # Variety is judged against the video's own segments, but never against less than the
    # floor (a distance that could be a cut): a video of static shots stays at kmin.
    spread_ref = max(2.0 * float(np.median(spreads)), settings.floor) if spreads else 0.0

    segments = []
    for i, (a, z, t0, t1) in enumerate(zip(firsts, stops, starts_t, ends_t, strict=True)):
        k = keyframe_count(float(t1 - t0), spreads[i], spread_ref, settings)
        masks = [_away_from_cuts(t[a:z], float(t0), float(t1), i > 0, i < len(firsts) - 1)]
        if informative is not None and sharp is not None:
            # Blur is relative: a frame much softer than the sharper frames of its segment.
            good = informative[a:z] & (sharp[a:z] >= BLUR_RATIO * np.quantile(sharp[a:z], 0.75))
            masks = [masks[0] & good, good, masks[0]]
        local = _keyframes_for(unit[a:z], k, settings.metric, masks)
        kf = tuple(int(a + j) for j in local)
        segments.append(
            Segment(
                index=i,
                start_s=float(t0),
                end_s=float(t1),
                first=int(a),
                stop=int(z),
                keyframes=kf,
                keyframe_times_s=tuple(float(t[j]) for j in kf),
            )
        )
    return tuple(segments)


def segment_frames(
    embeddings: np.ndarray,
    times_s: np.ndarray,
    settings: SeamSettings | None = None,
    thumbnails: np.ndarray | None = None,
    end_s: float | None = None,
) -> Segmentation:
    """Seams, segments and keyframes of one video's frame embeddings (pure arrays in).

    A single frame is one segment, from its time to `end_s` (the video's end; without it,
    a zero-length segment), with that frame as its keyframe and no seams. No frames is an
    error.
    """
    settings = settings or SeamSettings()
    _, t, _ = check_inputs(embeddings, times_s, min_frames=1)
    if len(t) == 1:
        return _single_frame(float(t[0]), settings, end_s)
    curve = detect_seams(embeddings, times_s, settings)
    segments = segments_from_seams(embeddings, times_s, curve, settings, thumbnails, end_s)
    return Segmentation(
        seams_s=curve.seams_s,
        segments=segments,
        times_s=curve.times_s,
        distances=curve.distances,
        thresholds=curve.thresholds,
        frame_times_s=np.asarray(times_s, dtype=np.float64),
        settings=settings,
    )


def _single_frame(t0: float, settings: SeamSettings, end_s: float | None) -> Segmentation:
    end = float(end_s) if end_s is not None and end_s > t0 else t0
    empty = np.zeros(0, dtype=np.float64)
    seg = Segment(0, t0, end, 0, 1, keyframes=(0,), keyframe_times_s=(t0,))
    return Segmentation(
        seams_s=empty,
        segments=(seg,),
        times_s=empty.copy(),
        distances=empty.copy(),
        thresholds=empty.copy(),
        frame_times_s=np.array([t0], dtype=np.float64),
        settings=settings,
    )


def segment_video(
    embedded: EmbeddedVideo,
    settings: SeamSettings | None = None,
    *,
    video=None,
    signal=None,
) -> Segmentation:
    """Seams (by ``settings.detector``), segments and keyframes of the embedding stage's
    output, not yet refined: `summarizer.scenes.find.find_segments` with ``refine=False``."""
    from summarizer.scenes.find import find_segments

    return find_segments(embedded, settings, video, signal=signal, refine=False)
