"""Decode benchmark: memory stays flat for long and huge videos; speed against the old decoder.

Prints, in one run:
- a 2-hour video (64x36 at 5 fps, generated in seconds) sampled at 2 fps: frames, seconds,
  peak RSS growth, and the progress reported along the way (done/total at each tenth);
- an 8K (7680x4320) H.264 clip of a few frames decoded to the model's 224 px: peak RSS growth;
- a 720p H.264 minute sampled at 2 fps (224 px), median of `--runs`, through the current
  decoder and through the decoder before the split (`summarizer/decode/video.py` at
  `--old-rev`, loaded from git), side by side.
The last line is one JSON object with every figure.

    python -m benchmarks.bench_decode            # or: python benchmarks/bench_decode.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarizer import decode  # noqa: E402
from summarizer.config import SampleSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


class PeakRSS:
    """Samples this process's RSS every 5 ms while active; `.growth` is peak - start (bytes)."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.growth = self.peak - self.start


def decode_all(path: Path, sample: SampleSettings, progress=None) -> int:
    done = 0
    for b in decode.iter_frames(path, sample):
        done += len(b)
        if progress is not None:
            progress(done)
    return done


def long_video(d: Path, hours: float) -> dict:
    path = d / "long.mp4"
    t = time.perf_counter()
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=64x36:rate=5:duration={hours * 3600:g}",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-pix_fmt", "yuv420p",
           str(path))  # fmt: skip
    gen_s = time.perf_counter() - t
    from summarizer.flow import expected_frames

    sample = SampleSettings(fps=2.0)
    probe = decode.probe(path)
    total = expected_frames(probe, sample)
    marks: list[str] = []
    next_mark = [0.1]

    def progress(done: int) -> None:  # the (done, total) a flow Progress callback receives
        if done / total >= next_mark[0] - 1e-9:
            marks.append(f"{done}/{total}")
            next_mark[0] += 0.1

    with PeakRSS() as mem:
        t = time.perf_counter()
        n = decode_all(path, sample, progress)
        secs = time.perf_counter() - t
    print(f"2 h video ({probe.width}x{probe.height}, {probe.frame_count} frames, "
          f"{probe.backend}): {n} frames at 2 fps in {secs:.1f} s, peak RSS +{mem.growth / 1e6:.0f} MB")  # fmt: skip
    print("  progress:", " ".join(marks))
    return {"long_hours": hours, "long_frames": n, "long_s": round(secs, 2),
            "long_rss_mb": round(mem.growth / 1e6, 1), "long_gen_s": round(gen_s, 1),
            "long_progress_marks": len(marks)}  # fmt: skip


def huge_video(d: Path) -> dict:
    path = d / "8k.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=7680x4320:rate=25:duration=0.2", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    probe = decode.probe(path)
    with PeakRSS() as mem:
        t = time.perf_counter()
        n = decode_all(path, SampleSettings(fps=None, short_side=224))
        secs = time.perf_counter() - t
    frame_mb = probe.width * probe.height * 3 / 1e6
    print(f"8K video ({probe.width}x{probe.height}, {probe.frame_count} frames, {probe.backend}): "
          f"{n} frames to 224 px in {secs:.1f} s, peak RSS +{mem.growth / 1e6:.0f} MB "
          f"(one RGB frame at full size: {frame_mb:.0f} MB)")  # fmt: skip
    return {"huge_frames": n, "huge_s": round(secs, 2), "huge_rss_mb": round(mem.growth / 1e6, 1)}


def load_old(rev: str, d: Path):
    """The decoder before the split, from git (None when the revision is not there)."""
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:summarizer/decode/video.py"],
                             capture_output=True, check=True, text=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    file = d / "old_video.py"
    file.write_text(src)
    spec = importlib.util.spec_from_file_location("old_video", file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_video"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def speed(d: Path, runs: int, rev: str) -> dict:
    path = d / "720p.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=60", "-c:v", "libx264",
           "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    sample = SampleSettings(fps=2.0)
    old = load_old(rev, d)
    decoders = {"new": decode.iter_frames}
    if old is not None:
        decoders["old"] = old.iter_frames
    times: dict[str, list[float]] = {k: [] for k in decoders}
    counts = {}
    for _ in range(runs):  # interleaved, so load on the machine hits both alike
        for name, fn in decoders.items():
            t = time.perf_counter()
            counts[name] = sum(len(b) for b in fn(path, sample))
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in decoders:
        print(f"720p H.264 60 s at 2 fps, {k} decoder: {counts[k]} frames, median {med[k]:.2f} s "
              f"({counts[k] / med[k]:.0f} frames/s)")  # fmt: skip
    out = {"speed_new_s": round(med["new"], 3), "speed_frames": counts["new"]}
    if "old" in med:
        out["speed_old_s"] = round(med["old"], 3)
        out["speed_new_over_old"] = round(med["new"] / med["old"], 3)
        print(f"  new / old time: {med['new'] / med['old']:.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--old-rev", default="5d7b73f", help="git revision with decode/video.py")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        res = {}
        res.update(speed(d, args.runs, args.old_rev))
        res.update(huge_video(d))
        res.update(long_video(d, args.hours))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
