"""``keyframe-atlas summary VIDEO... --out DIR``: a KMeans keyframe summary of each video.

For each video it writes ``DIR/<video stem>/``:
- ``summary.json``: the picks in time order (``time_s``, ``image``, ``cluster_size``,
  ``score``, source frame), how k was chosen (silhouette per k tried), the frames set aside
  as uninformative, near-duplicate picks merged, the settings, the video's hash and model;
- the picked frames as JPEG named by their time, at the video's resolution (the stored
  thumbnails when the frames cannot be decoded again, or with ``--thumbnails-only``);
- ``summary.png``: a grid of the picks;
- with ``--keywords`` and subtitles (a sidecar ``.srt``/``.vtt``, ``--subtitles`` or yt-dlp's):
  the picks are made among the frames where a keyword is said (``--keywords-as filter``, the
  default; ``list`` only lists the spans), and summary.json lists the spans.

Embeddings come from the store (computed on first use, like ``embed``). Settings come from
the YAML ``--config`` (sections ``summary:``, ``sample:``, ``embed:``), then the flags.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from summarizer.cli import options as common
from summarizer.cli.options import shown

NAME = "summary"
HELP = "pick a few keyframes that stand for each video (KMeans over frame embeddings)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_video_command(
        p,
        keywords="subtitle keywords (comma separated): pick only among the frames where they "
        "are said (see --keywords-as)",
    )
    g = p.add_argument_group("summary (YAML section 'summary:')")
    g.add_argument(
        "--k",
        default=None,
        metavar="N|auto|budget",
        help="clusters: a number, auto (silhouette) or budget (--per-minute) "
        f"({shown('summary', 'k')})",
    )
    g.add_argument(
        "--per-minute",
        type=float,
        default=None,
        help="picks per minute of video (implies --k budget unless --k is given)",
    )
    g.add_argument(
        "--k-max",
        type=int,
        default=None,
        help=f"most clusters auto may choose ({shown('summary', 'k_max')})",
    )
    g.add_argument(
        "--max-similarity",
        type=float,
        default=None,
        help="drop a pick this cosine-similar to an earlier one, 1 = off "
        f"({shown('summary', 'max_similarity')})",
    )
    g.add_argument(
        "--keep-uninformative",
        action="store_true",
        default=None,
        help="also cluster flat, dark, bright and blurred frames",
    )
    p.add_argument(
        "--thumbnails-only",
        action="store_true",
        help="pick images from the stored thumbnails (no second decode)",
    )
    common.add_captions(p)


def summary_settings(args: argparse.Namespace, config: dict[str, Any]):
    from summarizer.config import from_dict
    from summarizer.summary.kmeans import SummarySettings, parse_k

    base = dict(config.get("summary") or {})
    if args.k is not None:
        base["k"] = parse_k(args.k)
    elif args.per_minute is not None:
        base["k"] = "budget"
    flags = {
        "per_minute": args.per_minute,
        "k_max": args.k_max,
        "max_similarity": args.max_similarity,
        "drop_uninformative": False if args.keep_uninformative else None,
    }
    base.update({k: v for k, v in flags.items() if v is not None})
    return from_dict(SummarySettings, base)


def keywords_of(args: argparse.Namespace, config: dict[str, Any]) -> Any:
    """The keyword settings (config + --keywords, --keywords-as); boundaries are refused:
    a summary has no segments."""
    from summarizer.errors import SettingsError
    from summarizer.sources.keywords import keyword_settings

    if args.keywords_as == "boundaries":
        raise SettingsError("--keywords-as boundaries needs segments: use it with seams")
    kw = keyword_settings(config, args.keywords, args.keywords_as)
    args.keywords = ",".join(kw.words) or None  # the YAML's words: subtitles are wanted too
    return kw


def keyword_frames(ev: Any, source: Any, kw: Any) -> tuple[Any, dict[str, Any], Any]:
    """(the frames to pick from, what summary.json says about the keywords, their positions
    among the video's frames): with ``filter`` only the frames said during a keyword span
    (None: there are none)."""
    from summarizer.sources.keywords import frames_in_spans, mode_for, span_mask

    subtitles = common.subtitles_of(source, kw.words) if kw.words else None
    if subtitles is None:
        return ev, {}, None
    spans = subtitles.keyword_spans(kw.words)
    mode = mode_for(kw, segments=False)
    extra: dict[str, Any] = {
        "keywords": [s.to_dict() for s in spans],
        "keywords_as": mode,
    }
    if mode != "filter":
        return ev, extra, None
    inside = frames_in_spans(ev, spans, kw.pad_s)
    if inside is None:
        return None, {"note": "no sampled frame lies where a keyword is said"}, None
    extra["keyword_frames"] = len(inside.times_s)
    return inside, extra, span_mask(ev.times_s, spans, kw.pad_s).nonzero()[0]


def run(args: argparse.Namespace) -> int:
    from summarizer.cli import captions as cap
    from summarizer.flow import summarize_frames
    from summarizer.outputs.files import plural
    from summarizer.outputs.frames import keyframe_images
    from summarizer.outputs.summary import write_outputs

    config = common.config_of(args)
    sample = common.sample_settings(args, config)
    embed = common.embed_settings(args, config)
    settings = summary_settings(args, config)
    captions = cap.caption_settings(args, config)
    kw = keywords_of(args, config)
    failed = 0
    for ref, ev, stem, _, source in common.embedded_inputs(
        args, config, sample=sample, embed=embed
    ):
        ev, extra, positions = keyword_frames(ev, source, kw)
        if ev is None:
            print(f"warning: {ref.name}: {extra['note']}; nothing written", file=sys.stderr)
            continue
        summary = summarize_frames(ev, settings).summary
        images = keyframe_images(ev, summary.indices, sample, args.thumbnails_only)
        out_dir = args.out / stem
        doc = write_outputs(out_dir, ev, summary, images, settings, sample, embed, extra, positions)
        how = f"k={summary.k} {summary.mode}"
        if summary.merged:
            how += f", {summary.merged} near-duplicate merged"
        print(f"{ref.name}: {plural(len(summary.picks), 'pick')} ({how}) -> {out_dir}", flush=True)
        for note in summary.notes:
            print(f"note: {ref.name}: {note}", flush=True)
        if captions is not None:
            from summarizer.captions import Frame

            frames = [
                Frame(p["time_s"], p["source_frame"], out_dir / p["image"], p["image"])
                for p in doc["picks"]
            ]
            failed += not cap.write_for(out_dir, frames, captions, ref.name, args.caption_api_key)
    return 1 if failed else 0
