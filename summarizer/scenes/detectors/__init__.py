"""Shot-boundary detectors behind one small interface, one file each, in a registry.

Like PySceneDetect's ``SceneDetector``: every detector takes the same `DetectInput` (the
sampled embeddings and their times; the full-rate `FrameSignal` when the video is at hand)
and returns a `Detection` (transitions with their start, end and kind). Registered names:

- ``successor``: the seed's method, the successor distance of the sampled embeddings against
  a dynamic threshold tuned by the KNN surveyor (`summarizer.scenes.seams`); seams lie between
  two samples until refined.
- ``content``: the full-rate signal alone (`content.py`): hard cuts, dissolves and fades,
  frame accurate.
- ``transnetv2``: the TransNetV2 network (optional extra ``transnet``) on every frame.
- ``auto`` (default): the full-rate proposals confirmed by the embeddings (`auto.py`).

Detectors are imported on first use (`get_detector`), so listing them (`detector_names`) or
checking a setting costs nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from summarizer.errors import SettingsError

if TYPE_CHECKING:
    from summarizer.decode.signal import FrameSignal
    from summarizer.scenes.seams import SeamSettings

#: name -> "module:Class"; the first is the default.
REGISTRY: dict[str, str] = {
    "auto": "summarizer.scenes.detectors.auto:AutoDetector",
    "content": "summarizer.scenes.detectors.content:ContentDetector",
    "successor": "summarizer.scenes.detectors.successor:SuccessorDetector",
    "transnetv2": "summarizer.scenes.detectors.transnetv2:TransNetV2Detector",
}
KINDS = ("cut", "dissolve", "fade")


def detector_names() -> tuple[str, ...]:
    """The registered detector names, the default (``auto``) first."""
    return tuple(REGISTRY)


@dataclass(frozen=True)
class Transition:
    """One shot transition: a cut (start == end: the first frame of the new shot) or a gradual
    one (dissolve, fade through black or white) from its first to its last frame."""

    start_s: float
    end_s: float
    kind: str = "cut"
    score: float = 1.0

    @property
    def time_s(self) -> float:
        """Where the seam goes: the cut, or the middle of a gradual transition."""
        return 0.5 * (self.start_s + self.end_s)

    def to_dict(self) -> dict[str, float | str]:
        return {
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "kind": self.kind,
            "score": round(float(self.score), 4),
        }


@dataclass(frozen=True)
class DetectInput:
    """What a detector may look at.

    embeddings / times_s: the sampled frames' embeddings (N, D) and times (N,).
    signal: the full-rate `FrameSignal` (None for image folders).
    video: the source file (None for image folders or when it is gone).
    """

    embeddings: np.ndarray
    times_s: np.ndarray
    signal: FrameSignal | None = None
    video: Path | None = None


@dataclass(frozen=True)
class Detection:
    """Transitions in time order; `frame_accurate`: their times are source frames already."""

    transitions: tuple[Transition, ...]
    frame_accurate: bool

    @property
    def seams_s(self) -> np.ndarray:
        return np.array([t.time_s for t in self.transitions], dtype=np.float64)


class Detector(Protocol):
    """The interface: a name, whether it needs the full-rate signal, and `detect`."""

    name: str
    needs_signal: bool

    def detect(self, inputs: DetectInput, settings: SeamSettings) -> Detection: ...


def get_detector(name: str) -> Detector:
    """A new detector by registered name (imports its module now)."""
    if name not in REGISTRY:
        raise SettingsError(f"unknown detector {name!r} (known: {', '.join(REGISTRY)})")
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
