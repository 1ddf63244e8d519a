"""Frame captions from an OpenAI-compatible endpoint: settings, requests, captions.jsonl."""

from summarizer.captions.endpoint import (
    Caption,
    CaptionError,
    Frame,
    caption_frames,
    read_captions,
    spaced,
    summarize_captions,
    write_captions,
)
from summarizer.captions.settings import CaptionSettings, Endpoint, endpoint

__all__ = [
    "Caption",
    "CaptionError",
    "CaptionSettings",
    "Endpoint",
    "Frame",
    "caption_frames",
    "endpoint",
    "read_captions",
    "spaced",
    "summarize_captions",
    "write_captions",
]
