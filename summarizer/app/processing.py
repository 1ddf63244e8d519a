"""Process a video (read, embed, seams) with progress, and ingest an upload; no Streamlit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from summarizer.app.labels import fmt_duration, plural
from summarizer.app.uploads import forget_source, save_upload

log = logging.getLogger("summarizer.app")

STAGES = ("read", "embed", "seams")
STAGE_LABELS = {
    "read": "reading and hashing",
    "embed": "embedding frames",
    "seams": "finding seams",
}


def sample_settings(fps: float | None = None) -> Any:
    from summarizer.config import SampleSettings

    return SampleSettings() if fps is None else SampleSettings(fps=fps)


def process_video(
    store: Any,
    path: str | Path,
    sample: Any,
    embed: Any,
    name: str | None = None,
    on_progress: Callable[[str, float, str], None] | None = None,
) -> tuple[Any, Any]:
    """Open, embed and segment one video; returns (EmbeddedVideo, Segmentation).

    `on_progress(stage, fraction, detail)` is called as each stage moves (stage in `STAGES`).
    Embeddings come from the store when this video was processed with these settings before.
    """
    from summarizer import flow as pipeline
    from summarizer.scenes.segments import segment_video

    def report(stage: str, frac: float, detail: str = "") -> None:
        if on_progress is not None:
            on_progress(stage, min(max(frac, 0.0), 1.0), detail)

    report("read", 0.0)
    ref = pipeline.open_video(path, store, sample)
    if name and name != ref.name:  # an upload keeps its own name in the catalog
        import dataclasses

        ref = dataclasses.replace(ref, name=name)
        store.register_video(ref)
    report(
        "read", 1.0, f"{ref.probe.width}x{ref.probe.height}, {fmt_duration(ref.probe.duration_s)}"
    )

    def frames(_stage: str, done: int, total: int) -> None:
        report("embed", done / total if total else 0.0, f"{done} of {plural(total, 'frame')}")

    report("embed", 0.0)
    embedded = pipeline.embed_video(ref, sample, embed, store, progress=frames)
    report(
        "embed",
        1.0,
        "from the store" if embedded.cache_hit else plural(len(embedded.times_s), "frame"),
    )
    report("seams", 0.0)
    seg = segment_video(embedded)
    report("seams", 1.0, plural(len(seg.segments), "segment"))
    return embedded, seg


def ingest_and_process(
    store: Any,
    name: str,
    data: bytes | IO[bytes],
    sample: Any,
    embed: Any,
    max_bytes: int | None = None,
    on_progress: Callable[[str, float, str], None] | None = None,
) -> dict[str, Any]:
    """Keep an upload in the store and process it; never raises.

    Returns ``{"name", "sha256", "frames", "segments", "cached"}`` on success, or
    ``{"name", "error"}`` with a one-line message (bad type, too large, empty, not a video,
    no frames, model unavailable). A failed upload leaves no copy behind.
    """
    from summarizer.errors import AtlasError

    saved = None
    known = False
    try:
        if on_progress is not None:
            on_progress("read", 0.0, "saving")
        saved = save_upload(store, name, data, max_bytes)
        known = store.video(saved.sha256) is not None
        embedded, seg = process_video(store, saved.path, sample, embed, name, on_progress)
    except AtlasError as exc:
        error = str(exc)
    except Exception as exc:  # a bug: keep the traceback in the log, show one line
        log.exception("processing %s failed", name)
        error = f"unexpected problem while processing ({type(exc).__name__}); see the server log"
    else:
        return {
            "name": name,
            "sha256": saved.sha256,
            "frames": len(embedded.times_s),
            "segments": len(seg.segments),
            "cached": bool(embedded.cache_hit),
        }
    if saved is not None and not known:
        forget_source(store, saved.sha256)
    return {"name": name, "error": _error_about(error, name, saved.path if saved else None)}


def _error_about(error: str, name: str, kept: Path | None) -> str:
    """The error without the file's name: the kept copy's path or name (a safe spelling of
    `name`) and a leading ``name:`` go, since the page shows the user's file name once."""
    if kept is not None:
        error = error.replace(str(kept), name).replace(kept.name, name)
    for lead in (f"{name}: ", f"{name} "):
        if error.startswith(lead):
            error = error[len(lead) :]
            break
    return error[:1].upper() + error[1:]
