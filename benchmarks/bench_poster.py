"""Poster speed: a 5874 x 5400 px poster from stored thumbnails.

A collection like the store holds it: `--videos` videos of `--frames` frames each, 228 x 128
thumbnails (short side 128, 16:9) in memory-mapped ``.npy`` files (as `summarizer.store` keeps
them), frames spread over the map as the stretch leaves them (filling [-1, 1]^2). The poster
is 66 x 60 tiles of about 89 x 90 px (5874 x 5400 px), no frame twice, from the thumbnails.
Timed separately: the cell assignment (KD-tree + greedy) and the whole `render_poster`
(assignment, pasting tile by tile, PNG encoding, layout JSON); median of `--runs`; the
process' peak resident memory. Target: < 10 s. Beside it, for scale: the same poster as a PDF.

``--app-max``: the largest poster the app's inputs allow (200 x 200 tiles, 500 x 500 cm; any
dpi that keeps it within the 1000-megapixel limit: 31622 x 31622 px), from 2000 thumbnails with
repeats, one run: time and the process' peak resident memory (the thumbnails it touches are
memory-mapped and count in it). The canvas lives on disk and is encoded in bands, so the peak
does not grow with the print size.

The last line is one JSON object.

    python benchmarks/bench_poster.py [--videos 20] [--frames 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from summarizer import synth  # noqa: E402
from summarizer.poster.layout import PosterSettings, assign_cells  # noqa: E402
from summarizer.poster.render import PosterFrames, render_poster  # noqa: E402


def thumbnails(folder: Path, videos: int, frames: int, seed: int = 0) -> list[np.ndarray]:
    """Memory-mapped (frames, 128, 228, 3) uint8 per video: crops drifting over a scene."""
    out = []
    for v in range(videos):
        canvas = (synth.scene_canvas(seed + v, (228, 128), 2.0) * 255).astype(np.uint8)
        arr = np.lib.format.open_memmap(
            folder / f"thumbs{v}.npy", mode="w+", dtype=np.uint8, shape=(frames, 128, 228, 3)
        )
        for i in range(frames):
            t = i / max(frames - 1, 1)
            x = int(t * (canvas.shape[1] - 228))
            y = int((0.5 + 0.5 * np.sin(6 * t)) * (canvas.shape[0] - 128))
            arr[i] = canvas[y : y + 128, x : x + 228]
        arr.flush()
        del arr
        out.append(np.load(folder / f"thumbs{v}.npy", mmap_mode="r"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--frames", type=int, default=300, help="frames per video")
    ap.add_argument("--cols", type=int, default=66)
    ap.add_argument("--rows", type=int, default=60)
    ap.add_argument("--size", type=int, nargs=2, default=(5874, 5400))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--app-max", action="store_true", help="the app's largest poster, once")
    args = ap.parse_args()
    repeats = False
    if args.app_max:
        args.videos, args.frames, args.cols, args.rows = 10, 200, 200, 200
        args.size, args.runs, repeats = (31622, 31622), 1, True

    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    n = args.videos * args.frames
    coords = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="bench-poster-") as tmp:
        tmp = Path(tmp)
        thumbs = thumbnails(tmp, args.videos, args.frames)
        frames = PosterFrames(
            coords=coords,
            video_index=np.repeat(np.arange(args.videos), args.frames),
            times_s=np.tile(np.arange(args.frames) * 0.5, args.videos),
            frame_indices=np.tile(np.arange(args.frames) * 12, args.videos),
            thumbnails=thumbs,
            names=[f"video{v}.mp4" for v in range(args.videos)],
            hashes=[f"{v:064x}" for v in range(args.videos)],
            paths=[None] * args.videos,
        )
        s = PosterSettings(
            cols=args.cols, rows=args.rows, size_px=tuple(args.size), allow_repeats=repeats
        )
        print(
            f"{n:,} frames of {args.videos} videos; poster {args.size[0]} x {args.size[1]} px, "
            f"{args.cols} x {args.rows} tiles; load average {load_before[0]:.2f} "
            f"on {os.cpu_count()} CPUs",
            flush=True,
        )
        assign_s, png_s, pdf_s = [], [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            grid = assign_cells(coords, s)
            assign_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = render_poster(frames, s, tmp / "poster.png")
            png_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            render_poster(frames, s, tmp / "poster.pdf", assignment=grid)
            pdf_s.append(time.perf_counter() - t0)
            print(
                f"assign {assign_s[-1]:.2f} s, PNG poster {png_s[-1]:.2f} s, "
                f"PDF (given the assignment) {pdf_s[-1]:.2f} s",
                flush=True,
            )
        png_mb = (tmp / "poster.png").stat().st_size / 1e6
        pdf_mb = (tmp / "poster.pdf").stat().st_size / 1e6
        unique = int(len(np.unique(grid[grid >= 0])))
    load_after = os.getloadavg()
    med = statistics.median(png_s)
    print(
        json.dumps(
            {
                "benchmark": "poster_app_max" if args.app_max else "poster",
                "frames": n,
                "size_px": list(res.size_px),
                "tiles": args.cols * args.rows,
                "unique_frames": unique,
                "empty_cells": res.empty_cells,
                "assign_seconds_median": round(statistics.median(assign_s), 3),
                "png_seconds_median": round(med, 3),
                "pdf_seconds_median": round(statistics.median(pdf_s), 3),
                "png_seconds_all": [round(x, 3) for x in png_s],
                "target_seconds": 10,
                "meets_target": bool(med < 10),
                "png_mb": round(png_mb, 1),
                "pdf_mb": round(pdf_mb, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
