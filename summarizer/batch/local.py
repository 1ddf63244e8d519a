"""The local engine: a pool of worker processes on this machine, one video per task.

Workers are fresh interpreters (spawn: safe with torch and OpenMP already loaded in the
parent) that apply the runtime settings once, with the CPUs shared among them
(``threads = cpus // workers``), then run `run_job` per video. A worker that dies (a
decoder crash) takes only its videos down: the pool is rebuilt, those videos are tried once
more, and fail with a clear message if they kill a worker again.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
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

    def _pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def run(self, jobs: Sequence[Job], on_done: Callable[[Outcome], None]) -> None:
        """Run `jobs`, calling `on_done` in this thread as each finishes (any order)."""
        todo = list(jobs)
        tries = dict.fromkeys(range(len(todo)), 0)
        queue = list(range(len(todo)))
        window = 2 * self.workers  # jobs handed to the pool ahead of time
        while queue:
            pool = self._pool()
            running: dict[cf.Future, int] = {}
            try:
                while queue or running:
                    while queue and len(running) < window:
                        i = queue.pop(0)
                        tries[i] += 1
                        running[pool.submit(run_job, todo[i])] = i
                    finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    broken = False
                    for fut in finished:
                        i = running.pop(fut)
                        try:
                            on_done(fut.result())
                        except cf.process.BrokenProcessPool:
                            broken = True
                            if tries[i] < 2:
                                queue.insert(0, i)
                            else:
                                on_done(_died(todo[i]))
                    if broken:  # every other job in flight is lost with the pool
                        for fut, i in running.items():
                            fut.cancel()
                            queue.insert(0, i)
                        running.clear()
                        break
            finally:
                pool.shutdown(wait=True, cancel_futures=True)


def _died(job: Job) -> Outcome:
    return Outcome(job.source, job.name, "failed", error="the worker process died on this video")
