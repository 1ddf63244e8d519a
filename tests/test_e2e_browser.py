"""End to end in a real browser: `streamlit run app.py`, driven in headless Chromium.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install chromium``) and the
`playwright` Python package (dev extra); Playwright's own browser downloads are not used.
Screenshots go to the test's tmp dir, and also to ``$ATLAS_SCREENSHOTS`` when it is set
(``ATLAS_SCREENSHOTS=docs/screenshots pytest -m browser`` refreshes the README's pictures).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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


@pytest.fixture
def server(tmp_path):
    """A Streamlit server on a free port with its store in a temp dir."""
    port = _free_port()
    env = {**os.environ, "ATLAS_HOME": str(tmp_path / "store"), "ATLAS_OFFLINE": "1"}
    log = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115 - closed below
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

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        extra = os.environ.get("ATLAS_SCREENSHOTS")
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
    shots = Shots(tmp_path)
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
    page.get_by_text("Poster window").wait_for(timeout=300_000)
    page.locator(".vega-embed").first.wait_for()
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
