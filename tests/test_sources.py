"""URLs and streams from servers on 127.0.0.1 through yt-dlp's and ffmpeg's real code paths,
and sidecar subtitles (.srt via pysrt, .vtt via webvtt-py) with keyword spans."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from localhttp import loopback_only, mjpeg, serve  # noqa: F401 (autouse: no outside)

from summarizer.decode import probe
from summarizer.errors import AtlasError, InputError, SettingsError
from summarizer.sources import is_url, resolve, resolve_all
from summarizer.sources.subtitles import find_sidecar, in_spans, load_subtitles, parse_keywords
from summarizer.synth import Shot, make_video

VTT = """WEBVTT

00:00:00.500 --> 00:00:01.800
A <b>cat</b> sits still.

00:00:02.200 --> 00:00:03.400
Now the dog runs. Catalogue is not a cat word.

00:00:03.500 --> 00:00:03.900
The dog again.
"""
SRT = """1
00:00:00,500 --> 00:00:01,800
A <i>cat</i> sits still.

2
00:00:02,200 --> 00:00:03,400
Now the dog runs. Catalogue is not a cat word.

3
00:00:03,500 --> 00:00:03,900
The dog again.
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("site")
    make_video(d / "clip.mp4", [Shot("static", 2, 1), Shot("pan", 2, 2)], fps=10, size=(160, 120))
    from summarizer.outputs.clips import ffmpeg_exe

    (d / "hls").mkdir()
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-i", str(d / "clip.mp4"), "-c", "copy",
         "-hls_time", "1", "-hls_list_size", "0", "-f", "hls", str(d / "hls" / "index.m3u8")],
        check=True,
    )  # fmt: skip
    return d


def camera(handler) -> None:
    """An endless MJPEG camera at 10 frames/s, one grey level per frame."""
    mjpeg(handler, lambda i: np.full((120, 160, 3), i * 20 % 255, np.uint8))


def test_a_direct_url_is_read_by_yt_dlp_and_hashed_by_its_bytes(site, tmp_path):
    pytest.importorskip("yt_dlp")
    with serve(site) as base:
        (src,) = resolve_all(f"{base}/clip.mp4", downloads=tmp_path)
    assert src.path.read_bytes() == (site / "clip.mp4").read_bytes()
    assert src.key_kind == "bytes" and src.key is None
    assert src.url.endswith("/clip.mp4") and src.identity.startswith("Generic:")
    assert src.name.endswith(".mp4") and src.path.is_relative_to(tmp_path)


def test_a_missing_url_is_one_line(site, tmp_path):
    pytest.importorskip("yt_dlp")
    with serve(site) as base, pytest.raises(InputError) as exc:
        resolve(f"{base}/nope.mp4", downloads=tmp_path)
    assert "404" in str(exc.value) and len(str(exc.value).splitlines()) == 1


def test_hls_is_read_to_its_end_or_its_end_time(site, tmp_path):
    with serve(site) as base:
        whole = resolve(f"{base}/hls/index.m3u8", downloads=tmp_path)
        part = resolve(f"{base}/hls/index.m3u8", downloads=tmp_path, end_time_s=2.5)
        mtime = part.path.stat().st_mtime_ns
        again = resolve(f"{base}/hls/index.m3u8", downloads=tmp_path, end_time_s=2.5)
    assert whole.key_kind == part.key_kind == "stream" and whole.key != part.key
    # A stream with an end is the same video every time: its capture is kept and reused.
    assert again == part and part.path.stat().st_mtime_ns == mtime
    assert probe(whole.path).duration_s == pytest.approx(4.0, abs=0.15)
    assert probe(part.path).duration_s == pytest.approx(2.5, abs=0.15)
    assert part.identity == "hls:end=2.5"


def test_an_mjpeg_stream_needs_and_keeps_its_end_time(site, tmp_path):
    with serve(site, {"/cam.mjpg": camera}) as base:
        with pytest.raises(SettingsError, match="live stream: give --end-time"):
            resolve(f"{base}/cam.mjpg", downloads=tmp_path)
        t0 = time.perf_counter()
        cam = resolve(f"{base}/cam.mjpg", downloads=tmp_path, end_time_s=2.0)
        took = time.perf_counter() - t0
    p = probe(cam.path)
    assert cam.key_kind == "stream" and cam.identity.startswith("mjpeg:end=2:at=")
    assert p.duration_s == pytest.approx(2.0, abs=0.3) and 15 <= p.frame_count <= 25
    assert took < 15  # read in real time, stopped at the end time


def test_url_detection_and_local_paths(tmp_path):
    local = tmp_path / "http:x.mp4"
    local.write_bytes(b"")
    assert is_url("https://example.org/v") and is_url("rtsp://cam/1") and is_url("ytsearch3:cats")
    assert not is_url(str(local)) and not is_url("video.mp4") and not is_url("C:\\v.mp4")
    with pytest.raises(InputError, match="no such file"):
        resolve(tmp_path / "missing.mp4")


def test_without_yt_dlp_a_url_says_what_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # as if the extra were not installed
    monkeypatch.setattr("summarizer.sources.streams.stream_kind", lambda url: None)
    with pytest.raises(AtlasError) as exc:
        resolve("https://example.invalid/watch?v=1", downloads=tmp_path)
    assert str(exc.value) == "URLs need yt-dlp: pip install 'keyframe-atlas[url]'"


