"""``keyframe-atlas map`` and ``keyframe-atlas poster``: outputs, the store cache, bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from summarizer import synth
from summarizer.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
COMMON = ("--embedder", "pixels", "--fps", "8", "--epochs", "4", "-q")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("videos")
    specs = [
        [synth.Shot("static", 2.0, seed=1), synth.Shot("pan", 3.0, seed=2)],
        [synth.Shot("zoom", 3.0, seed=3), synth.Shot("motion", 2.0, seed=4)],
        [synth.Shot("pan", 4.0, seed=5)],
    ]
    out = []
    for i, shots in enumerate(specs):
        p = d / f"clip{i}.mp4"
        synth.make_video(p, shots, fps=16, size=(192, 108))
        out.append(p)
    return out


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "summarizer", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_map_writes_coordinates_picture_and_model(videos, tmp_path, capsys):
    store, out = tmp_path / "store", tmp_path / "out"
    args = ["map", *map(str, videos), "--out", str(out), "--store", str(store), *COMMON]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "map: " in text and "autoencoder" in text and "computed in" in text
    with open(out / "coordinates.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["video_hash", "video_name", "time_s", "x", "y"]
    assert {r["video_name"] for r in rows} == {"clip0.mp4", "clip1.mp4", "clip2.mp4"}
    assert len(rows) > 80
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    assert np.abs(xy).max() <= 1.0
    times = [float(r["time_s"]) for r in rows if r["video_name"] == "clip0.mp4"]
    assert times == sorted(times)
    img = Image.open(out / "map.png")
    assert img.size[1] == 1200
    assert (out / "autoencoder.keras").is_file() and (out / "latent.npz").is_file()

    # again: everything from the store
    assert main(args) == 0
    assert "cache hit" in capsys.readouterr().out
    # the exported model maps the frames where the CSV says
    from summarizer.atlas.mapper import LatentMapper
    from summarizer.config import EmbedSettings, SampleSettings
    from summarizer.flow import embed_video, open_video
    from summarizer.store import Store

    st = Store(store)
    sample, embed = SampleSettings(fps=8), EmbedSettings(embedder="pixels")
    ev = embed_video(open_video(videos[0], st, sample), sample, embed, st)
    model = LatentMapper.load(out)
    mine = xy[[r["video_name"] == "clip0.mp4" for r in rows]]
    np.testing.assert_allclose(model.transform(ev.embeddings), mine, atol=1e-4)


def test_map_with_too_few_frames_falls_back_to_pca(videos, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["map", str(videos[2]), "--out", str(out), "--store", str(tmp_path / "s")]
    assert main([*args, "--embedder", "pixels", "--fps", "2", "-q"]) == 0
    text = capsys.readouterr().out
    assert "PCA to 2-D" in text and "note:" in text
    assert (out / "coordinates.csv").is_file() and not (out / "autoencoder.keras").exists()


def test_poster_png_and_pdf(videos, tmp_path, capsys):
    store = tmp_path / "store"
    png = tmp_path / "poster.png"
    base = ["poster", *map(str, videos), "--store", str(store), *COMMON]
    assert (
        main([*base, "--out", str(png), "--cols", "6", "--rows", "4", "--size-px", "600", "400"])
        == 0
    )
    text = capsys.readouterr().out
    assert "poster: 600 x 400 px, 6 x 4 tiles (24 from the videos" in text
    assert Image.open(png).size == (600, 400)
    layout = json.loads((tmp_path / "poster.layout.json").read_text())
    assert len(layout["tiles"]) == 24
    names = {t["video_name"] for t in layout["tiles"]}
    assert names <= {"clip0.mp4", "clip1.mp4", "clip2.mp4"}
    keys = {(t["video_name"], t["frame_index"]) for t in layout["tiles"]}
    assert len(keys) == 24  # no frame twice

    pdf = tmp_path / "zoom.pdf"
    args = [*base, "--out", str(pdf), "--cols", "3", "--rows", "2", "--size-cm", "12", "8"]
    assert (
        main([*args, "--dpi", "100", "--center", "0", "0", "--width", "1", "--thumbnails-only"])
        == 0
    )
    text = capsys.readouterr().out
    assert "cache hit" in text and "from thumbnails" in text
    assert pdf.read_bytes().startswith(b"%PDF")
    layout = json.loads((tmp_path / "zoom.layout.json").read_text())
    assert layout["window"] == {"center": [0.0, 0.0], "width": 1.0, "height": 2 / 3}
    for t in layout["tiles"]:
        if not t.get("empty"):
            assert max(abs(v) for v in t["map_xy"]) <= 0.5 + 1e-6


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size-cm", "5000", "90"], "print size"),
        (["--dpi", "0"], "dpi"),
        (["--center", "5", "5", "--width", "0.1"], "no frames in the poster window"),
        (["--epochs", "0"], "epochs"),
    ],
)
def test_poster_bad_input_is_one_line(videos, tmp_path, extra, message):
    out = tmp_path / "p.png"
    proc = cli(
        "poster",
        str(videos[0]),
        "--out",
        str(out),
        "--cols",
        "2",
        "--rows",
        "2",
        "--store",
        str(tmp_path / "s"),
        *COMMON,
        *extra,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not out.exists()


def test_map_bad_input(tmp_path, videos, capsys):
    missing = ["map", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]
    assert main([*missing, "--store", str(tmp_path / "s")]) == 2
    assert "error:" in capsys.readouterr().err
    args = ["map", str(videos[0]), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s")]
    assert main([*args, "--seed", "-3", "--embedder", "pixels"]) == 2
    assert "seed" in capsys.readouterr().err
    assert (
        main(
            [
                "poster",
                str(videos[0]),
                "--out",
                str(tmp_path / "p.gif"),
                "--cols",
                "2",
                "--rows",
                "2",
            ]
        )
        == 2
    )
    assert ".png or .pdf" in capsys.readouterr().err
