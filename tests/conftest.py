"""Fixtures shared by every test module: synthetic videos made once per session, and a store
per test. Test modules describe the video they need (`synth.Shot`s, fps, size) and
`synth_video` makes it, so the same clip is never written twice in one run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from summarizer.synth import Shot, make_video

MakeVideo = Callable[..., tuple[Path, list[float]]]


@pytest.fixture(scope="session")
def synth_video(tmp_path_factory: pytest.TempPathFactory) -> MakeVideo:
    """``synth_video(shots, fps=10, size=(160, 120), name="clip.mp4") -> (path, cut times)``:
    a synthetic mp4 with known cuts, made once per session for each distinct request."""
    made: dict[tuple, tuple[Path, list[float]]] = {}

    def make(
        shots: Sequence[Shot],
        fps: float = 10.0,
        size: tuple[int, int] = (160, 120),
        name: str = "clip.mp4",
    ) -> tuple[Path, list[float]]:
        key = (tuple(shots), float(fps), tuple(size), name)
        if key not in made:
            path = tmp_path_factory.mktemp("synth") / name
            made[key] = (path, make_video(path, shots, fps=fps, size=size))
        return made[key]

    return make


@pytest.fixture
def store(tmp_path: Path):
    """An empty store in the test's own folder."""
    from summarizer.store import Store

    return Store(tmp_path / "store")
