"""Overlap a producer with its consumer: decoding runs in a thread feeding a bounded queue
while the caller embeds, so a video takes the time of the slower stage, not their sum."""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

QUEUE_BATCHES = 4  # decoded batches waiting for the consumer at most


class _End:
    pass


@dataclasses.dataclass
class _Failure:
    exc: BaseException


class Prefetch:
    """Run an iterator in a producer thread, handing items over through a bounded queue.

    Iterate it in the consumer thread; an exception in the producer is raised there. Leaving
    the ``with`` block early (consumer error) stops the producer and joins it.
    """

    def __init__(self, make_iter: Callable[[], Iterable[Any]], maxsize: int = QUEUE_BATCHES):
        self._make_iter = make_iter
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, maxsize))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="atlas-decode", daemon=True)
        self.wait_s = 0.0  # time the consumer spent waiting for the producer

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        it = None
        try:
            it = iter(self._make_iter())
            for item in it:
                if not self._put(item):
                    return
            self._put(_End())
        except BaseException as exc:  # handed to the consumer, re-raised there
            self._put(_Failure(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # closing must not mask the result
                    close()

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            item = self._q.get()
            self.wait_s += time.perf_counter() - t0
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._q.get(timeout=0.05)
        self._thread.join()
