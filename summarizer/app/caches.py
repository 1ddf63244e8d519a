"""Per-server Streamlit caches (store, embedder, results), so re-runs and links cost nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import streamlit as st

from summarizer.app.catalog import library_thumbnail
from summarizer.app.frames import decode_frames, frame_images, image_data_url
from summarizer.app.labels import for_app
from summarizer.summary.filtered import FilteredSummary

log = logging.getLogger("summarizer.app")


def _cache_resource(**kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return st.cache_resource(show_spinner=False, **kw)


def _cache_data(**kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return st.cache_data(show_spinner=False, **kw)


@_cache_resource()
def _store_for(root: str) -> Any:
    from summarizer.store import Store

    return Store(root)


def get_store() -> Any:
    """The store under ``$ATLAS_HOME`` (or the per-user default), one object per root."""
    from summarizer.store import default_root

    return _store_for(str(default_root()))


@_cache_resource()
def cached_embedder(settings: Any) -> Any:
    """The embedder for `settings`, loaded once per server process."""
    from summarizer.embed import get_embedder

    return get_embedder(settings)


@_cache_resource()
def clip_problem() -> str | None:
    """None when the default CLIP embedder loads here, else the one-line reason it does not."""
    from summarizer.config import EmbedSettings
    from summarizer.errors import AtlasError

    try:
        cached_embedder(EmbedSettings())
    except AtlasError as exc:
        return for_app(str(exc))
    except Exception as exc:  # e.g. a broken install: say so, the pixels embedder still works
        log.exception("CLIP embedder failed to load")
        return f"CLIP could not be loaded ({type(exc).__name__}: {exc})"
    return None


@_cache_resource(max_entries=16)
def _load_embedded(root: str, sha256: str, sample: Any, embed: Any) -> Any:
    from summarizer.flow import load_embedded

    return load_embedded(_store_for(root), sha256, sample, embed)


def load_embedded_cached(store: Any, sha256: str, sample: Any, embed: Any) -> Any:
    """The stored embeddings of a video (None when not computed with these settings).

    Cached per server (arrays are read-only, memory-mapped); a miss is not cached.
    """
    ev = _load_embedded(str(store.root), sha256, sample, embed)
    if ev is None:
        _load_embedded.clear(str(store.root), sha256, sample, embed)
    return ev


def frames_at(ev: Any, positions: Sequence[int], short_side: int | None = 288) -> list[bytes]:
    """Frames `positions` (indices into the embedding arrays) as JPEG bytes, decoded again
    from the kept source at `short_side` (None: full size), or the stored thumbnails when the
    source is gone. Encoded once per server: `st.image` of bytes costs a hash, not an encode."""
    positions = [int(p) for p in positions]
    if not positions:
        return []
    return list(_frames_at(ev.ref.sha256, str(ev.ref.path), tuple(positions), short_side, ev))


@_cache_resource(max_entries=128)
def _frames_at(
    sha256: str, path: str, positions: tuple[int, ...], short_side: int | None, _ev: Any
) -> tuple[bytes, ...]:
    from summarizer.outputs.files import jpeg_bytes

    return tuple(jpeg_bytes(im, 88) for im in decode_frames(_ev, positions, short_side))


@_cache_resource(max_entries=64)
def cached_segments(sha256: str, model_id: str, settings: Any, _ev: Any) -> Any:
    """The segments of one embedded video with `settings` (`processing.find_scenes`: seams
    refined to the exact frame when its file is at hand), kept per server and shared
    read-only by every session: going back to settings tried before (or opening a shared
    link) costs nothing, not even a copy."""
    from summarizer.app.processing import find_scenes

    return find_scenes(_ev, settings)


@_cache_resource()
def job_queue() -> Any:
    """The server's one queue of heavy jobs (`jobs.JobQueue`), shared by every session."""
    from summarizer.app.jobs import JobQueue

    return JobQueue()


def library_changed() -> None:
    """Forget what was cached about the library after new results were stored."""
    _load_embedded.clear()
    cached_library_thumbnail.clear()


@_cache_resource(max_entries=32)
def cached_frame_images(
    sha256: str, model_id: str, n_frames: int, _thumbnails: np.ndarray
) -> dict[int, str]:
    """`frame_images` of one embedded video, made once per video (not on every re-run)."""
    return frame_images(_thumbnails)


