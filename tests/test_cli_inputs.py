"""The CLI's inputs and output folders: URLs and streams, captions that fail cleanly, and
folders that never collide, never half-write and never pass a name to ffmpeg as an option."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from localhttp import completion, reply, serve

from summarizer.cli.main import main
from summarizer.synth import Shot


@pytest.fixture(scope="module")
def video(synth_video) -> Path:
    shots = [Shot("static", 3, 1), Shot("pan", 4, 2), Shot("motion", 3, 3)]
    return synth_video(shots, fps=10, size=(160, 120), name="three.mp4")[0]


def _seams(*args: str) -> int:
    return main(["seams", *args, "--embedder", "pixels", "-q"])


def test_non_ascii_names_get_their_own_folders(video, tmp_path):
    names = ["日本.mp4", "🎬.mp4", "🚲.mp4"]
    for name in names:
        (tmp_path / name).write_bytes(video.read_bytes())
    out, store = tmp_path / "o", tmp_path / "s"
    for name in names:  # separate runs: none may overwrite another
        assert _seams(str(tmp_path / name), "--out", str(out), "--store", str(store)) == 0
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) == 3 and "日本" in folders
    videos = {json.loads((out / f / "segments.json").read_text())["video"] for f in folders}
    assert videos == set(names)


def test_an_out_folder_starting_with_a_dash_reaches_ffmpeg_as_a_path(video, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _seams(str(video), "--out", "./-outdash", "--clips", "--store", "s") == 0
    clips = sorted((tmp_path / "-outdash" / "three" / "clips").glob("*.mp4"))
    assert len(clips) == 3 and all(c.stat().st_size > 0 for c in clips)


def test_clips_of_an_image_folder_fail_before_writing_anything(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((48, 64, 3), i * 40, np.uint8)).save(folder / f"{i:03d}.jpg")
    out = tmp_path / "o"
    assert _seams(str(folder), "--out", str(out), "--clips", "--store", str(tmp_path / "s")) == 2
    err = capsys.readouterr().err
    assert "--clips needs a video file" in err and len(err.splitlines()) == 1
    assert not out.exists()


def _clip_run(args: list[str], barrier, results) -> None:
    barrier.wait()  # the writers start together
    results.put(_seams(*args))


def test_two_processes_writing_clips_into_one_folder(video, tmp_path):
    out = tmp_path / "o"
    args = [str(video), "--out", str(out), "--clips", "--store", str(tmp_path / "s")]
    assert _seams(*args) == 0  # embeddings cached: the two runs below race on the clips
    # spawned, never forked: a fork of this threaded test process can deadlock
    ctx = multiprocessing.get_context("spawn")
    for _ in range(2):
        barrier, results = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_clip_run, args=(args, barrier, results)) for _ in range(3)]
        for proc in procs:
            proc.start()
        codes = [results.get(timeout=300) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert codes == [0, 0, 0]
    clips = sorted((out / "three" / "clips").iterdir())
    assert [c.suffix for c in clips] == [".mp4"] * 3  # no temporaries left behind


def test_sample_takes_store_and_catalogues_its_inputs(video, tmp_path):
    from summarizer.store import Store

    store = tmp_path / "s"
    rc = main(["sample", str(video), "--out", str(tmp_path / "o"), "--store", str(store), "-q"])
    assert rc == 0 and (tmp_path / "o" / "three" / "sampled.json").is_file()
    assert {v["name"] for v in Store(store).videos()} == {"three.mp4"}


def test_sample_keywords_keep_frames_where_they_are_said(video, tmp_path):
    sub = tmp_path / "words.vtt"
    sub.write_text("WEBVTT\n\n00:00:04.000 --> 00:00:06.000\nLook, a bird!\n")
    rc = main(["sample", str(video), "--out", str(tmp_path / "o"), "--subtitles", str(sub),
               "--keywords", "bird", "--buffer", "passthrough", "--fps", "2", "-q"])  # fmt: skip
    assert rc == 0
    doc = json.loads((tmp_path / "o" / "three" / "sampled.json").read_text())
    times = [k["time_s"] for k in doc["kept"]]
    assert times and all(4.0 <= t < 6.0 for t in times)
    assert doc["dropped"]["keyword"] == 20 - len(times)
    assert len(list((tmp_path / "o" / "three").glob("*.jpg"))) == len(times)


def test_seams_of_a_url(video, tmp_path):
    pytest.importorskip("yt_dlp")
    with serve(video.parent) as base:
        rc = _seams(f"{base}/three.mp4", "--out", str(tmp_path / "o"), "--store",
                    str(tmp_path / "s"), "--export", "json,edl")  # fmt: skip
    assert rc == 0
    (folder,) = (tmp_path / "o").iterdir()
    doc = json.loads((folder / "segments.json").read_text())
    assert doc["url"].endswith("/three.mp4") and doc["key_kind"] == "bytes"
    assert len(doc["segments"]) == 3 and (folder / "segments.edl").is_file()
    assert (tmp_path / "s" / "downloads").is_dir()  # downloads go beside the store


def test_captions_endpoint_down_keeps_everything_else(video, tmp_path, capsys):
    with serve(tmp_path) as base:
        pass  # nothing listens there any more
    out = tmp_path / "o"
    rc = _seams(str(video), "--out", str(out), "--store", str(tmp_path / "s"), "--captions",
                "--caption-base-url", base + "/v1", "--caption-model", "m",
                "--caption-retries", "0")  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1 and "cannot reach m at" in err and len(err.splitlines()) == 1
    assert (out / "three" / "segments.json").is_file() and (
        out / "three" / "keyframes.png"
    ).is_file()
    assert not (out / "three" / "captions.jsonl").exists()


def test_captions_of_keyframes(video, tmp_path, monkeypatch):
    pytest.importorskip("openai")
    seen = []

    def chat(h):
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        seen.append(body)
        text = "summary of all" if len(body["messages"][0]["content"]) == 1 else f"cap {len(seen)}"
        reply(h, 200, completion(text, "m"))

    out = tmp_path / "o"
    with serve(tmp_path, {"/v1/chat/completions": chat}) as base:
        monkeypatch.setenv("OPENAI_BASE_URL", base + "/v1")
        monkeypatch.setenv("OPENAI_MODEL", "m")
        rc = _seams(str(video), "--out", str(out), "--store", str(tmp_path / "s"), "--captions",
                    "--caption-interval", "0", "--caption-summary")  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "three" / "segments.json").read_text())
    rows = [json.loads(x) for x in (out / "three" / "captions.jsonl").read_text().splitlines()]
    kfs = [k for s in doc["segments"] for k in s["keyframes"]]
    assert [r["image"] for r in rows] == [k["image"] for k in kfs]
    assert [r["frame"] for r in rows] == [k["source_frame"] for k in kfs]
    assert rows[0]["text"] == "cap 1"
    assert (out / "three" / "captions_summary.txt").read_text().strip() == "summary of all"


def test_captions_without_a_model_fail_before_any_work(video, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    rc = _seams(str(video), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s"),
                "--captions")  # fmt: skip
    assert rc == 2 and "needs a model" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_page_with_two_videos_and_subtitles_through_yt_dlp(video, tmp_path):
    pytest.importorskip("yt_dlp")
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.mp4").write_bytes(video.read_bytes())
    (site / "b.mp4").write_bytes(video.read_bytes())
    (site / "a.en.vtt").write_text("WEBVTT\n\n00:00:04.000 --> 00:00:05.000\nThe bird flies.\n")
    (site / "page.html").write_text(
        "<html><head><title>Two clips</title></head><body>"
        '<video src="a.mp4"><track kind="subtitles" src="a.en.vtt" srclang="en"></video>'
        '<video src="b.mp4"></video></body></html>'
    )
    out, store = tmp_path / "o", str(tmp_path / "s")
    with serve(site) as base:
        rc = _seams(f"{base}/page.html", "--out", str(out), "--store", store, "--keywords", "bird")
        assert rc == 0
        assert sorted(p.name for p in out.iterdir()) == ["Two_clips_1", "Two_clips_2"]
        first = json.loads((out / "Two_clips_1" / "segments.json").read_text())
        assert first["keywords"] == [
            {"keyword": "bird", "start_s": 4.0, "end_s": 5.0, "text": "The bird flies.",
             "segments": [1]}
        ]  # fmt: skip
        assert first["segments"][1]["subtitles"] == "The bird flies."
        second = json.loads((out / "Two_clips_2" / "segments.json").read_text())
        assert "keywords" not in second  # no subtitles for that one (a warning says so)
        # yt-dlp's own options pass through: only the second video
        rc = _seams(f"{base}/page.html", "--out", str(tmp_path / "o2"), "--store", store,
                    "--ytdlp", "--playlist-items 2")  # fmt: skip
    assert rc == 0 and [p.name for p in (tmp_path / "o2").iterdir()] == ["Two_clips_2"]


def test_seams_of_an_hls_stream_up_to_its_end_time(video, tmp_path):
    import subprocess

    from summarizer.outputs.clips import ffmpeg_exe

    site = tmp_path / "site"
    site.mkdir()
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(video), "-c", "copy",
                    "-hls_time", "1", "-hls_list_size", "0", "-f", "hls",
                    str(site / "live.m3u8")], check=True)  # fmt: skip
    out = tmp_path / "o"
    with serve(site) as base:
        rc = _seams(f"{base}/live.m3u8", "--end-time", "6", "--out", str(out), "--store",
                    str(tmp_path / "s"), "--min-segment", "1")  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "live" / "segments.json").read_text())
    assert doc["key_kind"] == "stream" and doc["duration_s"] == pytest.approx(6.0, abs=0.15)
    assert [s["start_s"] for s in doc["segments"]][:2] == pytest.approx([0.0, 3.0], abs=0.11)
