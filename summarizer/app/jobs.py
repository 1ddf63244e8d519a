"""One bounded queue of heavy work per server (embedding, map training, posters, clips).

Heavy stages use every core on their own (torch, Keras and ffmpeg are multi-threaded), so
two of them side by side on a small server each run at a fraction of their speed and every
visitor waits longer. Page views of stored results never enter the queue; a job that has to
wait says how many are ahead of it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator


def default_slots() -> int:
    """Heavy jobs that may run at once: one per two cores (one on a 2-core server)."""
    return max(1, (os.cpu_count() or 2) // 2)


class JobQueue:
    """A counting semaphore that reports the waiting position (first come, first served)."""

    def __init__(self, slots: int | None = None) -> None:
        self.slots = max(1, int(slots or default_slots()))
        self._cond = threading.Condition()
        self._running = 0
        self._queue: list[object] = []

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextlib.contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold one slot for the ``with`` block; while waiting, ``on_wait(jobs_ahead)`` is
        called about every half second (to show it on the page)."""
        me = object()
        with self._cond:
            self._queue.append(me)
            try:
                while self._running >= self.slots or self._queue[0] is not me:
                    if on_wait is not None:
                        ahead = self._queue.index(me) + self._running
                        self._cond.release()
                        try:
                            on_wait(ahead)
                        finally:
                            self._cond.acquire()
                    self._cond.wait(timeout=0.5)
            except BaseException:  # e.g. the page was left while waiting: give up the place
                self._queue.remove(me)
                self._cond.notify_all()
                raise
            self._queue.pop(0)
            self._running += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


def run_ticking(work: Callable[[], object], tick: Callable[[float], None], every_s: float = 0.5):
    """Run `work()` in a helper thread and call ``tick(seconds so far)`` from this thread
    every `every_s` until it is done (a page's progress bar may only be drawn from the
    script's own thread); returns what `work` returned or raises what it raised. Used where
    the work itself reports nothing for a long time (recording a live stream)."""
    import time

    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    t0 = time.monotonic()
    worker = threading.Thread(target=run, name="atlas-ticking", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(every_s)
        if worker.is_alive():
            tick(time.monotonic() - t0)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")
