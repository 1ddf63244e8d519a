"""Caption frames with an OpenAI-compatible chat endpoint (llamafile, LM Studio, vLLM,
Ollama, OpenAI) through the official ``openai`` client.

Frames are spaced by a minimum interval, sent as JPEG data URLs in batches; the client holds
the timeout and retries connection errors, 429 and 5xx. An endpoint that is down, too slow
or answers something that is not a caption raises one `CaptionError` naming what went
wrong; the captions made before it are kept on the error (`CaptionError.done`).
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.captions.settings import (
    INSTALL,
    SUMMARY_PROMPT,
    CaptionSettings,
    Endpoint,
)
from summarizer.errors import AtlasError


@dataclass(frozen=True)
class Caption:
    """The caption of one frame."""

    time_s: float
    frame: int
    text: str
    image: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "time_s": round(self.time_s, 3),
            "frame": self.frame,
            "text": self.text,
        }
        if self.image:
            d["image"] = self.image
        return d


class CaptionError(AtlasError):
    """The endpoint failed; `done` holds the captions made before it did."""

    def __init__(self, message: str, done: Sequence[Caption] = ()) -> None:
        super().__init__(message)
        self.done = list(done)


@dataclass(frozen=True)
class Frame:
    """A frame to caption: its time, its frame number, and the image or its file."""

    time_s: float
    frame: int
    image: np.ndarray | str | Path = field(repr=False)
    name: str = ""


def spaced(frames: Sequence[Frame], min_interval_s: float, max_frames: int) -> list[Frame]:
    """Frames in time order, each at least `min_interval_s` after the last one kept, at most
    `max_frames` (spread over the whole video when there are more)."""
    out: list[Frame] = []
    for f in sorted(frames, key=lambda f: f.time_s):
        if not out or f.time_s - out[-1].time_s >= min_interval_s:
            out.append(f)
    if len(out) > max_frames:
        pick = np.linspace(0, len(out) - 1, max_frames).round().astype(int)
        out = [out[i] for i in np.unique(pick)]
    return out


def data_url(image: np.ndarray | str | Path, side: int) -> str:
    """A JPEG data URL of an RGB array or image file, its long side at most `side`."""
    from PIL import Image

    im = (
        Image.open(image).convert("RGB")
        if isinstance(image, (str, Path))
        else Image.fromarray(np.asarray(image, dtype=np.uint8))
    )
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _client(ep: Endpoint, settings: CaptionSettings) -> Any:
    try:
        import openai
    except ImportError:
        raise AtlasError(INSTALL) from None
    return openai.OpenAI(
        base_url=ep.base_url,
        api_key=ep.api_key,
        timeout=settings.timeout_s,
        max_retries=settings.retries,
    )


def _ask(client: Any, ep: Endpoint, content: list[dict[str, Any]], settings) -> str:
    """One chat request; its text, or a `CaptionError` saying why there is none."""
    import openai

    where = ep.describe()
    try:
        resp = client.chat.completions.create(
            model=ep.model, messages=[{"role": "user", "content": content}], max_tokens=300
        )
        text = resp.choices[0].message.content
    except openai.APITimeoutError:
        raise CaptionError(
            f"captions: {where} did not answer within {settings.timeout_s:g} s "
            f"({settings.retries} retries)"
        ) from None
    except openai.APIConnectionError:
        raise CaptionError(f"captions: cannot reach {where} (is the server running?)") from None
    except openai.APIStatusError as exc:
        raise CaptionError(
            f"captions: {where} refused the request (HTTP {exc.status_code}: "
            f"{_first_line(exc.message)})"
        ) from None
    except (openai.OpenAIError, AttributeError, IndexError, TypeError, KeyError, ValueError):
        text = None
    if not isinstance(text, str) or not text.strip():
        raise CaptionError(f"captions: {where} answered something that is not a caption")
    return " ".join(text.split())


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0][:200] if lines else "no message"


def _parse_batch(text: str, n: int) -> list[str] | None:
    """The n captions of a batch answer (a JSON array of strings), or None."""
    m = re.search(r"\[.*\]", text, re.DOTALL)
    try:
        items = json.loads(m.group(0)) if m else None
    except ValueError:
        return None
    if not isinstance(items, list) or len(items) != n:
        return None
    if not all(isinstance(x, str) and x.strip() for x in items):
        return None
    return [" ".join(x.split()) for x in items]


def caption_frames(
    frames: Sequence[Frame],
    settings: CaptionSettings,
    ep: Endpoint,
    progress: Callable[[int, int], None] | None = None,
) -> list[Caption]:
    """Caption `frames` (already spaced, see `spaced`) in batches of `settings.batch_size`."""
    client = _client(ep, settings)
    done: list[Caption] = []
    for i in range(0, len(frames), settings.batch_size):
        batch = frames[i : i + settings.batch_size]
        images = [
            {"type": "image_url", "image_url": {"url": data_url(f.image, settings.image_side)}}
            for f in batch
        ]
        try:
            texts = None
            if len(batch) > 1:
                ask = (
                    f"{settings.prompt} You get {len(batch)} frames in time order: answer with a "
                    f"JSON array of {len(batch)} strings, one per frame, and nothing else."
                )
                texts = _parse_batch(
                    _ask(client, ep, [{"type": "text", "text": ask}, *images], settings),
                    len(batch),
                )
            if texts is None:  # one image per request (or the batch answer did not parse)
                texts = [
                    _ask(client, ep, [{"type": "text", "text": settings.prompt}, im], settings)
                    for im in images
                ]
        except CaptionError as exc:
            raise CaptionError(str(exc), done) from None
        done += [Caption(f.time_s, f.frame, t, f.name) for f, t in zip(batch, texts, strict=True)]
        if progress is not None:
            progress(len(done), len(frames))
    return done


def summarize_captions(captions: Sequence[Caption], settings: CaptionSettings, ep: Endpoint) -> str:
    """A whole-video summary written by the model from the captions."""
    lines = "\n".join(f"{c.time_s:.1f} s: {c.text}" for c in captions)
    content = [{"type": "text", "text": f"{SUMMARY_PROMPT}\n\n{lines}"}]
    return _ask(_client(ep, settings), ep, content, settings)


def read_captions(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``captions.jsonl`` (for pages showing captions under keyframes)."""
    p = Path(path)
    if not p.is_file():
        return []
    rows = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("text"), str):
            rows.append(row)
    return rows


def write_captions(path: str | Path, captions: Sequence[Caption]) -> Path:
    """``captions.jsonl``: one JSON object (time_s, frame, text, image) per line, atomically."""
    from summarizer.outputs.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(
            "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in captions),
            encoding="utf-8",
        )
    return Path(path)
