"""The summary stage: dedup -> gate -> KMeans keyframes over one embedded video, and its
summary.json document (the same for the library, the CLI and the app)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FilteredSummary:
    """A KMeans summary over the frames that passed dedup and the gate.

    picks: frame positions (into the video's embedding arrays) of the summary, time order.
    summary: the `select.Summary` (its pick indices are into `kept`, not the video).
    kept: positions of the frames that were clustered.
    dropped: reason -> frames removed before clustering (dedup reasons, "gate: ...").
    """

    picks: np.ndarray
    summary: Any
    kept: np.ndarray
    dropped: dict[str, int]


def summarize_filtered(
    ev: Any,
    settings: Any,
    dedup_settings: Any = None,
    gate_settings: Any = None,
    clip_embedder: Any = None,
) -> FilteredSummary:
    """Dedup buffer -> gate -> KMeans summary over one embedded video's frames.

    Dedup and the blur gate look at the stored thumbnails. The CLIP gate uses the stored
    embeddings when they are CLIP's, else it embeds the thumbnails with `clip_embedder`.
    """
    from summarizer.errors import InputError as _InputError
    from summarizer.summary.dedup import dedup
    from summarizer.summary.gates import ClipGate, make_gate
    from summarizer.summary.kmeans import select_keyframes

    thumbs = ev.thumbnails
    keep = np.ones(len(ev.times_s), dtype=bool)
    dropped: dict[str, int] = {}
    if dedup_settings is not None and dedup_settings.buffer != "passthrough":
        mask, _, counts = dedup(thumbs, ev.times_s, dedup_settings)
        keep &= mask
        dropped.update({f"dedup: {k}": int(v) for k, v in counts.items() if v})
    if gate_settings is not None and gate_settings.gate != "pass":
        pos = np.flatnonzero(keep)
        if gate_settings.gate == "clip":
            gate = ClipGate(gate_settings, clip_embedder)
            if (
                str(ev.model_id).startswith("clip:")
                and clip_embedder is not None
                and (getattr(clip_embedder, "model_id", None) == ev.model_id)
            ):
                result = gate.decide_embeddings(np.asarray(ev.embeddings)[pos])
            else:
                result = gate(np.asarray(thumbs[pos]))
        else:
            result = make_gate(gate_settings)(np.asarray(thumbs[pos]))
        keep[pos[~result.keep]] = False
        if (~result.keep).any():
            dropped[f"gate: {gate_settings.gate}"] = int((~result.keep).sum())
    kept = np.flatnonzero(keep)
    if len(kept) == 0:
        raise _InputError(
            "every frame was removed by dedup or the gate: loosen them to get a summary"
        )
    summary = select_keyframes(
        np.asarray(ev.embeddings)[kept],
        np.asarray(ev.times_s)[kept],
        settings,
        images=np.asarray(thumbs[kept]),
        duration_s=float(ev.ref.probe.duration_s) or None,
    )
    picks = kept[summary.indices] if len(summary.indices) else np.zeros(0, dtype=np.int64)
    return FilteredSummary(picks=picks, summary=summary, kept=kept, dropped=dropped)


def summary_document(ev: Any, fs: FilteredSummary, names: Sequence[str] | None = None) -> dict:
    """summary.json: the picks with time, image file and cluster size, and how they were made."""
    doc = {
        "video": ev.ref.name,
        "sha256": ev.ref.sha256,
        "model_id": ev.model_id,
        "frames": len(ev.times_s),
        "frames_clustered": len(fs.kept),
        "dropped_before_clustering": fs.dropped,
        **{k: v for k, v in fs.summary.to_dict().items() if k != "picks"},
        "picks": [],
    }
    for j, (p, pos) in enumerate(zip(fs.summary.picks, fs.picks, strict=True)):
        item = p.to_dict()
        item["index"] = int(pos)
        item["source_frame"] = int(np.asarray(ev.indices)[pos])
        if names is not None:
            item["image"] = names[j]
        doc["picks"].append(item)
    return doc
