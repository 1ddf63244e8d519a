"""``keyframe-atlas seams VIDEO... --out DIR``: scenes, keyframes and clips of videos.

For each video it writes ``DIR/<video stem>/``:
- ``segments.json`` and ``segments.csv`` (``--export``: also ``keyframes.csv``, the keyframe
  list with source frame numbers, ``segments.edl`` (CMX 3600), ``segments.otio`` and
  ``segments.xml`` (Final Cut Pro 7); see `summarizer.outputs.editors`);
- ``segments.json``: every detected seam (``seams_s``, before the min/max-duration merging),
  the segments with their keyframes (time and image file), the successor-distance curve and
  its threshold, the settings, the video's hash and the model that made the embeddings;
- ``segments.csv``: one row per segment;
- ``keyframes/*.jpg``: the keyframes at the video's resolution (thumbnails if the frames
  cannot be read again), and ``keyframes.png``: a grid of them;
- with subtitles (a sidecar ``.srt``/``.vtt``, ``--subtitles FILE`` or yt-dlp's): the text said
  in each segment; ``--keywords`` lists the spans where the words are said and their segments,
  and (``--keywords-as``, see `summarizer.sources.keywords`) cuts the segments where they
  start and end (``boundaries``, the default) or keeps only the segments where they are
  said (``filter``);
- with ``--captions``: ``captions.jsonl``, one caption per keyframe (see `summarizer.captions`);
- with ``--clips``: ``clips/*.mp4``, one per segment, re-encoded so each holds exactly its
  segment (``--copy``: stream copy, instant but cut at key frames; see `summarizer.outputs.clips`).

Seams are found on the sampled frames; for a video file they are then made frame accurate
(`summarizer.scenes.refine`: the frames between the two samples around each seam are decoded and
the seam, and the segment boundary, put on the first frame of the new shot), so segments
and clips start on their own shot. ``--no-refine`` keeps the sampled times (image folders
are never refined: they have no frames in between).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any

from summarizer.cli import options as common
from summarizer.cli.options import shown

NAME = "seams"
HELP = "find scenes (seams between shots), their keyframes and optional clips"


def add_seam_flags(p: argparse.ArgumentParser) -> None:
    from summarizer.scenes.seams import METRICS, MODES, SeamSettings

    g = p.add_argument_group("seams and segments (YAML section 'seams:')")
    if "detector" in {f.name for f in dataclasses.fields(SeamSettings)}:
        from summarizer.scenes.detectors import detector_names

        g.add_argument(
            "--detector",
            choices=detector_names(),
            default=None,
            help=f"what proposes the seams ({shown('seams', 'detector')})",
        )
    g.add_argument("--metric", choices=METRICS, default=None, help=shown("seams", "metric"))
    g.add_argument(
        "--threshold",
        choices=MODES,
        default=None,
        help="fixed value, rolling mean + k*std, or rolling median + k*MAD "
        f"({shown('seams', 'threshold')})",
    )
    g.add_argument("--fixed", type=float, default=None, help="threshold of --threshold fixed")
    g.add_argument(
        "--k",
        type=float,
        default=None,
        help=f"deviations above the rolling centre ({shown('seams', 'k')})",
    )
    g.add_argument(
        "--window",
        type=float,
        default=None,
        dest="window_s",
        help=f"rolling window in seconds ({shown('seams', 'window_s')})",
    )
    g.add_argument(
        "--floor",
        type=float,
        default=None,
        help=f"lowest adaptive threshold ({shown('seams', 'floor')})",
    )
    g.add_argument(
        "--surveyor",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"adapt the threshold per window with the KNN embedding surveyor "
        f"({shown('seams', 'surveyor')})",
    )
    g.add_argument(
        "--min-segment",
        type=float,
        default=None,
        dest="min_segment_s",
        help=f"seconds ({shown('seams', 'min_segment_s')})",
    )
    g.add_argument(
        "--max-segment",
        type=float,
        default=None,
        dest="max_segment_s",
        help=f"seconds, 0 for no limit ({shown('seams', 'max_segment_s')})",
    )
    g.add_argument("--keyframes-min", type=int, default=None, help=shown("seams", "keyframes_min"))
    g.add_argument("--keyframes-max", type=int, default=None, help=shown("seams", "keyframes_max"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    from summarizer.outputs.editors import FORMATS
    from summarizer.outputs.seams import DEFAULT_EXPORTS

    common.add_video_command(
        p,
        keywords="subtitle keywords (comma separated): where they are said cuts the segments "
        "(see --keywords-as)",
    )
    add_seam_flags(p)
    p.add_argument(
        "--export",
        default=",".join(DEFAULT_EXPORTS),
        metavar="FORMATS",
        help=f"comma-separated files to write: {', '.join(FORMATS)} "
        f"(default {','.join(DEFAULT_EXPORTS)})",
    )
    p.add_argument("--clips", action="store_true", help="cut each segment into a clip")
    p.add_argument(
        "--copy",
        action="store_true",
        help="stream-copy clips: instant and lossless, but they start at the key frame before "
        "the segment and may run a few frames past it (default: re-encode, exact)",
    )
    p.add_argument("--reencode", action="store_true", help=argparse.SUPPRESS)  # the default
    p.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="put seams on the exact source frame of each cut (video files; default on)",
    )
    p.add_argument(
        "--thumbnails-only",
        action="store_true",
        help="keyframe images from the stored thumbnails (no second decode)",
    )
    common.add_captions(p)


def seam_settings(args: argparse.Namespace, config: dict[str, Any]):
    from summarizer.config import from_dict
    from summarizer.scenes.seams import SeamSettings

    flags = {
        name: getattr(args, name, None)
        for name in (
            "detector",
            "metric",
            "threshold",
            "fixed",
            "k",
            "window_s",
            "floor",
            "surveyor",
            "min_segment_s",
            "keyframes_min",
            "keyframes_max",
        )
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    base = dict(config.get("seams") or {})
    base.update(flags)
    max_s = getattr(args, "max_segment_s", None)
    if max_s is not None:
        base["max_segment_s"] = None if max_s == 0 else max_s
    return from_dict(SeamSettings, base)


def check_before_writing(args: argparse.Namespace):
    """What must hold for every input before anything is written (`--clips`)."""

    def check(opened) -> None:
        if args.clips:
            from summarizer.outputs.folders import check_clips

            check_clips([(o.ref.name, o.ref.kind) for o in opened])

    return check


def run(args: argparse.Namespace) -> int:
    from summarizer.cli import captions as cap
    from summarizer.errors import InputError
    from summarizer.flow import find_scenes
    from summarizer.outputs.editors import parse_exports
    from summarizer.outputs.files import plural
    from summarizer.outputs.seams import write_outputs
    from summarizer.sources.keywords import apply_keywords, keyword_settings, mode_for

    config = common.config_of(args)
    sample = common.sample_settings(args, config)
    embed = common.embed_settings(args, config)
    settings = seam_settings(args, config)
    exports = parse_exports(args.export)
    kw = keyword_settings(config, args.keywords, args.keywords_as)
    keywords, keywords_as = kw.words, mode_for(kw, segments=True)
    args.keywords = ",".join(keywords) or None  # the YAML's words: subtitles are wanted too
    captions = cap.caption_settings(args, config)
    failed = 0
    from summarizer.scenes.detectors import get_detector

    one_pass = get_detector(settings.detector).needs_signal  # signal from the embedding pass
    for ref, ev, folder, embed_s, source in common.embedded_inputs(
        args, config, sample=sample, embed=embed, check=check_before_writing(args), signal=one_pass
    ):
        t0 = time.perf_counter()
        try:
            seg = find_scenes(ev, settings, refine=getattr(args, "refine", True))
        except InputError as exc:
            raise InputError(f"{ref.name}: {exc}") from None
        subtitles = common.subtitles_of(source, keywords)
        if subtitles is not None and keywords:
            spans = subtitles.keyword_spans(keywords)
            seg = apply_keywords(ev, seg, spans, keywords_as, kw.pad_s)
            if not seg.segments:
                print(f"warning: {ref.name}: no keyword is said: no segment kept", file=sys.stderr)
        out_dir = args.out / folder
        doc = write_outputs(
            out_dir,
            ev,
            seg,
            sample,
            embed,
            settings,
            clips=args.clips,
            reencode=not args.copy,
            thumbnails_only=args.thumbnails_only,
            exports=exports,
            subtitles=subtitles,
            keywords=keywords,
            source=source,
            keywords_as=keywords_as,
        )
        n_kf = len(seg.keyframe_indices)
        how = "cached embeddings" if ev.cache_hit else "embedded"
        print(
            f"{ref.name}  {plural(len(seg.seams_s), 'seam')}  "
            f"{plural(len(seg.segments), 'segment')}  {plural(n_kf, 'keyframe')}  "
            f"({how}, {embed_s + time.perf_counter() - t0:.1f} s)  -> {out_dir}",
            flush=True,
        )
        if captions is not None:
            from summarizer.captions import Frame

            frames = [
                Frame(kf["time_s"], kf["source_frame"], out_dir / kf["image"], kf["image"])
                for d in doc["segments"]
                for kf in d["keyframes"]
            ]
            failed += not cap.write_for(out_dir, frames, captions, ref.name, args.caption_api_key)
    return 1 if failed else 0
