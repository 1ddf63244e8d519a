"""``keyframe-atlas seams VIDEO... --out DIR``: scenes, keyframes and clips of videos.

For each video it writes ``DIR/<video stem>/``:
- ``segments.json``: every detected seam (``seams_s``, before the min/max-duration merging),
  the segments with their keyframes (time and image file), the successor-distance curve and
  its threshold, the settings, the video's hash and the model that made the embeddings;
- ``segments.csv``: one row per segment;
- ``keyframes/*.jpg``: the keyframes at the video's resolution (thumbnails if the frames
  cannot be read again), and ``keyframes.png``: a grid of them;
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
import time
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.cli import options as common

NAME = "seams"
HELP = "find scenes (seams between shots), their keyframes and optional clips"


def add_seam_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("seams and segments (YAML section 'seams:')")
    g.add_argument("--metric", choices=("euclidean", "cosine"), default=None)
    g.add_argument(
        "--threshold",
        choices=("fixed", "dynamic", "robust"),
        default=None,
        help="fixed value, rolling mean + k*std, or rolling median + k*MAD (default dynamic)",
    )
    g.add_argument("--fixed", type=float, default=None, help="threshold of --threshold fixed")
    g.add_argument("--k", type=float, default=None, help="deviations above the rolling centre")
    g.add_argument("--window", type=float, default=None, dest="window_s", help="rolling window (s)")
    g.add_argument("--floor", type=float, default=None, help="lowest adaptive threshold")
    g.add_argument(
        "--surveyor",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="adapt the threshold per window with the KNN embedding surveyor",
    )
    g.add_argument(
        "--min-segment", type=float, default=None, dest="min_segment_s", help="seconds (default 2)"
    )
    g.add_argument(
        "--max-segment",
        type=float,
        default=None,
        dest="max_segment_s",
        help="seconds, 0 for no limit (default 15)",
    )
    g.add_argument("--keyframes-min", type=int, default=None)
    g.add_argument("--keyframes-max", type=int, default=None)


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_video_command(p)
    add_seam_flags(p)
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


def seam_settings(args: argparse.Namespace, config: dict[str, Any]):
    from summarizer.config import from_dict
    from summarizer.scenes.seams import SeamSettings

    flags = {
        name: getattr(args, name, None)
        for name in (
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


def keyframe_images(ev, frames: np.ndarray, sample, thumbnails_only: bool) -> list[np.ndarray]:
    """Keyframes at full resolution via the decoder, or the stored thumbnails."""
    thumbs = [np.asarray(ev.thumbnails[i]) for i in frames]
    if thumbnails_only or len(frames) == 0:
        return thumbs
    from summarizer.decode import read_frames
    from summarizer.errors import AtlasError

    try:
        batch = read_frames(ev.ref.path, ev.indices[frames], None, settings=sample)
    except (AtlasError, OSError, RuntimeError):
        return thumbs
    return [np.asarray(im) for im in batch.images]


def write_outputs(
    out_dir: Path,
    ev,
    seg,
    sample,
    embed,
    settings,
    *,
    clips: bool = False,
    reencode: bool = True,
    thumbnails_only: bool = False,
) -> dict[str, Any]:
    """Everything for one video into `out_dir`; returns the segments.json data."""
    from summarizer.outputs import files as export

    out_dir.mkdir(parents=True, exist_ok=True)
    kdir = out_dir / "keyframes"
    kdir.mkdir(exist_ok=True)
    frames = seg.keyframe_indices
    images = keyframe_images(ev, frames, sample, thumbnails_only)
    names: dict[int, str] = {}
    labels = []
    for s in seg.segments:
        for k, t in zip(s.keyframes, s.keyframe_times_s, strict=True):
            names[k] = f"keyframes/seg{s.index:03d}_{export.time_name(t)}.jpg"
            labels.append(f"#{s.index} {export.time_label(t)}")
    for k, im in zip(frames.tolist(), images, strict=True):
        export.save_jpeg(im, out_dir / names[k])
    # Remove keyframes of an earlier run with other settings.
    for old in kdir.glob("*.jpg"):
        if f"keyframes/{old.name}" not in names.values():
            old.unlink()
    export.grid_image(images, labels).save(out_dir / "keyframes.png")

    clip_names: dict[int, str] = {}
    if clips:
        from summarizer.outputs.clips import cut_segments

        made = cut_segments(
            ev.ref.path,
            [(s.start_s, s.end_s) for s in seg.segments],
            out_dir / "clips",
            stem=export.video_stem(ev.ref.name),
            reencode=reencode,
        )
        clip_names = {c.index: f"clips/{c.path.name}" for c in made}

    data = seg.to_dict()
    for s, d in zip(seg.segments, data["segments"], strict=True):
        for kf in d["keyframes"]:
            kf["source_frame"] = int(ev.indices[kf["frame"]])
            kf["image"] = names[kf["frame"]]
        if s.index in clip_names:
            d["clip"] = clip_names[s.index]
    doc = {
        "video": ev.ref.name,
        "path": str(ev.ref.path),
        "sha256": ev.ref.sha256,
        "duration_s": ev.ref.probe.duration_s,
        "model_id": ev.model_id,
        "frames": len(ev.times_s),
        "settings": {
            "seams": dataclasses.asdict(settings),
            "sample": dataclasses.asdict(sample),
            "embed": dataclasses.asdict(embed),
        },
        **data,
        "keyframe_grid": "keyframes.png",
    }
    export.write_json(out_dir / "segments.json", doc)
    rows = [
        {
            "segment": d["index"],
            "start_s": d["start_s"],
            "end_s": d["end_s"],
            "duration_s": d["duration_s"],
            "keyframe_times_s": " ".join(f"{k['time_s']:.3f}" for k in d["keyframes"]),
            "keyframe_images": " ".join(k["image"] for k in d["keyframes"]),
            "clip": d.get("clip", ""),
        }
        for d in data["segments"]
    ]
    export.write_csv(out_dir / "segments.csv", rows)
    return doc


def run(args: argparse.Namespace) -> int:
    from summarizer.errors import InputError
    from summarizer.outputs.files import plural
    from summarizer.scenes.refine import refine_segmentation
    from summarizer.scenes.segments import segment_video

    config = common.config_of(args)
    sample = common.sample_settings(args, config)
    embed = common.embed_settings(args, config)
    settings = seam_settings(args, config)
    for ref, ev, folder, embed_s in common.embedded_inputs(
        args, config, sample=sample, embed=embed
    ):
        t0 = time.perf_counter()
        try:
            seg = segment_video(ev, settings)
        except InputError as exc:
            raise InputError(f"{ref.name}: {exc}") from None
        if getattr(args, "refine", True) and ev.ref.kind == "video":
            seg = refine_segmentation(ev.ref.path, ev, seg)
        out_dir = args.out / folder
        write_outputs(
            out_dir,
            ev,
            seg,
            sample,
            embed,
            settings,
            clips=args.clips,
            reencode=not args.copy,
            thumbnails_only=args.thumbnails_only,
        )
        n_kf = len(seg.keyframe_indices)
        how = "cached embeddings" if ev.cache_hit else "embedded"
        print(
            f"{ref.name}  {plural(len(seg.seams_s), 'seam')}  "
            f"{plural(len(seg.segments), 'segment')}  {plural(n_kf, 'keyframe')}  "
            f"({how}, {embed_s + time.perf_counter() - t0:.1f} s)  -> {out_dir}",
            flush=True,
        )
    return 0
