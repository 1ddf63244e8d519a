"""The Ray engine: Ray Data on a cluster (``--address``) or on a local Ray.

One row per video flows through three stages:
1. decode (CPU tasks): open the video (hash, probe), skip it when already done, decode the
   sampled frames at the model's size and make the thumbnails, as `flow.embed_video` does;
2. embed (an actor pool, ``workers`` actors with ``gpus_per_worker`` GPUs each, by default
   one GPU each when the cluster has GPUs, and then as many actors as GPUs): the model
   loads once per actor; frames of the videos in a batch that share a size go through the
   model together (large GPU batches), while the decode tasks keep feeding the pool;
3. finish (CPU tasks): write the embedding entry that `flow.embed_video` writes (same key,
   arrays and metadata; `summarizer.batch.job`), then seams, summary and the result file.
The driver iterates the finished rows (small: an `Outcome` each) and is the one catalog
writer. A video's sampled frames travel as one block (about 270 kB per frame at 224 px:
an hour at 2 fps is ~2 GB), which suits collections of clips and films alike on a cluster
with a large object store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.batch.job import Job, Outcome, already_done, failure, finish_job, worker_store
from summarizer.errors import AtlasError

INSTALL = "--engine ray needs Ray: pip install 'keyframe-atlas[ray]' (or pip install 'ray[data]')"
GPU_VIDEOS_PER_BATCH = 8  # videos per actor call on a GPU (frames of equal size batch together)


def _require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise AtlasError(INSTALL) from None
    return ray


def _empty_row(i: int, outcome: Outcome | None = None) -> dict[str, Any]:
    return {
        "i": i,
        "outcome": json.dumps(outcome.to_dict()) if outcome is not None else "",
        "ref": "",
        "cached": False,
        "times_s": np.zeros(0, np.float64),
        "indices": np.zeros(0, np.int64),
        "images": np.zeros((0, 1, 1, 3), np.uint8),
        "thumbnails": np.zeros((0, 1, 1, 3), np.uint8),
        "decode_s": 0.0,
    }


def _ref_json(ref: Any) -> str:
    return json.dumps(
        {
            "path": str(ref.path),
            "sha256": ref.sha256,
            "name": ref.name,
            "kind": ref.kind,
            "probe": dataclasses.asdict(ref.probe),
        }
    )


def _ref_from_json(text: str):
    from summarizer.data import Probe, VideoRef

    d = json.loads(text)
    return VideoRef(Path(d["path"]), d["sha256"], d["name"], Probe(**d["probe"]), d["kind"])


def decode_row(job: Job, i: int) -> dict[str, Any]:
    """Stage 1: open, skip when done, decode the sampled frames and their thumbnails."""
    from summarizer import decode as video
    from summarizer.decode.thumbnails import Thumbnailer
    from summarizer.flow import embed_key, open_video

    t0 = time.perf_counter()
    sha = ""
    try:
        store = worker_store(job.store_root)
        sample = job.settings.sample
        ref = open_video(job.source, store, sample)
        sha = ref.sha256
        skipped = already_done(job, store, sha)
        if skipped is not None:
            return _empty_row(i, dataclasses.replace(skipped, seconds=time.perf_counter() - t0))
        row = _empty_row(i)
        row["ref"] = _ref_json(ref)
        if store.exists(embed_key(store, sha, sample, job.settings.embed)):
            row["cached"] = True  # embedded earlier: stage 3 reads it back
            return row
        batches = [b for b in video.iter_frames(ref.path, sample) if len(b)]
        if not batches:
            raise AtlasError(f"{ref.name}: no frames were sampled")
        thumb = Thumbnailer(sample.thumb_short_side)
        row["times_s"] = np.concatenate([b.times_s for b in batches]).astype(np.float64)
        row["indices"] = np.concatenate([b.indices for b in batches]).astype(np.int64)
        # one block per video: a stray frame size (a mid-stream resolution change) is brought
        # to the first batch's size, as the thumbnails are
        same = Thumbnailer(min(batches[0].images.shape[1:3]))
        row["images"] = np.concatenate([same(b.images) for b in batches])
        row["thumbnails"] = np.concatenate([thumb(b.images) for b in batches])
        row["decode_s"] = time.perf_counter() - t0
        return row
    except Exception as exc:  # one bad video must not stop the others
        return _empty_row(i, failure(job, exc, sha, t0))


class EmbedActor:
    """Stage 2: holds one embedder; embeds the frames of a batch of video rows."""

    def __init__(self, embed_settings: Any, threads: int) -> None:
        from summarizer.embed import get_embedder, runtime

        threads = min(threads, runtime.available_cpus())  # a node may have fewer CPUs
        runtime.apply(runtime.RuntimeSettings(threads=threads))
        self.embedder = get_embedder(embed_settings)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        images = list(batch.pop("images"))
        out: list[np.ndarray] = [np.zeros((0, 1), np.float32)] * len(images)
        seconds = np.zeros(len(images))
        by_size: dict[tuple[int, ...], list[int]] = {}
        for k, im in enumerate(images):
            if len(im):
                by_size.setdefault(tuple(im.shape[1:]), []).append(k)
        for rows in by_size.values():
            t0 = time.perf_counter()
            vecs = np.asarray(
                self.embedder.embed_images(np.concatenate([images[k] for k in rows])), np.float32
            )
            start = 0
            for k in rows:
                out[k] = vecs[start : start + len(images[k])]
                start += len(images[k])
                seconds[k] = (time.perf_counter() - t0) * len(images[k]) / max(len(vecs), 1)
        batch["embeddings"] = out
        batch["embed_s"] = seconds
        return batch


def write_embedding(job: Job, store: Any, ref: Any, row: dict[str, Any]):
    """The entry `flow.embed_video` writes for `ref` (same key, arrays, metadata), from the
    decoded and embedded row; returns the `EmbeddedVideo` as read back from the store."""
    from summarizer.errors import StoreError
    from summarizer.flow import _as_embedded, _run_settings, embed_key, embed_meta

    sample, embed = job.settings.sample, job.settings.embed
    key = embed_key(store, ref.sha256, sample, embed)
    vecs = np.asarray(row["embeddings"], np.float32)
    n = len(row["times_s"])
    with store.lock(key):
        res = store.load(key)
        hit = res is not None
        if not hit:
            with store.writer(key) as out:
                out.append("times_s", np.asarray(row["times_s"], np.float64))
                out.append("indices", np.asarray(row["indices"], np.int64))
                out.append("embeddings", vecs)
                out.append("thumbnails", np.asarray(row["thumbnails"], np.uint8))
                timings = {
                    "wall_s": float(row["decode_s"] + row["embed_s"]),
                    "model_load_s": 0.0,
                    "embed_s": float(row["embed_s"]),
                    "thumb_s": 0.0,
                    "decode_wait_s": float(row["decode_s"]),
                }
                thumb_size = list(np.asarray(row["thumbnails"]).shape[1:3])
                out.commit(
                    embed_meta(ref, sample, embed, n, int(vecs.shape[1]), thumb_size, timings)
                )
            res = store.load(key)
            if res is None:
                raise StoreError(f"store entry {key} could not be read back after writing")
    store.record_run(
        key, float(row["decode_s"] + row["embed_s"]), hit, _run_settings(sample, embed)
    )
    return _as_embedded(ref, res, embed.model_id, hit)


def finish_row(job: Job, row: dict[str, Any]) -> dict[str, str]:
    """Stage 3: the store entry, seams, summary and result file; returns the `Outcome`."""
    from summarizer.flow import embed_video

    if row["outcome"]:
        return {"outcome": row["outcome"]}
    t0 = time.perf_counter() - float(row["decode_s"]) - float(row.get("embed_s", 0.0))
    ref = _ref_from_json(row["ref"])
    try:
        store = worker_store(job.store_root)
        if row["cached"]:
            embedded = embed_video(ref, job.settings.sample, job.settings.embed, store)
        else:
            embedded = write_embedding(job, store, ref, row)
        outcome = finish_job(job, store, embedded, t0)
    except Exception as exc:  # one bad video must not stop the others
        outcome = failure(job, exc, ref.sha256, t0)
    return {"outcome": json.dumps(outcome.to_dict())}


@contextlib.contextmanager
def workers_import_this_summarizer() -> Iterator[None]:
    """While a local Ray starts, make its workers import the `summarizer` this process runs.

    Ray's workers inherit the environment of the Ray it starts. When a fresh interpreter
    would import another copy (a source checkout run with ``python -m`` beside an installed
    one), this checkout goes first on PYTHONPATH while Ray starts, then PYTHONPATH is put
    back. (A ``runtime_env`` would do the same, but costs ~2 s per worker: no prestarted ones.)
    """
    import os
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[2])
    probe = "import importlib.util as u; print(u.find_spec('summarizer').origin)"
    try:
        found = subprocess.run(
            [sys.executable, "-c", probe], cwd="/", capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found and Path(found).resolve().parents[1] == Path(root):
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, before) if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


class RayEngine:
    """Runs jobs with Ray Data; starts (and stops) a local Ray unless one is running or an
    `address` is given. `workers`: embedding actors (default: CPUs, or GPUs / per-worker)."""

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        gpus_per_worker: float | None = None,
    ) -> None:
        from summarizer.embed.runtime import available_cpus

        _require_ray()
        self.address = address
        self.gpus_per_worker = gpus_per_worker  # None: 1 when the cluster has GPUs
        self.workers = max(1, workers or available_cpus())
        self._given_workers = workers

    def _connect(self) -> bool:
        """Connect to or start Ray; True when this engine started it (and stops it after)."""
        import logging

        import ray

        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": logging.WARNING,
            "log_to_driver": False,
        }
        if self.address:
            ray.init(address=self.address, **kwargs)
            return True
        from summarizer.embed.runtime import available_cpus

        with workers_import_this_summarizer():
            ray.init(num_cpus=available_cpus(), **kwargs)
        return True

    def _plan(self, jobs: Sequence[Job]):
        import ray
        import ray.data

        cluster = ray.cluster_resources()
        gpus = float(cluster.get("GPU", 0))
        if self.gpus_per_worker is None:
            self.gpus_per_worker = 1.0 if gpus else 0.0
        if self._given_workers is None:
            if self.gpus_per_worker and gpus:
                self.workers = max(1, int(gpus // self.gpus_per_worker))
            else:
                self.workers = max(1, int(cluster.get("CPU", 1)))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        cpus = max(1.0, float(cluster.get("CPU", 1)))
        threads = max(1, int(cpus // self.workers))
        if self.gpus_per_worker:
            actor = {"num_gpus": self.gpus_per_worker, "num_cpus": 1}
            rows = GPU_VIDEOS_PER_BATCH
        else:  # CPU actors share the cores with decoding (torch threads sleep while idle)
            actor = {"num_cpus": 0.5}
            rows = 1
        embed = jobs[0].settings.embed if jobs else None

        def decode(row: dict[str, Any]) -> dict[str, Any]:
            return decode_row(jobs[row["i"]], row["i"])

        def finish(row: dict[str, Any]) -> dict[str, str]:
            return finish_row(jobs[row["i"]], row)

        items = [{"i": i} for i in range(len(jobs))]
        ds = ray.data.from_items(items, override_num_blocks=len(jobs))  # a task per video
        ds = ds.map(decode, num_cpus=1)
        ds = ds.map_batches(
            EmbedActor,
            fn_constructor_args=(embed, threads),
            batch_size=rows,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            **actor,
        )
        return ds.map(finish, num_cpus=1)  # decode and finish tasks share the worker processes

    def run(self, jobs: Sequence[Job], on_done: Callable[[Outcome], None]) -> None:
        """Run `jobs`, calling `on_done` in this thread as each video finishes."""
        import ray

        if not jobs:
            return
        import logging

        started = self._connect()
        quiet = logging.getLogger("ray.data")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # our own progress and report replace Ray Data's
        try:
            for row in self._plan(jobs).iter_rows():
                on_done(Outcome(**json.loads(row["outcome"])))
        finally:
            quiet.setLevel(level)
            if started:
                ray.shutdown()
