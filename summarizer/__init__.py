"""keyframe-atlas: videos to keyframes, scene summaries and a printable map of their content.

``from summarizer import summarize, map_collection, Settings`` is the library's front door.
The stages are packages that follow the data flow (`decode` -> `embed` -> `scenes` ->
`summary` -> `atlas` -> `poster`, with `outputs` and `store` beside them); `flow` runs them
with the store in front. Nothing heavy (torch, keras, scikit-learn) loads until it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from summarizer.errors import AtlasError, InputError, ModelError, SettingsError, StoreError

__version__ = "0.1.0"
__all__ = [
    "AtlasError",
    "InputError",
    "ModelError",
    "Settings",
    "SettingsError",
    "StoreError",
    "VideoSummary",
    "map_collection",
    "summarize",
]

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.flow import VideoSummary, map_collection, summarize

_LAZY = {
    "Settings": "summarizer.config",
    "VideoSummary": "summarizer.flow",
    "summarize": "summarizer.flow",
    "map_collection": "summarizer.flow",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'summarizer' has no attribute {name!r}")
