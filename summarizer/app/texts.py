"""Words that go with a video's frames on the Seams page: subtitles and keyframe captions.

Where they are kept (beside the video's results in the store, ``<store>/<hash>/text/``):
- ``subtitles.srt`` / ``subtitles.vtt``: subtitles added on the Seams page; else the sidecar
  next to the video's file (a ``name.vtt`` beside it, or the ``name.en.vtt`` yt-dlp wrote
  beside a download) is used (`summarizer.sources.subtitles.find_sidecar`).
- ``captions.jsonl``: keyframe captions (`summarizer.captions` rows: time_s, frame = the
  source frame number, text), written by the Seams page's "Caption keyframes" or copied
  there from a CLI output folder; read with `summarizer.captions.read_captions`.
No Streamlit here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.errors import InputError

TEXT_DIR = "text"
CAPTIONS = "captions.jsonl"
SUBTITLE_TYPES = ("srt", "vtt")


def text_dir(store: Any, sha256: str, create: bool = False) -> Path:
    d = store.group_dir(sha256, create=create) / TEXT_DIR
    if create:
        d.mkdir(exist_ok=True)
    return d


# --------------------------------------------------------------------------- subtitles


def subtitles_file(store: Any, sha256: str) -> Path | None:
    """The subtitles of a video: the ones added in the app, else the sidecar of its file."""
    from summarizer.app.uploads import source_file
    from summarizer.sources.subtitles import find_sidecar

    for suffix in SUBTITLE_TYPES:
        p = text_dir(store, sha256) / f"subtitles.{suffix}"
        if p.is_file():
            return p
    src = source_file(store, sha256)
    return find_sidecar(src) if src is not None else None


def load(store: Any, sha256: str) -> Any:
    """The parsed `Subtitles` of a video, or None when it has none. A file that cannot be
    read is an `InputError` (one line)."""
    from summarizer.sources.subtitles import load_subtitles

    p = subtitles_file(store, sha256)
    return load_subtitles(p) if p is not None else None


def keep_subtitles(store: Any, sha256: str, name: str, data: bytes) -> Path:
    """Keep uploaded subtitles for a video (replacing earlier ones) once they parse; an
    `InputError` (one line) for a file that is not .srt/.vtt or cannot be read."""
    from summarizer.sources.subtitles import load_subtitles

    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in SUBTITLE_TYPES:
        raise InputError(f"{name}: subtitles must be .srt or .vtt")
    folder = text_dir(store, sha256, create=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-subtitles-", suffix=f".{suffix}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        subs = load_subtitles(tmp)
        if not subs.cues:
            raise InputError(f"{name}: no subtitles in the file")
        for other in SUBTITLE_TYPES:
            (folder / f"subtitles.{other}").unlink(missing_ok=True)
        final = folder / f"subtitles.{suffix}"
        os.replace(tmp, final)
        return final
    except InputError as exc:
        raise InputError(str(exc).replace(Path(tmp).name, name)) from None
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)


def segment_texts(subtitles: Any, segments: Sequence[Any]) -> list[str]:
    """The subtitle text said during each segment."""
    return [subtitles.text_between(s.start_s, s.end_s) for s in segments]


def keyword_hits(subtitles: Any, keywords: Sequence[str], segments: Sequence[Any]) -> dict:
    """segment index -> the keyword spans (`KeywordSpan`) said during it."""
    out: dict[int, list[Any]] = {}
    for span in subtitles.keyword_spans(keywords):
        for s in segments:
            if s.end_s > span.start_s and s.start_s < span.end_s:
                out.setdefault(s.index, []).append(span)
    return out


# --------------------------------------------------------------------------- captions


def captions_path(store: Any, sha256: str) -> Path:
    return text_dir(store, sha256) / CAPTIONS


def captions(store: Any, sha256: str) -> list[dict[str, Any]]:
    """The caption rows kept for a video (none: [])."""
    from summarizer.captions import read_captions

    return read_captions(captions_path(store, sha256))


def caption_of(
    rows: Sequence[Mapping[str, Any]], source_frame: int, time_s: float, fps: float
) -> str | None:
    """The caption of one keyframe: the row of its source frame, else one within half a
    frame of its time (rows written from another sampling of the same video)."""
    for row in rows:
        if row.get("frame") == source_frame:
            return str(row["text"])
    tol = 0.5 / fps if fps and fps > 0 else 0.02
    for row in rows:
        t = row.get("time_s")
        if isinstance(t, (int, float)) and abs(float(t) - time_s) <= tol:
            return str(row["text"])
    return None


def endpoint_configured() -> bool:
    """Whether an OpenAI-compatible endpoint is set for captions (``OPENAI_BASE_URL`` or
    ``OPENAI_MODEL`` in the server's environment): only then is "Caption keyframes" offered."""
    return bool(os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_MODEL"))


def caption_keyframes(
    store: Any,
    ev: Any,
    seg: Any,
    frames: Callable[[list[int]], Sequence[np.ndarray]],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, str | None]:
    """Caption every keyframe of `seg` with the configured endpoint (`summarizer.captions`,
    settings from the environment) and keep them in ``captions.jsonl`` (merged with the rows
    already there). `frames(positions)`: the keyframes as RGB arrays. Returns (captions
    written, None) or (captions kept, the endpoint's one-line error): the captions made
    before a failure are kept."""
    from summarizer.captions import (
        CaptionError,
        CaptionSettings,
        Frame,
        caption_frames,
        endpoint,
        spaced,
        write_captions,
    )
    from summarizer.captions.endpoint import Caption

    settings = CaptionSettings()
    ep = endpoint(settings)  # SettingsError (no model) -> one line on the page
    # every keyframe, at most `max_frames` of them (spread over the video): a bound on cost
    picked = spaced(
        [Frame(float(ev.times_s[k]), int(k), None) for k in seg.keyframe_indices],
        0.0,
        settings.max_frames,
    )
    positions = [f.frame for f in picked]
    images = frames(positions)
    todo = [
        Frame(float(ev.times_s[k]), int(ev.indices[k]), im, "")
        for k, im in zip(positions, images, strict=True)
    ]
    error = None
    try:
        made = caption_frames(todo, settings, ep, progress)
    except CaptionError as exc:
        made, error = exc.done, str(exc)
    if made:
        done = {c.frame for c in made}
        old = [
            Caption(float(r.get("time_s", 0.0)), int(r["frame"]), r["text"], r.get("image", ""))
            for r in captions(store, ev.ref.sha256)
            if isinstance(r.get("frame"), int) and r["frame"] not in done
        ]
        text_dir(store, ev.ref.sha256, create=True)
        write_captions(
            captions_path(store, ev.ref.sha256), sorted(old + made, key=lambda c: c.time_s)
        )
    return len(made), error
