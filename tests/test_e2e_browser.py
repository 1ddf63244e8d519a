"""End to end in a real browser: `streamlit run app.py`, driven in headless Chromium.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install chromium``) and the
`playwright` Python package (dev extra); Playwright's own browser downloads are not used.
Screenshots go to the test's tmp dir, and also to ``$ATLAS_SCREENSHOTS`` when it is set
(``ATLAS_SCREENSHOTS=docs/screenshots pytest -m browser`` refreshes the README's pictures).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from summarizer.store import Store

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 1000}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError("streamlit did not come up")


@contextlib.contextmanager
def _streamlit(store: Path, log_path: Path):
    """`streamlit run app.py` on a free port with its store at `store`; yields the URL."""
    port = _free_port()
    env = {**os.environ, "ATLAS_HOME": str(store), "ATLAS_OFFLINE": "1"}
    env.pop("ATLAS_SHOW_PATHS", None)
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def server(tmp_path):
    """A Streamlit server on a free port with its store in a temp dir."""
    with _streamlit(tmp_path / "store", tmp_path / "streamlit.log") as url:
        yield url


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _videos(folder: Path) -> list[Path]:
    """Three small videos with known cuts (different scenes, so the map has structure)."""
    from summarizer.synth import Shot, make_video

    plans = {
        "city ride.mp4": [
            Shot("static", 6.0, seed=3),
            Shot("pan", 8.0, seed=5),
            Shot("motion", 6.0, seed=7, transition="dissolve"),
            Shot("zoom", 7.0, seed=9),
            Shot("static", 6.0, seed=13),
        ],
        "coast.mp4": [
            Shot("pan", 10.0, seed=21),
            Shot("flicker", 8.0, seed=22),
            Shot("zoom", 9.0, seed=23),
        ],
        "forest.mp4": [
            Shot("motion", 9.0, seed=31),
            Shot("static", 8.0, seed=32),
            Shot("pan", 9.0, seed=33),
        ],
    }
    out = []
    for name, shots in plans.items():
        path = folder / name
        make_video(path, shots, fps=10.0, size=(320, 180))
        out.append(path)
    return out


class Shots:
    """Saves screenshots to the tmp dir and, with $ATLAS_SCREENSHOTS, to that folder too."""

    def __init__(self, tmp: Path, publish: bool = True) -> None:
        self.tmp = tmp
        extra = os.environ.get("ATLAS_SCREENSHOTS") if publish else None
        self.extra = (
            (ROOT / extra)
            if extra and not Path(extra).is_absolute()
            else (Path(extra) if extra else None)
        )

    def __call__(self, page, name: str, height: int | None = None) -> Path:
        if height:
            page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(600)  # let charts finish their transitions
        path = self.tmp / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if self.extra is not None:
            self.extra.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.extra / path.name)
        return path


def _wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until Streamlit has finished the script run: no 'Running...' icon, no element
    left over (stale) from the previous run."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
              && !document.querySelector('[data-stale="true"]')""",
        timeout=timeout,
    )


def _metrics(page) -> dict[str, str]:
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    return {lab.strip(): v.strip() for lab, v in zip(labels, values, strict=False)}


def test_upload_seams_share_link_summary_and_map(server, browser, tmp_path):
    shots = Shots(tmp_path, publish=False)  # the README's pictures are of real footage (below)
    videos = _videos(tmp_path)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(120_000)

    # Home: upload three files at once, process them with progress bars.
    page.goto(f"{server}/?emb=pixels")
    page.get_by_role("heading", name="keyframe-atlas").wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        [str(p) for p in videos]
    )
    page.get_by_role("button", name="Process 3 files").click()
    page.get_by_role("link", name="Open seams").nth(2).wait_for()
    _wait_idle(page)
    page.get_by_text("3 videos in the library.").wait_for()
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    shots(page, "home_processed")

    # Seams of the first video: the chart and the keyframes appear.
    page.get_by_role("link", name="Open seams").first.click()
    page.locator(".vega-embed").first.wait_for()
    page.locator('[data-testid="stImage"]').nth(2).wait_for()
    _wait_idle(page)
    seams = _metrics(page)
    assert int(seams["Segments"]) >= 3, seams
    assert "video=" in page.url
    # Hovering the curve shows the frame in a tooltip.
    box = page.locator(".vega-embed").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    page.wait_for_timeout(300)
    shots(page, "seams")

    # The share link in a fresh page (a teammate) shows the same result at once.
    other = browser.new_context(viewport=VIEWPORT).new_page()
    other.set_default_timeout(120_000)
    other.goto(page.url)
    other.locator(".vega-embed").first.wait_for()
    _wait_idle(other)
    assert _metrics(other) == seams
    assert other.url.split("?")[1] == page.url.split("?")[1]
    other.close()

    # Summary of the same video.
    page.goto(page.url.replace("/seams?", "/summary?"))
    page.get_by_text("Frames clustered").wait_for()
    _wait_idle(page)
    assert int(_metrics(page)["Keyframes"]) >= 2
    shots(page, "summary")

    # Latent map of the three videos: train, then the scatter and the poster preview.
    page.goto(f"{server}/latent-map?emb=pixels")
    page.get_by_role("button", name="Train the map").click()
    page.get_by_text("poster window").wait_for(timeout=300_000)
    page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for()
    _wait_idle(page, timeout=300_000)
    page.get_by_label("Draw the path of").click()
    page.get_by_role("option", name="city ride.mp4").click()
    _wait_idle(page)
    assert page.get_by_text("frames of 3 videos").count() == 1
    assert page.get_by_text("Preview (from thumbnails)").count() == 1
    assert page.get_by_text("empty: the window holds fewer frames").count() == 0  # full poster
    shots(page, "latent_map", height=1300)
    page.close()

    # Home in a fresh session: the library with what is computed for each video.
    home = browser.new_context(viewport=VIEWPORT).new_page()
    home.set_default_timeout(120_000)
    home.goto(f"{server}/?emb=pixels")
    home.get_by_text("3 videos in the library.").wait_for()
    _wait_idle(home)
    shots(home, "home")
    home.close()


