"""The Streamlit app through `streamlit.testing.v1.AppTest`: every page, a processed sample
video, a shared link, bad uploads. The store lives in a temp dir (``ATLAS_HOME``) and the
model-free pixels embedder is used (no CLIP weights here)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit")
from apptest import TIMEOUT  # noqa: E402
from apptest import open_app as _app  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from summarizer.app import (  # noqa: E402
    caches,
    downloads,
    frames,
    labels,
    posters,
    processing,
    uploads,
    urlparams,
)
from summarizer.errors import InputError  # noqa: E402
from summarizer.store import Store  # noqa: E402
from summarizer.summary import filtered as summaries  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A store with the sample video processed through the Home page's button."""
    root = tmp_path_factory.mktemp("atlas-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("ATLAS_HOME", str(root))
    mp.setenv("ATLAS_OFFLINE", "1")
    at = _app({"emb": "pixels"})
    sample = next(b for b in at.button if b.label == "Try the sample video")
    sample.click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("sample-four-scenes.mp4" in s.value for s in at.success)
    yield root
    mp.undo()


@pytest.fixture
def env(home, monkeypatch) -> Path:
    monkeypatch.setenv("ATLAS_HOME", str(home))
    monkeypatch.setenv("ATLAS_OFFLINE", "1")
    return home


@pytest.fixture
def empty_store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ATLAS_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("ATLAS_OFFLINE", "1")
    return tmp_path / "store"


def _sha(root: Path) -> str:
    return Store(root).videos()[0]["sha256"]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --------------------------------------------------------------------------- Home


def test_home_shows_pitch_upload_and_sample(empty_store):
    at = _app({"emb": "pixels"})
    assert not at.exception
    assert at.title[0].value == "keyframe-atlas"
    up = at.file_uploader[0]
    assert up.accept_multiple_files
    assert {".mp4", ".mov", ".mkv", ".webm"} <= set(up.allowed_type)
    import re

    config = (ROOT / ".streamlit" / "config.toml").read_text()
    limit = int(re.search(r"(?m)^maxUploadSize\s*=\s*(\d+)", config).group(1))
    assert limit <= 1024  # uploads are held in memory while they arrive
    assert "Accepted types: mp4, mov" in up.help
    assert f"{limit:,} MB per file" in up.help
    labels = [b.label for b in at.button]
    assert "Try the sample video" in labels and "Process" in labels
    assert any("No videos yet" in i.value for i in at.info)
    assert at.selectbox(key="emb").value == "pixels"


def test_home_library_lists_processed_video(env):
    at = _app({"emb": "pixels"})
    assert not at.exception
    df = at.dataframe[0].value
    assert list(df["name"]) == ["sample-four-scenes.mp4"]
    assert df["duration"][0] == "0:21"
    assert df["computed"][0] == "embeddings: pixels"
    assert str(df["thumbnail"][0]).startswith("data:image/jpeg;base64,")
    assert df["seams"][0] == f"seams?video={_sha(env)}&emb=pixels"


def test_bad_upload_shows_error_and_leaves_nothing(empty_store):
    at = _app({"emb": "pixels"})
    at.file_uploader[0].set_value(
        [
            ("broken clip.mp4", b"this is not a video at all", "video/mp4"),
            ("empty.mov", b"", "video/quicktime"),
        ]
    )
    at.run()
    process = next(b for b in at.button if b.label.startswith("Process"))
    assert process.label == "Process 2 files"
    process.click().run()
    assert not at.exception  # a friendly message, never a traceback
    errors = [e.value for e in at.error]
    assert len(errors) == 2, errors
    assert errors[0].startswith("**broken clip.mp4**: ") and "Traceback" not in errors[0]
    assert "broken" not in errors[0].removeprefix("**broken clip.mp4**: ")  # the name once
    assert errors[1] == "**empty.mov**: The file is empty"
    assert Store(empty_store).videos() == []
    assert [p for p in empty_store.iterdir() if p.is_dir() and not p.name.startswith(".")] == []
    assert list((empty_store / ".uploads").iterdir()) == []


def test_upload_of_a_real_video_through_the_widget(empty_store, tmp_path):
    from summarizer.synth import Shot, make_video

    path = tmp_path / "two scenes.mp4"
    make_video(path, [Shot("static", 3.0, seed=1), Shot("static", 3.0, seed=2)], size=(96, 64))
    at = _app({"emb": "pixels"})
    at.file_uploader[0].set_value(("two scenes.mp4", path.read_bytes(), "video/mp4"))
    at.run()
    next(b for b in at.button if b.label.startswith("Process")).click().run()
    assert not at.exception and not at.error
    assert any("two scenes.mp4" in s.value and "segments" in s.value for s in at.success)
    row = Store(empty_store).videos()[0]
    assert row["name"] == "two scenes.mp4"
    kept = uploads.source_file(Store(empty_store), row["sha256"])
    assert kept is not None and kept.read_bytes() == path.read_bytes()


def test_one_segment_video_is_worded_in_the_singular(empty_store, tmp_path):
    from summarizer.synth import Shot, make_video

    path = tmp_path / "one shot.mp4"
    make_video(path, [Shot("static", 3.0, seed=4)], size=(96, 64))
    at = _app({"emb": "pixels"})
    at.file_uploader[0].set_value(("one shot.mp4", path.read_bytes(), "video/mp4"))
    at.run()
    process = next(b for b in at.button if b.label.startswith("Process"))
    assert process.label == "Process 1 file"
    process.click().run()
    assert not at.exception and not at.error
    [ok] = [s.value for s in at.success]
    assert ok.startswith("**one shot.mp4**: ") and ok.endswith(" frames, 1 segment"), ok
    assert any(c.value == "1 video in the library." for c in at.caption)


def test_plural_labels():
    assert labels.plural(1, "segment") == "1 segment"
    assert labels.plural(0, "segment") == "0 segments"
    assert labels.plural(1204, "frame") == "1,204 frames"
    assert labels.plural(2, "index", "indices") == "2 indices"


def test_clip_messages_are_written_for_the_app():
    cli = (
        "CLIP weights ViT-B-32 / laion2b not found and downloads are off (offline): put them at "
        "/m/ViT-B-32.safetensors, or pass --pretrained /path/to/checkpoint, or use --embedder pixels"
    )
    assert labels.for_app(cli) == (
        "CLIP weights ViT-B-32 / laion2b not found and downloads are off (offline): put them at "
        "/m/ViT-B-32.safetensors, then restart the app."
    )
    assert "--" not in labels.for_app("prompt gates need --embedder clip")
    assert "--" not in (caches.clip_problem() or "")


def test_save_upload_refuses_bad_files(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(InputError, match="not a video file"):
        uploads.save_upload(store, "photo.jpg", b"\xff\xd8")
    with pytest.raises(InputError, match="empty"):
        uploads.save_upload(store, "empty.mp4", b"")
    with pytest.raises(InputError, match="too large"):
        uploads.save_upload(store, "big.mp4", b"x" * 3000, max_bytes=1000)
    assert not list((tmp_path / "s" / ".uploads").iterdir())
    saved = uploads.save_upload(store, "a.mp4", io.BytesIO(b"abc"))
    again = uploads.save_upload(store, "renamed.mov", b"abc")
    assert again.sha256 == saved.sha256 and again.path == saved.path


# --------------------------------------------------------------------------- Seams


def test_seams_page_shows_timeline_segments_and_downloads(env):
    at = _app({"emb": "pixels"}, page="pages/seams.py")
    assert not at.exception, at.exception
    m = _metrics(at)
    assert m["Duration"] == "0:21" and int(m["Segments"]) >= 2
    assert len(at.get("vega_lite_chart")) == 1
    assert len(at.get("image")) >= int(m["Keyframes"])
    labels = [b.label for b in at.get("download_button")]
    assert labels == [
        "Keyframes (ZIP)",
        "Segments (JSON)",
        "Segments (CSV)",
        "Clips (ZIP of MP4)",
        "EDL (CMX 3600)",
        "OpenTimelineIO",
        "Final Cut Pro XML",
        "Keyframe list (CSV)",
    ]
    assert urlparams.qp_get(at.query_params, "video") == _sha(env)
    assert at.radio(key="seam_mode").value == "dynamic"
    assert at.slider(key="seam_k").value == 3.0
    assert at.slider(key="seam_window").value == 30.0
    assert at.slider(key="seam_min").value == 2.0
    assert at.slider(key="seam_max").value == 15.0


def test_seam_settings_rerun_from_cached_embeddings(env):
    store = Store(env)
    sha = _sha(env)
    at = _app({"emb": "pixels"}, page="pages/seams.py")
    computed = [r for r in store.runs(sha, "embed") if not r["cache_hit"]]
    default_seams = int(_metrics(at)["Seams detected"])
    assert default_seams >= 1
    at.slider(key="seam_k").set_value(10.0).run()
    assert not at.exception
    assert urlparams.qp_get(at.query_params, "k") == "10"
    at.radio(key="seam_mode").set_value("fixed").run()
    at.slider(key="seam_fixed").set_value(2.0).run()  # no successor distance exceeds 2
    assert _metrics(at)["Seams detected"] == "0"
    assert int(_metrics(at)["Segments"]) >= 1
    qp = at.query_params
    assert "thr" in qp and "k" not in qp
    # no new embedding was computed for any of that
    assert [r for r in store.runs(sha, "embed") if not r["cache_hit"]] == computed


def test_share_link_reopens_the_same_seams(env):
    sha = _sha(env)
    params = {
        "video": sha,
        "emb": "pixels",
        "mode": "dynamic",
        "k": "1.5",
        "win": "20",
        "min": "1",
        "max": "15",
    }
    first = _app(params, page="pages/seams.py")
    assert first.slider(key="seam_k").value == 1.5
    assert first.slider(key="seam_window").value == 20.0
    other = _app(params, page="pages/seams.py")  # a teammate's fresh session
    assert _metrics(other) == _metrics(first)
    assert other.selectbox(key="video").value == sha


def test_link_to_unknown_video_warns(env):
    at = _app({"video": "f" * 64, "emb": "pixels"}, page="pages/seams.py")
    assert not at.exception
    assert any("not in this server's library" in w.value for w in at.warning)


def test_seams_page_with_empty_library_points_home(empty_store):
    at = _app({"emb": "pixels"}, page="pages/seams.py")
    assert not at.exception
    assert any("library is empty" in i.value for i in at.info)


def test_seams_downloads_have_the_cli_layout(env):
    from summarizer.flow import load_embedded
    from summarizer.scenes.segments import segment_video

    store = Store(env)
    ev = load_embedded(store, _sha(env), processing.sample_settings(), _pixels())
    seg = segment_video(ev)
    doc = json.loads(
        downloads.segment_downloads(ev, seg, processing.sample_settings(), _pixels(), "json")
    )
    assert len(doc["segments"]) == len(seg.segments) and "seams_s" in doc
    assert downloads.segment_downloads(
        ev, seg, processing.sample_settings(), _pixels(), "csv"
    ).startswith(b"segment,")
    z = zipfile.ZipFile(
        io.BytesIO(
            downloads.segment_downloads(
                ev, seg, processing.sample_settings(), _pixels(), "keyframes"
            )
        )
    )
    jpgs = [n for n in z.namelist() if n.endswith(".jpg")]
    assert len(jpgs) == len(seg.keyframe_indices) and "keyframes.png" in z.namelist()
    z = zipfile.ZipFile(
        io.BytesIO(
            downloads.segment_downloads(ev, seg, processing.sample_settings(), _pixels(), "clips")
        )
    )
    assert len([n for n in z.namelist() if n.endswith(".mp4")]) == len(seg.segments)


def _pixels():
    from summarizer.config import EmbedSettings

    return EmbedSettings(embedder="pixels")


# --------------------------------------------------------------------------- Summary


def test_summary_page_shows_keyframes(env):
    at = _app({"emb": "pixels"}, page="pages/summary.py")
    assert not at.exception, at.exception
    m = _metrics(at)
    n = int(m["Keyframes"])
    assert n >= 2
    assert len(at.get("image")) >= 1
    at.radio(key="sum_kmode").set_value("fixed").run()
    at.slider(key="sum_k").set_value(3).run()
    assert _metrics(at)["Keyframes"] == "3"
    assert urlparams.qp_get(at.query_params, "n") == "3"
    at.selectbox(key="sum_dedup").set_value("hash").run()
    at.selectbox(key="sum_gate").set_value("blur").run()
    assert not at.exception
    assert any("Not clustered" in c.value for c in at.caption)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Keyframes (ZIP)", "Summary (JSON)", "Summary (CSV)"]


def test_summary_clip_gate_is_not_offered_without_clip(env):
    # a link asking for the clip gate, opened with the pixels embedder
    at = _app({"emb": "pixels", "gate": "clip", "pos": "a bicycle"}, page="pages/summary.py")
    assert not at.exception
    gate = at.selectbox(key="sum_gate")
    assert gate.options == ["pass", "blur"] and gate.value == "pass"
    assert urlparams.qp_get(at.query_params, "gate") == "pass"
    assert "pos" not in at.query_params
    assert [t.label for t in at.text_input] == []  # no prompt boxes
    why = [c.value for c in at.sidebar.caption if "clip gate" in c.value]
    assert len(why) == 1 and "needs the CLIP embedder" in why[0], why
    shown = [m.value for m in (*at.warning, *at.error, *at.info, *at.caption)]
    assert not [m for m in shown if "--" in m], shown  # no command-line advice in the app
    assert int(_metrics(at)["Keyframes"]) >= 1


def test_summary_download_zip(env):
    from summarizer.flow import load_embedded
    from summarizer.summary.kmeans import SummarySettings

    ev = load_embedded(Store(env), _sha(env), processing.sample_settings(), _pixels())
    fs = summaries.summarize_filtered(ev, SummarySettings(k=4))
    z = zipfile.ZipFile(io.BytesIO(downloads.summary_downloads(ev, fs, "zip")))
    assert len([n for n in z.namelist() if n.endswith(".jpg")]) == len(fs.picks)
    doc = json.loads(z.read("summary.json"))
    assert [p["index"] for p in doc["picks"]] == [int(p) for p in fs.picks]
    big = np.asarray(Image.open(z.open(z.namelist()[0])))
    assert big.shape[0] == 270  # full resolution of the sample (480x270), not the thumbnail


# --------------------------------------------------------------------------- helpers


def test_query_param_parsing_clamps_and_defaults():
    qp = {"k": "12", "win": "abc", "mode": "nonsense", "sv": "1", "v": ["a", "b"], "list": "a,,b"}
    assert urlparams.qp_float(qp, "k", 3.0, 0.0, 10.0) == 10.0
    assert urlparams.qp_float(qp, "win", 30.0, 2.0, 300.0) == 30.0
    assert urlparams.qp_choice(qp, "mode", ("fixed", "dynamic"), "dynamic") == "dynamic"
    assert urlparams.qp_bool(qp, "sv", False) is True
    assert urlparams.qp_get(qp, "v") == "b"
    assert urlparams.qp_list(qp, "list") == ["a", "b"]


def test_image_data_url_is_small_jpeg():
    img = np.zeros((128, 228, 3), np.uint8)
    url = frames.image_data_url(img, width=100)
    assert url.startswith("data:image/jpeg;base64,") and len(url) < 4000


# --------------------------------------------------------------------------- Latent map


def test_latent_map_trains_then_link_shows_it_at_once(env):
    at = _app({"emb": "pixels"}, page="pages/latent-map.py")
    assert not at.exception, at.exception
    train = [b for b in at.button if b.label == "Train the map"]
    if train:  # not in the store yet
        train[0].click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1  # the map (WebGL)
    assert any("frames of 1 video" in c.value for c in at.caption)
    # one short video may be too few frames to train: then PCA to 2-D, and the page says so
    assert any("autoencoder" in c.value for c in at.caption) or any(
        "PCA" in i.value for i in at.info
    )
    # the training prompt is gone once the map exists
    assert not [b for b in at.button if b.label == "Train the map"]
    assert not [m for m in at.markdown if "Training the map takes" in m.value]
    assert len(at.get("image")) == 1  # the poster preview
    names = [b.label for b in at.get("download_button")]
    assert names == ["Poster PNG", "Poster PDF"]
    params = {k: urlparams.qp_get(at.query_params, k) for k in at.query_params}
    n = _map_coords(env).shape[0]
    cols, rows = posters.fit_grid(n, (60.0, 90.0), 16 / 9)
    assert params["videos"] == _sha(env) and params["cols"] == str(cols)

    params["cols"] = "4"
    other = _app(params, page="pages/latent-map.py")  # a teammate opens the link
    assert not other.exception
    assert not [b for b in other.button if b.label == "Train the map"]
    assert any("loaded from the store" in c.value for c in other.caption)
    assert other.number_input(key="poster_cols").value == 4


def _map_coords(root: Path) -> np.ndarray:
    from summarizer.atlas.settings import LatentSettings
    from summarizer.flow import load_embedded
    from summarizer.flow import map_collection as map_videos

    store = Store(root)
    ev = load_embedded(store, _sha(root), processing.sample_settings(), _pixels())
    return np.asarray(map_videos([ev], LatentSettings(), store).coords)


def _poster_state(at: AppTest) -> dict[str, float]:
    keys = ("cols", "rows", "cx", "cy", "w", "wcm", "hcm")
    return {k: at.number_input(key=f"poster_{k}").value for k in keys}


def test_latent_map_default_poster_is_full_and_holds_every_frame(env):
    at = _app({"emb": "pixels"}, page="pages/latent-map.py")
    train = [b for b in at.button if b.label == "Train the map"]
    if train:
        train[0].click().run()
    assert not at.exception, at.exception
    coords = _map_coords(env)
    p = _poster_state(at)
    # the grid: no more cells than frames, and most of them used
    assert p["cols"] * p["rows"] <= len(coords)
    assert p["cols"] * p["rows"] >= 0.8 * len(coords)
    # the cells have about the frames' shape (16:9) on the 60 x 90 cm print
    tile = (p["wcm"] / p["cols"]) / (p["hcm"] / p["rows"])
    assert 16 / 9 / 1.35 < tile < 16 / 9 * 1.35, tile
    # the window holds every frame (height from the print's aspect)
    h = p["w"] * p["hcm"] / p["wcm"]
    assert (coords[:, 0] >= p["cx"] - p["w"] / 2).all()
    assert (coords[:, 0] <= p["cx"] + p["w"] / 2).all()
    assert (coords[:, 1] >= p["cy"] - h / 2).all()
    assert (coords[:, 1] <= p["cy"] + h / 2).all()
    assert not [c for c in at.caption if "empty: the window holds fewer frames" in c.value]

    # a landscape print: the untouched defaults follow it
    at.number_input(key="poster_wcm").set_value(90.0).run()
    at.number_input(key="poster_hcm").set_value(60.0).run()
    q = _poster_state(at)
    assert (q["cols"], q["rows"]) == posters.fit_grid(len(coords), (90.0, 60.0), 16 / 9)
    assert q["cols"] > p["cols"] and q["w"] > p["w"]
    assert urlparams.qp_get(at.query_params, "cols") == str(q["cols"])
    # a user's choice stays when the print size changes again
    at.number_input(key="poster_cols").set_value(3).run()
    at.number_input(key="poster_hcm").set_value(120.0).run()
    r = _poster_state(at)
    assert r["cols"] == 3 and r["rows"] != q["rows"]
    assert not at.exception


def test_poster_defaults_fit_any_print():
    pts = np.array([[-0.9, -0.5], [0.7, 0.8], [0.1, 0.0]])
    for size in ((60.0, 90.0), (90.0, 60.0), (50.0, 50.0)):
        cx, cy, w = posters.fit_window(pts, size)
        h = w * size[1] / size[0]
        assert abs(cx - (-0.1)) < 0.011 and abs(cy - 0.15) < 0.011
        assert w >= 1.6 and h >= 1.3
        assert min(w - 1.6, h - 1.3) < 0.1  # the smallest such window, not a much larger one
    for n in (1, 7, 99, 5000):
        cols, rows = posters.fit_grid(n, (60.0, 90.0))
        assert 1 <= cols * rows <= min(n, posters.MAX_CELLS)
    assert posters.fit_grid(99, (60.0, 90.0)) == (6, 16)


def test_latent_map_poster_bytes(env):
    from summarizer.atlas.settings import LatentSettings
    from summarizer.flow import load_embedded
    from summarizer.flow import map_collection as map_videos
    from summarizer.poster.layout import PosterSettings

    store = Store(env)
    ev = load_embedded(store, _sha(env), processing.sample_settings(), _pixels())
    lmap = map_videos([ev], LatentSettings(), store)
    png, layout = downloads.render_poster_bytes(
        [ev], lmap, PosterSettings(cols=3, rows=2, size_px=(300, 200))
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(layout["tiles"]) == 6
    pdf, _ = downloads.render_poster_bytes(
        [ev], lmap, PosterSettings(cols=3, rows=2, size_px=(300, 200)), "pdf"
    )
    assert pdf[:5] == b"%PDF-"


# --------------------------------------------------------------------------- explore, privacy


def _trained_map(env) -> AppTest:
    at = _app({"emb": "pixels"}, page="pages/latent-map.py")
    train = [b for b in at.button if b.label == "Train the map"]
    if train:
        train[0].click().run()
    assert not at.exception, at.exception
    return at


def test_map_controls_colour_density_pictures_and_url(env):
    at = _trained_map(env)
    assert len(at.get("plotly_chart")) == 1
    for colour in ("segment", "cluster", "video"):
        at.selectbox(key="map_color").set_value(colour).run()
        assert not at.exception, at.exception
        assert urlparams.qp_get(at.query_params, "color") == colour
    at.selectbox(key="map_color").set_value("cluster").run()
    at.number_input(key="map_k").set_value(4).run()
    assert not at.exception, at.exception
    assert urlparams.qp_get(at.query_params, "k") == "4"
    at.toggle(key="map_dens").set_value(False).run()
    at.toggle(key="map_pics").set_value(False).run()
    assert not at.exception
    assert urlparams.qp_get(at.query_params, "dens") == "0"
    assert urlparams.qp_get(at.query_params, "pics") == "0"
    zoom = next(b for b in at.button if b.label == "Zoom to the selection")
    assert zoom.disabled  # nothing selected yet
    assert any("Select frames on the map" in c.value for c in at.caption)
    # a map of pixels embeddings has no text search (CLIP's space is needed), and says so
    assert at.text_input[0].disabled
    assert any("Text search needs a map of CLIP embeddings" in c.value for c in at.caption)


def test_map_search_by_example_frame_links_to_seams_at_that_time(env):
    at = _trained_map(env)
    at.session_state["map_search"] = ("frame", 5)
    at.run()
    assert not at.exception, at.exception
    assert any("Most like this frame" in m.value for m in at.markdown)
    links = [e for e in at.get("page_link") if "Open in Seams" in str(e.proto.label)]
    assert links, "each found frame links to the Seams page"
    assert all("t=" in e.proto.query_string and "video=" in e.proto.query_string for e in links)
    similar = [b for b in at.button if b.label == "Similar frames"]
    assert len(similar) == len(links) >= 2
    similar[1].click().run()
    assert not at.exception
    assert at.session_state["map_search"][0] == "frame"
    next(b for b in at.button if b.label == "Clear search").click().run()
    assert "map_search" not in at.session_state


def test_seams_opens_at_the_time_of_a_link(env):
    at = _app({"emb": "pixels", "video": _sha(env), "t": "12.3"}, page="pages/seams.py")
    assert not at.exception, at.exception
    assert any(c.value.startswith("Opened at 0:12") for c in at.caption), [
        c.value for c in at.caption
    ]
    assert urlparams.qp_get(at.query_params, "t") == "12.3"


def test_markdown_in_a_file_name_is_shown_as_written(empty_store, tmp_path):
    from summarizer.synth import Shot, make_video

    name = "**bold** [link](http://x) $x^2$ :material/warning:.mp4"
    path = tmp_path / "v.mp4"
    make_video(path, [Shot("static", 2.0, seed=1)], size=(96, 64))
    at = _app({"emb": "pixels"})
    at.file_uploader[0].set_value((name, path.read_bytes(), "video/mp4"))
    at.run()
    next(b for b in at.button if b.label.startswith("Process")).click().run()
    assert not at.exception and not at.error
    [ok] = [s.value for s in at.success]
    assert labels.plain(name) in ok and "**bold**" not in ok
    sha = Store(empty_store).videos()[0]["sha256"]
    seams = _app({"emb": "pixels", "video": sha}, page="pages/seams.py")
    assert seams.title[0].value == f"Seams · {labels.plain(name)}"


def test_visitors_see_no_paths_and_downloads_hold_none(env, monkeypatch):
    monkeypatch.delenv("ATLAS_SHOW_PATHS", raising=False)
    at = _app({"emb": "pixels"})
    assert not [c for c in at.sidebar.caption if "Store:" in c.value]
    store = Store(env)
    ev = caches.load_embedded_cached(store, _sha(env), processing.sample_settings(), _pixels())
    seg = processing.find_scenes(ev)
    for what in ("json", "keyframes"):
        data = downloads.segment_downloads(ev, seg, processing.sample_settings(), _pixels(), what)
        if what == "keyframes":
            data = zipfile.ZipFile(io.BytesIO(data)).read("segments.json")
        assert str(env).encode() not in data and b'"path"' not in data
    monkeypatch.setenv("ATLAS_SHOW_PATHS", "1")
    at = _app({"emb": "pixels"})
    assert [c for c in at.sidebar.caption if "Store:" in c.value]


def test_a_failed_upload_leaves_no_library_entry(empty_store, tmp_path):
    at = _app({"emb": "pixels"})
    # a real video header with no frames: probed, then refused
    at.file_uploader[0].set_value(
        ("cut.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video/mp4")
    )
    at.run()
    next(b for b in at.button if b.label.startswith("Process")).click().run()
    assert not at.exception and len(at.error) == 1
    assert Store(empty_store).videos() == []
    assert any("No videos yet" in i.value for i in at.info)


def test_poster_too_big_for_the_server_is_refused_before_rendering(env):
    at = _trained_map(env)
    at.number_input(key="poster_wcm").set_value(200.0).run()
    at.number_input(key="poster_hcm").set_value(200.0).run()
    at.number_input(key="poster_dpi").set_value(300).run()
    assert not at.exception, at.exception
    assert any("megapixels" in w.value for w in at.warning), [w.value for w in at.warning]
    assert all(b.proto.disabled for b in at.get("download_button"))
    at.number_input(key="poster_wcm").set_value(500.0).run()
    at.number_input(key="poster_hcm").set_value(500.0).run()
    at.number_input(key="poster_dpi").set_value(600).run()
    assert not at.exception and not at.error
    assert any("too big" in w.value for w in at.warning)
    assert all(b.proto.disabled for b in at.get("download_button"))


def test_every_seams_control_reruns_and_lands_in_the_url(env):
    at = _app({"emb": "pixels"}, page="pages/seams.py")
    at.radio(key="seam_mode").set_value("robust").run()
    at.slider(key="seam_window").set_value(12.0).run()
    at.slider(key="seam_min").set_value(1.0).run()
    at.slider(key="seam_max").set_value(8.0).run()
    at.checkbox(key="seam_surveyor").set_value(False).run()
    assert not at.exception and not at.error
    qp = {k: urlparams.qp_get(at.query_params, k) for k in at.query_params}
    assert (qp["mode"], qp["win"], qp["min"], qp["max"], qp["sv"]) == (
        "robust",
        "12",
        "1",
        "8",
        "0",
    )
    durations = [
        float(m.value.splitlines()[-1].split()[0]) for m in at.markdown if " s · " in m.value
    ]
    assert durations and max(durations) <= 8.5, durations  # the longest-segment limit holds


def test_every_summary_control_reruns_and_lands_in_the_url(env):
    from summarizer.config import default

    at = _app({"emb": "pixels"}, page="pages/summary.py")
    assert at.slider(key="sum_sim").value == default("summary", "max_similarity")
    at.radio(key="sum_kmode").set_value("fixed").run()
    at.slider(key="sum_k").set_value(3).run()
    assert int(_metrics(at)["Keyframes"]) <= 3
    at.radio(key="sum_kmode").set_value("budget").run()
    at.slider(key="sum_pm").set_value(6.0).run()
    at.slider(key="sum_sim").set_value(0.9).run()
    at.checkbox(key="sum_info").set_value(False).run()
    at.selectbox(key="sum_dedup").set_value("hash").run()
    at.selectbox(key="sum_gate").set_value("blur").run()
    assert at.slider(key="sum_blur").value == 100.0  # the laplacian default, from the config
    at.slider(key="sum_blur").set_value(5.0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    qp = {k: urlparams.qp_get(at.query_params, k) for k in at.query_params}
    assert (qp["n"], qp["pm"], qp["sim"], qp["info"]) == ("budget", "6", "0.9", "0")
    assert (qp["dedup"], qp["gate"], qp["blur"]) == ("hash", "blur", "5")
    assert int(_metrics(at)["Keyframes"]) >= 1
