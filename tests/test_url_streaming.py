"""Videos behind URLs streamed rather than downloaded when only their start is needed (an end
time): yt-dlp's real code path finds the media URL, ffmpeg reads it over http with range
requests from a server on 127.0.0.1, and the store key is the URL plus the stream's
identity; without an end time every byte is read and the key is their hash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from localhttp import loopback_only, serve  # noqa: F401 (autouse: no outside)

from summarizer.decode import probe
from summarizer.sources import resolve, resolve_all, stream_key

pytest.importorskip("yt_dlp")

SECONDS, FPS = 40, 10


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A 40 s, 48 MB video (lossless noise: every second weighs the same) whose index is at
    its end (no faststart: a reader must seek with a range request), plus a page with it
    and its subtitles."""
    from summarizer.outputs.clips import ffmpeg_exe

    d = tmp_path_factory.mktemp("streamsite")
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
         f"nullsrc=s=320x240:r={FPS},geq=random(1)*255:128:128", "-t", str(SECONDS),
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "0", "-pix_fmt", "yuv420p",
         "-g", "10", str(d / "noise.mp4")],
        check=True,
    )  # fmt: skip
    (d / "noise.en.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA bird.\n")
    (d / "page.html").write_text(
        "<html><head><title>Noise page</title></head><body><video src='noise.mp4'>"
        "<track kind='subtitles' src='noise.en.vtt' srclang='en'></video></body></html>"
    )
    return d


def _frame(path: Path, index: int) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has no frame {index}")


def test_an_end_time_streams_a_direct_file_and_keys_it_by_url(site, tmp_path):
    size = (site / "noise.mp4").stat().st_size
    sent: dict[str, int] = {}
    with serve(site, sent=sent) as base:
        url = f"{base}/noise.mp4"
        (src,) = resolve_all(url, downloads=tmp_path, end_time_s=3)
        read = sent.pop("/noise.mp4")
        mtime = src.path.stat().st_mtime_ns
        again = resolve(url, downloads=tmp_path, end_time_s=3)  # kept: not captured again
    assert src.key_kind == "stream" and src.identity == "Generic:noise:mp4:file:end=3"
    assert src.key == stream_key(url, src.identity) and src.url == url
    assert again == src and src.path.stat().st_mtime_ns == mtime
    assert src.name == "noise.mp4" and src.path.is_relative_to(tmp_path / "streams")
    p = probe(src.path)
    assert p.frame_count == 3 * FPS and p.duration_s == pytest.approx(3.0, abs=0.15)
    assert read < 0.2 * size  # a few seconds of 40 (and a little buffered), not the whole file
    # Stream-copied: the frames are the source's own, bit for bit.
    assert np.array_equal(_frame(src.path, 29), _frame(site / "noise.mp4", 29))


def test_without_an_end_time_every_byte_is_read_and_hashed(site, tmp_path):
    sent: dict[str, int] = {}
    with serve(site, sent=sent) as base:
        (src,) = resolve_all(f"{base}/noise.mp4", downloads=tmp_path)
    assert src.key_kind == "bytes" and src.key is None
    assert src.path.read_bytes() == (site / "noise.mp4").read_bytes()
    assert sent["/noise.mp4"] >= (site / "noise.mp4").stat().st_size


def test_a_page_streams_its_video_and_still_gets_its_subtitles(site, tmp_path):
    with serve(site) as base:
        src = resolve(f"{base}/page.html", downloads=tmp_path, end_time_s=2,
                      want_subtitles=True)  # fmt: skip
    assert src.key_kind == "stream" and src.identity.endswith(":file:end=2")
    assert src.name.startswith("Noise page") and probe(src.path).frame_count == 2 * FPS
    assert src.subtitles is not None and "A bird." in src.subtitles.read_text()
    assert not list(tmp_path.rglob("*.mp4.part")) and len(list(tmp_path.rglob("*.mp4"))) == 1


def test_the_store_and_the_cli_say_the_key_is_a_stream(site, tmp_path):
    import json

    from summarizer.cli.main import main
    from summarizer.store import Store

    out, store = tmp_path / "o", tmp_path / "s"
    with serve(site) as base:
        rc = main(["seams", f"{base}/noise.mp4", "--end-time", "4", "--out", str(out),
                   "--store", str(store), "--embedder", "pixels", "-q", "--fps", "1"])  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "noise" / "segments.json").read_text())
    assert doc["key_kind"] == "stream" and doc["duration_s"] == pytest.approx(4.0, abs=0.15)
    assert Store(store).video(doc["sha256"])["key_kind"] == "stream"


def test_which_formats_are_streamed():
    from summarizer.sources.ytdlp import streamable

    direct = {"url": "https://h/v.mp4", "protocol": "https", "format_id": "mp4"}
    assert streamable(direct, None) is None  # no end time: download it whole
    s = streamable({**direct, "http_headers": {"User-Agent": "x"}}, 5.0)
    assert (s.stream_kind, s.stream_url, s.headers) == (
        "file",
        "https://h/v.mp4",
        (("User-Agent", "x"),),
    )
    assert streamable({**direct, "duration": 4.0}, 5.0) is None  # all of it: download
    merged = {
        "requested_formats": [
            {"url": "https://h/a.m4a", "protocol": "https", "vcodec": "none", "format_id": "a"},
            {"url": "https://h/v.m3u8", "protocol": "m3u8_native", "vcodec": "avc1", "format_id": "v"},
        ]
    }  # fmt: skip
    s = streamable(merged, 5.0)
    assert (s.stream_kind, s.stream_url, s.format_id) == ("hls", "https://h/v.m3u8", "v")
    dash = {"url": "https://h/m.mpd", "protocol": "http_dash_segments", "vcodec": "avc1"}
    assert streamable(dash, 5.0) is None  # fragments yt-dlp assembles: downloaded


def test_an_end_time_past_the_end_reads_every_byte_and_hashes_them(site, tmp_path):
    sent: dict[str, int] = {}
    with serve(site, sent=sent) as base:
        (src,) = resolve_all(f"{base}/noise.mp4", downloads=tmp_path, end_time_s=SECONDS + 5)
        sent.clear()
        again = resolve(f"{base}/noise.mp4", downloads=tmp_path, end_time_s=SECONDS + 5)
    assert again == src  # known to be whole now: not streamed again
    assert sent.get("/noise.mp4", 0) < 0.2 * src.path.stat().st_size
    assert src.key_kind == "bytes" and src.key is None and src.identity == "Generic:noise"
    assert src.path.read_bytes() == (site / "noise.mp4").read_bytes()
    assert not list((tmp_path / "streams").glob("*.mp4"))  # the capture made way for it
    with serve(site) as base:  # a shorter end time is still a stream, not the whole file
        part = resolve(f"{base}/noise.mp4", downloads=tmp_path, end_time_s=3)
    assert part.key_kind == "stream" and probe(part.path).frame_count == 3 * FPS
