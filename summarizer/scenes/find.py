"""One call from embedded frames to frame-accurate segments: detect, segment, refine.

`find_segments` is what the flow (library, CLI, app) calls for a video:

1. the detector of ``settings.detector`` (`summarizer.scenes.detectors`) proposes
   transitions; the full-rate detectors read a `FrameSignal`, given (cached by the caller)
   or computed here with `frame_signal` (one decode pass of every frame, tiny);
2. segments of 2-15 s and their keyframes are built from the seams and the sampled
   embeddings (`summarizer.scenes.segments`), with the successor curve for plotting and for
   splitting long segments;
3. the boundaries are put on the first source frame of the new shot: the full-rate
   detectors' seams are there already, the rest (the successor's seams, splits of long
   segments) are refined by decoding the frames between two samples
   (`summarizer.scenes.refine`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from summarizer.data import EmbeddedVideo
from summarizer.decode.signal import FrameSignal
from summarizer.scenes.detectors import DetectInput, get_detector
from summarizer.scenes.seams import SeamCurve, SeamSettings, check_inputs, detect_seams
from summarizer.scenes.segments import Segmentation, segment_frames, segments_from_seams

Progress = Callable[[int, int], None]
SIGNAL_CACHE = 8  # full-rate signals kept in memory (a few MB each for an hour of video)
_SIGNALS: OrderedDict[tuple[str, int, int], FrameSignal] = OrderedDict()


def frame_signal(video: str | Path, progress: Progress | None = None) -> FrameSignal:
    """The full-rate signal of a video file (`summarizer.decode.signal.scan`).

    The last few are kept in memory (by path, size and modification time), so running the
    detection again with other settings does not decode again; the flow also stores it.
    """
    from summarizer.decode.signal import scan

    p = Path(video)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _SIGNALS:
        _SIGNALS.move_to_end(key)
        return _SIGNALS[key]
    sig = scan(p, progress=progress)
    _SIGNALS[key] = sig
    while len(_SIGNALS) > SIGNAL_CACHE:
        _SIGNALS.popitem(last=False)
    return sig


def remember_signal(video: str | Path, signal: FrameSignal) -> None:
    """Keep `signal` as the full-rate signal of `video` (made by another pass over the same
    frames, `summarizer.decode.onepass`), so `frame_signal` does not decode it again."""
    p = Path(video)
    st = p.stat()
    _SIGNALS[(str(p.resolve()), st.st_size, st.st_mtime_ns)] = signal
    _SIGNALS.move_to_end((str(p.resolve()), st.st_size, st.st_mtime_ns))
    while len(_SIGNALS) > SIGNAL_CACHE:
        _SIGNALS.popitem(last=False)


def _video_path(embedded: EmbeddedVideo, video: str | Path | None) -> Path | None:
    ref = getattr(embedded, "ref", None)
    if video is None and ref is not None and getattr(ref, "kind", "video") == "video":
        video = ref.path
    p = Path(video) if video is not None else None
    return p if p is not None and p.is_file() else None


def _end_s(embedded: EmbeddedVideo) -> float | None:
    probe = getattr(getattr(embedded, "ref", None), "probe", None)
    if probe is not None and probe.duration_s and np.isfinite(probe.duration_s):
        return float(probe.duration_s)
    return None


def find_segments(
    embedded: EmbeddedVideo,
    settings: SeamSettings | None = None,
    video: str | Path | None = None,
    *,
    signal: FrameSignal | None = None,
    progress: Progress | None = None,
    refine: bool = True,
) -> Segmentation:
    """Transitions, segments and keyframes of one embedded video (the module docstring).

    video: the source file (default ``embedded.ref.path`` for a video; image folders have
        none, and then ``auto`` falls back to the successor detector).
    signal: a `FrameSignal` computed before (from the store); computed here when a detector
        needs it and it is missing.
    progress: ``progress(done, total)`` while the full-rate signal is decoded.
    refine: put every boundary on a source frame (needs the file).
    """
    settings = settings or SeamSettings()
    e, t, _ = check_inputs(embedded.embeddings, embedded.times_s, min_frames=1)
    thumbs = (
        embedded.thumbnails
        if embedded.thumbnails is not None and len(embedded.thumbnails)
        else None
    )
    end_s = _end_s(embedded)
    if len(t) == 1:
        return segment_frames(e, t, settings, thumbs, end_s)
    path = _video_path(embedded, video)
    detector = get_detector(settings.detector)
    if detector.needs_signal and signal is None and path is not None:
        signal = frame_signal(path, progress)
    detection = detector.detect(DetectInput(e, t, signal, path), settings)
    curve = detect_seams(e, t, settings)
    seams = detection.seams_s
    positions = np.clip(
        np.searchsorted(curve.times_s, seams) - 1, 0, max(len(curve.times_s) - 1, 0)
    )
    curve = SeamCurve(
        curve.times_s, curve.distances, curve.thresholds, positions.astype(np.int64), seams
    )
    segments = segments_from_seams(e, t, curve, settings, thumbs, end_s)
    seg = Segmentation(
        seams_s=seams,
        segments=segments,
        times_s=curve.times_s,
        distances=curve.distances,
        thresholds=curve.thresholds,
        frame_times_s=t,
        settings=settings,
        refined=False,
        transitions=detection.transitions,
        exact_seams=detection.frame_accurate,
    )
    if not refine or path is None:
        return seg
    from summarizer.scenes.refine import refine_segmentation

    return refine_segmentation(path, embedded, seg)
