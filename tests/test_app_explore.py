"""The app's pure parts: the explorable map (points, pictures, figure, selections, search),
the job queue, plain-text names and what visitors may see. No Streamlit runtime needed."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from summarizer.app import explore, jobs, labels, privacy


def _lmap(n_per_video=(300, 200), seed=0):
    rng = np.random.default_rng(seed)
    vidx = np.concatenate([np.full(n, v) for v, n in enumerate(n_per_video)])
    coords = np.clip(rng.normal(0, 0.4, (len(vidx), 2)), -1, 1).astype(np.float32)
    times = np.concatenate([np.arange(n) * 0.5 for n in n_per_video])
    return SimpleNamespace(
        coords=coords,
        video_index=vidx,
        times_s=times,
        names=tuple(f"v{v}.mp4" for v in range(len(n_per_video))),
        hashes=tuple(f"{v:064x}" for v in range(len(n_per_video))),
    )


def _seg(bounds):
    return SimpleNamespace(
        segments=[SimpleNamespace(index=i, first=a, stop=b) for i, (a, b) in enumerate(bounds)]
    )


def test_map_points_align_rows_with_videos_and_segments():
    lmap = _lmap()
    pts = explore.map_points(lmap, [_seg([(0, 100), (100, 300)]), _seg([(0, 200)])])
    assert len(pts) == 500
    assert pts.position[299] == 299 and pts.position[300] == 0 and pts.position[-1] == 199
    assert pts.segment[99] == 0 and pts.segment[100] == 1 and pts.segment[300] == 0
    assert pts.time_s[301] == pytest.approx(0.5)
    codes = explore.colour_codes(pts, "segment")
    assert codes[99] != codes[100]  # neighbouring segments differ
    assert (explore.colour_codes(pts, "video") == pts.video).all()


def test_thumbnails_never_overlap_and_follow_the_view():
    pts = explore.map_points(_lmap((3000,)))
    rows, at, size = explore.thumbnail_rows(pts, None, 10)
    assert 0 < len(rows) <= 100 and size > 0 and at.shape == (len(rows), 2)
    # one picture per grid cell, each a cell apart at least: they never overlap
    d = np.abs(at[:, None, :] - at[None, :, :]).max(axis=2) + np.eye(len(at)) * 9
    assert d.min() >= size * 0.999
    # each picture is a frame of its own cell
    assert (np.abs(pts.x[rows] - at[:, 0]) <= size / 2 + 1e-6).all()
    view = (-0.1, 0.1, -0.1, 0.1)
    zoomed, _, zsize = explore.thumbnail_rows(pts, view, 10)
    assert zsize == pytest.approx(0.02)  # finer pictures when zoomed in
    assert ((pts.x[zoomed] >= -0.1) & (pts.x[zoomed] <= 0.1)).all()
    many, _, _ = explore.thumbnail_rows(pts, None, 100)
    assert len(many) <= explore.MAX_THUMBS


def test_figure_of_100k_frames_is_webgl_and_small():
    pts = explore.map_points(_lmap((60_000, 40_000)))
    codes = explore.colour_codes(pts, "video")
    thumbs = {int(r): np.zeros((18, 32, 3), np.uint8) for r in range(5)}
    fig = explore.figure(
        pts, codes, legend={0: "a", 1: "b"}, density=True, thumbnails=thumbs, thumb_size=0.1,
        highlight=np.arange(3), box=(-0.5, 0.5, -0.5, 0.5),
    )  # fmt: skip
    frames = next(t for t in fig.data if t.name == "frames")
    assert frames.type == "scattergl" and len(frames.x) == 100_000
    text = fig.to_json()
    assert len(text) < 4_000_000, len(text)  # base64 arrays, far under the websocket limit
    assert "bdata" in text
    assert len(fig.layout.images) == 5 and len(fig.layout.shapes) == 1
    assert any(t.type == "heatmap" for t in fig.data)


def test_selected_rows_reads_box_and_lasso_events():
    pts = explore.map_points(_lmap())
    fig = explore.figure(pts, explore.colour_codes(pts, "video"), density=True)
    frames = next(i for i, t in enumerate(fig.data) if t.name == "frames")
    event = {
        "selection": {
            "points": [
                {"curve_number": frames, "point_index": 7},
                {"curve_number": frames, "point_index": 3},
                {"curve_number": 0, "point_index": 99},  # the density layer: ignored
            ],
            "box": [{}],
        }
    }
    assert explore.selected_rows(event, fig).tolist() == [3, 7]
    assert explore.selected_rows({"selection": {"points": []}}, fig).tolist() == []
    x0, x1, y0, y1 = explore.bounds(pts, np.array([3, 7]))
    assert x0 <= min(pts.x[3], pts.x[7]) and x1 >= max(pts.x[3], pts.x[7])
    assert x1 - x0 == pytest.approx(y1 - y0)


def test_nearest_finds_the_example_first():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(1000, 16)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    found = explore.nearest(e, e[42], top=5)
    assert found[0] == 42 and len(found) == 5
    scores = e[found] @ e[42]
    assert (np.diff(scores) <= 1e-6).all()


def test_clusters_label_every_frame():
    rng = np.random.default_rng(2)
    e = np.concatenate([rng.normal(c, 0.05, (50, 8)) for c in (0.0, 3.0, 6.0)])
    lab = explore.cluster_labels(e, 3)
    assert len(lab) == 150 and len(set(lab[:50])) == 1 and len(set(lab)) == 3


def test_job_queue_runs_one_at_a_time_and_reports_the_wait():
    q = jobs.JobQueue(slots=1)
    events, waits = [], []
    release = threading.Event()

    def first():
        with q.slot():
            events.append("first in")
            release.wait(5)
        events.append("first out")

    t = threading.Thread(target=first)
    t.start()
    while "first in" not in events:
        time.sleep(0.01)

    def second():
        with q.slot(on_wait=waits.append):
            events.append("second in")

    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(0.3)
    assert "second in" not in events and waits and waits[0] == 1
    release.set()
    t.join(5)
    t2.join(5)
    assert events == ["first in", "first out", "second in"] or events == [
        "first in",
        "second in",
        "first out",
    ]
    assert events.index("second in") > 0 and q.running == 0 and q.waiting == 0


def test_job_queue_gives_up_the_place_when_the_page_leaves():
    q = jobs.JobQueue(slots=1)
    with q.slot():

        def leave(_ahead):
            raise KeyboardInterrupt  # like Streamlit stopping a script run

        with pytest.raises(KeyboardInterrupt), q.slot(on_wait=leave):
            pass
        assert q.waiting == 0
    with q.slot():  # not blocked by the one that left
        assert q.running == 1


@pytest.mark.parametrize(
    "name",
    ["**bold** [link](http://x).mp4", "$x^2$.mp4", ":material/warning: clip.mp4", "# h1.mp4",
     "1. first.mp4", "<b>x</b>.mp4", "a_b_c.mp4", "~~gone~~.mp4", "`code`.mp4"],
)  # fmt: skip
def test_names_are_plain_text_in_markdown(name):
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(labels.plain(name))
    text = html.removeprefix("<p>").removesuffix("</p>\n").replace("\u2060", "")
    import html as h

    assert h.unescape(text) == name, html
    assert ":material/" not in labels.plain(name).replace(
        "\u2060", "X"
    ) or ":\u2060" in labels.plain(name)


def test_visitors_see_no_server_paths(monkeypatch):
    monkeypatch.delenv("ATLAS_SHOW_PATHS", raising=False)
    msg = "CLIP weights missing: put them at /srv/atlas/models/ViT.safetensors or /data/store/ab/x"
    out = privacy.redact(msg, ["/data/store"])
    assert "/srv" not in out and "/data" not in out and "ViT.safetensors" in out
    doc = {"video": "a.mp4", "path": "/data/store/ab/source/a.mp4", "segments": [{"path": "/x"}]}
    assert privacy.without_paths(doc) == {"video": "a.mp4", "segments": [{}]}
    assert json.dumps(privacy.without_paths(doc)).find("/data") == -1
    monkeypatch.setenv("ATLAS_SHOW_PATHS", "1")
    assert privacy.redact(msg, ["/data/store"]) == msg


def test_release_drops_streamlit_s_copy_of_an_upload(monkeypatch):
    import streamlit.runtime.scriptrunner as sr

    from summarizer.app import uploads

    removed = []
    mgr = SimpleNamespace(
        remove_file=lambda session_id, file_id: removed.append((session_id, file_id))
    )
    ctx = SimpleNamespace(session_id="s1", uploaded_file_mgr=mgr)
    monkeypatch.setattr(sr, "get_script_run_ctx", lambda *a, **k: ctx)
    f = __import__("io").BytesIO(b"x" * 10)
    f.file_id = "f1"
    uploads.release(f)
    assert removed == [("s1", "f1")] and f.closed
