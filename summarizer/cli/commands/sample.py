"""``keyframe-atlas sample VIDEO|DIR... --out DIR``: the frames worth keeping, for datasets.

For each input it writes ``DIR/<video stem>/``:
- the kept frames as JPEG, named by their time in seconds (``000012.500.jpg``), at the
  source resolution unless ``--size`` says otherwise;
- with ``--keywords`` and subtitles (a sidecar ``.srt``/``.vtt``, ``--subtitles`` or yt-dlp's):
  only the frames inside the spans where a keyword is said (the others are dropped as
  ``keyword``; ``--keywords-as list`` keeps every frame and only lists the spans);
- with ``--captions``: ``captions.jsonl``, captions of the kept frames (see
  `summarizer.captions`);
- ``sampled.json``: every kept frame (time, source frame, file, why the buffer and the gate
  kept it), the dropped frames counted by reason, the decode / produce / gate counts, the
  images that could not be read, and the settings used.

Settings come from the YAML ``--config`` (sections ``sample:``, ``dedup:``, ``gate:``,
``embed:``) and then the flags given.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from summarizer.cli import options as common
from summarizer.cli.options import shown
from summarizer.errors import SettingsError

NAME = "sample"
HELP = "sample the frames worth keeping (dedup buffers, blur and CLIP gates) as JPEG files"

FULL_SIZE = 4096  # a short side no source reaches: frames keep their own size


def add_arguments(p: argparse.ArgumentParser) -> None:
    from summarizer.summary.dedup import BUFFERS, HASH_METHODS
    from summarizer.summary.gates import BLUR_METHODS, GATES
    from summarizer.summary.sampling import SamplerSettings

    common.add_inputs(p, "VIDEO|DIR|URL")
    p.add_argument("--out", type=common.out_dir, required=True, help="output folder")
    common.add_store(p)
    common.add_config(p)
    common.add_sample(p)
    common.add_source(
        p,
        "subtitle keywords (comma separated): keep only frames where they are said "
        "(see --keywords-as)",
    )
    g = p.add_argument_group("sampler (YAML section 'sample:')")
    g.add_argument(
        "--min-interval",
        type=float,
        default=None,
        dest="min_interval_s",
        help="seconds between frames sent to the buffer, at least "
        f"({shown(SamplerSettings, 'min_interval_s')})",
    )
    g.add_argument(
        "--size",
        type=int,
        default=None,
        dest="short_side",
        help="short side of the frames written, in pixels (default: the source size)",
    )
    g.add_argument(
        "--jpeg-quality", type=int, default=None, help=f"{shown(SamplerSettings, 'jpeg_quality')}"
    )
    d = p.add_argument_group("dedup buffer (YAML section 'dedup:')")
    d.add_argument(
        "--buffer",
        choices=BUFFERS,
        default=None,
        help=shown("dedup", "buffer"),
    )
    d.add_argument(
        "--hash-method", choices=HASH_METHODS, default=None, help=shown("dedup", "hash_method")
    )
    d.add_argument(
        "--hash-size",
        type=int,
        default=None,
        help=f"hash side in bits ({shown('dedup', 'hash_size')})",
    )
    d.add_argument(
        "--buffer-size",
        type=int,
        default=None,
        help=f"hashes remembered / top-k kept ({shown('dedup', 'buffer_size')})",
    )
    d.add_argument(
        "--max-distance",
        type=int,
        default=None,
        help=f"Hamming bits that still match ({shown('dedup', 'max_distance')})",
    )
    d.add_argument("--grid-x", type=int, default=None, help=shown("dedup", "grid_x"))
    d.add_argument("--grid-y", type=int, default=None, help=shown("dedup", "grid_y"))
    d.add_argument(
        "--expiry",
        type=int,
        default=None,
        help=f"top-k window in frames ({shown('dedup', 'expiry')})",
    )
    t = p.add_argument_group("gate (YAML section 'gate:')")
    t.add_argument("--gate", choices=GATES, default=None, help=shown("gate", "gate"))
    t.add_argument(
        "--blur-method", choices=BLUR_METHODS, default=None, help=shown("gate", "blur_method")
    )
    t.add_argument("--blur-threshold", type=float, default=None)
    t.add_argument(
        "--positive", action="append", default=None, help="clip gate prompt to keep (repeat)"
    )
    t.add_argument(
        "--negative", action="append", default=None, help="clip gate prompt to drop (repeat)"
    )
    t.add_argument(
        "--positive-margin", type=float, default=None, help=shown("gate", "positive_margin")
    )
    t.add_argument(
        "--negative-margin", type=float, default=None, help=shown("gate", "negative_margin")
    )
    common.add_embed(p)
    common.add_captions(p)
    p.add_argument(
        "--print-stats",
        action="store_true",
        help="print decoded / produced / gated counts per video",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _flags(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def settings_from(args: argparse.Namespace, config: dict[str, Any]):
    """(SampleSettings, SamplerSettings, DedupSettings, GateSettings) from config + flags."""
    from summarizer.config import from_dict, split_sample_section
    from summarizer.summary.dedup import DedupSettings
    from summarizer.summary.gates import GateSettings
    from summarizer.summary.sampling import SamplerSettings

    decode_cfg, sampler_cfg = split_sample_section(config)
    decode_cfg.setdefault("short_side", FULL_SIZE)
    if decode_cfg["short_side"] > 720:
        decode_cfg.setdefault("batch_frames", 8)  # large frames: smaller batches, flat memory
    sample = common.sample_settings(args, {"sample": decode_cfg})
    if args.short_side is not None:
        sample = dataclasses.replace(sample, short_side=args.short_side)
    sampler = from_dict(
        SamplerSettings, {**sampler_cfg, **_flags(args, ("min_interval_s", "jpeg_quality"))}
    )
    dedup = from_dict(
        DedupSettings,
        {
            **(config.get("dedup") or {}),
            **_flags(
                args,
                (
                    "hash_method",
                    "hash_size",
                    "buffer_size",
                    "max_distance",
                    "grid_x",
                    "grid_y",
                    "expiry",
                ),
            ),
            **({"buffer": args.buffer} if args.buffer else {}),
        },
    )
    gate = from_dict(
        GateSettings,
        {
            **(config.get("gate") or {}),
            **_flags(
                args,
                (
                    "gate",
                    "blur_method",
                    "blur_threshold",
                    "positive",
                    "negative",
                    "positive_margin",
                    "negative_margin",
                ),
            ),
        },
    )
    if sample.time_regex is not None:
        try:
            re.compile(sample.time_regex)
        except re.error as exc:
            raise SettingsError(
                f"time_regex {sample.time_regex!r} is not a valid regex: {exc}"
            ) from None
    return sample, sampler, dedup, gate


def run(args: argparse.Namespace) -> int:
    from summarizer import decode as video
    from summarizer.cli import captions as cap
    from summarizer.cli.commands.summary import keywords_of
    from summarizer.cli.progress import TqdmProgress
    from summarizer.flow import expected_frames, open_video
    from summarizer.outputs import files as export
    from summarizer.sources.keywords import mode_for, span_mask
    from summarizer.summary.gates import make_gate
    from summarizer.summary.sampling import sample_with_warnings

    config = common.config_of(args)
    sample, sampler, dedup, gate_settings = settings_from(args, config)
    kw = keywords_of(args, config)
    keywords, keywords_as = kw.words, mode_for(kw, segments=False)
    captions = cap.caption_settings(args, config)
    store = None
    if args.store is not None:
        from summarizer.store import Store

        store = Store(args.store)
    # Check every input before writing anything: a bad one fails the run up front.
    sources = common.resolve_inputs(args, store)
    probes = []
    for source in sources:
        if store is not None:  # catalogued like every other command's inputs
            probes.append(open_video(source, store, sample).probe)
        else:
            probes.append(video.probe(source.path, settings=sample))
    spans = []
    for source in sources:
        subs = common.subtitles_of(source, keywords) if keywords else None
        spans.append(subs.keyword_spans(keywords) if subs is not None else None)
    embedder = None
    if gate_settings.gate == "clip":
        from summarizer.embed import get_embedder

        embedder = get_embedder(common.embed_settings(args, config))
    gate = make_gate(gate_settings, embedder)  # prompts embedded once for all inputs

    failed = 0
    folders = common.out_names([s.name for s in sources])
    for source, probe, stem, span in zip(sources, probes, folders, spans, strict=True):
        folder = args.out / stem
        folder.mkdir(parents=True, exist_ok=True)
        written: set[str] = set()

        keep_only = span if span is not None and keywords_as == "filter" else None

        def write(kf, image, folder=folder, written=written, keep_only=keep_only) -> str:
            if keep_only is not None and not span_mask([kf.time_s], keep_only, kw.pad_s)[0]:
                return ""  # not said here: dropped as "keyword" below
            name = f"{export.time_name(kf.time_s)}.jpg"
            if name in written:  # two frames at the same time (image folders)
                name = f"{export.time_name(kf.time_s)}_{kf.index}.jpg"
            export.save_jpeg(image, folder / name, quality=sampler.jpeg_quality)
            written.add(name)
            return name

        name = source.name
        with TqdmProgress(name, disable=True if args.quiet else None) as bar:
            result, warned = sample_with_warnings(
                source.path,
                sample,
                dedup,
                gate,
                sampler,
                write=write,
                progress=bar,
                total=expected_frames(probe, sample),
            )
        if keep_only is not None:
            outside = [k for k in result.kept if not k.file]
            result.kept = [k for k in result.kept if k.file]
            if outside:
                result.dropped["keyword"] += len(outside)
        for line in warned:
            print(f"warning: {line}", file=sys.stderr)
        for old in folder.glob("*.jpg"):  # frames of an earlier run with other settings
            if old.name not in written:
                old.unlink()
        doc = {
            "video": name,
            "path": str(Path(source.path).resolve()),
            "kind": "images" if Path(source.path).is_dir() else "video",
            "stats": result.stats(),
            "dropped": dict(sorted(result.dropped.items())),
            "skipped_files": result.skipped_files,
            "settings": {
                "sample": {**dataclasses.asdict(sample), **dataclasses.asdict(sampler)},
                "dedup": dataclasses.asdict(dedup),
                "gate": dataclasses.asdict(gate_settings),
            },
            "kept": [k.to_dict() for k in result.kept],
        }
        if source.url is not None:
            doc["url"] = source.url
        if span is not None:
            doc["keywords"] = [s.to_dict() for s in span]
            doc["keywords_as"] = keywords_as
        export.write_json(folder / "sampled.json", doc)
        if args.print_stats:
            print(result.stats_line(name), flush=True)
        else:
            print(f"{name}: kept {len(result.kept)} of {result.decoded} frames -> {folder}")
        if captions is not None:
            from summarizer.captions import Frame

            frames = [Frame(k.time_s, k.index, folder / k.file, k.file) for k in result.kept]
            failed += not cap.write_for(folder, frames, captions, name, args.caption_api_key)
    return 1 if failed else 0
