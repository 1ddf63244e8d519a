"""Subtitle keywords acting on the result: extra segment boundaries (2-15 s kept where
possible, keyframes picked again), a filter on segments and frames, or only a list; through
the library on arrays and through the CLI on a real video with a sidecar .srt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from summarizer.cli.main import main
from summarizer.errors import SettingsError
from summarizer.scenes.forced import split_at
from summarizer.scenes.seams import SeamSettings
from summarizer.scenes.segments import segment_frames
from summarizer.sources.keywords import (
    KeywordSettings,
    frames_in_spans,
    keyword_cuts,
    keyword_settings,
    merged_spans,
    mode_for,
    span_mask,
)
from summarizer.synth import Shot

FPS = 10.0


def _frames(seconds: float = 30.0, cut_s: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Sampled at 2/s: one picture until `cut_s`, another after it."""
    rng = np.random.default_rng(0)
    t = np.arange(0, seconds, 0.5)
    e = np.zeros((len(t), 16))
    e[:, 0] = 1
    e[t >= cut_s, 1] = 3
    e += 0.01 * rng.standard_normal(e.shape)
    return e / np.linalg.norm(e, axis=1, keepdims=True), t


SETTINGS = SeamSettings(threshold="fixed", fixed=0.5, surveyor=False)


def _bounds(seg) -> list[tuple[float, float]]:
    return [(round(s.start_s, 3), round(s.end_s, 3)) for s in seg.segments]


@pytest.fixture(scope="module")
def arrays():
    e, t = _frames()
    seg = segment_frames(e, t, SETTINGS)
    assert _bounds(seg) == [(0.0, 11.75), (11.75, 23.25), (23.25, 30.0)]  # cut + max 15 s
    return e, t, seg


def test_forced_cuts_are_kept_and_keyframes_picked_again(arrays):
    e, t, seg = arrays
    new = split_at(e, t, seg, [5.0, 7.0])
    assert _bounds(new) == [(0, 5), (5, 7), (7, 11.75), (11.75, 23.25), (23.25, 30)]
    assert [s.index for s in new.segments] == list(range(5))
    for s in new.segments:  # every segment has its own keyframes, inside it
        assert s.keyframes and all(s.start_s <= x < s.end_s for x in s.keyframe_times_s)
        assert [t[k] for k in s.keyframes] == list(s.keyframe_times_s)
    assert np.array_equal(new.seams_s, seg.seams_s) and new.settings == seg.settings
    assert split_at(e, t, seg, [11.75, 40.0]) is seg  # nothing new: unchanged


def test_a_piece_left_too_short_merges_across_its_other_boundary(arrays):
    e, t, seg = arrays
    # 13.0 leaves [11.75, 13.0): 1.25 s, under min_segment_s: the cut at 11.75 goes.
    new = split_at(e, t, seg, [5.2, 13.0])
    assert _bounds(new) == [(0, 5.2), (5.2, 13.0), (13.0, 23.25), (23.25, 30)]
    # Two forced cuts 1 s apart stay (they are the keyword's); their neighbours are fine.
    new = split_at(e, t, seg, [20.0, 21.0])
    assert (20.0, 21.0) in _bounds(new) and (11.75, 20.0) in _bounds(new)


def test_long_pieces_are_still_split(arrays):
    e, t, _ = arrays
    seg = segment_frames(e, t, SeamSettings(threshold="fixed", fixed=5.0, max_segment_s=None))
    assert len(seg.segments) == 1  # nothing cuts the 30 s
    capped = SeamSettings(threshold="fixed", fixed=5.0, max_segment_s=15.0)
    import dataclasses

    new = split_at(e, t, dataclasses.replace(seg, settings=capped), [2.0])
    durations = [s.duration_s for s in new.segments]
    assert new.segments[1].start_s == 2.0 and max(durations) <= 15.0
    assert min(durations) >= 2.0 and sum(durations) == pytest.approx(30.0)


def test_spans_are_widened_joined_and_clipped():
    assert merged_spans([(6.0, 7.5)], 0, 16, min_s=2.0) == [(5.75, 7.75)]
    assert merged_spans([(6.0, 7.5), (8.5, 9.0)], 0, 16, 2.0) == [(5.75, 9.75)]  # gap < 2 s
    assert merged_spans([(0.1, 0.5)], 0, 16, 2.0) == [(0.0, 2.0)]  # clipped, still 2 s
    assert merged_spans([(6.0, 7.0)], 0, 16, 0.0, pad_s=0.5) == [(5.5, 7.5)]
    # A short span inside a long one, widened past its start: the union of both.
    assert merged_spans([(5.0, 10.0), (5.1, 5.2)], 0, 16, 2.0) == [(4.15, 10.0)]


