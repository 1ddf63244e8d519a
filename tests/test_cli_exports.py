"""``seams --export``: EDL, OTIO and FCP XML read back with opentimelineio cut where the
segments do; the keyframe list holds source frame numbers; subtitles and keywords reach
the outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from summarizer.cli.main import main
from summarizer.outputs import editors
from summarizer.synth import Shot

otio = pytest.importorskip("opentimelineio")

FPS = 10.0


@pytest.fixture(scope="module")
def video(synth_video, tmp_path_factory) -> Path:
    shots = [Shot("static", 3, 1), Shot("pan", 4, 2), Shot("motion", 3, 3)]
    shared = synth_video(shots, fps=FPS, size=(160, 120), name="three.mp4")[0]
    d = tmp_path_factory.mktemp("exports")  # its own folder: the sidecar below is ours
    path = d / "three.mp4"
    path.write_bytes(shared.read_bytes())
    (d / "three.srt").write_text(
        "1\n00:00:00,500 --> 00:00:02,000\nHello cat.\n\n"
        "2\n00:00:04,000 --> 00:00:05,000\nA dog on the move.\n"
    )
    return path


@pytest.fixture(scope="module")
def outputs(video, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("o")
    rc = main(["seams", str(video), "--out", str(out), "--store", str(out / "store"),
               "--embedder", "pixels", "-q", "--export", "json,csv,keyframes,edl,otio,fcpxml",
               "--keywords", "cat,dog"])  # fmt: skip
    assert rc == 0
    return out / "three"


def _cuts(timeline, fps: float = FPS) -> list[tuple[int, int]]:
    """(source first frame, frame count) at the video's rate of every clip of a timeline."""
    r = [c.source_range for c in timeline.find_clips()]
    return [
        (round(x.start_time.to_seconds() * fps), round(x.duration.to_seconds() * fps)) for x in r
    ]


def test_edl_otio_and_fcp_xml_cut_where_the_segments_do(outputs):
    doc = json.loads((outputs / "segments.json").read_text())
    spans = [(s["start_s"], s["end_s"]) for s in doc["segments"]]
    assert len(spans) == 3
    expected = [(round(a * FPS), round(b * FPS) - round(a * FPS)) for a, b in spans]
    # Segments tile the video: each starts on the frame the previous one ended on.
    assert all(expected[i][0] + expected[i][1] == expected[i + 1][0] for i in range(2))
    edl = otio.adapters.read_from_file(str(outputs / "segments.edl"), rate=30)
    assert _cuts(edl) == expected
    timeline = otio.adapters.read_from_file(str(outputs / "segments.otio"))
    assert _cuts(timeline) == expected
    refs = {c.media_reference.target_url for c in timeline.find_clips()}
    assert refs == {Path(doc["path"]).as_uri()}
    assert timeline.find_clips()[0].metadata["keyframe_atlas"]["subtitles"] == "Hello cat."
    fcp = otio.adapters.read_from_file(str(outputs / "segments.xml"))
    assert _cuts(fcp) == expected


def test_keyframe_list_has_source_frame_numbers(outputs):
    doc = json.loads((outputs / "segments.json").read_text())
    rows = list(csv.DictReader((outputs / "keyframes.csv").open()))
    kfs = [k for s in doc["segments"] for k in s["keyframes"]]
    assert len(rows) == len(kfs) > 0
    for row, kf in zip(rows, kfs, strict=True):
        assert int(row["source_frame"]) == kf["source_frame"] == round(kf["time_s"] * FPS)
        assert row["timecode"] == editors.timecode(kf["time_s"], FPS)
        assert (outputs / row["image"]).is_file()


def test_subtitle_text_per_segment_and_keyword_spans(outputs):
    doc = json.loads((outputs / "segments.json").read_text())
    assert doc["subtitles_file"] == "three.srt"
    assert doc["segments"][0]["subtitles"] == "Hello cat."
    assert "dog" in doc["segments"][1]["subtitles"]
    hits = [(k["keyword"], k["start_s"], k["segments"]) for k in doc["keywords"]]
    assert hits == [("cat", 0.5, [0]), ("dog", 4.0, [1])]
    rows = list(csv.DictReader((outputs / "segments.csv").open()))
    assert rows[0]["subtitles"] == "Hello cat."


def test_unknown_export_is_one_line_before_any_work(video, tmp_path, capsys):
    rc = main(["seams", str(video), "--out", str(tmp_path / "o"), "--export", "edl,avi", "-q",
               "--embedder", "pixels", "--store", str(tmp_path / "s")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "unknown export format(s): avi" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


def test_editor_functions_for_the_app():
    spans = [(0.0, 1.0), (1.0, 2.5)]
    text = editors.to_edl(spans, 25.0, "my clip.mp4")
    assert "TITLE:" in text and text.count("\n001 ") == 1 and "\n002 " in text
    tl = otio.adapters.read_from_string(editors.to_otio(spans, 25.0, "my clip.mp4"), "otio_json")
    assert _cuts(tl, 25.0) == [(0, 25), (25, 37)]
    assert editors.timecode_rate(10) == 30 and editors.timecode_rate(29.97) == 30000 / 1001
    assert editors.parse_exports("EDL, otio") == ("edl", "otio")
