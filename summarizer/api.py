"""The library's front door: ``from summarizer import summarize, Settings``.

`summarize` runs one video through the whole single-video pipeline (embed -> seams and
segments -> KMeans summary) with the store in front of the expensive stage, so a second call
on the same bytes only re-runs the cheap stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summarizer.sampling import split_sample_section
from summarizer.seams import SeamSettings
from summarizer.select import Summary, SummarySettings
from summarizer.settings import EmbedSettings, SampleSettings, from_dict, load_config
from summarizer.types import EmbeddedVideo


@dataclass(frozen=True)
class Settings:
    """Every setting of the single-video pipeline, one section per stage (as in the YAML)."""

    sample: SampleSettings = field(default_factory=SampleSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    seams: SeamSettings = field(default_factory=SeamSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """From a mapping of sections (``{"sample": {...}, "seams": {...}}``); unknown keys refused."""
        data = {**data, "sample": split_sample_section(data)[0]}
        sections = {"sample": SampleSettings, "embed": EmbedSettings}
        sections |= {"seams": SeamSettings, "summary": SummarySettings}
        return cls(**{name: from_dict(c, data.get(name)) for name, c in sections.items()})

    @classmethod
    def from_yaml(cls, path: str | Path) -> Settings:
        """From a YAML config file; sections other than this pipeline's are ignored."""
        return cls.from_dict(load_config(path))


@dataclass(frozen=True)
class VideoSummary:
    """What `summarize` returns: the embedded frames, their segments and the KMeans summary."""

    embedded: EmbeddedVideo
    segmentation: Any  # summarizer.segments.Segmentation
    summary: Summary

    def to_dict(self) -> dict[str, Any]:
        ref = self.embedded.ref
        return {
            "video": {"name": ref.name, "sha256": ref.sha256, "duration_s": ref.probe.duration_s},
            "model_id": self.embedded.model_id,
            **self.segmentation.to_dict(),
            "summary": self.summary.to_dict(),
        }


def summarize(
    video: str | Path,
    settings: Settings | None = None,
    store: Any = None,
    progress: Any = None,
) -> VideoSummary:
    """Segment and summarise one video (file or image folder).

    store: a `summarizer.store.Store` (default: the per-user store, or $ATLAS_HOME).
    progress: optional ``progress(done, total)`` callback for the embedding stage.
    """
    from summarizer.pipeline import embed_video, open_video
    from summarizer.segments import segment_video
    from summarizer.select import select_keyframes
    from summarizer.store import Store

    settings = settings or Settings()
    store = store if store is not None else Store()
    ref = open_video(video, store, settings.sample)
    embedded = embed_video(ref, settings.sample, settings.embed, store, progress)
    segmentation = segment_video(embedded, settings.seams)
    summary = select_keyframes(
        embedded.embeddings,
        embedded.times_s,
        settings.summary,
        images=embedded.thumbnails,
        duration_s=ref.probe.duration_s,
    )
    return VideoSummary(embedded, segmentation, summary)
