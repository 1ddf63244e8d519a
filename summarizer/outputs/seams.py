"""The ``seams`` output folder of one video: keyframes, segments as JSON/CSV, the keyframe
list, editor exports (EDL, OTIO, FCP XML), optional clips, subtitle text and keyword spans.

Used by the CLI's ``seams`` command and by the app's downloads alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from summarizer.outputs import editors
from summarizer.outputs import files as export
from summarizer.outputs.frames import iter_keyframes

DEFAULT_EXPORTS = ("json", "csv")


def segment_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """segments.csv: one row per segment of a segments.json document."""
    rows = []
    for d in doc["segments"]:
        row = {
            "segment": d["index"],
            "start_s": d["start_s"],
            "end_s": d["end_s"],
            "duration_s": d["duration_s"],
            "keyframe_times_s": " ".join(f"{k['time_s']:.3f}" for k in d["keyframes"]),
            "keyframe_images": " ".join(k["image"] for k in d["keyframes"]),
            "clip": d.get("clip", ""),
        }
        if "subtitles" in d:
            row["subtitles"] = d["subtitles"]
        rows.append(row)
    return rows


def write_outputs(
    out_dir: Path,
    ev: Any,
    seg: Any,
    sample: Any,
    embed: Any,
    settings: Any,
    *,
    clips: bool = False,
    reencode: bool = True,
    thumbnails_only: bool = False,
    exports: Sequence[str] = DEFAULT_EXPORTS,
    subtitles: Any = None,
    keywords: Sequence[str] = (),
    source: Any = None,
    keywords_as: str | None = None,
) -> dict[str, Any]:
    """Everything for one video into `out_dir`; returns the segments.json data.

    exports: names from `editors.FORMATS`. subtitles: a `Subtitles` whose text per segment
    goes into the JSON/CSV/OTIO; keywords: their spans in the subtitles are listed with the
    segments they touch (`keywords_as`: what they did to the segments, recorded). source:
    the `summarizer.sources.Source` (its URL is recorded).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    kdir = out_dir / "keyframes"
    kdir.mkdir(exist_ok=True)
    frames = seg.keyframe_indices
    names: dict[int, str] = {}
    labels = []
    for s in seg.segments:
        for k, t in zip(s.keyframes, s.keyframe_times_s, strict=True):
            names[k] = f"keyframes/seg{s.index:03d}_{export.time_name(t)}.jpg"
            labels.append(f"#{s.index} {export.time_label(t)}")
    # Full-size frames are decoded a few at a time: each is saved, then kept as its grid tile.
    tiles = []
    images = iter_keyframes(ev, frames, sample, thumbnails_only)
    for k, (im, jpeg) in zip(frames.tolist(), images, strict=True):
        if jpeg is not None:  # encoded by the embedding pass already
            export.save_bytes(jpeg, out_dir / names[k])
            tiles.append(export.grid_tile_jpeg(jpeg))
        else:
            export.save_jpeg(im, out_dir / names[k])
            tiles.append(export.grid_tile(im))
    # Remove keyframes of an earlier run with other settings.
    for old in kdir.glob("*.jpg"):
        if f"keyframes/{old.name}" not in names.values():
            old.unlink()
    grid = export.grid_image(tiles, labels)
    export.save_image(grid, out_dir / "keyframes.png", compress_level=export.FAST_PNG)

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
    texts: list[str] = []
    for s, d in zip(seg.segments, data["segments"], strict=True):
        for kf in d["keyframes"]:
            kf["source_frame"] = int(ev.indices[kf["frame"]])
            kf["image"] = names[kf["frame"]]
        if s.index in clip_names:
            d["clip"] = clip_names[s.index]
        if subtitles is not None:
            d["subtitles"] = subtitles.text_between(s.start_s, s.end_s)
            texts.append(d["subtitles"])
    doc = {
        "video": ev.ref.name,
        "path": str(ev.ref.path),
        "sha256": ev.ref.sha256,
        "duration_s": ev.ref.probe.duration_s,
        "fps": ev.ref.probe.fps,
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
    if source is not None and getattr(source, "url", None):
        doc["url"] = source.url
        doc["key_kind"] = source.key_kind
    if subtitles is not None:
        doc["subtitles_file"] = subtitles.path.name if subtitles.path else None
        if keywords:
            doc["keywords"] = keyword_hits(subtitles, keywords, seg)
            if keywords_as:
                doc["keywords_as"] = keywords_as
    write_exports(out_dir, doc, exports, ev, texts or None)
    return doc


def keyword_hits(subtitles: Any, keywords: Sequence[str], seg: Any) -> list[dict[str, Any]]:
    """The spans where each keyword is said, with the segments they overlap."""
    out = []
    for span in subtitles.keyword_spans(keywords):
        d = span.to_dict()
        d["segments"] = [
            s.index for s in seg.segments if s.end_s > span.start_s and s.start_s < span.end_s
        ]
        out.append(d)
    return out


def write_exports(
    out_dir: Path,
    doc: dict[str, Any],
    exports: Sequence[str],
    ev: Any,
    texts: list[str] | None = None,
) -> list[Path]:
    """The export files named in `exports` (see `editors.FORMATS`) from a segments document."""
    written = []
    fps = float(ev.ref.probe.fps or 0)
    for fmt in exports:
        path = out_dir / editors.FORMATS[fmt][0]
        if fmt == "json":
            export.write_json(path, doc)
        elif fmt == "csv":
            export.write_csv(path, segment_rows(doc))
        elif fmt == "keyframes":
            export.write_csv(path, editors.keyframe_rows(doc, fps))
        else:
            text = editors.export_text(
                fmt, editors.spans_of(doc), fps, ev.ref.name, ev.ref.path, texts
            )
            with export.atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        written.append(path)
    return written
