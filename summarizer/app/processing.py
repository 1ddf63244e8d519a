"""Process a video for the app (read, embed, find scenes) through the flow; no Streamlit.

Progress has the flow's one shape, ``progress(stage, done, total)`` (total 0 = unknown);
the Home page draws one bar per stage in `STAGES`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from summarizer.app.labels import plural
from summarizer.app.uploads import SavedUpload, forget_source

log = logging.getLogger("summarizer.app")

Progress = Callable[[str, int, int], None]
STAGES = ("read", "embed", "scenes")
STAGE_LABELS = {
    "read": "reading and hashing",
    "embed": "embedding frames",
    "scenes": "finding seams",
}
# the flow's finer stages, drawn on the app's bars
BAR_OF = {"read": "read", "embed": "embed", "signal": "scenes", "scenes": "scenes"}


def sample_settings(fps: float | None = None) -> Any:
    from summarizer.config import SampleSettings

    return SampleSettings() if fps is None else SampleSettings(fps=fps)


def find_scenes(ev: Any, seams: Any = None, progress: Progress | None = None) -> Any:
    """Segments of an embedded video (`flow.find_scenes`: seams refined to the exact frame
    for video files), what the CLI's ``seams`` and the library's ``summarize`` compute.
    `seams` None: the default `SeamSettings`."""
    from summarizer import flow
    from summarizer.config import section_class

    if progress is not None:
        progress("scenes", 0, 0)
    return flow.find_scenes(ev, seams or section_class("seams")(), progress=progress)


def process_video(
    store: Any,
    path: str | Path | Any,
    sample: Any,
    embed: Any,
    name: str | None = None,
    progress: Progress | None = None,
) -> tuple[Any, Any]:
    """Open, embed and segment one video; returns (EmbeddedVideo, Segmentation).

    `path`: a file, or a `summarizer.sources.Source` (a URL made local: its store key is its
    bytes' hash or, for a stream read up to an end time, the URL + the stream's identity;
    the catalog says which). The video enters the library (the catalog) only once its
    embeddings are made, so a file that fails never shows up there. Embeddings come from
    the store when this video was processed with these settings before.
    """
    import dataclasses

    from summarizer import flow
    from summarizer.app.sources import catalog_ref

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    report("read", 0, 1)
    ref = flow.open_video(path, None, sample)
    if name and name != ref.name:  # an upload keeps its own name in the catalog
        ref = dataclasses.replace(ref, name=name)
    report("read", 1, 1)
    report("embed", 0, 0)
    embedded = flow.embed_video(ref, sample, embed, store, progress=progress)
    store.register_video(catalog_ref(ref, path))
    seg = find_scenes(embedded, None, progress)
    return embedded, seg


def process_saved(
    store: Any,
    saved: SavedUpload,
    sample: Any,
    embed: Any,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Process an upload kept on disk (see `uploads.save_upload`); never raises.

    Returns ``{"name", "sha256", "frames", "segments", "cached"}`` on success, or
    ``{"name", "error"}`` with one line (not a video, no frames, model unavailable ...).
    A failed upload leaves neither a copy nor a library entry behind.
    """
    known = store.video(saved.sha256) is not None
    done, error = _attempt(store, saved.path, sample, embed, saved.name, progress, saved.name)
    if done is not None:
        return _outcome(saved.name, saved.sha256, *done)
    if not known:
        forget_source(store, saved.sha256)
    return {"name": saved.name, "error": error_about(error, saved.name, saved.path)}


def process_source(
    store: Any,
    source: Any,
    sample: Any,
    embed: Any,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Process one video fetched from a URL (a `summarizer.sources.Source`); never raises.

    Returns what `process_saved` returns, plus ``url`` and ``key_kind`` ("bytes" or
    "stream"). A video that fails leaves neither its download nor a library entry behind.
    """
    from summarizer.app.sources import forget_download

    done, error = _attempt(store, source, sample, embed, source.name, progress, source.url)
    if done is not None:
        embedded, _ = done
        keep_subtitles_of(store, embedded.ref.sha256, source)
        outcome = _outcome(source.name, embedded.ref.sha256, *done)
        return {**outcome, "url": source.url, "key_kind": source.key_kind}
    forget_download(store, source)
    return {"name": source.name, "error": error_about(error, source.name, source.path)}


def _attempt(
    store: Any,
    what: Any,
    sample: Any,
    embed: Any,
    name: str,
    progress: Progress | None,
    label: Any,
) -> tuple[tuple[Any, Any] | None, str]:
    """`process_video` that never raises: ((embedded, segmentation), "") or (None, one line).
    A bug keeps its traceback in the log under `label`."""
    from summarizer.errors import AtlasError

    try:
        return process_video(store, what, sample, embed, name, progress), ""
    except AtlasError as exc:
        return None, str(exc)
    except Exception as exc:  # a bug: keep the traceback in the log, show one line
        log.exception("processing %s failed", label)
        return None, (
            f"unexpected problem while processing ({type(exc).__name__}); see the server log"
        )


def _outcome(name: str, sha256: str, embedded: Any, seg: Any) -> dict[str, Any]:
    """What `process_saved` and `process_source` report for a processed video."""
    return {
        "name": name,
        "sha256": sha256,
        "frames": len(embedded.times_s),
        "segments": len(seg.segments),
        "cached": bool(embedded.cache_hit),
    }


def keep_subtitles_of(store: Any, sha256: str, source: Any) -> None:
    """Keep the subtitles found with a link (yt-dlp's, or the ones named) beside the video's
    results, where the Seams page reads them; a file that does not parse is logged, not
    fatal (the video is fine without it)."""
    from summarizer.app import texts
    from summarizer.errors import AtlasError

    subs = getattr(source, "subtitles", None)
    if subs is None or not Path(subs).is_file():
        return
    try:
        texts.keep_subtitles(store, sha256, Path(subs).name, Path(subs).read_bytes())
    except (AtlasError, OSError) as exc:
        log.warning("subtitles of %s not kept: %s", source.url or source.name, exc)


def error_about(error: str, name: str, kept: Path | None) -> str:
    """The error without the file's name: the kept copy's path or name (a safe spelling of
    `name`) and a leading ``name:`` go, since the page shows the user's file name once."""
    if kept is not None:
        error = error.replace(str(kept), name).replace(kept.name, name)
    for lead in (f"{name}: ", f"{name} "):
        if error.startswith(lead):
            error = error[len(lead) :]
            break
    return error[:1].upper() + error[1:]


def stage_text(stage: str, done: int, total: int) -> str:
    """'embedding frames: 120 of 480 frames' for a progress bar."""
    label = STAGE_LABELS.get(BAR_OF.get(stage, stage), stage)
    if stage == "embed" and (done or total):
        return f"{label}: {done} of {plural(total, 'frame')}" if total else f"{label}: {done}"
    return label
