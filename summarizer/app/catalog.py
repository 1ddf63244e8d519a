"""What the store already holds (results, a thumbnail, a stored map) for tables and notices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from summarizer.app.labels import model_label


def computed_summary(store: Any, sha256: str) -> dict[str, list[str]]:
    """What the store holds for one video: stage -> model ids (e.g. {'embed': ['pixels-v1']})."""
    out: dict[str, list[str]] = {}
    for row in store.results(sha256):
        out.setdefault(row["stage"], [])
        if row["model_id"] not in out[row["stage"]]:
            out[row["stage"]].append(row["model_id"])
    return out


def library_thumbnail(store: Any, sha256: str) -> np.ndarray | None:
    """A representative thumbnail of a catalogued video (a frame from its first embedding)."""
    for row in store.results(sha256):
        if row["stage"] != "embed":
            continue
        res = store.load(store.key(sha256, row["stage"], row["settings_hash"], row["model_id"]))
        if res is not None and "thumbnails" in res and len(res["thumbnails"]):
            thumbs = res["thumbnails"]
            return np.array(thumbs[len(thumbs) // 3])
    return None


STAGE_NAMES = {"embed": "embeddings"}


def computed_text(done: Mapping[str, list[str]]) -> str:
    """'embeddings: pixels, CLIP ViT-B-32' for the library table."""
    if not done:
        return "nothing yet"
    return " · ".join(
        f"{STAGE_NAMES.get(stage, stage)}: {', '.join(model_label(m) for m in models if m)}"
        if any(models)
        else STAGE_NAMES.get(stage, stage)
        for stage, models in done.items()
    )


def map_runner() -> Any:
    """The store-backed latent-map runner, `summarizer.flow.map_collection`; the app calls
    maps only through here."""
    import functools

    from summarizer.embed.runtime import train_threads
    from summarizer.flow import map_collection

    # training threads from the runtime settings, as the CLI's map command uses
    return functools.partial(map_collection, threads=train_threads())


def map_is_stored(store: Any, videos: Sequence[Any], settings: Any) -> bool:
    """Whether the map of these videos with these settings is in the store (no training)."""
    from summarizer.flow import latent_key

    unique = {v.ref.sha256: v for v in reversed(list(videos))}  # the fit order: by hash
    fit_order = [unique[h] for h in sorted(unique)]
    return store.exists(latent_key(store, fit_order, settings))
