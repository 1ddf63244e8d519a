"""URLs, streams and captions against servers on 127.0.0.1: what they cost on top of the work.

- yt-dlp reading a direct URL vs copying the same file (resolve overhead, MB/s);
- the first 3 s of a 40 s, 48 MB file behind a URL (`--end-time 3`): streamed (ffmpeg over
  http, stream copy) vs downloaded whole: seconds and bytes the server sent;
- an HLS VOD captured to its end (re-encode, faster than real time) and an MJPEG camera
  captured for --end-time seconds (bounded by real time: wall / end-time ~ 1);
- captions from a local OpenAI-compatible server that takes 100 ms per request: frames per
  second with one image per request vs batches of 4.
Medians of 3 runs; the last line is one JSON object.

Run: python benchmarks/bench_sources.py
"""

from __future__ import annotations

import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from localhttp import serve  # noqa: E402

RUNS = 3
LATENCY_S = 0.1


def _median(fn) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _mjpeg(handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
    handler.end_headers()
    try:
        for i in range(10_000):
            buf = io.BytesIO()
            Image.fromarray(np.full((240, 320, 3), i % 255, np.uint8)).save(buf, "JPEG")
            d = buf.getvalue()
            handler.wfile.write(b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(d) + d + b"\r\n")  # fmt: skip
            time.sleep(0.04)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _chat(handler) -> None:
    body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
    n = sum(p["type"] == "image_url" for p in body["messages"][0]["content"])
    time.sleep(LATENCY_S)
    text = json.dumps([f"frame {i}" for i in range(n)]) if n > 1 else "a frame"
    data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text}}]}).encode()  # fmt: skip
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def main() -> int:
    from summarizer.captions import CaptionSettings, Frame, caption_frames, endpoint
    from summarizer.outputs.clips import ffmpeg_exe
    from summarizer.sources import resolve
    from summarizer.synth import sample_video

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        d = Path(tmp)
        video = sample_video(d / "site" / "demo.mp4", size=(640, 360))
        mb = video.stat().st_size / 1e6
        (d / "site" / "hls").mkdir()
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(video), "-c", "copy",
                        "-hls_time", "2", "-hls_list_size", "0", "-f", "hls",
                        str(d / "site" / "hls" / "i.m3u8")], check=True)  # fmt: skip
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        "nullsrc=s=320x240:r=10,geq=random(1)*255:128:128", "-t", "40",
                        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "0",
                        "-pix_fmt", "yuv420p", str(d / "site" / "noise.mp4")], check=True)  # fmt: skip
        noise_mb = (d / "site" / "noise.mp4").stat().st_size / 1e6
        counter = iter(range(1000))
        sent: dict[str, int] = {}
        routes = {"/cam": _mjpeg, "/v1/chat/completions": _chat}
        with serve(d / "site", routes, sent=sent) as base:
            part_s = _median(lambda: resolve(f"{base}/noise.mp4", downloads=d / f"dl{next(counter)}", end_time_s=3.0))  # fmt: skip
            part_mb = sent.pop("/noise.mp4", 0) / RUNS / 1e6
            whole_s = _median(lambda: resolve(f"{base}/noise.mp4", downloads=d / f"dl{next(counter)}"))  # fmt: skip
            whole_mb = sent.pop("/noise.mp4", 0) / RUNS / 1e6
            copy_s = _median(lambda: shutil.copy(video, d / f"copy{next(counter)}.mp4"))
            url_s = _median(lambda: resolve(f"{base}/demo.mp4", downloads=d / f"dl{next(counter)}"))
            hls_s = _median(
                lambda: resolve(f"{base}/hls/i.m3u8", downloads=d / f"dl{next(counter)}")
            )
            cam_s = _median(lambda: resolve(f"{base}/cam", downloads=d / "cam", end_time_s=3.0))
            frames = [Frame(float(i), i, np.zeros((224, 224, 3), np.uint8)) for i in range(16)]
            fps = {}
            for batch in (1, 4):
                s = CaptionSettings(base_url=f"{base}/v1", model="m", batch_size=batch)
                t = _median(lambda s=s: caption_frames(frames, s, endpoint(s)))
                fps[batch] = len(frames) / t
        print(f"direct URL via yt-dlp: {url_s:.2f} s for {mb:.1f} MB ({mb / url_s:.1f} MB/s); "
              f"plain copy {copy_s * 1000:.1f} ms")  # fmt: skip
        print(f"first 3 s of a 40 s, {noise_mb:.0f} MB file: streamed {part_s:.2f} s, server sent "
              f"{part_mb:.1f} MB; downloaded whole {whole_s:.2f} s, {whole_mb:.1f} MB "
              f"({whole_s / part_s:.1f}x the time, {whole_mb / part_mb:.1f}x the bytes)")  # fmt: skip
        print(f"HLS VOD (21 s) captured to its end: {hls_s:.2f} s ({21 / hls_s:.1f}x real time)")
        print(f"MJPEG camera, --end-time 3: {cam_s:.2f} s wall ({cam_s / 3:.2f}x the end time)")
        print(f"captions at {LATENCY_S * 1000:.0f} ms/request: {fps[1]:.1f} frames/s one per "
              f"request, {fps[4]:.1f} frames/s in batches of 4 ({fps[4] / fps[1]:.1f}x)")  # fmt: skip
        figures = {
            "url_ytdlp_s": round(url_s, 3),
            "url_mb_per_s": round(mb / url_s, 1),
            "stream_3s_of_40s_s": round(part_s, 3),
            "stream_3s_of_40s_mb_sent": round(part_mb, 2),
            "download_40s_s": round(whole_s, 3),
            "download_40s_mb_sent": round(whole_mb, 2),
            "hls_capture_s": round(hls_s, 3),
            "hls_realtime_x": round(21 / hls_s, 1),
            "mjpeg_wall_over_end_time": round(cam_s / 3, 2),
            "captions_fps_batch1": round(fps[1], 2),
            "captions_fps_batch4": round(fps[4], 2),
        }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
