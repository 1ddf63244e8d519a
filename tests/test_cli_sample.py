"""``keyframe-atlas sample`` end to end: image folders and a synthetic video with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from summarizer.cli.main import main
from summarizer.synth import Shot, make_video, scene_canvas


def scene(seed: int, w: int = 192, h: int = 144) -> Image.Image:
    return Image.fromarray((scene_canvas(seed, (w, h), scale=1.0) * 255).astype(np.uint8))


@pytest.fixture
def folder(tmp_path):
    """img1: scene 1, img2: the same picture again, img3: scene 2, img4: scene 3 blurred,
    img5: not an image at all."""
    d = tmp_path / "frames"
    d.mkdir()
    scene(1).save(d / "img1.png")
    scene(1).save(d / "img2.png")
    scene(2).save(d / "img3.png")
    scene(3).filter(ImageFilter.GaussianBlur(3)).save(d / "img4.png")
    (d / "img5.jpg").write_bytes(b"this is not a jpeg")
    return d


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """6 s: scene 1 (2 s), scene 2 (2 s), scene 1 again (2 s)."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    shots = [Shot("static", 2.0, seed=1), Shot("static", 2.0, seed=2), Shot("static", 2.0, seed=1)]
    make_video(path, shots, fps=25.0, size=(160, 120))
    return path


def test_folder_keeps_one_of_two_identical_gates_the_blurred_and_skips_the_unreadable(
    folder, tmp_path, capsys
):
    out = tmp_path / "out"
    rc = main(
        ["sample", str(folder), "--out", str(out), "--gate", "blur", "--print-stats", "-q",
         "--time-regex", r"img(\d+)"]
    )  # fmt: skip
    assert rc == 0
    captured = capsys.readouterr()
    assert "frames: decoded 4, produced 3, gated 2" in captured.out
    assert "img5.jpg" in captured.err and "warning" in captured.err
    doc = json.loads((out / "frames" / "sampled.json").read_text())
    assert [k["time_s"] for k in doc["kept"]] == [1.0, 3.0]
    assert [k["file"] for k in doc["kept"]] == ["000001.000.jpg", "000003.000.jpg"]
    assert doc["dropped"] == {"duplicate": 1, "gate": 1}
    assert doc["stats"] == {
        "decoded": 4,
        "produced": 3,
        "gated": 2,
        "kept": 2,
        "skipped_unreadable": 1,
    }
    assert doc["skipped_files"] == ["img5.jpg"]
    assert doc["kept"][0]["why"]["buffer"] == "first frame"
    assert doc["kept"][1]["why"]["gate"].startswith("sharp")
    files = sorted(p.name for p in (out / "frames").glob("*.jpg"))
    assert files == ["000001.000.jpg", "000003.000.jpg"]
    with Image.open(out / "frames" / "000001.000.jpg") as im:
        assert im.size == (192, 144)  # the source size by default


def test_video_with_a_repeated_scene_keeps_each_picture_once(video, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sample", str(video), "--out", str(out), "--print-stats", "-q"]) == 0
    line = capsys.readouterr().out
    assert "clip.mp4: decoded 12, produced 2, gated 2" in line
    doc = json.loads((out / "clip" / "sampled.json").read_text())
    assert [k["time_s"] for k in doc["kept"]] == [0.0, 2.0]
    assert doc["dropped"] == {"duplicate": 10}
    assert doc["kind"] == "video"


@pytest.mark.parametrize("buffer", ["grid", "entropy", "gzip", "passthrough"])
def test_every_buffer_runs(video, tmp_path, buffer):
    out = tmp_path / "out"
    rc = main(
        ["sample", str(video), "--out", str(out), "--buffer", buffer, "--buffer-size", "2",
         "--expiry", "4", "-q"]
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "clip" / "sampled.json").read_text())
    assert doc["settings"]["dedup"]["buffer"] == buffer
    assert len(doc["kept"]) + sum(doc["dropped"].values()) == doc["stats"]["decoded"] == 12
    assert len(list((out / "clip").glob("*.jpg"))) == len(doc["kept"])
    if buffer == "passthrough":
        assert len(doc["kept"]) == 12


