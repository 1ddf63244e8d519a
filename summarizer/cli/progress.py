"""Progress on the terminal: a tqdm bar per stage (off when stderr is not a terminal)."""

from __future__ import annotations

from typing import Any


class TqdmProgress:
    """A ``progress(done, total)`` callback drawing a tqdm bar (on stderr; off when it is not a terminal)."""

    def __init__(self, desc: str, unit: str = "frame", disable: bool | None = None) -> None:
        self.desc = desc
        self.unit = unit
        self.disable = disable
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=total or None,
                desc=self.desc,
                unit=self.unit,
                leave=False,
                disable=self.disable,
                dynamic_ncols=True,
            )
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
