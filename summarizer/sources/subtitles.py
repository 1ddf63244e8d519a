"""Subtitles: read ``.srt`` (pysrt) and ``.vtt`` (webvtt-py), find a sidecar next to a video,
the text said during a time span, and the spans where keywords are said.

Keyword spans mark where words of interest are spoken: the ``seams`` outputs list them and
the segments they touch, and ``sample`` can keep only the frames inside them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from summarizer.errors import InputError, SettingsError

SUFFIXES = (".vtt", ".srt")


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from `start_s` to `end_s`, plain `text` (tags removed)."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class KeywordSpan:
    """A time span in which `keyword` is said (the cue that says it)."""

    keyword: str
    start_s: float
    end_s: float
    text: str

    def to_dict(self) -> dict:
        return {
            "keyword": self.keyword,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "text": self.text,
        }


_TAG = re.compile(r"<[^>]+>")


def _clean(text: str) -> str:
    return " ".join(_TAG.sub("", text).split())


@dataclass(frozen=True)
class Subtitles:
    """The cues of one subtitle file, in time order."""

    cues: tuple[Cue, ...]
    path: Path | None = None

    def text_between(self, start_s: float, end_s: float) -> str:
        """The text of the cues overlapping [start_s, end_s), in order, repeats dropped
        (auto-generated subtitles repeat a line across cues)."""
        out: list[str] = []
        for c in self.cues:
            if c.end_s > start_s and c.start_s < end_s and (not out or out[-1] != c.text):
                out.append(c.text)
        return " ".join(out)

    def keyword_spans(self, keywords: Sequence[str]) -> list[KeywordSpan]:
        """Every cue that says one of `keywords` (case-insensitive, whole words), in time order."""
        pats = [(k, re.compile(rf"(?<!\w){re.escape(k)}(?!\w)", re.IGNORECASE)) for k in keywords]
        return [
            KeywordSpan(k, c.start_s, c.end_s, c.text)
            for c in self.cues
            for k, pat in pats
            if pat.search(c.text)
        ]


def parse_keywords(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """'cat, dog' -> ('cat', 'dog'); empty names are dropped."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(w.strip() for w in items if w.strip()))


def in_spans(times_s: Sequence[float], spans: Sequence[KeywordSpan], pad_s: float = 0.0):
    """Boolean mask: which times fall inside a keyword span (widened by `pad_s`)."""
    import numpy as np

    t = np.asarray(times_s, dtype=np.float64)
    mask = np.zeros(len(t), dtype=bool)
    for s in spans:
        mask |= (t >= s.start_s - pad_s) & (t < s.end_s + pad_s)
    return mask


def load_subtitles(path: str | Path) -> Subtitles:
    """Read a ``.srt`` or ``.vtt`` file; a missing or unreadable one is an `InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such subtitle file")
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise SettingsError(f"{p.name}: subtitles must be .srt or .vtt")
    try:
        if suffix == ".srt":
            import pysrt

            items = pysrt.open(str(p), error_handling=pysrt.ERROR_RAISE)
            cues = [
                Cue(c.start.ordinal / 1000, c.end.ordinal / 1000, _clean(c.text)) for c in items
            ]
        else:
            import webvtt

            cues = [
                Cue(
                    c.start_time.in_milliseconds() / 1000,
                    c.end_time.in_milliseconds() / 1000,
                    _clean(c.text),
                )
                for c in webvtt.read(str(p))
            ]
    except InputError:
        raise
    except Exception as exc:  # each parser has its own error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p.name}: not a readable subtitle file ({first})") from None
    cues = sorted((c for c in cues if c.text and c.end_s > c.start_s), key=lambda c: c.start_s)
    return Subtitles(tuple(cues), p)


def find_sidecar(video: str | Path) -> Path | None:
    """The subtitle file next to `video`: ``name.vtt``/``name.srt``, else ``name.<lang>.vtt``
    (what yt-dlp writes), preferring English; None when there is none."""
    v = Path(video)
    if not v.is_file():
        return None
    for suffix in SUFFIXES:
        p = v.with_suffix(suffix)
        if p.is_file():
            return p
    import glob

    found = sorted(
        p
        for suffix in SUFFIXES
        for p in v.parent.glob(f"{glob.escape(v.stem)}.*{suffix}")
        if p.is_file()
    )
    if not found:
        return None
    english = [p for p in found if p.name[len(v.stem) :].lower().startswith(".en")]
    return (english or found)[0]