def test_yaml_config_and_flags_over_it(video, tmp_path):
    cfg = tmp_path / "sampling.yaml"
    cfg.write_text(
        "sample:\n  fps: 4\n  min_interval_s: 1.0\n  short_side: 60\n"
        "dedup:\n  buffer: passthrough\n"
        "gate:\n  gate: blur\n  blur_threshold: 0\n"
    )
    out = tmp_path / "out"
    assert main(["sample", str(video), "--out", str(out), "--config", str(cfg), "-q"]) == 0
    doc = json.loads((out / "clip" / "sampled.json").read_text())
    assert [k["time_s"] for k in doc["kept"]] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert doc["dropped"] == {"interval": 18}
    assert doc["settings"]["sample"]["min_interval_s"] == 1.0
    with Image.open(out / "clip" / doc["kept"][0]["file"]) as im:
        assert min(im.size) == 60
    # A flag wins over the file; the earlier run's extra frames are removed.
    assert main(["sample", str(video), "--out", str(out), "--config", str(cfg), "--buffer",
                 "hash", "-q"]) == 0  # fmt: skip
    doc = json.loads((out / "clip" / "sampled.json").read_text())
    assert len(doc["kept"]) == 2
    assert len(list((out / "clip").glob("*.jpg"))) == 2


def test_start_end_and_every_n(video, tmp_path):
    out = tmp_path / "out"
    rc = main(
        ["sample", str(video), "--out", str(out), "--buffer", "passthrough", "--start", "2",
         "--end", "4", "--every-n", "10", "-q"]
    )  # fmt: skip
    assert rc == 0
    times = [k["time_s"] for k in json.loads((out / "clip" / "sampled.json").read_text())["kept"]]
    assert times == pytest.approx([2.0, 2.4, 2.8, 3.2, 3.6])


def test_keyframes_only(video, tmp_path):
    out = tmp_path / "out"
    rc = main(
        ["sample", str(video), "--out", str(out), "--buffer", "passthrough", "--keyframes-only", "-q"]
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "clip" / "sampled.json").read_text())
    assert doc["kept"][0]["time_s"] == 0.0
    assert doc["settings"]["sample"]["keyframes_only"] is True
    assert 1 <= len(doc["kept"]) < 150


def test_two_inputs_with_the_same_stem_get_two_folders(video, tmp_path):
    other = tmp_path / "b" / "clip.mp4"
    other.parent.mkdir()
    other.write_bytes(video.read_bytes())
    out = tmp_path / "out"
    assert main(["sample", str(video), str(other), "--out", str(out), "-q"]) == 0
    assert (out / "clip" / "sampled.json").exists() and (out / "clip-2" / "sampled.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--time-regex", "img(\\d+"], "not a valid regex"),
        (["--gate", "clip"], "needs prompts"),
        (["--hash-size", "1"], "hash_size"),
        (["--buffer", "entropy", "--buffer-size", "8", "--expiry", "8"], "expiry"),
        (["--min-interval", "-1"], "min_interval_s"),
    ],
)
def test_bad_settings_are_one_clear_line_and_write_nothing(video, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["sample", str(video), "--out", str(out), "-q", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()


def test_bad_inputs_fail_before_anything_is_written(video, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert main(["sample", str(video), str(empty), "--out", str(out), "-q"]) == 2
    assert "has no images" in capsys.readouterr().err
    assert main(["sample", str(video), str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not out.exists()


def test_a_folder_of_only_unreadable_images_is_an_error(tmp_path, capsys):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.jpg").write_bytes(b"nope")
    assert main(["sample", str(d), "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "no readable image" in capsys.readouterr().err


@pytest.mark.slow
def test_clip_gate_through_the_cli_with_a_tiny_random_model(video, tmp_path):
    from support import TINY_MODEL, save_random_checkpoint

    ckpt = save_random_checkpoint(TINY_MODEL, tmp_path / "tiny.pt")
    out = tmp_path / "out"
    common = ["sample", str(video), "--out", str(out), "--gate", "clip", "--model", TINY_MODEL,
              "--pretrained", str(ckpt), "--device", "cpu", "--positive", "a dog", "-q"]  # fmt: skip
    assert main([*common, "--positive-margin", "-1"]) == 0
    doc = json.loads((out / "clip" / "sampled.json").read_text())
    assert len(doc["kept"]) == 2 and "matches 'a dog'" in doc["kept"][0]["why"]["gate"]
    assert main([*common, "--positive-margin", "1", "--negative", "a cat"]) == 0
    doc = json.loads((out / "clip" / "sampled.json").read_text())
    assert doc["kept"] == [] and doc["dropped"]["gate"] == 2
    assert list((out / "clip").glob("*.jpg")) == []