@pytest.mark.parametrize("suffix,text", [(".vtt", VTT), (".srt", SRT)])
def test_sidecar_subtitles_and_keyword_spans(tmp_path, suffix, text):
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"x")
    (tmp_path / f"talk{suffix}").write_text(text)
    assert find_sidecar(video) == tmp_path / f"talk{suffix}"
    src = resolve(video)
    assert src.subtitles == tmp_path / f"talk{suffix}" and src.key_kind == "bytes"
    subs = load_subtitles(src.subtitles)
    assert [c.text for c in subs.cues][0] == "A cat sits still."  # tags removed
    assert subs.text_between(0, 2.0) == "A cat sits still."
    spans = subs.keyword_spans(parse_keywords(" cat , DOG,,"))
    assert [(s.keyword, s.start_s, s.end_s) for s in spans] == [
        ("cat", 0.5, 1.8), ("cat", 2.2, 3.4), ("DOG", 2.2, 3.4), ("DOG", 3.5, 3.9)
    ]  # fmt: skip
    assert in_spans([0.4, 0.5, 1.0, 2.0, 3.45, 3.6], spans).tolist() == [
        False, True, True, False, False, True
    ]  # fmt: skip


def test_yt_dlp_style_language_sidecars_and_bad_files(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    (tmp_path / "v.de.vtt").write_text(VTT)
    (tmp_path / "v.en-US.vtt").write_text(VTT)
    assert find_sidecar(video) == tmp_path / "v.en-US.vtt"
    bad = tmp_path / "bad.vtt"
    bad.write_text("this is not WEBVTT at all")
    with pytest.raises(InputError, match="bad.vtt: not a readable subtitle file"):
        load_subtitles(bad)
    with pytest.raises(SettingsError, match="must be .srt or .vtt"):
        load_subtitles(video)


def test_open_video_takes_urls_with_the_right_store_key(site, tmp_path, monkeypatch):
    pytest.importorskip("yt_dlp")
    from summarizer.flow import open_video
    from summarizer.sources import stream_key
    from summarizer.store import Store, hash_path

    monkeypatch.setenv("ATLAS_HOME", str(tmp_path / "home"))  # downloads go under it
    store = Store(tmp_path / "store")
    with serve(site) as base:
        direct = open_video(f"{base}/clip.mp4", store)
        hls = open_video(f"{base}/hls/index.m3u8", store)
    assert direct.sha256 == hash_path(site / "clip.mp4")  # all bytes read: their hash
    assert direct.name == "clip.mp4" and direct.probe.frame_count == 40
    assert hls.sha256 == stream_key(f"{base}/hls/index.m3u8", "hls:all")  # URL + identity
    assert {v["sha256"] for v in store.videos()} >= {direct.sha256, hls.sha256}
    # The catalog says what each key hashes.
    assert store.video(direct.sha256)["key_kind"] == direct.key_kind == "bytes"
    assert store.video(hls.sha256)["key_kind"] == hls.key_kind == "stream"
    assert direct.path.is_relative_to(store.root / "downloads")  # beside the store


def test_extra_yt_dlp_options_are_parsed_by_yt_dlp():
    pytest.importorskip("yt_dlp")
    from summarizer.sources.ytdlp import extra_options

    opts = extra_options("--dateafter 20240101 --max-downloads 3")
    assert opts["max_downloads"] == 3 and str(opts["daterange"].start) == "2024-01-01"
    with pytest.raises(SettingsError, match="no such option: --no-such-opt"):
        extra_options("--no-such-opt")


def test_no_test_here_reaches_beyond_this_machine():
    import socket

    with pytest.raises(AssertionError, match="only 127.0.0.1 is allowed"):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)  # TEST-NET-1


def test_a_page_with_an_hls_video_is_streamed_up_to_the_end_time(site, tmp_path):
    pytest.importorskip("yt_dlp")
    page = tmp_path / "www"
    page.mkdir()
    (page / "watch.html").write_text(
        "<html><head><title>Watch</title></head><body>"
        "<video src='/hls/index.m3u8' type='application/x-mpegURL'></video></body></html>"
    )
    import shutil

    shutil.copytree(site / "hls", page / "hls")
    with serve(page) as base:
        src = resolve(f"{base}/watch.html", downloads=tmp_path / "dl", end_time_s=2.5)
    assert src.key_kind == "stream" and src.identity.endswith(":hls:end=2.5")
    assert src.url.endswith("/watch.html") and probe(src.path).duration_s == pytest.approx(
        2.5, abs=0.15
    )


def test_a_live_hls_playlist_needs_an_end_time_and_each_capture_is_its_own(site, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    for ts in (site / "hls").glob("*.ts"):
        (live / ts.name).write_bytes(ts.read_bytes())
    text = (site / "hls" / "index.m3u8").read_text().replace("#EXT-X-ENDLIST\n", "")
    (live / "index.m3u8").write_text(text)  # no end: a live playlist still growing
    with serve(live) as base:
        url = f"{base}/index.m3u8"
        with pytest.raises(SettingsError, match="live stream: give --end-time"):
            resolve(url, downloads=tmp_path / "dl")
        first = resolve(url, downloads=tmp_path / "dl", end_time_s=1.5)
        second = resolve(url, downloads=tmp_path / "dl", end_time_s=1.5)
    assert first.identity.startswith("hls:end=1.5:at=") and first.key != second.key
    assert probe(first.path).duration_s == pytest.approx(1.5, abs=0.15)
