"""Frames' embeddings in, seams and segments out: detectors, threshold, surveyor, refine.

`find_segments` (detect + segment + refine, for one embedded video), `frame_signal` (the
full-rate signal to cache) and `detector_names` are the entry points; they are imported on
first use, so ``import summarizer.scenes`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["detector_names", "find_segments", "frame_signal"]


def __getattr__(name: str) -> Any:
    if name == "detector_names":
        from summarizer.scenes.detectors import detector_names

        return detector_names
    if name in ("find_segments", "frame_signal"):
        from summarizer.scenes import find

        return getattr(find, name)
    raise AttributeError(f"module 'summarizer.scenes' has no attribute {name!r}")
