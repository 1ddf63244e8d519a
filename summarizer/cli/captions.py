"""``--captions`` in the commands: settings from config + flags (checked before any work),
and captions.jsonl (+ captions_summary.txt) for one output folder.

An endpoint that fails gives one line naming the problem; everything else the command
wrote stays, and so do the captions made before the failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

SUMMARY_FILE = "captions_summary.txt"


def caption_settings(args: argparse.Namespace, config: dict[str, Any]) -> Any:
    """The caption settings when --captions is given (else None), endpoint and client
    checked now, so a missing model or package fails before anything is written."""
    if not getattr(args, "captions", False):
        return None
    from summarizer.captions import CaptionSettings, endpoint
    from summarizer.captions.settings import INSTALL, with_flags
    from summarizer.config import from_dict
    from summarizer.errors import AtlasError

    settings = with_flags(
        from_dict(CaptionSettings, config.get("captions")),
        base_url=args.caption_base_url,
        model=args.caption_model,
        min_interval_s=args.caption_interval,
        batch_size=args.caption_batch,
        timeout_s=args.caption_timeout,
        retries=args.caption_retries,
        summary=args.caption_summary,
    )
    endpoint(settings, args.caption_api_key)
    try:
        import openai  # noqa: F401
    except ImportError:
        raise AtlasError(INSTALL) from None
    return settings


def write_for(
    out_dir: Path, frames: list[Any], settings: Any, name: str, api_key: str | None = None
) -> bool:
    """Caption `frames` (`summarizer.captions.Frame`) into ``out_dir/captions.jsonl``;
    False (after one line on stderr) when the endpoint failed."""
    from summarizer.captions import (
        CaptionError,
        caption_frames,
        endpoint,
        spaced,
        summarize_captions,
        write_captions,
    )

    ep = endpoint(settings, api_key)
    picked = spaced(frames, settings.min_interval_s, settings.max_frames)
    try:
        captions = caption_frames(picked, settings, ep)
    except CaptionError as exc:
        kept = f"; {len(exc.done)} captions before it kept" if exc.done else ""
        if exc.done:
            write_captions(out_dir / "captions.jsonl", exc.done)
        print(f"error: {name}: {exc} (all other outputs are written{kept})", file=sys.stderr)
        return False
    write_captions(out_dir / "captions.jsonl", captions)
    if settings.summary and captions:
        try:
            text = summarize_captions(captions, settings, ep)
        except CaptionError as exc:
            print(f"error: {name}: summary: {exc} (captions are written)", file=sys.stderr)
            return False
        from summarizer.outputs.files import atomic_path

        with atomic_path(out_dir / SUMMARY_FILE) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
    return True
