"""Frame-accurate seams (`summarizer.scenes.refine`) and single-frame segmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from summarizer.cli.main import main
from summarizer.config import EmbedSettings, SampleSettings
from summarizer.decode import read_frames
from summarizer.errors import InputError
from summarizer.flow import embed_video, open_video
from summarizer.scenes.refine import cut_in_run, locate_cut, refine_segmentation
from summarizer.scenes.seams import SeamSettings
from summarizer.scenes.segments import segment_frames, segment_video
from summarizer.store import Store
from summarizer.synth import Shot, make_video, render_shots

FPS = 25.0
FRAME = 1.0 / FPS
# Cuts on source frames but off the 2 fps sampling grid: 3.24, 7.36, 11.04 s.
SHOTS = [
    Shot("static", 3.24, seed=701),
    Shot("pan", 4.12, seed=702),
    Shot("motion", 3.68, seed=703),
    Shot("static", 3.2, seed=704),
]
SAMPLE = SampleSettings()  # 2 fps
EMBED = EmbedSettings(embedder="pixels")
# Refinement is about seams found between two samples: the successor detector's.
SUCCESSOR = SeamSettings(detector="successor")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refine")
    path = folder / "cuts.mp4"
    cuts = make_video(path, SHOTS, fps=FPS, size=(160, 120))
    return path, np.array(cuts)


@pytest.fixture(scope="module")
def embedded(video, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    ref = open_video(video[0], store, SAMPLE)
    return embed_video(ref, SAMPLE, EMBED, store)


def frames(values) -> np.ndarray:
    """uint8 (m, 4, 4, 3) frames of constant grey levels."""
    v = np.asarray(values, dtype=np.float64)
    return np.broadcast_to(v[:, None, None, None], (len(v), 4, 4, 3)).round().astype(np.uint8)


# --------------------------------------------------------------------------- pure core


def test_hard_cut_is_the_largest_step():
    run = frames([10, 12, 11, 13, 200, 202, 201])
    assert locate_cut(run) == (4, True)
    assert cut_in_run(frames([10, 200])) == 1


def test_dissolve_is_cut_at_its_midpoint():
    # A linear dissolve from 0 to 240 over 9 frames: every step is the same size.
    run = frames(np.linspace(0, 240, 9))
    k, hard = locate_cut(run)
    assert not hard and k in (4, 5)


def test_core_rejects_bad_input():
    with pytest.raises(InputError):
        cut_in_run(frames([10]))
    with pytest.raises(InputError):
        cut_in_run(np.zeros((3, 4, 4), np.uint8))


# --------------------------------------------------------------------------- on a video


def test_refined_seams_are_within_one_frame(video, embedded):
    path, cuts = video
    seg = segment_video(embedded, SUCCESSOR)
    assert len(seg.seams_s) == len(cuts)
    before = np.abs(np.sort(seg.seams_s) - cuts)
    assert before.max() > 2 * FRAME  # the sampled seams are off by several frames
    fine = refine_segmentation(path, embedded, seg)
    assert fine.refined and not seg.refined
    assert len(fine.seams_s) == len(seg.seams_s)  # refinement never adds or drops seams
    np.testing.assert_allclose(np.sort(fine.seams_s), cuts, atol=FRAME + 1e-6)
    # The segment boundaries moved with them; frames and keyframes stay in their segments.
    assert len(fine.segments) == len(seg.segments)
    np.testing.assert_allclose(fine.boundaries_s, cuts, atol=FRAME + 1e-6)
    t = embedded.times_s
    for old, new in zip(seg.segments, fine.segments, strict=True):
        assert (old.first, old.stop, old.keyframes) == (new.first, new.stop, new.keyframes)
        assert new.start_s <= t[new.first] and t[new.stop - 1] < new.end_s
        for k in new.keyframes:
            assert new.start_s <= t[k] < new.end_s
    assert fine.segments[0].start_s == seg.segments[0].start_s
    assert fine.segments[-1].end_s == seg.segments[-1].end_s
    # Refining twice changes nothing.
    assert refine_segmentation(path, embedded, fine) is fine


def test_full_rate_seams_are_exact_before_refining(video, embedded):
    path, cuts = video
    seg = segment_video(embedded)  # the default detector reads every frame
    assert seg.exact_seams and not seg.refined
    # (cuts are within a frame: synth's float times put one new frame a frame later)
    np.testing.assert_allclose(np.sort(seg.seams_s), cuts, atol=FRAME + 1e-6)
    fine = refine_segmentation(path, embedded, seg)
    assert fine.refined
    np.testing.assert_array_equal(fine.seams_s, seg.seams_s)  # nothing left to move
    np.testing.assert_allclose(fine.boundaries_s, np.sort(seg.seams_s), atol=1e-9)


def test_dissolve_is_refined_near_its_midpoint(tmp_path):
    shots = [Shot("static", 4.0, seed=711), Shot("static", 4.0, seed=712, transition="dissolve")]
    path = tmp_path / "dissolve.mp4"
    (cut,) = make_video(path, shots, fps=FPS, size=(96, 64))
    store = Store(tmp_path / "store")
    ev = embed_video(open_video(path, store, SAMPLE), SAMPLE, EMBED, store)
    seg = segment_video(ev, SUCCESSOR)
    fine = refine_segmentation(path, ev, seg)
    assert len(fine.seams_s) == 1
    assert abs(fine.seams_s[0] - cut) <= 2 * FRAME + 1e-6


def first_frame_shot(clip, path, cut) -> str:
    """'new' when the clip's first frame looks like the source frame at `cut` (first of the
    new shot), 'old' when it looks like the frame before it."""
    idx = int(round(cut * FPS))
    if idx / FPS < cut:  # as in synth.render_shots: the frame at exactly the cut is new
        idx += 1
    src = read_frames(path, [idx - 1, idx], 64).images.astype(np.float64)
    got = read_frames(clip, [0], 64).images[0].astype(np.float64)
    old, new = (np.abs(got - s).mean() for s in src)
    return "new" if new < old else "old"


def test_clips_start_on_their_own_shot(video, tmp_path, capsys):
    path, cuts = video
    config = tmp_path / "successor.yaml"
    config.write_text("seams:\n  detector: successor\n")
    common = ["--store", str(tmp_path / "store"), "--embedder", "pixels", "--quiet"]
    common += ["--clips", "--reencode", "--max-segment", "0", "--config", str(config)]
    assert main(["seams", str(path), "--out", str(tmp_path / "fine"), *common]) == 0
    assert main(["seams", str(path), "--out", str(tmp_path / "raw"), "--no-refine", *common]) == 0
    capsys.readouterr()
    fine = json.loads((tmp_path / "fine" / "cuts" / "segments.json").read_text())
    raw = json.loads((tmp_path / "raw" / "cuts" / "segments.json").read_text())
    assert fine["refined"] and not raw["refined"]
    assert len(fine["seams_s"]) == len(raw["seams_s"]) == len(cuts)
    np.testing.assert_allclose(fine["seams_s"], cuts, atol=FRAME + 1e-3)
    starts = {}
    for doc, folder in ((fine, "fine"), (raw, "raw")):
        segs = doc["segments"][1:]
        assert len(segs) == len(cuts)
        starts[folder] = [
            first_frame_shot(tmp_path / folder / "cuts" / d["clip"], path, cut)
            for d, cut in zip(segs, cuts, strict=True)
        ]
    assert starts["fine"] == ["new"] * len(cuts)
    assert "old" in starts["raw"]  # without refinement a clip starts with the previous shot


def test_image_folder_is_left_alone(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shots = [Shot("static", 3.0, seed=721), Shot("static", 3.0, seed=722)]
    for i, im in enumerate(render_shots(shots, fps=2.0, size=(64, 48))):
        Image.fromarray(im).save(folder / f"f{i:03d}.png")
    store = Store(tmp_path / "store")
    ev = embed_video(open_video(folder, store, SAMPLE), SAMPLE, EMBED, store)
    seg = segment_video(ev)
    assert len(seg.seams_s) == 1
    assert refine_segmentation(folder, ev, seg) is seg
    rc = main(["seams", str(folder), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"),
               "--embedder", "pixels", "--quiet"])  # fmt: skip
    assert rc == 0
    doc = json.loads((tmp_path / "o" / "images" / "segments.json").read_text())
    assert doc["refined"] is False and doc["seams_s"] == [round(float(seg.seams_s[0]), 4)]


def test_mismatched_embedded_frames_are_refused(video, embedded):
    seg = segment_frames(embedded.embeddings[:-1], embedded.times_s[:-1])
    with pytest.raises(InputError, match="not computed from"):
        refine_segmentation(video[0], embedded, seg)


# --------------------------------------------------------------------------- one frame


def test_one_frame_is_one_segment():
    e = np.ones((1, 8), np.float32)
    seg = segment_frames(e, np.array([0.0]), end_s=0.04)
    assert len(seg.seams_s) == 0 and len(seg.segments) == 1
    (s,) = seg.segments
    assert (s.start_s, s.end_s, s.first, s.stop) == (0.0, 0.04, 0, 1)
    assert s.keyframes == (0,) and s.keyframe_times_s == (0.0,)
    assert len(seg.times_s) == len(seg.distances) == len(seg.thresholds) == 0
    assert seg.to_dict()["segments"][0]["keyframes"] == [{"frame": 0, "time_s": 0.0}]
    assert segment_frames(e, np.array([2.0])).segments[0].duration_s == 0.0


def test_no_frames_is_an_error():
    with pytest.raises(InputError, match="no frames"):
        segment_frames(np.zeros((0, 8), np.float32), np.zeros(0))


def test_one_frame_video_gives_one_segment(tmp_path, capsys):
    one = tmp_path / "one.mp4"
    make_video(one, [Shot("static", 0.04, seed=1)], fps=FPS, size=(64, 48))
    rc = main(["seams", str(one), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"),
               "--embedder", "pixels", "-q", "--clips", "--reencode"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "o" / "one" / "segments.json").read_text())
    assert doc["seams_s"] == [] and len(doc["segments"]) == 1
    (s,) = doc["segments"]
    assert s["start_s"] == 0.0 and s["end_s"] == pytest.approx(doc["duration_s"], abs=1e-3)
    assert [k["time_s"] for k in s["keyframes"]] == [0.0]
    assert (tmp_path / "o" / "one" / s["keyframes"][0]["image"]).is_file()
    assert (tmp_path / "o" / "one" / s["clip"]).is_file()
