"""Segments as files editors open: CMX 3600 EDL, OpenTimelineIO, Final Cut Pro XML, and the
keyframe list with source frame numbers.

One timeline is built with `opentimelineio` (one clip per segment, back to back, each
pointing at its span of the source video) and written by OTIO's adapters: ``otio_json``
(core), ``cmx_3600`` (``otio-cmx3600-adapter``) and ``fcp_xml`` (``otio-fcp-adapter``), so
the files are what OTIO itself reads back. Times are snapped to the video's frame grid:
a segment [start_s, end_s) covers source frames round(start_s * fps) .. round(end_s * fps) - 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from summarizer.errors import AtlasError, SettingsError

#: Export name -> (file name in the output folder, what it is).
FORMATS: dict[str, tuple[str, str]] = {
    "json": ("segments.json", "segments, keyframes, curve and settings"),
    "csv": ("segments.csv", "one row per segment"),
    "keyframes": ("keyframes.csv", "one row per keyframe with its source frame number"),
    "edl": ("segments.edl", "CMX 3600 edit decision list"),
    "otio": ("segments.otio", "OpenTimelineIO timeline"),
    "fcpxml": ("segments.xml", "Final Cut Pro 7 XML (via OTIO's fcp_xml adapter)"),
}
ADAPTERS = {"edl": "cmx_3600", "otio": "otio_json", "fcpxml": "fcp_xml"}
PACKAGES = {"cmx_3600": "otio-cmx3600-adapter", "fcp_xml": "otio-fcp-adapter"}


def parse_exports(value: str | Sequence[str]) -> tuple[str, ...]:
    """'edl,otio,csv' -> ('edl', 'otio', 'csv'), refusing unknown names with one line."""
    names = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in out if n not in FORMATS]
    if unknown:
        raise SettingsError(
            f"unknown export format(s): {', '.join(unknown)} (known: {', '.join(FORMATS)})"
        )
    if not out:
        raise SettingsError(f"--export needs at least one of: {', '.join(FORMATS)}")
    return out


def spans_of(segmentation: Any) -> list[tuple[float, float]]:
    """(start_s, end_s) of each segment of a `Segmentation` (or of a segments.json dict)."""
    if isinstance(segmentation, Mapping):
        return [(float(s["start_s"]), float(s["end_s"])) for s in segmentation["segments"]]
    return [(float(s.start_s), float(s.end_s)) for s in segmentation.segments]


def frame_spans(spans: Sequence[tuple[float, float]], fps: float) -> list[tuple[int, int]]:
    """Segments as (first source frame, frame count) on the video's frame grid."""
    if not fps or fps <= 0:
        raise SettingsError(f"editor exports need the video's frame rate, got {fps}")
    out = []
    for a, b in spans:
        first, stop = round(a * fps), round(b * fps)
        if stop > first:
            out.append((first, stop - first))
    return out


def _reel(name: str) -> str:
    """A CMX 3600 reel name: 8 characters of A-Z, 0-9 and _."""
    reel = re.sub(r"[^A-Z0-9_]", "_", Path(name).stem.upper())[:8].strip("_")
    return reel or "AX"


def timecode_rate(fps: float) -> float:
    """A rate SMPTE timecode (and so EDL) supports for a video at `fps`: `fps` itself, the
    NTSC rate it rounds to, a multiple of it (10 -> 30, 12.5 -> 25: cuts stay on the
    video's frames), else the nearest."""
    import opentimelineio as otio

    valid = otio.opentime.RationalTime.is_valid_timecode_rate
    for ntsc in (24000 / 1001, 30000 / 1001, 60000 / 1001):
        if abs(fps - ntsc) < 0.01 and valid(ntsc):
            return ntsc
    if valid(fps):
        return float(fps)
    rates = [r for r in (24, 25, 30, 48, 50, 60) if valid(r)]
    multiples = [r for r in rates if abs(r / fps - round(r / fps)) < 1e-6]
    return float(multiples[0] if multiples else min(rates, key=lambda r: abs(r - fps)))