def _footage(tmp: Path) -> list[Path]:
    """Real footage when $ATLAS_FOOTAGE (or /work/footage) holds it (see the scenes
    helper's benchmarks/footage.py), else the synthetic videos."""
    root = Path(os.environ.get("ATLAS_FOOTAGE", "/work/footage")) / "real"
    real = [root / n for n in ("trailer_bbb.mp4", "demo.mp4", "bikes.mp4")]
    return real if all(p.is_file() for p in real) else _videos(tmp)


def test_fresh_server_share_link_map_selection_and_seams_at_that_time(browser, tmp_path):
    """A link opened first thing on a freshly started server shows its page (no "Page not
    found" modal); on the map a lasso selection shows the frames in a grid, and a frame's
    link opens its video's Seams page at that time."""
    from summarizer.app.processing import process_video, sample_settings
    from summarizer.config import EmbedSettings

    shots = Shots(tmp_path)
    store_dir = tmp_path / "store"
    store = Store(store_dir)
    hashes = []
    for path in _footage(tmp_path):
        ev, _ = process_video(store, path, sample_settings(), EmbedSettings(embedder="pixels"))
        hashes.append(ev.ref.sha256)
    del store

    with _streamlit(store_dir, tmp_path / "streamlit.log") as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        page.goto(f"{url}/seams?video={hashes[0]}&emb=pixels&mode=dynamic&k=3&t=33")
        page.locator('[data-testid="stMetricValue"]').first.wait_for()
        _wait_idle(page)
        assert page.get_by_text("Page not found").count() == 0
        assert int(_metrics(page)["Segments"]) >= 1
        page.locator('[data-testid="stImage"]').nth(4).wait_for()
        shots(page, "seams", height=1700)

        # The map: train it, then lasso a region around the middle of the frames.
        page.goto(f"{url}/latent-map?emb=pixels&pics=1&dens=1")
        page.get_by_role("button", name="Train the map").click()
        plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
        plot.wait_for(timeout=300_000)
        _wait_idle(page, timeout=300_000)
        assert page.get_by_text("Page not found").count() == 0
        shots(page, "latent_map", height=1500)
        box = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        r = min(box["width"], box["height"]) * 0.2
        page.mouse.move(cx - r, cy - r)
        page.mouse.down()
        for fx, fy in ((1, -1), (1, 1), (-1, 1), (-1, -0.9)):
            page.mouse.move(cx + fx * r, cy + fy * r, steps=8)
        page.mouse.up()
        page.get_by_text("Selected:").wait_for()
        _wait_idle(page)
        n = int(page.get_by_text("Selected:").inner_text().split()[1].replace(",", ""))
        assert n >= 1
        shots(page, "latent_map_selection", height=2000)
        grid = page.get_by_role("link", name="Open in Seams")
        grid.first.wait_for()
        assert grid.count() == min(n, 24)

        href = grid.first.get_attribute("href")
        t = float(href.split("t=")[1].split("&")[0])
        grid.first.click()
        page.get_by_text("Opened at").wait_for()
        _wait_idle(page)
        assert "/seams" in page.url and "t=" in page.url
        caption = page.get_by_text("Opened at").inner_text()
        m, s = caption.split("Opened at ")[1].split(",")[0].split(":")
        assert abs(int(m) * 60 + float(s) - t) <= 1.0, (caption, t)

        # A link to a zoomed view of the map: finer pictures there, and a way back.
        page.goto(f"{url}/latent-map?emb=pixels&pics=1&view=-0.3,0.3,-0.3,0.3")
        page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for()
        _wait_idle(page)
        assert "view=-0.3" in page.url
        assert page.locator('[data-testid="stPlotlyChart"] image').count() > 0
        assert page.get_by_role("button", name="Whole map").is_enabled()

        # The other pages of the same real footage, for the README.
        page.goto(f"{url}/summary?video={hashes[0]}&emb=pixels")
        page.get_by_text("Frames clustered").wait_for()
        _wait_idle(page)
        assert int(_metrics(page)["Keyframes"]) >= 2
        shots(page, "summary", height=1500)
        page.goto(f"{url}/?emb=pixels")
        page.get_by_text(f"{len(hashes)} videos in the library.").wait_for()
        _wait_idle(page)
        shots(page, "home", height=1000)
        page.close()
    if shots.extra is not None:  # the poster of the real collection, small
        _poster_picture(store_dir, hashes, shots.extra / "poster.jpg")


