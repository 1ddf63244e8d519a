"""One video of a batch: the CLI's flow (open -> embed -> scenes -> summary) into the store.

`run_job` is what a local worker runs for each video. The Ray engine splits the same work
(decode on CPU tasks, embed on an actor pool) and joins it again in `finish_job`, writing
the embedding entry that `flow.embed_video` writes (same key, arrays and metadata), so both
engines leave the same store. A video that fails gives a failed `Outcome` with its one-line
error; it never stops the batch.

A video counts as done (and is skipped by a rerun) when its embedding is in the store and
its result file ``<out>/videos/<name>.json`` (written last, atomically) names its hash and
the settings it was made with.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summarizer.config import Settings
from summarizer.errors import AtlasError

log = logging.getLogger(__name__)
RESULTS = "videos"  # <out>/videos/<name>.json, one per video


@dataclass(frozen=True)
class Job:
    """One video to process: where it is, its result name, the store and output folders."""

    source: str
    name: str
    store_root: str
    out_dir: str
    settings: Settings = field(default_factory=Settings)

    @property
    def result_path(self) -> Path:
        return Path(self.out_dir) / RESULTS / f"{self.name}.json"


@dataclass(frozen=True)
class Outcome:
    """What became of one video: status "done", "skipped" (already in the store) or "failed"."""

    source: str
    name: str
    status: str
    sha256: str = ""
    frames: int = 0
    seams: int = 0
    segments: int = 0
    picks: int = 0
    seconds: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def worker_store(root: str):
    """The store as a worker opens it: entries written by the worker, catalog updates left
    to the one catalog writer where the store supports that (its ``shared`` mode)."""
    from summarizer.store import Store

    try:
        return Store(root, shared=True)
    except TypeError:  # a store without the shared mode: workers use its WAL catalog
        return Store(root)


def failure(job: Job, exc: BaseException, sha256: str = "", t0: float | None = None) -> Outcome:
    """A failed `Outcome`: the one-line message of an `AtlasError`, else the exception's type
    and message (a bug: its traceback goes to the log, the batch goes on)."""
    if isinstance(exc, AtlasError):
        msg = str(exc)
    else:
        log.error("%s failed:\n%s", job.source, "".join(traceback.format_exception(exc)))
        msg = f"{type(exc).__name__}: {exc}".strip()
    msg = " ".join(msg.split())[:500]
    secs = time.perf_counter() - t0 if t0 is not None else 0.0
    return Outcome(job.source, job.name, "failed", sha256=sha256, seconds=secs, error=msg)


def settings_id(settings: Settings) -> str:
    """Hash of the settings a result file depends on (sampling, model, seams, summary)."""
    from summarizer.config import settings_hash

    parts = {k: dataclasses.asdict(getattr(settings, k)) for k in ("sample", "embed", "seams")}
    parts["summary"] = dataclasses.asdict(settings.summary)
    parts["sample"].pop("batch_frames")  # how, not what: the same result
    for key in ("batch_size", "device"):
        parts["embed"].pop(key)
    return settings_hash(parts)


def already_done(job: Job, store: Any, sha256: str) -> Outcome | None:
    """The skipped `Outcome` when this video's embedding and result file are in place."""
    from summarizer.flow import embed_key

    settings = job.settings
    try:
        doc = json.loads(job.result_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("video", {}).get("sha256") != sha256:
        return None
    batch = doc.get("batch", {})
    if batch.get("settings") != settings_id(settings):  # made with other settings: redo
        return None
    if not store.exists(embed_key(store, sha256, settings.sample, settings.embed)):
        return None
    return Outcome(
        job.source,
        job.name,
        "skipped",
        sha256=sha256,
        frames=int(batch.get("frames", 0)),
        seams=len(doc.get("seams_s", [])),
        segments=len(doc.get("segments", [])),
        picks=len(doc.get("summary", {}).get("picks", [])),
    )


def scenes_and_summary(embedded: Any, settings: Settings) -> tuple[Any, Any]:
    """Seams/segments (refined to the frame for video files) and the KMeans summary, as
    `flow.summarize` makes them."""
    from summarizer.flow import find_scenes, summarize_frames

    seg = find_scenes(embedded, settings.seams, refine=True)
    return seg, summarize_frames(embedded, settings.summary).summary


def finish_job(job: Job, store: Any, embedded: Any, t0: float) -> Outcome:
    """Scenes and summary of an embedded video; its result file, written last."""
    from summarizer.flow import VideoSummary
    from summarizer.outputs.files import write_json

    seg, summary = scenes_and_summary(embedded, job.settings)
    doc = VideoSummary(embedded, seg, summary).to_dict()
    n = len(embedded.times_s)
    doc["batch"] = {
        "source": job.source,
        "frames": n,
        "cache_hit": bool(embedded.cache_hit),
        "settings": settings_id(job.settings),
    }
    job.result_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(job.result_path, doc)
    return Outcome(
        job.source,
        job.name,
        "done",
        sha256=embedded.ref.sha256,
        frames=n,
        seams=len(seg.seams_s),
        segments=len(seg.segments),
        picks=len(summary.picks),
        seconds=time.perf_counter() - t0,
    )


def run_job(job: Job) -> Outcome:
    """The whole flow for one video, as the CLI runs it; never raises for a bad video."""
    from summarizer.flow import embed_video, open_video

    t0 = time.perf_counter()
    sha = ""
    try:
        store = worker_store(job.store_root)
        ref = open_video(job.source, store, job.settings.sample)
        sha = ref.sha256
        skipped = already_done(job, store, sha)
        if skipped is not None:
            return dataclasses.replace(skipped, seconds=time.perf_counter() - t0)
        embedded = embed_video(ref, job.settings.sample, job.settings.embed, store)
        return finish_job(job, store, embedded, t0)
    except Exception as exc:  # one bad video must not stop the others
        return failure(job, exc, sha, t0)
