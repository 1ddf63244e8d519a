"""``keyframe-atlas summary`` end to end on a synthetic video whose scenes are known."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from summarizer.cli.main import main
from summarizer.synth import Shot, render_shots, write_video

SIZE = (160, 120)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """8 s at 25 fps: scenes 11, 22, 33 (2 s each, static) then 2 s of flat grey."""
    path = tmp_path_factory.mktemp("video") / "three scenes.mp4"
    shots = [Shot("static", 2.0, seed=s) for s in (11, 22, 33)]
    frames = list(render_shots(shots, fps=25.0, size=SIZE))
    frames += [np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)] * 50
    write_video(path, iter(frames), fps=25.0, size=SIZE)
    return path


def run(video, tmp_path, *extra):
    out = tmp_path / "out"
    args = ["summary", str(video), "--out", str(out), "--store", str(tmp_path / "store"),
            "--embedder", "pixels", "-q", *extra]  # fmt: skip
    return main(args), out / "three_scenes"


def test_auto_summary_picks_one_frame_per_scene_and_never_the_grey(video, tmp_path, capsys):
    rc, folder = run(video, tmp_path)
    assert rc == 0
    assert "3 picks (k=3 auto)" in capsys.readouterr().out
    doc = json.loads((folder / "summary.json").read_text())
    picks = doc["picks"]
    assert len(picks) == 3
    assert [int(p["time_s"] // 2) for p in picks] == [0, 1, 2]  # one per scene, in order
    assert all(p["cluster_size"] == 4 for p in picks)  # 2 fps x 2 s
    assert all(0 < p["score"] <= 1 for p in picks)
    assert doc["set_aside"] == {"flat": 4}
    assert doc["mode"] == "auto" and doc["k"] == 3 and "3" in doc["silhouette"]
    for p in picks:
        with Image.open(folder / p["image"]) as im:
            assert im.size == SIZE  # full resolution, decoded again
    assert (folder / "summary.png").exists() and doc["grid"] == "summary.png"
    assert doc["model_id"] == "pixels-v1" and len(doc["sha256"]) == 64


def test_fixed_k_thumbnails_and_stale_picks_removed(video, tmp_path):
    rc, folder = run(video, tmp_path, "--k", "2", "--max-similarity", "1")
    assert rc == 0
    doc = json.loads((folder / "summary.json").read_text())
    assert doc["mode"] == "fixed" and len(doc["picks"]) == 2
    rc, folder = run(video, tmp_path, "--k", "1", "--thumbnails-only")
    assert rc == 0
    doc = json.loads((folder / "summary.json").read_text())
    assert len(doc["picks"]) == 1 and doc["picks"][0]["cluster_size"] == 12
    assert sorted(p.name for p in folder.glob("*.jpg")) == [doc["picks"][0]["image"]]
    with Image.open(folder / doc["picks"][0]["image"]) as im:
        assert min(im.size) <= 128  # the stored thumbnail


def test_budget_per_minute_and_uninformative_kept_on_request(video, tmp_path):
    rc, folder = run(video, tmp_path, "--per-minute", "15", "--keep-uninformative")
    assert rc == 0
    doc = json.loads((folder / "summary.json").read_text())
    assert doc["mode"] == "budget" and doc["k"] == 2  # ceil(8 s / 60 * 15)
    assert doc["set_aside"] == {} and doc["n_used"] == 16


def test_yaml_config(video, tmp_path):
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text("summary:\n  k: 4\n  max_similarity: 1.0\nsample:\n  fps: 1\n")
    rc, folder = run(video, tmp_path, "--config", str(cfg))
    assert rc == 0
    doc = json.loads((folder / "summary.json").read_text())
    assert doc["k"] == 4 and doc["frames"] == 8
    assert doc["settings"]["summary"]["k"] == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--k", "0"], "k must be >= 1"),
        (["--k", "many"], "k must be a whole number"),
        (["--max-similarity", "3"], "max_similarity"),
    ],
)
def test_bad_k_is_one_clear_line_and_nothing_written(video, tmp_path, capsys, extra, message):
    rc, folder = run(video, tmp_path, *extra)
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not folder.parent.exists()


def test_unknown_summary_setting_in_yaml(video, tmp_path, capsys):
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text("summary:\n  clusters: 4\n")
    rc, _ = run(video, tmp_path, "--config", str(cfg))
    assert rc == 2 and "unknown SummarySettings setting" in capsys.readouterr().err


def test_missing_input_fails_before_any_work(video, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["summary", str(video), str(tmp_path / "nope.mp4"), "--out", str(out),
               "--store", str(tmp_path / "store"), "--embedder", "pixels", "-q"])  # fmt: skip
    assert rc == 2 and "no such file" in capsys.readouterr().err
    assert not out.exists()