def test_span_edges_snap_outward_to_boundaries_near_them(arrays):
    e, t, seg = arrays
    # [10.5, 13.5]: both edges within 2 s of the cut at 11.75? Start snaps back to nothing
    # (11.75 is after it), end 13.5 has no boundary in [13.5, 15.5): two new cuts.
    assert keyword_cuts(seg, [(10.5, 13.5)]) == [10.5, 13.5]
    # [12.5, 14.5]: its start moves back onto the shot cut at 11.75 (exact, unlike subtitles).
    assert keyword_cuts(seg, [(12.5, 14.5)]) == [11.75, 14.5]
    # On the frame grid of a 25 fps video.
    assert keyword_cuts(seg, [(5.01, 7.03)], fps=25.0) == [5.0, 7.04]


def test_frames_in_spans_and_settings(arrays):
    e, t, _ = arrays
    assert span_mask(t, [(1.0, 2.0)]).nonzero()[0].tolist() == [2, 3]
    assert span_mask(t, [(1.0, 2.0)], pad_s=0.5).nonzero()[0].tolist() == [1, 2, 3, 4]

    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Frames:  # the arrays of an EmbeddedVideo that frames_in_spans reads
        times_s: np.ndarray
        indices: np.ndarray
        embeddings: np.ndarray
        thumbnails: np.ndarray

    ev = Frames(t, (t * FPS).astype(int), e, np.zeros((len(t), 4, 4, 3), np.uint8))
    sub = frames_in_spans(ev, [(1.0, 2.0), (10.0, 10.5)])
    assert sub.times_s.tolist() == [1.0, 1.5, 10.0] and sub.indices.tolist() == [10, 15, 100]
    assert len(sub.embeddings) == len(sub.thumbnails) == 3
    assert frames_in_spans(ev, [(100.0, 101.0)]) is None

    assert KeywordSettings().mode == "auto" and KeywordSettings(words="cat, dog").words == (
        "cat",
        "dog",
    )
    assert mode_for(KeywordSettings(), segments=True) == "boundaries"
    assert mode_for(KeywordSettings(), segments=False) == "filter"
    assert mode_for(KeywordSettings(mode="boundaries"), segments=False) == "list"
    cfg = {"keywords": {"words": ["bird"], "mode": "list", "pad_s": 0.5}}
    assert keyword_settings(cfg) == KeywordSettings(("bird",), "list", 0.5)
    assert keyword_settings(cfg, "cat", "filter").words == ("cat",)
    with pytest.raises(SettingsError, match="mode must be one of"):
        KeywordSettings(mode="cut")
    with pytest.raises(SettingsError, match="pad_s must be >= 0"):
        keyword_settings({"keywords": {"pad_s": -1.0}})


def test_the_settings_have_a_keywords_section():
    from summarizer import Settings
    from summarizer.config import default

    assert default("keywords", "mode") == "auto"
    assert Settings.from_dict({"keywords": {"words": ["x"]}}).keywords.words == ("x",)


# ------------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def talk(synth_video, tmp_path_factory) -> Path:
    shots = [Shot("static", 3, 1), Shot("pan", 10, 2), Shot("static", 3, 3)]
    shared = synth_video(shots, fps=FPS, size=(160, 120), name="talk.mp4")[0]
    d = tmp_path_factory.mktemp("talk")
    (d / "talk.mp4").write_bytes(shared.read_bytes())
    (d / "talk.srt").write_text("1\n00:00:06,000 --> 00:00:07,500\nThe dog runs.\n")
    return d / "talk.mp4"


def _run(command: str, video: Path, out: Path, *extra: str) -> dict:
    store = out.parent / "store"
    rc = main([command, str(video), "--out", str(out), "--store", str(store),
               "--embedder", "pixels", "-q", "--keywords", "dog", *extra])  # fmt: skip
    assert rc == 0
    name = {"seams": "segments.json", "summary": "summary.json", "sample": "sampled.json"}
    return json.loads((out / video.stem / name[command]).read_text())


