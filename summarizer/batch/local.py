"""The local engine: a pool of worker processes on this machine, one video per task.

Workers are fresh interpreters (spawn: safe with torch and OpenMP already loaded in the
parent) that apply the runtime settings once, with the CPUs shared among them
(``threads = cpus // workers``), then run `run_job` per video. A worker that dies (a
decoder crash) fails only the video that killed it: the pool is rebuilt, the videos that
were in flight run again one at a time, and the one that kills a worker alone is reported.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections import deque
from collections.abc import Callable, Sequence

from summarizer.batch.job import Job, Outcome, run_job


def _init_worker(threads: int) -> None:
    import logging

    from summarizer.embed import runtime

    runtime.apply(runtime.RuntimeSettings(threads=threads))
    logging.getLogger("summarizer").setLevel(logging.ERROR)


class LocalEngine:
    """Runs jobs on `workers` local processes (default: one per CPU)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        from summarizer.embed.runtime import available_cpus

        self.workers = max(1, workers or available_cpus())
        self.threads = max(1, available_cpus() // self.workers)
        self.fn: Callable[[Job], Outcome] = run_job  # what a worker runs per job

    def _pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def run(self, jobs: Sequence[Job], on_done: Callable[[Outcome], None]) -> None:
        """Run `jobs`, calling `on_done` in this thread as each finishes (any order).

        When a worker dies, every job in flight is lost with the pool; those jobs are run
        again one at a time in a fresh pool, so the one that kills a worker alone is the one
        reported failed, and the others finish.
        """
        pending = deque(range(len(jobs)))
        suspects: deque[int] = deque()  # lost with a dead worker: rerun alone
        running: dict[cf.Future, int] = {}
        window = 2 * self.workers  # jobs handed to the pool ahead of time
        broken = False
        pool = self._pool()
        try:
            while pending or suspects or running:
                if broken and not running:
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool, broken = self._pool(), False
                if suspects and not running:
                    i = suspects.popleft()
                    try:
                        outcome = pool.submit(self.fn, jobs[i]).result()
                    except cf.process.BrokenProcessPool:
                        outcome, broken = _died(jobs[i]), True
                    on_done(outcome)
                    continue
                while pending and not suspects and not broken and len(running) < window:
                    i = pending.popleft()
                    running[pool.submit(self.fn, jobs[i])] = i
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    i = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except cf.process.BrokenProcessPool:
                        suspects.append(i)
                        broken = True
                        continue
                    on_done(outcome)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _died(job: Job) -> Outcome:
    return Outcome(job.source, job.name, "failed", error="the worker process died on this video")
