"""The library's front door: ``from summarizer import summarize, Settings``.

`summarize` runs one video through the whole single-video pipeline (embed -> seams and
segments -> KMeans summary) with the store in front of the expensive stage, so a second call
on the same bytes only re-runs the cheap stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from summarizer.errors import SettingsError
from summarizer.sampling import split_sample_section
from summarizer.seams import SeamSettings
from summarizer.select import Summary, SummarySettings
from summarizer.settings import EmbedSettings, SampleSettings, from_dict, load_config
from summarizer.types import EmbeddedVideo

_SECTIONS: dict[str, type] = {
    "sample": SampleSettings,
    "embed": EmbedSettings,
    "seams": SeamSettings,
    "summary": SummarySettings,
}


@dataclass(frozen=True)
class Settings:
    """Every setting of the single-video pipeline, one section per stage (as in the YAML)."""

    sample: SampleSettings = field(default_factory=SampleSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    seams: SeamSettings = field(default_factory=SeamSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)

    def __post_init__(self) -> None:
        # Accept plain mappings for a section (Settings(embed={"embedder": "pixels"})).
        for f in fields(self):
            cls, value = _SECTIONS[f.name], getattr(self, f.name)
            if isinstance(value, Mapping):
                object.__setattr__(self, f.name, from_dict(cls, value))
            elif not isinstance(value, cls):
                raise SettingsError(
                    f"Settings.{f.name} must be a {cls.__name__} or a mapping, "
                    f"got {type(value).__name__}"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """From a mapping of sections (``{"sample": {...}, "seams": {...}}``); unknown keys refused."""
        data = {**data, "sample": split_sample_section(data)[0]}
        return cls(**{name: from_dict(c, data.get(name)) for name, c in _SECTIONS.items()})

    @classmethod
    def from_yaml(cls, path: str | Path) -> Settings:
        """From a YAML config file; sections other than this pipeline's are ignored."""
        return cls.from_dict(load_config(path))


@dataclass(frozen=True)
class VideoSummary:
    """What `summarize` returns: the embedded frames, their segments and the KMeans summary."""

    embedded: EmbeddedVideo = field(repr=False)
    segmentation: Any = field(repr=False)  # summarizer.segments.Segmentation
    summary: Summary = field(repr=False)

    def __repr__(self) -> str:
        ref, seg = self.embedded.ref, self.segmentation
        return (
            f"VideoSummary({ref.name!r}, {len(self.embedded.times_s)} frames, "
            f"{len(seg.seams_s)} seams, {len(seg.segments)} segments, "
            f"{len(self.summary.picks)} picks)"
        )

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
    refine: bool = True,
) -> VideoSummary:
    """Segment and summarise one video (file or image folder).

    store: a `summarizer.store.Store` (default: the per-user store, or $ATLAS_HOME).
    progress: optional ``progress(done, total)`` callback for the embedding stage.
    refine: put seams on the exact source frame of each cut (video files only).
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
    if refine and ref.kind == "video":
        from summarizer.refine import refine_segmentation

        segmentation = refine_segmentation(ref.path, embedded, segmentation)
    summary = select_keyframes(
        embedded.embeddings,
        embedded.times_s,
        settings.summary,
        images=embedded.thumbnails,
        duration_s=ref.probe.duration_s,
    )
    return VideoSummary(embedded, segmentation, summary)
