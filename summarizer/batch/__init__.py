"""Collections at scale: every video of a batch through the flow, into the store.

``run_batch(inputs, out_dir, settings, store_root, engine="local" | "ray", ...)`` expands
the inputs (`inputs`), hands one `Job` per video to an engine, and collects an `Outcome`
per video into a `BatchReport` (``<out>/batch_report.json``). Engines sit behind one small
interface, one file each: ``run(jobs, on_done)`` calls ``on_done(outcome)`` in the
driver's thread as each video finishes.

- `local` (`summarizer.batch.local`): a process pool on this machine;
- `ray` (`summarizer.batch.ray`): Ray Data on a cluster, or a local Ray: CPU tasks decode
  and sample, an actor pool embeds in batches (on GPUs when there are), CPU tasks finish.
Both leave the same store entries for the same videos. Reruns skip the videos already done;
a bad video is reported and the others go on; an interrupted run is finished by a rerun.
Workers write entries; the driver is the one catalog writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from summarizer.batch.job import Job, Outcome
from summarizer.batch.report import BatchReport
from summarizer.config import Settings

ENGINES = ("local", "ray")
DEFAULT_ENGINE = "local"  # a process pool on this machine: nothing to set up
OnDone = Callable[[Outcome], None]


class Engine(Protocol):
    name: str
    workers: int

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None: ...


def make_engine(
    engine: str = DEFAULT_ENGINE,
    workers: int | None = None,
    address: str | None = None,
    gpus_per_worker: float | None = None,
) -> Engine:
    """The engine called `engine` (`ENGINES`); `address` and GPUs are Ray's (GPUs None:
    one per embedding actor when the cluster has GPUs, else none)."""
    from summarizer.errors import SettingsError

    if workers is not None and workers < 1:
        raise SettingsError(f"workers must be >= 1, got {workers}")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise SettingsError(f"gpus per worker must be >= 0, got {gpus_per_worker}")
    if engine == "local":
        if address or gpus_per_worker is not None:
            raise SettingsError("--address and --gpus-per-worker are for --engine ray")
        from summarizer.batch.local import LocalEngine

        return LocalEngine(workers)
    if engine == "ray":
        from summarizer.batch.ray import RayEngine

        return RayEngine(workers, address=address, gpus_per_worker=gpus_per_worker)
    raise SettingsError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def make_jobs(
    sources: Sequence[str], out_dir: str | Path, settings: Settings, store_root: str | Path
) -> list[Job]:
    """One job per source, each with a distinct result name (its stem, -2, -3 ... on a clash)."""
    from summarizer.cli.options import out_names

    names = out_names([s.rstrip("/") for s in sources])
    return [
        Job(str(s), n, str(store_root), str(out_dir), settings)
        for s, n in zip(sources, names, strict=True)
    ]


def driver_store(root: str | Path | None):
    """The store as the driver opens it: the one catalog writer (never in shared mode, even
    with $ATLAS_STORE_SHARED set: it ingests what the workers journal)."""
    from summarizer.store import Store

    try:
        return Store(root, shared=False)
    except TypeError:  # a store without the shared mode
        return Store(root)


def _sync_catalog(store) -> None:
    """Ingest what shared-mode workers journalled (stores with a one-writer catalog)."""
    sync = getattr(store, "sync", None)
    if callable(sync):
        sync()


def run_batch(
    inputs: Sequence[str],
    out_dir: str | Path,
    settings: Settings | None = None,
    store_root: str | Path | None = None,
    engine: Engine | str = "local",
    on_outcome: OnDone | None = None,
) -> BatchReport:
    """Process every video of `inputs` with `engine`; returns (and writes) the report.

    On KeyboardInterrupt the report of what finished is written (``interrupted``) and the
    interrupt re-raised; a rerun skips what finished.
    """
    from summarizer.batch.inputs import expand_inputs

    settings = settings or Settings()
    store = driver_store(store_root)
    eng = make_engine(engine) if isinstance(engine, str) else engine
    jobs = make_jobs(expand_inputs(inputs), out_dir, settings, store.root)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    report = BatchReport(eng.name, eng.workers)
    order = {job.source: i for i, job in enumerate(jobs)}
    last_sync = time.perf_counter()
    t0 = time.perf_counter()

    def done(outcome: Outcome) -> None:
        nonlocal last_sync
        report.outcomes.append(outcome)
        report.wall_s = time.perf_counter() - t0
        if time.perf_counter() - last_sync > 2.0:
            _sync_catalog(store)
            last_sync = time.perf_counter()
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        eng.run(jobs, done)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.wall_s = time.perf_counter() - t0
        report.outcomes.sort(key=lambda o: order.get(o.source, len(order)))
        finished = {o.source for o in report.outcomes}
        report.pending = [j.source for j in jobs if j.source not in finished]
        _sync_catalog(store)
        report.write(out_dir)
    return report
