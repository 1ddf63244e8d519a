"""``keyframe-atlas seams`` end to end on a synthetic video (pixels embedder)."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from summarizer.cli.main import main
from summarizer.outputs.clips import ffmpeg_exe
from summarizer.synth import Shot, make_video

SHOTS = [
    Shot("static", 4.0, seed=501),
    Shot("pan", 5.0, seed=502),
    Shot("motion", 4.0, seed=503),
    Shot("static", 3.0, seed=504),
]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 16 s video with three hard cuts and an audio track."""
    folder = tmp_path_factory.mktemp("video")
    silent = folder / "silent.mp4"
    cuts = make_video(silent, SHOTS, fps=25.0, size=(160, 120))
    out = folder / "scenes.mp4"
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(silent),
        "-f", "lavfi", "-i", "sine=frequency=440:duration=16",
        "-c:v", "copy", "-c:a", "aac", "-shortest", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out, cuts


def streams(path) -> str:
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    )
    return proc.stderr


def test_seams_command_writes_everything(video, tmp_path, capsys):
    path, cuts = video
    out = tmp_path / "out"
    rc = main(
        ["seams", str(path), "--out", str(out), "--store", str(tmp_path / "store"),
         "--embedder", "pixels", "--quiet", "--clips"]
    )  # fmt: skip
    assert rc == 0
    line = capsys.readouterr().out
    assert "scenes.mp4" in line and "segments" in line
    folder = out / "scenes"
    doc = json.loads((folder / "segments.json").read_text())
    assert len(doc["seams_s"]) == len(cuts)
    np.testing.assert_allclose(doc["seams_s"], cuts, atol=0.5)
    assert len(doc["segments"]) == 4
    assert doc["segments"][0]["start_s"] == 0.0
    assert doc["segments"][-1]["end_s"] == pytest.approx(16.0, abs=0.1)
    assert (
        len(doc["curve"]["distance"])
        == len(doc["curve"]["threshold"])
        == len(doc["curve"]["times_s"])
    )
    for seg in doc["segments"]:
        assert 2 <= len(seg["keyframes"]) <= 4
        for kf in seg["keyframes"]:
            assert seg["start_s"] <= kf["time_s"] < seg["end_s"]
            img = Image.open(folder / kf["image"])
            assert img.size == (160, 120)  # full resolution, not the thumbnail
        assert (folder / seg["clip"]).stat().st_size > 0
        assert "Audio" in streams(folder / seg["clip"])
    assert Image.open(folder / "keyframes.png").size[0] > 100
    rows = list(csv.DictReader((folder / "segments.csv").open()))
    assert len(rows) == 4 and float(rows[1]["start_s"]) == pytest.approx(cuts[0], abs=0.5)

    # Again with other settings: the embeddings come from the store, the outputs are replaced.
    rc = main(
        ["seams", str(path), "--out", str(out), "--store", str(tmp_path / "store"),
         "--embedder", "pixels", "--quiet", "--max-segment", "0", "--keyframes-min", "1",
         "--keyframes-max", "1", "--thumbnails-only"]
    )  # fmt: skip
    assert rc == 0
    assert "cached embeddings" in capsys.readouterr().out
    doc = json.loads((folder / "segments.json").read_text())
    assert all(len(s["keyframes"]) == 1 for s in doc["segments"])
    assert len(list((folder / "keyframes").glob("*.jpg"))) == len(doc["segments"])


def test_reencoded_clips_are_frame_accurate(video, tmp_path):
    path, cuts = video
    out = tmp_path / "out"
    rc = main(
        ["seams", str(path), "--out", str(out), "--store", str(tmp_path / "store"),
         "--embedder", "pixels", "--quiet", "--clips", "--reencode", "--thumbnails-only"]
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "scenes" / "segments.json").read_text())
    for seg in doc["segments"]:
        clip = out / "scenes" / seg["clip"]
        info = streams(clip)
        assert "Audio" in info and "h264" in info
        dur = info.split("Duration: ")[1].split(",")[0]
        h, m, s = dur.split(":")
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
        assert seconds == pytest.approx(seg["end_s"] - seg["start_s"], abs=0.15)


def test_config_file_and_flags(video, tmp_path):
    path, _ = video
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text("seams:\n  threshold: fixed\n  fixed: 5.0\nembed:\n  embedder: pixels\n")
    out = tmp_path / "out"
    store = str(tmp_path / "store")
    assert (
        main(["seams", str(path), "--out", str(out), "--store", store, "--config", str(cfg), "-q"])
        == 0
    )
    doc = json.loads((out / "scenes" / "segments.json").read_text())
    assert doc["seams_s"] == []  # nothing is 5.0 apart
    assert doc["settings"]["seams"]["threshold"] == "fixed"
    # A flag wins over the file.
    assert (
        main(["seams", str(path), "--out", str(out), "--store", store, "--config", str(cfg),
              "--fixed", "0.05", "-q"])
        == 0
    )  # fmt: skip
    doc = json.loads((out / "scenes" / "segments.json").read_text())
    assert len(doc["seams_s"]) >= 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--min-segment", "20", "--max-segment", "10"], "min_segment_s"),
        (["--window", "-5"], "window_s"),
        (["--keyframes-min", "5", "--keyframes-max", "2"], "keyframes_min"),
    ],
)
def test_bad_settings_are_one_line_errors(video, tmp_path, capsys, extra, message):
    path, _ = video
    rc = main(["seams", str(path), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"),
               "--embedder", "pixels", *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    rc = main(["seams", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"),
               "--store", str(tmp_path / "s"), "--embedder", "pixels"])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope.mp4" in err and "Traceback" not in err
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("seams:\n  windw_s: 3\n")
    rc = main(
        ["seams", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"), "--config", str(cfg)]
    )
    assert rc == 2 and "windw_s" in capsys.readouterr().err


def test_one_sampled_frame_is_one_segment(tmp_path, capsys):
    one = tmp_path / "one.mp4"
    make_video(one, [Shot("static", 0.3, seed=1)], fps=25.0, size=(64, 48))
    rc = main(["seams", str(one), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"),
               "--embedder", "pixels", "--fps", "1", "-q"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "o" / "one" / "segments.json").read_text())
    assert doc["frames"] == 1 and doc["seams_s"] == []
    (seg,) = doc["segments"]
    assert seg["start_s"] == 0.0 and seg["end_s"] == pytest.approx(doc["duration_s"], abs=1e-3)
    assert [k["time_s"] for k in seg["keyframes"]] == [0.0]
