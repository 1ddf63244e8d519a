"""Batch throughput: the local engine with 1 and 2 workers and Ray with 2 workers, one run.

24 generated videos (summarizer.synth, 320x240, 25 fps, a few shots each; 8 s by default)
are processed by ``summarizer.batch.run_batch`` (decode, embed, seams, summary, result
files) into a fresh store per engine run, so nothing is a cache hit. Embedder: the real
ViT-B-32 architecture with random weights from a local checkpoint (speed does not depend on
the weights' values), or ``--embedder pixels``. For each configuration the median over
``--runs`` of: wall time, videos/s, frames/s; then the speed-ups (2 workers over 1, Ray 2
over local 1) and the Ray overhead per video = (Ray 2 wall - local 2 wall) / videos, with
the local Ray started before the clock (as on an existing cluster; its start time is shown
apart). Start-up (worker processes importing torch, the model loading) is shown apart too:
the time to the first finished video, then the seconds per video until the last.
Targets (issue #13): Ray overhead < 0.5 s per video; the 2-worker speed-up is
stated as measured (2 cores here, shared with decoding). The last line is one JSON object.

    python benchmarks/bench_batch.py [--videos 24] [--seconds 8] [--fps 4] [--runs 1]
                                     [--embedder clip|pixels]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from summarizer import synth  # noqa: E402
from summarizer.config import Settings  # noqa: E402
from summarizer.embed import runtime  # noqa: E402

KINDS = ("static", "pan", "zoom", "motion", "flicker")


def make_videos(folder: Path, n: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        shots = [
            synth.Shot(KINDS[(i + k) % len(KINDS)], seconds / 3, seed=10 * i + k) for k in range(3)
        ]
        paths.append(folder / f"video{i:02d}.mp4")
        synth.make_video(paths[-1], shots, fps=25, size=(320, 240))
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--fps", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--embedder", choices=("clip", "pixels"), default="clip")
    args = ap.parse_args(argv)
    runtime.apply()  # an entry point: threads and OpenMP policy, before torch loads

    from summarizer.batch import run_batch
    from summarizer.batch.local import LocalEngine
    from summarizer.batch.ray import RayEngine

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        make_videos(work / "videos", args.videos, args.seconds)
        print(
            f"{args.videos} videos of {args.seconds:g} s made in {time.perf_counter() - t0:.1f} s"
        )
        embed = {"embedder": "pixels"}
        if args.embedder == "clip":
            import torch

            from tests.support import save_random_checkpoint

            torch.manual_seed(0)
            ckpt = save_random_checkpoint("ViT-B-32", work / "vit-b-32-random.safetensors")
            embed = {"embedder": "clip", "model": "ViT-B-32", "pretrained": str(ckpt)}
        settings = Settings.from_dict({"embed": embed, "sample": {"fps": args.fps}})

        import ray

        from summarizer.batch.ray import workers_import_this_summarizer

        t0 = time.perf_counter()
        with workers_import_this_summarizer():
            ray.init(
                num_cpus=runtime.available_cpus(), include_dashboard=False, log_to_driver=False
            )
        ray_start_s = time.perf_counter() - t0
        print(f"local Ray started in {ray_start_s:.1f} s (not counted below)")
        configs = {
            "local-1": lambda: LocalEngine(1),
            "local-2": lambda: LocalEngine(2),
            "ray-2": lambda: RayEngine(2),
        }
        figures: dict[str, dict[str, float]] = {}
        try:
            for name, make in configs.items():
                walls, steadies, firsts, frames = [], [], [], 0
                for r in range(args.runs):
                    store, out = work / f"store-{name}-{r}", work / f"out-{name}-{r}"
                    arrivals: list[float] = []
                    t0 = time.perf_counter()
                    rep = run_batch(
                        [str(work / "videos")],
                        out,
                        settings,
                        store,
                        make(),
                        lambda o, a=arrivals: a.append(time.perf_counter()),
                    )
                    assert rep.count("done") == args.videos, rep.table()
                    walls.append(rep.wall_s)
                    firsts.append(arrivals[0] - t0)
                    steadies.append((arrivals[-1] - arrivals[0]) / max(len(arrivals) - 1, 1))
                    frames = rep.frames
                wall, first = statistics.median(walls), statistics.median(firsts)
                steady = statistics.median(steadies)
                figures[name] = {
                    "wall_s": round(wall, 2),
                    "videos_per_s": round(args.videos / wall, 3),
                    "frames_per_s": round(frames / wall, 1),
                    "first_video_s": round(first, 2),
                    "steady_s_per_video": round(steady, 3),
                    "steady_frames_per_s": round(frames / args.videos / steady, 1),
                    "frames": frames,
                }
                f = figures[name]
                print(
                    f"{name:8s} {wall:7.1f} s  {f['videos_per_s']:6.2f} videos/s  "
                    f"{f['frames_per_s']:7.1f} frames/s  ({frames} frames); first video after "
                    f"{first:.1f} s, then {steady:.3f} s per video "
                    f"({f['steady_frames_per_s']:.1f} frames/s)"
                )
        finally:
            ray.shutdown()
    l1, l2, r2 = (figures[k]["wall_s"] for k in ("local-1", "local-2", "ray-2"))
    s1, s2, sr = (figures[k]["steady_s_per_video"] for k in ("local-1", "local-2", "ray-2"))
    overhead = (r2 - l2) / args.videos
    result = {
        "bench": "batch",
        "videos": args.videos,
        "seconds_per_video": args.seconds,
        "fps": args.fps,
        "embedder": args.embedder,
        "cores": runtime.available_cpus(),
        "runs": args.runs,
        **{k.replace("-", "_"): v for k, v in figures.items()},
        "speedup_local2_over_local1": round(l1 / l2, 3),
        "speedup_ray2_over_local1": round(l1 / r2, 3),
        "steady_speedup_local2_over_local1": round(s1 / s2, 3),
        "ray_overhead_s_per_video": round(overhead, 3),
        "ray_steady_overhead_s_per_video": round(sr - s2, 3),
        "ray_start_s": round(ray_start_s, 2),
        "targets_met": bool(overhead < 0.5),
    }
    print(
        f"speed-up local 2 / local 1: {l1 / l2:.2f}x wall, {s1 / s2:.2f}x after start-up; "
        f"ray 2 / local 1: {l1 / r2:.2f}x; Ray overhead {overhead:.3f} s per video "
        f"(target < 0.5 s; {sr - s2:+.3f} s after start-up)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