def test_seams_keyword_boundaries_filter_and_list(talk, tmp_path):
    otio = pytest.importorskip("opentimelineio")
    listed = _run("seams", talk, tmp_path / "l", "--keywords-as", "list")
    spans = [(s["start_s"], s["end_s"]) for s in listed["segments"]]
    assert spans == [(0.0, 3.0), (3.0, 13.0), (13.0, 16.0)]  # the shots
    assert listed["keywords"][0]["segments"] == [1] and listed["keywords_as"] == "list"

    cut = _run("seams", talk, tmp_path / "b", "--export", "json,edl")  # boundaries: default
    spans = [(s["start_s"], s["end_s"]) for s in cut["segments"]]
    # The 1.5 s span (6.0-7.5) widened to 2 s around its middle, on the 10 fps frame grid.
    assert spans == [(0.0, 3.0), (3.0, 5.8), (5.8, 7.8), (7.8, 13.0), (13.0, 16.0)]
    assert cut["keywords_as"] == "boundaries" and cut["keywords"][0]["segments"] == [2]
    assert cut["segments"][2]["subtitles"] == "The dog runs."
    for s in cut["segments"]:
        assert s["keyframes"] and all(
            s["start_s"] <= k["time_s"] < s["end_s"] for k in s["keyframes"]
        )
    edl = otio.adapters.read_from_file(str(tmp_path / "b" / "talk" / "segments.edl"), rate=30)
    frames = [(round(c.source_range.start_time.to_seconds() * FPS),
               round(c.source_range.duration.to_seconds() * FPS)) for c in edl.find_clips()]  # fmt: skip
    assert frames == [(round(a * FPS), round((b - a) * FPS)) for a, b in spans]

    kept = _run("seams", talk, tmp_path / "f", "--keywords-as", "filter")
    assert [(s["index"], s["start_s"], s["end_s"]) for s in kept["segments"]] == [(0, 5.8, 7.8)]
    images = sorted(p.name for p in (tmp_path / "f" / "talk" / "keyframes").iterdir())
    assert len(images) == len(kept["segments"][0]["keyframes"]) and images[0].startswith("seg000")


def test_summary_picks_only_where_a_keyword_is_said(talk, tmp_path, capsys):
    doc = _run("summary", talk, tmp_path / "f")
    assert doc["keywords_as"] == "filter" and doc["keyword_frames"] == 3  # 6.0, 6.5, 7.0
    assert doc["picks"] and all(6.0 <= p["time_s"] < 7.5 for p in doc["picks"])
    for p in doc["picks"]:  # index: among all sampled frames (2/s), source frame at 10 fps
        assert p["index"] == round(p["time_s"] * 2) and p["source_frame"] == round(
            p["time_s"] * FPS
        )
    listed = _run("summary", talk, tmp_path / "l", "--keywords-as", "list")
    assert listed["keywords"][0]["text"] == "The dog runs." and "keyword_frames" not in listed
    assert any(not 6.0 <= p["time_s"] < 7.5 for p in listed["picks"])
    rc = main(["summary", str(talk), "--out", str(tmp_path / "x"), "--keywords", "dog",
               "--keywords-as", "boundaries", "--embedder", "pixels", "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "needs segments" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_sample_lists_or_filters_and_yaml_gives_the_words(talk, tmp_path):
    listed = _run("sample", talk, tmp_path / "l", "--keywords-as", "list", "--buffer",
                  "passthrough")  # fmt: skip
    assert len(listed["kept"]) == 32 and listed["keywords_as"] == "list"  # 16 s at 2/s
    cfg = tmp_path / "kw.yaml"
    cfg.write_text("keywords:\n  words: [dog]\n  pad_s: 0.5\n")
    rc = main(["sample", str(talk), "--out", str(tmp_path / "y"), "--config", str(cfg),
               "--buffer", "passthrough", "-q"])  # fmt: skip
    assert rc == 0
    doc = json.loads((tmp_path / "y" / "talk" / "sampled.json").read_text())
    assert [k["time_s"] for k in doc["kept"]] == [5.5, 6.0, 6.5, 7.0, 7.5]  # padded by 0.5 s
    assert doc["keywords_as"] == "filter" and doc["dropped"]["keyword"] == 27


def test_the_library_cuts_at_keywords_from_a_sidecar(talk, tmp_path):
    from summarizer import Settings, summarize
    from summarizer.store import Store

    base = {"embed": {"embedder": "pixels"}}
    store = Store(tmp_path / "s")
    plain = summarize(talk, Settings.from_dict(base), store)
    cut = summarize(talk, Settings.from_dict({**base, "keywords": {"words": ["dog"]}}), store)
    kept = summarize(
        talk, Settings.from_dict({**base, "keywords": {"words": ["dog"], "mode": "filter"}}), store
    )
    starts = [round(s.start_s, 3) for s in cut.segmentation.segments]
    assert len(plain.segmentation.segments) == 3 and starts == [0.0, 3.0, 5.8, 7.8, 13.0]
    assert [(s.start_s, s.end_s) for s in kept.segmentation.segments] == [(5.8, 7.8)]


def test_a_filter_that_keeps_no_segment_still_writes_readable_files(talk, tmp_path, capsys):
    otio = pytest.importorskip("opentimelineio")
    rc = main(["seams", str(talk), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"),
               "--embedder", "pixels", "-q", "--keywords", "elephant", "--keywords-as", "filter",
               "--export", "json,csv,keyframes,edl,otio,fcpxml"])  # fmt: skip
    assert rc == 0 and "no keyword is said: no segment kept" in capsys.readouterr().err
    folder = tmp_path / "o" / "talk"
    assert json.loads((folder / "segments.json").read_text())["segments"] == []
    for name in ("segments.edl", "segments.otio", "segments.xml"):
        assert otio.adapters.read_from_file(str(folder / name)).find_clips() == []