def timeline(
    spans: Sequence[tuple[float, float]],
    fps: float,
    name: str,
    path: str | Path | None = None,
    texts: Sequence[str] | None = None,
    rate: float | None = None,
) -> Any:
    """An OTIO timeline: one clip per segment, back to back, each referencing its span of the
    source (`path`, as a file URL). `texts` (e.g. subtitle text per segment) go into each
    clip's metadata. `rate`: the timeline's rate (default `fps`); cuts are snapped to the
    video's frames first, then expressed at `rate`."""
    import opentimelineio as otio

    scale = (rate or fps) / fps
    rate = float(rate or fps)
    tl = otio.schema.Timeline(name=Path(name).stem or "segments")
    tl.global_start_time = otio.opentime.RationalTime(0, rate)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    url = Path(path).resolve().as_uri() if path else name
    frames = frame_spans(spans, fps)
    total = max((first + count for first, count in frames), default=0)
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(round(total * scale), rate)
    )
    for i, (first, count) in enumerate(frames):
        ref = otio.schema.ExternalReference(target_url=url, available_range=available)
        clip = otio.schema.Clip(
            name=f"{Path(name).stem} seg{i:03d}",
            media_reference=ref,
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(round(first * scale), rate),
                otio.opentime.RationalTime(round(count * scale), rate),
            ),
        )
        clip.metadata["keyframe_atlas"] = {"segment": i}
        clip.metadata["cmx_3600"] = {"reel": _reel(name)}
        if texts is not None and i < len(texts) and texts[i]:
            clip.metadata["keyframe_atlas"]["subtitles"] = texts[i]
        track.append(clip)
    return tl


def _write(tl: Any, adapter: str) -> str:
    import opentimelineio as otio

    try:
        return otio.adapters.write_to_string(tl, adapter)
    except otio.exceptions.NotSupportedError:
        raise AtlasError(
            f"writing {adapter} needs the OTIO adapter package: pip install {PACKAGES[adapter]}"
        ) from None


def to_otio(spans, fps: float, name: str, path=None, texts=None) -> str:
    """The segments as an OpenTimelineIO ``.otio`` (JSON) document."""
    return _write(timeline(spans, fps, name, path, texts), "otio_json")


def to_edl(spans, fps: float, name: str, path=None) -> str:
    """The segments as a CMX 3600 EDL: one event per segment, source in/out = the segment,
    at a timecode rate (`timecode_rate`)."""
    if not frame_spans(spans, fps):  # no events (e.g. a keyword filter kept none)
        return f"TITLE: {Path(name).stem or 'segments'}\n\n"
    return _write(timeline(spans, fps, name, path, rate=timecode_rate(fps)), "cmx_3600")


def to_fcp_xml(spans, fps: float, name: str, path=None) -> str:
    """The segments as Final Cut Pro 7 XML (``xmeml``), via OTIO's ``fcp_xml`` adapter."""
    return _write(timeline(spans, fps, name, path, rate=timecode_rate(fps)), "fcp_xml")


def export_text(fmt: str, spans, fps: float, name: str, path=None, texts=None) -> str:
    """The text of editor export `fmt` ("edl", "otio", "fcpxml")."""
    if fmt == "edl":
        return to_edl(spans, fps, name, path)
    if fmt == "otio":
        return to_otio(spans, fps, name, path, texts)
    if fmt == "fcpxml":
        return to_fcp_xml(spans, fps, name, path)
    raise SettingsError(f"no editor export named {fmt!r}")


def timecode(seconds: float, fps: float) -> str:
    """SMPTE-style HH:MM:SS:FF of `seconds` (non-drop frame, at the rounded rate)."""
    rate = max(1, round(fps))
    frames = round(max(0.0, seconds) * fps)
    ff = frames % rate
    s = frames // rate
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}"


def keyframe_rows(doc: Mapping[str, Any], fps: float) -> list[dict[str, Any]]:
    """The keyframe list (one row per keyframe: segment, time, source frame number, timecode,
    image) from a segments.json document."""
    rows = []
    for seg in doc["segments"]:
        for kf in seg["keyframes"]:
            rows.append(
                {
                    "segment": seg["index"],
                    "time_s": kf["time_s"],
                    "source_frame": kf.get("source_frame", ""),
                    "timecode": timecode(kf["time_s"], fps) if fps else "",
                    "image": kf.get("image", ""),
                }
            )
    return rows
