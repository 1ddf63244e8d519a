"""Subtitle keywords acting on the result: the spans where they are said become extra segment
boundaries, or a filter on the frames kept.

Modes (``KeywordSettings.mode``, ``--keywords-as``):
- ``boundaries``: each span's start and end cut the segments (`with_keyword_boundaries`);
- ``filter``: only what lies inside the spans is kept: the segments that overlap one
  (``seams``, `keyword_segments`), the sampled frames inside one (``summary``: `frames_in_spans`;
  ``sample``: `summarizer.sources.subtitles.in_spans` on each frame);
- ``list``: nothing changes; the spans are listed with the segments they touch;
- ``auto`` (default): ``boundaries`` where there are segments (``seams``), ``filter`` where
  frames are picked (``summary``, ``sample``).

Segments keep the 2-15 s rule where they can: a span shorter than ``min_segment_s`` is widened
around its middle, spans closer than that are joined, a span's start moves back (its end
forward) onto an existing boundary less than ``min_segment_s`` away (shot cuts are exact,
subtitle times are not), and a piece left too short beside a keyword boundary is merged
across its other boundary (`summarizer.scenes.forced.split_at`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from summarizer.config import check

MODES = ("auto", "boundaries", "filter", "list")


@dataclass(frozen=True)
class KeywordSettings:
    """Subtitle keywords and what they do.

    words: the keywords (whole words, case-insensitive); empty: none.
    mode: boundaries | filter | list | auto (see the module docstring).
    pad_s: seconds added before and after each span where a keyword is said.
    """

    words: tuple[str, ...] = ()
    mode: str = "auto"
    pad_s: float = 0.0

    def __post_init__(self) -> None:
        from summarizer.sources.subtitles import parse_keywords

        object.__setattr__(self, "words", parse_keywords(self.words))
        check(self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        check(
            isinstance(self.pad_s, (int, float)) and math.isfinite(self.pad_s) and self.pad_s >= 0,
            f"pad_s must be >= 0, got {self.pad_s!r}",
        )

    def resolved(self, segments: bool) -> str:
        """The mode for a command with (`segments`) or without segments."""
        if self.mode == "auto":
            return "boundaries" if segments else "filter"
        return self.mode


def keyword_settings(
    config: dict[str, Any] | None, words: str | None = None, mode: str | None = None
) -> KeywordSettings:
    """The YAML ``keywords:`` section, overridden by ``--keywords`` and ``--keywords-as``."""
    from summarizer.config import from_dict

    base = dict((config or {}).get("keywords") or {})
    if words:
        base["words"] = words
    if mode:
        base["mode"] = mode
    if isinstance(base.get("words"), str):
        from summarizer.sources.subtitles import parse_keywords

        base["words"] = list(parse_keywords(base["words"]))
    return from_dict(KeywordSettings, base)


def _pairs(spans: Sequence[Any]) -> list[tuple[float, float]]:
    out = []
    for s in spans:
        a, b = (s.start_s, s.end_s) if hasattr(s, "start_s") else s
        out.append((float(a), float(b)))
    return out


def merged_spans(
    spans: Sequence[Any],
    start_s: float,
    end_s: float,
    min_s: float = 0.0,
    pad_s: float = 0.0,
) -> list[tuple[float, float]]:
    """The keyword spans (`KeywordSpan` or (start, end)) padded by `pad_s`, each widened around
    its middle to at least `min_s`, clipped to [start_s, end_s], and joined where they
    overlap or are less than `min_s` apart; in time order."""
    out: list[list[float]] = []
    for a, b in sorted(_pairs(spans)):
        a, b = a - pad_s, b + pad_s
        if b - a < min_s:
            mid = (a + b) / 2
            a, b = mid - min_s / 2, mid + min_s / 2
        if a < start_s:
            a, b = start_s, b + (start_s - a)
        if b > end_s:
            a, b = max(start_s, a - (b - end_s)), end_s
        if b <= a:
            continue
        if out and a - out[-1][1] < min_s:
            out[-1] = [min(out[-1][0], a), max(out[-1][1], b)]
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _on_grid(t: float, fps: float | None) -> float:
    return round(t * fps) / fps if fps and fps > 0 else float(t)


def keyword_cuts(
    segmentation: Any,
    spans: Sequence[Any],
    pad_s: float = 0.0,
    fps: float | None = None,
) -> list[float]:
    """Where the segments must be cut so each keyword span (see `merged_spans`) starts and
    ends on a boundary: a span's start snaps back (its end forward) to an existing boundary
    or the video's edge less than ``min_segment_s`` away, else it is a new cut, put on the
    video's frame grid when `fps` is known."""
    segs = segmentation.segments
    start, end = float(segs[0].start_s), float(segs[-1].end_s)
    min_s = float(segmentation.settings.min_segment_s or 0.0)
    existing = [start, *(float(s.start_s) for s in segs[1:]), end]
    cuts: set[float] = set()
    for a, b in merged_spans(spans, start, end, min_s, pad_s):
        before = [x for x in existing if a - min_s < x <= a]
        after = [x for x in existing if b <= x < b + min_s]
        cuts.add(max(before) if before else _on_grid(a, fps))
        cuts.add(min(after) if after else _on_grid(b, fps))
    return sorted(c for c in cuts if start < c < end)


