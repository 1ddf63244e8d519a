"""keyframe-atlas: videos to keyframes, scene summaries and a printable map of their content.

``from summarizer import summarize, Settings`` is the library's front door; the stages live
in one module each (`video`, `embed`, `seams`, `segments`, `select`, `dedup`, `gates`,
`latent`, `poster`, `store`, `pipeline`). Heavy modules (torch, keras) load on first use.
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
    "summarize",
]

if TYPE_CHECKING:
    from summarizer.api import Settings, VideoSummary, summarize


def __getattr__(name: str) -> Any:
    if name in ("Settings", "VideoSummary", "summarize"):
        from summarizer import api

        return getattr(api, name)
    raise AttributeError(f"module 'summarizer' has no attribute {name!r}")