def _poster_picture(store_dir: Path, hashes: list[str], out: Path) -> None:
    from summarizer.app.catalog import map_runner
    from summarizer.app.downloads import render_poster_bytes
    from summarizer.app.processing import sample_settings
    from summarizer.config import EmbedSettings, section_class
    from summarizer.flow import load_embedded
    from summarizer.poster.layout import PosterSettings

    store = Store(store_dir)
    evs = [
        load_embedded(store, h, sample_settings(), EmbedSettings(embedder="pixels")) for h in hashes
    ]
    lmap = map_runner()(evs, section_class("latent")(), store)
    order = {h: i for i, h in enumerate(lmap.hashes)}
    evs.sort(key=lambda e: order[e.ref.sha256])
    png, _ = render_poster_bytes(evs, lmap, PosterSettings(cols=12, rows=16, size_px=(1200, 1600)))
    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").save(out, quality=85)  # a JPEG for the README


VTT = """WEBVTT

00:00:00.500 --> 00:00:03.000
A quiet street at dawn.

00:00:05.500 --> 00:00:07.500
Now the cat runs across the road.

00:00:09.000 --> 00:00:10.500
The dog sits by the door.
"""


def test_link_box_captions_subtitles_and_editor_downloads(browser, tmp_path, monkeypatch):
    """Home's link box fetches a video from an HTTP server on 127.0.0.1 (yt-dlp's real code
    path); its Seams page shows captions under the keyframes and subtitles per segment, and
    the editor downloads are files OpenTimelineIO reads back with the segments' cuts."""
    import json

    pytest.importorskip("yt_dlp")
    pytest.importorskip("openai")
    otio = pytest.importorskip("opentimelineio")
    sys.path.insert(0, str(ROOT / "tests"))
    from localhttp import completion, reply, serve
    from test_app_sources import _mjpeg

    from summarizer.app import texts
    from summarizer.app.processing import find_scenes, sample_settings
    from summarizer.captions import Caption, write_captions
    from summarizer.config import EmbedSettings
    from summarizer.flow import load_embedded
    from summarizer.synth import Shot, make_video

    shots = Shots(tmp_path, publish=False)  # synthetic clips: not the README's pictures
    site = tmp_path / "site"
    site.mkdir()
    make_video(
        site / "street clip.mp4",
        [Shot("static", 4.0, seed=1), Shot("pan", 4.0, seed=2), Shot("zoom", 4.0, seed=3)],
        fps=10.0,
        size=(320, 180),
    )
    store_dir = tmp_path / "store"
    asked = []

    def chat(h):
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        asked.append(body["model"])
        reply(h, 200, completion(f"Caption {len(asked)} from the model.", body["model"]))

    with serve(site, {"/v1/chat/completions": chat, "/cam.mjpg": _mjpeg}) as base:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{base}/v1")
        monkeypatch.setenv("OPENAI_MODEL", "tiny-vlm")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
        with _streamlit(store_dir, tmp_path / "streamlit.log") as url:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)
            page.goto(f"{url}/?emb=pixels")
            page.get_by_role("heading", name="keyframe-atlas").wait_for()
            box = page.get_by_label("Or paste a link", exact=True).and_(page.locator("input"))
            # A dead link: one line, and the page goes on.
            box.fill(f"{base}/gone.mp4")
            page.get_by_role("button", name="Fetch and process").click()
            page.locator('[data-testid="stAlertContentError"]').wait_for()
            _wait_idle(page)
            assert page.locator('[data-testid="stAlertContentError"]').count() == 1
            assert "404" in page.locator('[data-testid="stAlertContentError"]').inner_text()
            shots(page, "home_link_error", height=1100)
            box.fill(f"{base}/street%20clip.mp4")
            page.get_by_role("button", name="Fetch and process").click()
            page.get_by_role("link", name="Open seams").wait_for()
            _wait_idle(page)
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0
            assert page.get_by_text("stored under the hash of its bytes").count() == 1
            page.get_by_text("1 video in the library.").wait_for()
            shots(page, "home_link", height=1250)

            # Captions for two keyframes, as "Caption keyframes" or the CLI would keep them.
            store = Store(store_dir)
            [row] = store.videos()
            assert row["key_kind"] == "bytes"
            ev = load_embedded(store, row["sha256"], sample_settings(), EmbedSettings("pixels"))
            seg = find_scenes(ev)
            k0, k1 = int(seg.keyframe_indices[0]), int(seg.keyframe_indices[-1])
            texts.text_dir(store, row["sha256"], create=True)
            write_captions(
                texts.captions_path(store, row["sha256"]),
                [
                    Caption(
                        float(ev.times_s[k0]), int(ev.indices[k0]), "A grey street, nobody there"
                    ),
                    Caption(float(ev.times_s[k1]), int(ev.indices[k1]), "Zooming into a wall"),
                ],
            )

            page.get_by_role("link", name="Open seams").click()
            page.locator('[data-testid="stImage"]').nth(2).wait_for()
            _wait_idle(page)
            page.get_by_text("A grey street, nobody there").wait_for()
            assert page.get_by_text("Zooming into a wall").count() == 1
            # Subtitles added on the page: the text said per segment, keywords marked.
            page.get_by_text("Subtitles", exact=True).click()
            subs = tmp_path / "street clip.vtt"
            subs.write_text(VTT)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                str(subs)
            )
            page.get_by_text("Now the cat runs across the road.").wait_for()
            _wait_idle(page)
            page.get_by_role("textbox", name="Keywords").fill("cat, dog")
            page.get_by_role("textbox", name="Keywords").press("Enter")
            page.get_by_text("2 spans in 2 segments.").wait_for()
            _wait_idle(page)
            shots(page, "seams_words", height=2300)

            # The editor downloads: OTIO reads each back with the segments' cuts.
            def download(label: str) -> bytes:
                with page.expect_download() as info:
                    page.get_by_role("button", name=label).click()
                return Path(info.value.path()).read_bytes()

            import json

            doc = json.loads(download("Segments (JSON)"))
            fps = float(doc["fps"])
            want = [(round(s["start_s"] * fps), round(s["end_s"] * fps)) for s in doc["segments"]]
            assert len(want) == int(_metrics(page)["Segments"]) >= 3
            for label, adapter in (
                ("OpenTimelineIO", "otio_json"),
                ("EDL (CMX 3600)", "cmx_3600"),
                ("Final Cut Pro XML", "fcp_xml"),
            ):
                text = download(label).decode()
                assert str(store_dir) not in text  # no server path
                got = []
                for clip in otio.adapters.read_from_string(text, adapter).find_clips():
                    r = clip.source_range
                    a = r.start_time.value * fps / r.start_time.rate
                    got.append((round(a), round(a + r.duration.value * fps / r.start_time.rate)))
                assert got == want, (label, got, want)
            rows = download("Keyframe list (CSV)").decode().strip().splitlines()
            assert rows[0].startswith("segment,time_s,source_frame")
            assert len(rows) - 1 == int(_metrics(page)["Keyframes"])

            # "Caption keyframes" with the OpenAI-compatible server on 127.0.0.1.
            page.get_by_role("button", name="Caption keyframes").click()
            page.get_by_text("keyframes captioned.").wait_for()
            _wait_idle(page)
            n = int(_metrics(page)["Keyframes"])
            assert len(asked) == n
            for i in range(n):
                assert page.get_by_text(f"Caption {i + 1} from the model.").count() == 1
            assert page.get_by_text("A grey street, nobody there").count() == 0  # replaced
            shots(page, "seams_captions", height=2300)

            # The detector choice: successor from the sidebar, kept in the link.
            page.get_by_role("combobox", name="Detector").click()
            page.get_by_role("option", name="successor (embeddings)").click()
            _wait_idle(page)
            assert "det=successor" in page.url
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0

            # A live MJPEG camera, recorded for its end time: the bar counts the seconds.
            page.goto(f"{url}/?emb=pixels")
            page.get_by_role("heading", name="keyframe-atlas").wait_for()
            box = page.get_by_label("Or paste a link", exact=True).and_(page.locator("input"))
            box.fill(f"{base}/cam.mjpg")
            end = page.get_by_label("Live streams: record for (s)", exact=True)
            end.and_(page.locator("input")).fill("6")
            page.get_by_role("button", name="Fetch and process").click()
            page.get_by_text("Reading the link:").wait_for()
            page.wait_for_timeout(2500)
            shots(page, "home_link_progress", height=1100)
            page.get_by_text("stored under its link and stream identity").wait_for()
            _wait_idle(page)
            page.get_by_text("2 videos in the library.").wait_for()
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0
            page.close()