def with_keyword_boundaries(
    embedded: Any, segmentation: Any, spans: Sequence[Any], pad_s: float = 0.0
) -> Any:
    """`segmentation` (of `embedded`) cut where the keyword spans start and end, keyframes
    picked again (`summarizer.scenes.forced.split_at`)."""
    from summarizer.scenes.forced import split_at

    if not spans or not segmentation.segments or len(segmentation.frame_times_s) < 2:
        return segmentation
    fps = getattr(getattr(getattr(embedded, "ref", None), "probe", None), "fps", None)
    kind = getattr(getattr(embedded, "ref", None), "kind", "video")
    cuts = keyword_cuts(segmentation, spans, pad_s, fps if kind == "video" else None)
    thumbs = embedded.thumbnails
    thumbs = thumbs if thumbs is not None and len(thumbs) == len(embedded.times_s) else None
    return split_at(embedded.embeddings, embedded.times_s, segmentation, cuts, thumbs)


def keyword_segments(
    embedded: Any, segmentation: Any, spans: Sequence[Any], pad_s: float = 0.0
) -> Any:
    """Only the segments where a keyword is said: `with_keyword_boundaries`, then the
    segments that overlap a span, numbered again from 0 (none: no segments)."""
    seg = with_keyword_boundaries(embedded, segmentation, spans, pad_s)
    pairs = [(a - pad_s, b + pad_s) for a, b in _pairs(spans)]
    kept = [s for s in seg.segments if any(s.end_s > a and s.start_s < b for a, b in pairs)]
    segments = tuple(dataclasses.replace(s, index=i) for i, s in enumerate(kept))
    return dataclasses.replace(seg, segments=segments)


def apply_keywords(
    embedded: Any, segmentation: Any, spans: Sequence[Any], mode: str, pad_s: float = 0.0
) -> Any:
    """The segmentation as keyword `mode` makes it ("boundaries", "filter", "list"/"auto"
    as for a command with segments): what ``seams``, the library and the app call."""
    mode = KeywordSettings(mode=mode).resolved(segments=True)
    if mode == "boundaries":
        return with_keyword_boundaries(embedded, segmentation, spans, pad_s)
    if mode == "filter":
        return keyword_segments(embedded, segmentation, spans, pad_s)
    return segmentation


def span_mask(times_s: Any, spans: Sequence[Any], pad_s: float = 0.0) -> np.ndarray:
    """Boolean per time: inside a keyword span (`KeywordSpan` or (start, end)), widened by
    `pad_s` on both sides."""
    t = np.asarray(times_s, dtype=np.float64)
    mask = np.zeros(len(t), dtype=bool)
    for a, b in _pairs(spans):
        mask |= (t >= a - pad_s) & (t < b + pad_s)
    return mask


def frames_in_spans(embedded: Any, spans: Sequence[Any], pad_s: float = 0.0) -> Any:
    """`embedded` with only the sampled frames inside a keyword span (their positions in
    `embedded`: ``np.flatnonzero(span_mask(embedded.times_s, spans, pad_s))``), or None
    when no sampled frame is."""
    pos = np.flatnonzero(span_mask(embedded.times_s, spans, pad_s))
    if len(pos) == 0:
        return None
    return dataclasses.replace(
        embedded,
        times_s=np.asarray(embedded.times_s)[pos],
        indices=np.asarray(embedded.indices)[pos],
        embeddings=np.asarray(embedded.embeddings)[pos],
        thumbnails=np.asarray(embedded.thumbnails)[pos],
    )


def mode_for(settings: KeywordSettings, segments: bool) -> str:
    """The mode a command uses: ``auto`` resolved; ``boundaries`` (from a shared YAML file)
    on a command without segments only lists the spans."""
    resolved = settings.resolved(segments)
    return "list" if resolved == "boundaries" and not segments else resolved


def keyword_segmentation(
    video: Any, embedded: Any, segmentation: Any, settings: KeywordSettings
) -> Any:
    """`segmentation` as `settings` make it (``auto``: boundaries) from the subtitles of
    `video` (a `summarizer.sources.Source`'s, else a sidecar next to the file read): what
    `summarizer.flow.summarize` calls. No words, or no subtitles: unchanged."""
    from summarizer.sources.subtitles import find_sidecar, load_subtitles

    if not settings.words:
        return segmentation
    path = getattr(video, "subtitles", None) or find_sidecar(embedded.ref.path)
    if path is None:
        return segmentation
    spans = load_subtitles(path).keyword_spans(settings.words)
    mode = mode_for(settings, segments=True)
    return apply_keywords(embedded, segmentation, spans, mode, settings.pad_s)
