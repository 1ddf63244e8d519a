"""The store-backed stage runners: the one flow that the library, the CLI and the app call.

video -> `open_video` (VideoRef: hash, probe) -> `embed_video` (frames, embeddings,
thumbnails; cached per video hash + settings + model) -> `find_scenes` (seams, segments,
keyframes, refined to the exact source frame) -> `summarize_frames` (dedup -> gate ->
KMeans) -> `map_collection` (the latent map of many videos). `summarize` runs one video
through all of it. Each runner is a cache hit or compute-and-save through the store; the
stages themselves are pure functions in their packages.

Progress has one shape everywhere: ``progress(stage, done, total)`` (total 0 = unknown),
with stage one of `STAGES`; the CLI draws tqdm bars, the app progress bars.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.config import EmbedSettings, SampleSettings, settings_hash
from summarizer.data import EmbeddedVideo, FrameBatch, Probe, VideoRef
from summarizer.errors import InputError
from summarizer.store import Result, ResultKey, ResultWriter, Store, hash_path

Progress = Callable[[str, int, int], None]
STAGES = ("read", "embed", "signal", "scenes", "summary", "map", "poster")
EMBED_STAGE = "embed"
EMBED_ARRAYS = ("times_s", "indices", "embeddings", "thumbnails")


def stage_progress(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    """The ``(done, total)`` callback of one stage, for stage functions that take one."""
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


# ---------------------------------------------------------------------------- inputs


def open_video(
    path: str | Path | Any, store: Store | None = None, sample: SampleSettings | None = None
) -> VideoRef:
    """Validate an input (video file or image folder), hash its bytes, register it.

    `sample` matters for image folders only (their frame rate / time regex make the probe).
    Raises `InputError` (missing path, not a video, no video stream, no frames) before
    anything is written to the store.
    """
    from summarizer import decode as video

    # URLs and streams (summarizer.sources): made local first; `path` may be a resolved
    # `Source`. A stream read up to an end time is keyed by its URL + identity, not bytes.
    source = _source_of(path, store)
    if source is not None:
        path = source.path
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{path}: no such file or folder")
    if not (p.is_file() or p.is_dir()):
        raise InputError(f"{path}: not a regular file or folder")
    probe = video.probe(p, settings=sample)
    if probe.frame_count <= 0:
        raise InputError(f"{p.name}: the video has no frames")
    try:
        stream = source is not None and source.key_kind == "stream"
        sha = source.key if stream else hash_path(p)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    ref = VideoRef(
        path=p.resolve(),
        sha256=sha,
        name=source.name if source is not None else p.name,
        probe=probe,
        kind="images" if p.is_dir() else "video",
        key_kind="stream" if stream else "bytes",
    )
    if store is not None:
        store.register_video(ref)
    return ref


def _source_of(value: Any, store: Store | None) -> Any:
    """The `summarizer.sources.Source` of a URL (resolved now, downloads beside the store) or
    a resolved Source; None for a local path (read as it is)."""
    from summarizer.sources import Source, is_url, resolve

    if isinstance(value, Source):
        return value
    if not (isinstance(value, str) and is_url(value)):
        return None
    return resolve(value, downloads=store.root / "downloads" if store is not None else None)


def expected_frames(probe: Probe, sample: SampleSettings) -> int:
    """How many frames `sample` should take from a source described by `probe` (estimate;
    0 when unknown, e.g. keyframes only)."""
    if sample.keyframes_only:
        return 0
    fps = probe.fps if probe.fps and probe.fps > 0 else 0.0
    duration = probe.duration_s
    if not duration or duration <= 0:
        duration = probe.frame_count / fps if fps else 0.0
    end = duration if sample.end_s is None else min(sample.end_s, duration)
    span = max(0.0, end - sample.start_s)
    if fps <= 0:
        return max(0, int(probe.frame_count))
    source = min(int(round(span * fps)), int(probe.frame_count) or 1 << 62)
    if sample.fps is None:
        return int(math.ceil(source / sample.every_n))
    if sample.fps >= fps or source == 0:
        return source
    # Targets start_s + k / fps before the end, each taking the nearest frame (what
    # `summarizer.decode.select_indices` does).
    return min(source, max(1, int(math.ceil(span * sample.fps - 1e-6))))


# ---------------------------------------------------------------------------- keys


def embed_key(store: Store, sha256: str, sample: SampleSettings, embed: EmbedSettings) -> ResultKey:
    """Store key of the embedding stage: batch sizes and devices do not change the result."""
    return store.key(
        sha256, EMBED_STAGE, settings_hash(sample, exclude=("batch_frames",)), embed.model_id
    )


def _run_settings(sample: SampleSettings, embed: EmbedSettings) -> dict[str, Any]:
    return {"sample": dataclasses.asdict(sample), "embed": dataclasses.asdict(embed)}


# ---------------------------------------------------------------------------- embedding


def _as_embedded(ref: VideoRef, res: Result, model_id: str, cache_hit: bool) -> EmbeddedVideo:
    return EmbeddedVideo(
        ref=ref,
        times_s=res["times_s"],
        indices=res["indices"],
        embeddings=res["embeddings"],
        thumbnails=res["thumbnails"],
        model_id=model_id,
        cache_hit=cache_hit,
    )


def _valid_embedding(res: Result | None) -> bool:
    if res is None or any(name not in res for name in EMBED_ARRAYS):
        return False
    n = len(res["times_s"])
    return (
        n > 0
        and all(len(res[name]) == n for name in EMBED_ARRAYS)
        and res["embeddings"].ndim == 2
        and res["thumbnails"].ndim == 4
    )


def _load_valid(store: Store, key: ResultKey) -> Result | None:
    res = store.load(key)
    return res if _valid_embedding(res) else None


def embed_video(
    ref: VideoRef,
    sample: SampleSettings,
    embed: EmbedSettings,
    store: Store,
    progress: Progress | None = None,
    *,
    signal: bool = False,
) -> EmbeddedVideo:
    """Frame embeddings + thumbnails of `ref`, from the store or computed and saved.

    signal: also reduce the full-rate frame signal from the same decode pass
        (`summarizer.decode.onepass`), for `find_scenes` in this process: the seams stage
        then needs no second decode of the video.
    Raises `InputError` when no frame is sampled (nothing is written then).
    """
    key = embed_key(store, ref.sha256, sample, embed)
    t0 = time.perf_counter()
    res, hit = store.get_or_compute(
        key,
        lambda out: _compute_embedding(ref, sample, embed, out, progress, t0, signal),
        valid=_valid_embedding,
        settings=_run_settings(sample, embed),
    )
    if hit and progress is not None:
        n = len(res["times_s"])
        progress(EMBED_STAGE, n, n)
    return _as_embedded(ref, res, embed.model_id, cache_hit=hit)


def embed_meta(
    ref: VideoRef,
    sample: SampleSettings,
    embed: EmbedSettings,
    frames: int,
    dim: int,
    thumb_size: list[int],
    timings: dict[str, float],
) -> dict[str, Any]:
    """The metadata of an embedding entry: every engine (this flow, Ray) writes the same."""
    return {
        "name": ref.name,
        "path": str(ref.path),
        "kind": ref.kind,
        "sha256": ref.sha256,
        "probe": dataclasses.asdict(ref.probe),
        "model_id": embed.model_id,
        "sample": dataclasses.asdict(sample),
        "embed": dataclasses.asdict(embed),
        "frames": frames,
        "dim": dim,
        "thumb_size": thumb_size,
        "timings": timings,
    }


def _compute_embedding(
    ref: VideoRef,
    sample: SampleSettings,
    embed: EmbedSettings,
    out: ResultWriter,
    progress: Progress | None,
    t0: float,
    signal: bool = False,
) -> dict[str, Any]:
    """Decode, embed and thumbnail `ref` into `out` batch by batch; returns the metadata.
    With `signal`, the full-rate signal comes from the same pass where it can (then kept
    for `find_scenes`, `summarizer.scenes.find.remember_signal`), and so do the sampled
    frames at full size, as JPEG (kept for the keyframe images,
    `summarizer.outputs.frames.remember_frames`)."""
    from summarizer import decode as video_mod
    from summarizer.decode.thumbnails import Thumbnailer
    from summarizer.embed import get_embedder
    from summarizer.prefetch import QUEUE_BATCHES, Prefetch

    total = expected_frames(ref.probe, sample)
    thumb = Thumbnailer(sample.thumb_short_side)
    embed_s = thumb_s = 0.0
    done = 0
    dim = 0
    one = None
    if signal and ref.kind == "video":
        from summarizer.decode.onepass import sample_with_signal
        from summarizer.outputs.files import jpeg_bytes

        one = sample_with_signal(ref.path, sample, keep=jpeg_bytes)

    def source():
        return one[0] if one is not None else video_mod.iter_frames(ref.path, sample)

    with contextlib.ExitStack() as stack:
        if one is not None:
            stack.callback(one[1].close)  # its thread ends with the pass, however it ends
        frames = stack.enter_context(Prefetch(source, QUEUE_BATCHES))
        embedder = get_embedder(embed)  # loads while the first batches decode
        load_s = time.perf_counter() - t0
        batch: FrameBatch
        for batch in frames:
            if len(batch) == 0:
                continue
            t1 = time.perf_counter()
            vecs = np.asarray(embedder.embed_images(batch.images), dtype=np.float32)
            t2 = time.perf_counter()
            thumbs = thumb(batch.images)
            t3 = time.perf_counter()
            embed_s += t2 - t1
            thumb_s += t3 - t2
            out.append("times_s", np.asarray(batch.times_s, dtype=np.float64))
            out.append("indices", np.asarray(batch.indices, dtype=np.int64))
            out.append("embeddings", vecs)
            out.append("thumbnails", thumbs)
            done += len(batch)
            dim = vecs.shape[1]
            if progress is not None:
                progress(EMBED_STAGE, done, max(total, done))
        if progress is not None and done and done != max(total, done):
            progress(EMBED_STAGE, done, done)  # the estimate was high: end the bar at 100 %
        if done == 0:
            raise InputError(
                f"{ref.name}: no frames were sampled (check --start/--end and --fps against "
                f"the video's {ref.probe.duration_s:.2f} s)"
            )
        if one is not None:
            from summarizer.outputs.frames import remember_frames
            from summarizer.scenes.find import remember_signal

            if (sig := one[1].result()) is not None:
                remember_signal(ref.path, sig)
            remember_frames(ref.path, one[1].full)
        timings = {
            "wall_s": time.perf_counter() - t0,
            "model_load_s": load_s,
            "embed_s": embed_s,
            "thumb_s": thumb_s,
            "decode_wait_s": frames.wait_s,
        }
        return embed_meta(ref, sample, embed, done, dim, list(thumb.size or ()), timings)


def load_embedded(
    store: Store, sha256: str, sample: SampleSettings, embed: EmbedSettings
) -> EmbeddedVideo | None:
    """The stored embedding of a video by hash (None when not computed or damaged)."""
    key = embed_key(store, sha256, sample, embed)
    res = _load_valid(store, key)
    if res is None:
        return None
    meta = res.meta
    row = store.video(sha256) or {}
    try:
        probe = Probe(**meta["probe"])
    except (KeyError, TypeError):
        probe = Probe(
            fps=float(row.get("fps") or 0.0),
            frame_count=int(row.get("frames") or 0),
            duration_s=float(row.get("duration_s") or 0.0),
            width=int(row.get("width") or 0),
            height=int(row.get("height") or 0),
        )
    ref = VideoRef(
        path=Path(row.get("path") or meta.get("path") or ""),
        sha256=sha256,
        name=str(row.get("name") or meta.get("name") or sha256[:12]),
        probe=probe,
        kind=str(row.get("kind") or meta.get("kind") or "video"),
    )
    return _as_embedded(ref, res, embed.model_id, cache_hit=True)


# ---------------------------------------------------------------------------- one video


@dataclass(frozen=True)
class VideoSummary:
    """What `summarize` returns: the embedded frames, their segments and the KMeans summary."""

    embedded: EmbeddedVideo = field(repr=False)
    segmentation: Any = field(repr=False)  # summarizer.scenes.segments.Segmentation
    summary: Any = field(repr=False)  # summarizer.summary.kmeans.Summary

    def __repr__(self) -> str:
        ref, seg = self.embedded.ref, self.segmentation
        return (
            f"VideoSummary({ref.name!r}, {len(self.embedded.times_s)} frames, "
            f"{len(seg.seams_s)} seams, {len(seg.segments)} segments, "
            f"{len(self.summary.picks)} picks)"
        )

    def to_dict(self) -> dict[str, Any]:
        ref = self.embedded.ref
        return {
            "video": {"name": ref.name, "sha256": ref.sha256, "duration_s": ref.probe.duration_s},
            "model_id": self.embedded.model_id,
            **self.segmentation.to_dict(),
            "summary": self.summary.to_dict(),
        }


def find_scenes(
    embedded: EmbeddedVideo,
    seams: Any,
    *,
    refine: bool = True,
    progress: Progress | None = None,
) -> Any:
    """Seams, 2-15 s segments and their keyframes of one embedded video (`seams`: a
    `SeamSettings`); for a video file at hand, each seam is put on the exact source frame of
    its cut (`summarizer.scenes.refine`). Cheap: runs on the cached embeddings."""
    from summarizer.scenes.segments import segment_video

    total = len(embedded.times_s)
    seg = segment_video(embedded, seams)
    ref = embedded.ref
    if refine and ref.kind == "video" and Path(ref.path).is_file():
        from summarizer.scenes.refine import refine_segmentation

        seg = refine_segmentation(ref.path, embedded, seg)
    if progress is not None:
        progress("scenes", total, total)
    return seg


def summarize_frames(
    embedded: EmbeddedVideo,
    summary: Any,
    dedup: Any = None,
    gate: Any = None,
    *,
    clip_embedder: Any = None,
    progress: Progress | None = None,
) -> Any:
    """The KMeans summary of one embedded video (`summary`: `SummarySettings`), after the
    `dedup` buffer and the `gate` when given (None: keep every frame). Returns a
    `summarizer.summary.filtered.FilteredSummary` (picks as positions into the video)."""
    from summarizer.summary.filtered import summarize_filtered

    res = summarize_filtered(embedded, summary, dedup, gate, clip_embedder)
    if progress is not None:
        n = len(embedded.times_s)
        progress("summary", n, n)
    return res


def summarize(
    video: str | Path,
    settings: Any = None,
    store: Store | None = None,
    progress: Progress | None = None,
    refine: bool = True,
) -> VideoSummary:
    """Segment and summarise one video (file or image folder): `open_video` ->
    `embed_video` -> `find_scenes` -> `summarize_frames`.

    settings: a `summarizer.config.Settings` (default: every section's defaults).
    store: a `summarizer.store.Store` (default: the per-user store, or $ATLAS_HOME).
    progress: ``progress(stage, done, total)``.
    refine: put seams on the exact source frame of each cut (video files only).
    """
    from summarizer.config import Settings

    settings = settings if settings is not None else Settings()
    store = store if store is not None else Store()
    ref = open_video(video, store, settings.sample)
    if progress is not None:
        progress("read", 1, 1)
    embedded = embed_video(ref, settings.sample, settings.embed, store, progress)
    segmentation = find_scenes(embedded, settings.seams, refine=refine, progress=progress)
    if settings.keywords.words:  # subtitle keywords cut the segments (summarizer.sources)
        from summarizer.sources.keywords import keyword_segmentation

        segmentation = keyword_segmentation(video, embedded, segmentation, settings.keywords)
    picked = summarize_frames(embedded, settings.summary, progress=progress)
    return VideoSummary(embedded, segmentation, picked.summary)


# ---------------------------------------------------------------------------- latent map

LATENT_STAGE = "latent"


def _frames_fingerprint(videos: Any) -> str:
    """Which frames were embedded (times, indices, shape): the part of the map's key that
    sampling settings change, read from the data so callers cannot forget it."""
    import hashlib

    h = hashlib.sha256()
    for v in videos:
        h.update(v.ref.sha256.encode())
        h.update(np.ascontiguousarray(np.asarray(v.times_s, np.float64)).tobytes())
        h.update(np.ascontiguousarray(np.asarray(v.indices, np.int64)).tobytes())
        h.update(str(tuple(np.shape(v.embeddings))).encode())
    return h.hexdigest()[:16]


def latent_key(store: Store, videos: Any, settings: Any) -> ResultKey:
    """Store key of a map: the set of video hashes + latent settings (seed included) + the
    sampled frames + the embedding model. `videos` in fit order (sorted by hash)."""
    from summarizer.store import collection_hash

    model_ids = sorted({str(v.model_id) for v in videos})
    if len(model_ids) != 1:
        raise InputError(f"videos were embedded by different models: {', '.join(model_ids)}")
    group = collection_hash(v.ref.sha256 for v in videos)
    shash = settings_hash(
        {"latent": dataclasses.asdict(settings), "frames": _frames_fingerprint(videos)}
    )
    return store.key(group, LATENT_STAGE, shash, model_ids[0])


def map_collection(
    videos: Any,
    settings: Any = None,
    store: Store | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    *,
    threads: int | None = None,
) -> Any:
    """The latent map (`summarizer.atlas.collection.LatentMap`) of `EmbeddedVideo`s: from the
    store, or fitted and saved there (coordinates + the mapper's files).

    Order and duplicates of `videos` do not matter to the key; rows come back in the caller's
    order. Embeddings may be memory maps (as the store loads big ones): the fit streams them.
    progress: ``progress(epoch, total_epochs, loss)``; threads: torch threads for training.
    """
    from summarizer.atlas.collection import MAP_ARRAYS, reorder, unique_sorted
    from summarizer.atlas.mapper import MODEL_FILE, LatentMapper
    from summarizer.atlas.settings import LatentSettings
    from summarizer.errors import StoreError

    s = settings or LatentSettings()
    if not videos:
        raise InputError("no videos to map")
    uniq, fit_order = unique_sorted(videos)
    t0 = time.perf_counter()

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any], LatentMapper]:
        mapper = LatentMapper(s, threads=threads).fit([v.embeddings for v in fit_order], progress)
        res = mapper.result_
        arrays = {
            "coords": res.coords,
            "code": res.code,
            "video_index": res.video_index,
            "offsets": res.offsets,
            "times_s": np.concatenate([np.asarray(v.times_s, np.float64) for v in fit_order]),
            "frame_indices": np.concatenate([np.asarray(v.indices, np.int64) for v in fit_order]),
        }
        meta = {
            "method": res.method,
            "note": res.note,
            "epochs_run": res.epochs_run,
            "history": list(res.history),
            "val_history": list(res.val_history),
            "metrics": res.metrics,
            "videos": [{"sha256": v.ref.sha256, "name": v.ref.name} for v in fit_order],
        }
        return arrays, meta, mapper

    if store is None:
        arrays, meta, mapper = compute()
        return reorder(uniq, fit_order, arrays, meta, None, False, time.perf_counter() - t0, mapper)

    key = latent_key(store, fit_order, s)

    def valid(r: Result | None) -> bool:
        return (
            r is not None
            and all(n in r for n in MAP_ARRAYS)
            and (r.meta.get("method") != "autoencoder" or (r.path / MODEL_FILE).is_file())
            and len(r["offsets"]) == len(fit_order) + 1
        )

    entry = store.load(key)
    hit = valid(entry)
    if not hit:
        with store.lock(key):
            entry = store.load(key)
            hit = valid(entry)
            if not hit:
                arrays, meta, mapper = compute()
                with store.writer(key) as w:
                    for name, arr in arrays.items():
                        w.add(name, arr)
                    mapper.save(w.tmp)
                    w.commit(meta)
                entry = store.load(key)
                if not valid(entry):
                    raise StoreError(f"latent map {key} could not be read back after writing")
    seconds = time.perf_counter() - t0
    store.record_run(key, seconds, hit, dataclasses.asdict(s))
    return reorder(uniq, fit_order, dict(entry.arrays), entry.meta, entry.path, hit, seconds)
