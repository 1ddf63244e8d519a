"""The app under load: N concurrent sessions opening pages of an already processed video.

A real `streamlit run app.py` on 127.0.0.1 with a store that holds `--video` (real footage
when present, processed with the model-free pixels embedder before the server starts), and
headless Chromium sessions (Playwright, Debian's /usr/bin/chromium), each opening the Seams
page `--views` times (a share link: a fresh browser context every time). Measured per view:
time to content (navigation start -> the page's metrics shown and the script run finished);
per round: the server process' CPU seconds (psutil) divided by the views. 1 session and
`--sessions` sessions are measured side by side in one run (after one warm-up view), so the
ratio shows what concurrency costs on this machine. `--page map` opens the Latent map
instead (the map of the video, trained once before the rounds), to measure the WebGL view
with `--frames` points: time until the map's canvas is drawn.

The last line is one JSON object.

    python benchmarks/bench_app.py [--sessions 4] [--views 10] [--video PATH] [--page seams|map]
    python benchmarks/bench_app.py --upload-mb 150     # server memory around one upload
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FOOTAGE = Path(os.environ.get("ATLAS_FOOTAGE", "/work/footage")) / "real" / "trailer_bbb.mp4"
READY = """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
             && !document.querySelector('[data-stale="true"]')"""


def prepare(store_dir: Path, video: Path | None) -> str:
    """Process the video into the store (pixels embedder); its hash."""
    from summarizer.app.processing import process_video, sample_settings
    from summarizer.config import EmbedSettings
    from summarizer.store import Store

    if video is None or not video.is_file():
        from summarizer.synth import sample_video

        video = sample_video(store_dir.parent / "sample.mp4")
    ev, _ = process_video(
        Store(store_dir), video, sample_settings(), EmbedSettings(embedder="pixels")
    )
    return ev.ref.sha256


def long_videos(folder: Path, frames: int, videos: int = 4) -> list[Path]:
    """`videos` tiny test-pattern videos at 2 fps (the app's sampling rate) holding `frames`
    frames together, made by ffmpeg (a collection of many hours, in seconds)."""
    out = []
    seconds = frames / 2 / videos
    for v in range(videos):
        path = folder / f"long{v}.mp4"
        src = ("testsrc2", "testsrc")[v % 2]
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
             f"{src}=size=96x54:rate=2,hue=h={v * 70}", "-t", f"{seconds:.1f}",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )  # fmt: skip
        out.append(path)
    return out


def train_map(store_dir: Path, hashes: list[str]) -> int:
    """The videos' latent map, trained into the store before the server serves it; frames."""
    from summarizer.app.catalog import map_runner
    from summarizer.app.processing import sample_settings
    from summarizer.config import EmbedSettings, section_class
    from summarizer.flow import load_embedded
    from summarizer.store import Store

    store = Store(store_dir)
    pixels = EmbedSettings(embedder="pixels")
    evs = [load_embedded(store, h, sample_settings(), pixels) for h in hashes]
    return len(map_runner()(evs, section_class("latent")(), store).coords)


@contextlib.contextmanager
def server(store_dir: Path, log: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ATLAS_HOME": str(store_dir), "ATLAS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1",
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]  # fmt: skip
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                time.sleep(0.3)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def one_view(browser, url: str, ready: str) -> float:
    """Seconds from opening `url` in a fresh context to the content shown, run finished."""
    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
    page = await ctx.new_page()
    page.set_default_timeout(300_000)
    t0 = time.perf_counter()
    await page.goto(url)
    await page.locator(ready).first.wait_for()
    await page.wait_for_function(READY)
    dt = time.perf_counter() - t0
    await ctx.close()
    return dt


async def session(browser, url: str, ready: str, views: int) -> list[float]:
    return [await one_view(browser, url, ready) for _ in range(views)]


async def round_(url: str, ready: str, sessions: int, views: int, proc) -> dict:
    import psutil
    from playwright.async_api import async_playwright

    p = psutil.Process(proc.pid)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        cpu0 = sum(p.cpu_times()[:2])
        t0 = time.perf_counter()
        times = await asyncio.gather(
            *(session(browser, url, ready, views) for _ in range(sessions))
        )
        wall = time.perf_counter() - t0
        cpu = sum(p.cpu_times()[:2]) - cpu0
        await browser.close()
    flat = sorted(t for ts in times for t in ts)
    p95 = flat[min(len(flat) - 1, int(round(0.95 * (len(flat) - 1))))]
    return {
        "sessions": sessions,
        "views": len(flat),
        "p50_s": round(statistics.median(flat), 3),
        "p95_s": round(p95, 3),
        "server_cpu_s_per_view": round(cpu / len(flat), 3),
        "wall_s": round(wall, 2),
    }


async def upload_memory(url: str, proc, size_mb: int, folder: Path) -> dict:
    """Server memory (RSS, MB) around one upload of `size_mb` MB of random bytes named
    ``.mp4`` through the Home page: before, while Streamlit holds it, after processing
    (refused: not a video) and after the session closed."""
    import psutil
    from playwright.async_api import async_playwright

    path = folder / "upload.mp4"
    with open(path, "wb") as fh:
        for _ in range(size_mb):
            fh.write(os.urandom(1 << 20))
    p = psutil.Process(proc.pid)

    def rss() -> int:
        return round(p.memory_info().rss / 2**20)

    out = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = await browser.new_page()
        page.set_default_timeout(300_000)
        await page.goto(f"{url}/?emb=pixels")
        await page.get_by_text("No videos yet").wait_for()  # the page (and the CLIP check) ran
        await page.wait_for_function(READY)
        await page.wait_for_timeout(3000)
        out["before_mb"] = rss()
        await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
            str(path)
        )
        await page.get_by_role("button", name="Process 1 file").wait_for()
        await page.wait_for_timeout(1000)
        out["held_by_streamlit_mb"] = rss()
        await page.get_by_role("button", name="Process 1 file").click()
        await page.locator('[data-testid="stAlertContentError"]').first.wait_for()
        await page.wait_for_timeout(2000)
        out["after_processing_mb"] = rss()
        await page.close()
        await asyncio.sleep(10)
        out["10_s_after_session_mb"] = rss()
        await browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--views", type=int, default=10, help="views per session")
    ap.add_argument("--video", type=Path, default=FOOTAGE)
    ap.add_argument("--page", choices=("seams", "map"), default="seams")
    ap.add_argument("--frames", type=int, default=100_000, help="frames on the map (--page map)")
    ap.add_argument(
        "--upload-mb", type=int, default=0, help="instead: server memory around one upload"
    )
    args = ap.parse_args()
    from summarizer.embed import runtime

    runtime.apply()  # an entry point: it embeds and trains the map before the server starts
    if args.upload_mb:
        with (
            tempfile.TemporaryDirectory(prefix="bench-app-") as tmp,
            server(Path(tmp) / "store", Path(tmp) / "streamlit.log") as (url, proc),
        ):
            mem = asyncio.run(upload_memory(url, proc, args.upload_mb, Path(tmp)))
        print(json.dumps({"benchmark": "app_upload", "upload_mb": args.upload_mb, **mem}))
        return

    frames = None
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        store_dir = Path(tmp) / "store"
        if args.page == "seams":
            sha = prepare(store_dir, args.video)
        else:
            hashes = [prepare(store_dir, p) for p in long_videos(Path(tmp), args.frames)]
            frames = train_map(store_dir, hashes)
        with server(store_dir, Path(tmp) / "streamlit.log") as (url, proc):
            if args.page == "seams":
                link = f"{url}/seams?video={sha}&emb=pixels"
                ready = '[data-testid="stMetricValue"]'
            else:
                link = f"{url}/latent-map?emb=pixels&videos={','.join(hashes)}"
                ready = '[data-testid="stPlotlyChart"] canvas.gl-canvas-context'
            warm = asyncio.run(round_(link, ready, 1, 1, proc))
            one = asyncio.run(round_(link, ready, 1, args.views, proc))
            many = asyncio.run(round_(link, ready, args.sessions, args.views, proc))
    for r in (one, many):
        print(
            f"{r['sessions']} session(s), {r['views']} views: time to content p50 {r['p50_s']} s, "
            f"p95 {r['p95_s']} s; server CPU {r['server_cpu_s_per_view']} s per view"
        )
    print(
        json.dumps(
            {
                "benchmark": "app",
                "page": args.page,
                "video": args.video.name if args.page == "seams" else "ffmpeg test patterns",
                "frames_on_map": frames,
                "first_view_s": warm["p50_s"],
                "one_session": one,
                "concurrent": many,
                "p50_ratio": round(many["p50_s"] / max(one["p50_s"], 1e-9), 2),
                "cpus": os.cpu_count(),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
