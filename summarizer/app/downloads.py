"""The bytes behind download buttons (JSON, CSV, keyframe/clip ZIPs, the poster), in memory.

Downloads never contain server paths: the JSON documents go through
`privacy.without_paths` (the CLI's own output folders keep them: there the user owns them).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from summarizer.app.frames import decode_frames
from summarizer.app.privacy import without_paths
from summarizer.summary.filtered import FilteredSummary, summary_document


def zip_bytes(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A ZIP archive (stored, not deflated: JPEGs do not shrink) of (name, bytes) pairs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


#: The Seams page's editor downloads: what -> (file name suffix, MIME type), the text made by
#: `summarizer.outputs.editors` (EDL, OTIO, FCP XML) or its keyframe list.
EDITOR_FILES = {
    "edl": ("segments.edl", "text/plain"),
    "otio": ("segments.otio", "application/json"),
    "fcpxml": ("segments.xml", "application/xml"),
    "keyframe_list": ("keyframes.csv", "text/csv"),
}


def segment_downloads(
    ev: Any,
    seg: Any,
    sample: Any,
    embed: Any,
    what: str,
    subtitles: Any = None,
    keywords: Sequence[str] = (),
) -> bytes:
    """The bytes of one seams download, made like the CLI's ``seams`` output folder.

    what: "json" (segments.json), "csv" (segments.csv), "keyframes" (ZIP of full-resolution
    keyframe JPEGs + the grid PNG), "clips" (ZIP of one MP4 per segment, stream copy),
    "keyframe_list" (keyframes.csv: one row per keyframe with its source frame number), or
    an editor timeline: "edl" (CMX 3600), "otio" (OpenTimelineIO), "fcpxml" (Final Cut Pro
    XML). subtitles / keywords: the text said per segment and the keyword spans, as in the
    CLI's files. Editor timelines name the video by its file name, never its server path.
    """
    from summarizer.outputs import editors
    from summarizer.outputs.seams import write_outputs

    if what in ("edl", "otio", "fcpxml"):
        texts = (
            [subtitles.text_between(a, b) for a, b in editors.spans_of(seg)] if subtitles else None
        )
        fps = float(ev.ref.probe.fps or 0)
        return editors.export_text(
            what, editors.spans_of(seg), fps, ev.ref.name, None, texts
        ).encode()
    with tempfile.TemporaryDirectory(prefix="atlas-dl-") as tmp:
        out = Path(tmp)
        write_outputs(
            out,
            ev,
            seg,
            sample,
            embed,
            seg.settings,
            clips=what == "clips",
            thumbnails_only=what in ("json", "csv", "keyframe_list"),
            exports=("json", "csv", "keyframes"),
            subtitles=subtitles,
            keywords=tuple(keywords),
        )
        doc = _public_json(out / "segments.json")
        if what == "json":
            return doc
        if what == "csv":
            return (out / "segments.csv").read_bytes()
        if what == "keyframe_list":
            return (out / "keyframes.csv").read_bytes()
        folder = "clips" if what == "clips" else "keyframes"
        files = [(f"{folder}/{p.name}", p.read_bytes()) for p in sorted((out / folder).iterdir())]
        if what == "keyframes":
            files.append(("keyframes.png", (out / "keyframes.png").read_bytes()))
            files.append(("keyframes.csv", (out / "keyframes.csv").read_bytes()))
            files.append(("segments.json", doc))
        return zip_bytes(files)


def _public_json(path: Path) -> bytes:
    """A JSON output file without its server paths."""
    import json

    from summarizer.outputs import files as export

    return export.to_json(without_paths(json.loads(path.read_text()))).encode()


def summary_downloads(ev: Any, fs: FilteredSummary, what: str) -> bytes:
    """One summary download: "json", "csv" or "zip" (full-resolution picks + grid + JSON)."""
    from summarizer.outputs import files as export

    names = [f"picks/{j:03d}_{export.time_name(ev.times_s[p])}.jpg" for j, p in enumerate(fs.picks)]
    doc = without_paths(summary_document(ev, fs, names))
    if what == "json":
        return export.to_json(doc).encode()
    if what == "csv":
        rows = [
            {
                k: p[k]
                for k in ("time_s", "cluster", "cluster_size", "score", "source_frame", "image")
            }
            for p in doc["picks"]
        ]
        return export.csv_text(rows).encode()
    images = list(decode_frames(ev, fs.picks, None)) if len(fs.picks) else []
    files = [(n, export.jpeg_bytes(im, 92)) for n, im in zip(names, images, strict=True)]
    grid = export.grid_image(images, [export.time_label(ev.times_s[p]) for p in fs.picks])
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    files += [("summary.png", buf.getvalue()), ("summary.json", export.to_json(doc).encode())]
    return zip_bytes(files)


def render_poster_bytes(
    videos: Sequence[Any], lmap: Any, settings: Any, fmt: str = "png"
) -> tuple[bytes, dict]:
    """Render the poster of a map into memory: (PNG or PDF bytes, layout dict)."""
    import json

    from summarizer.poster.render import PosterFrames, render_poster

    frames = PosterFrames.from_embedded(list(videos), lmap.coords)
    with tempfile.TemporaryDirectory(prefix="atlas-poster-") as tmp:
        res = render_poster(frames, settings, Path(tmp) / f"poster.{fmt}")
        return res.path.read_bytes(), json.loads(res.layout_path.read_text())