@_cache_data(max_entries=512)
def cached_library_thumbnail(root: str, sha256: str, n_results: int) -> str | None:
    """Data URL of a video's library thumbnail (`n_results` invalidates it when results change)."""
    img = library_thumbnail(_store_for(root), sha256)
    return None if img is None else image_data_url(img, width=120)


@_cache_resource(max_entries=64)
def cached_summary(
    sha256: str, model_id: str, settings: Any, dedup_settings: Any, gate_settings: Any, _ev: Any
) -> FilteredSummary:
    """The summary page's result (`flow.summarize_frames`: dedup -> gate -> KMeans), kept per
    server and shared read-only by every session."""
    from summarizer import flow

    clip = cached_embedder(_clip_settings()) if gate_settings.gate == "clip" else None
    return flow.summarize_frames(_ev, settings, dedup_settings, gate_settings, clip_embedder=clip)


def _clip_settings() -> Any:
    from summarizer.config import EmbedSettings

    return EmbedSettings(embedder="clip")


def map_embedded(
    store: Any, hashes: Sequence[str], sample: Any, embed: Any
) -> tuple[list[Any], list[str]]:
    """(EmbeddedVideos found in the store, hashes that have no embedding with `embed`)."""
    found, missing = [], []
    for h in hashes:
        ev = load_embedded_cached(store, h, sample, embed)
        (found if ev is not None else missing).append(ev if ev is not None else h)
    return found, missing


@_cache_resource(max_entries=8)
def cached_map(root: str, hashes: tuple[str, ...], sample: Any, embed: Any, settings: Any) -> Any:
    """A stored latent map (no training: call only when `catalog.map_is_stored`)."""
    from summarizer.app.catalog import map_runner

    videos = [load_embedded_cached(_store_for(root), h, sample, embed) for h in hashes]
    return map_runner()([v for v in videos if v is not None], settings, _store_for(root))


@_cache_resource(max_entries=8)
def map_points(map_id: tuple, _lmap: Any, _videos: tuple) -> Any:
    """`explore.MapPoints` of a map, with each video's segments (default seam settings)."""
    from summarizer.app.explore import map_points as build

    segs = [cached_segments(v.ref.sha256, v.model_id, None, v) for v in _videos]
    return build(_lmap, segs)


@_cache_resource(max_entries=8)
def map_embeddings(map_id: tuple, _videos: tuple) -> np.ndarray:
    """The map's frame embeddings, row-aligned with its points (for search and clusters)."""
    return np.concatenate([np.asarray(v.embeddings, dtype=np.float32) for v in _videos])


@_cache_resource(max_entries=16)
def map_clusters(map_id: tuple, k: int, _videos: tuple) -> np.ndarray:
    from summarizer.app.explore import cluster_labels

    return cluster_labels(map_embeddings(map_id, _videos), k)


@_cache_resource(max_entries=16)
def map_figure(map_id: tuple, look: tuple, _points: Any, _codes: Any, _extra: dict) -> Any:
    """The map's Plotly figure for one `look` (colours, density, pictures, view, search,
    path), made once per server: a page view of the same map costs only sending it."""
    from summarizer.app.explore import figure

    return figure(_points, _codes, **_extra)


@_cache_resource(max_entries=32)
def text_query(model_id: str, text: str) -> np.ndarray:
    """CLIP's embedding of a text prompt (for searching frames by text)."""
    return np.asarray(cached_embedder(_clip_settings()).embed_texts([text]))[0]


@_cache_resource(max_entries=16)
def poster_preview(map_id: tuple, settings: Any, _lmap: Any, _videos: tuple) -> tuple[bytes, dict]:
    """The poster preview (from thumbnails) of a map with `settings`, made once per server."""
    from summarizer.app.downloads import render_poster_bytes

    return render_poster_bytes(list(_videos), _lmap, settings, "png")


@_cache_data(max_entries=64)
def seams_spec(sha256: str, model_id: str, settings: Any, _seg: Any, _ev: Any) -> dict:
    """The seams timeline's Vega-Lite spec (`charts.seams_chart`) for one video and seam
    settings, made once per server: building it (Altair validates the whole spec) took most
    of a page view's server time; a view now only sends it."""
    from summarizer.app.charts import seams_chart

    images = cached_frame_images(sha256, model_id, len(_ev.times_s), _ev.thumbnails)
    return seams_chart(_seg, images).to_dict()
