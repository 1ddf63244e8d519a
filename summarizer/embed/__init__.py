"""Frame embedders: CLIP (open_clip) and a model-free `pixels` baseline.

``get_embedder(EmbedSettings)`` returns one embedder per distinct settings per process.
Every embedder has ``model_id``, ``dim``, ``embed_images(uint8 (N,H,W,3)) -> float32 (N,D)``
(rows L2-normalised) and ``embed_texts(prompts) -> float32 (P,D)`` (CLIP only).

Modules: `clip` (open_clip, batched preprocessing, bf16/fp16), `weights` (where CLIP
weights come from), `pixels` (the model-free features), `runtime` (device, precision, and
the process settings that entry points apply). Importing this package loads no torch, and
the CLIP modules load on first use (``summarizer.embed.ClipEmbedder``), so the model-free
path imports only numpy.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from summarizer.config import EmbedSettings

__all__ = [
    "ClipEmbedder",
    "Embedder",
    "PixelEmbedder",
    "Weights",
    "cpu_has_fast_bf16",
    "get_embedder",
    "models_dirs",
    "models_file_name",
    "pick_device",
    "pick_dtype",
    "resolve_weights",
]


_LAZY = {
    "ClipEmbedder": "clip",
    "PixelEmbedder": "pixels",
    "cpu_has_fast_bf16": "runtime",
    "pick_device": "runtime",
    "pick_dtype": "runtime",
    "Weights": "weights",
    "models_dirs": "weights",
    "models_file_name": "weights",
    "resolve_weights": "weights",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"summarizer.embed.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'summarizer.embed' has no attribute {name!r}")


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_images(self, images: np.ndarray) -> np.ndarray: ...

    def embed_texts(self, prompts: Sequence[str]) -> np.ndarray: ...


@functools.lru_cache(maxsize=8)
def get_embedder(settings: EmbedSettings) -> Embedder:
    """The embedder for `settings`, built once per process (models load once)."""
    if settings.embedder == "pixels":
        from summarizer.embed.pixels import PixelEmbedder

        return PixelEmbedder(settings)
    from summarizer.embed.clip import ClipEmbedder

    return ClipEmbedder(settings)
