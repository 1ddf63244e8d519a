"""Caption settings and the endpoint they talk to (flags, then the YAML ``captions:`` section,
then ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` / ``OPENAI_API_KEY``).

The API key is never part of the settings (they are written into result files); it is read
when the endpoint is made.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from summarizer.config import check, check_fields
from summarizer.errors import SettingsError

INSTALL = "captions need the openai client: pip install 'keyframe-atlas[captions]'"
PROMPT = "Describe what this video frame shows in one short sentence."
SUMMARY_PROMPT = (
    "These are captions of frames of one video, with their times. "
    "Summarise the whole video in two or three sentences."
)


@dataclass(frozen=True)
class CaptionSettings:
    """How frames are captioned by an OpenAI-compatible chat endpoint with images.

    base_url / model: the endpoint (None: $OPENAI_BASE_URL / $OPENAI_MODEL).
    min_interval_s: seconds between captioned frames, at least.
    batch_size: images per request (above 1 the model is asked for a JSON array).
    max_frames: most frames captioned per video (a bound on time and cost).
    image_side: long side of the JPEG sent, in pixels.
    timeout_s / retries: per request; the client retries connection errors, 429 and 5xx.
    prompt: what is asked for each frame.
    summary: also ask for a whole-video summary from the captions.
    """

    base_url: str | None = None
    model: str | None = None
    min_interval_s: float = 2.0
    batch_size: int = 1
    max_frames: int = 200
    image_side: int = 512
    timeout_s: float = 60.0
    retries: int = 2
    prompt: str = PROMPT
    summary: bool = False

    def __post_init__(self) -> None:
        check_fields(
            self,
            min_interval_s=">= 0",
            batch_size="[1, 16]",
            max_frames="[1, 10000]",
            image_side="[64, 2048]",
            timeout_s="(0, 3600]",
            retries="[0, 10]",
        )
        check(bool(str(self.prompt).strip()), "prompt must not be empty")


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: base URL (None: the client's default), model and key."""

    base_url: str | None
    model: str
    api_key: str

    def describe(self) -> str:
        return f"{self.model} at {self.base_url or 'the OpenAI API'}"


def endpoint(settings: CaptionSettings, api_key: str | None = None) -> Endpoint:
    """The endpoint of `settings`, filled from the environment where not set."""
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
    model = settings.model or os.environ.get("OPENAI_MODEL") or None
    if not model:
        raise SettingsError("--captions needs a model: --caption-model NAME or $OPENAI_MODEL")
    key = api_key or os.environ.get("OPENAI_API_KEY") or "none"  # local servers want none
    return Endpoint(base_url, model, key)


def with_flags(settings: CaptionSettings, **flags) -> CaptionSettings:
    """`settings` with the flags that were given (None: not given)."""
    return dataclasses.replace(settings, **{k: v for k, v in flags.items() if v is not None})
