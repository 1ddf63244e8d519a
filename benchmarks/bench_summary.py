"""KMeans summary and dedup speed (and whether they find the right answer).

1. Summary: 20 000 x 512 unit vectors in `--clusters` known clusters (time-contiguous shots,
   some scenes revisited later), automatic k. Ours (`select_keyframes`: search on a 2 000
   subsample in 64 PCA dimensions, silhouette from one distance matrix, refined around the
   best k) against the plain approach on only the coarse k grid (KMeans on all 20 000 x 512
   + sklearn's silhouette_score with sample_size=2 000 per k), both on one thread. Reports seconds, the k found and how many true clusters got a
   pick.
2. Hash dedup of 10 000 thumbnails (228 x 128, the store's size): shots of 50 frames, each
   frame a slightly shifted, noisy view of its scene. Ours (`summarizer.summary.dedup`, hash buffer)
   against the sampling tools' way (imagehash.phash on the full thumbnail, a ring of hash
   strings matched exactly). Reports seconds and frames kept (the right answer is one per
   shot, 200).

Medians of `--runs` runs. The last line is one JSON object.

    python benchmarks/bench_summary.py [--runs 3] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from summarizer.summary.dedup import DedupSettings, make_buffer  # noqa: E402
from summarizer.summary.kmeans import SummarySettings, _candidate_ks, select_keyframes  # noqa: E402
from summarizer.synth import scene_canvas  # noqa: E402


def median_time(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


# --------------------------------------------------------------------------- summary


def clustered_embeddings(n: int, dim: int, k: int, seed: int = 0):
    """n unit vectors from k scenes, as shots of random length; some scenes come back."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    shots = np.concatenate([rng.permutation(k), rng.integers(0, k, size=k)])  # revisits
    lengths = rng.dirichlet(np.full(len(shots), 2.0)) * n
    lengths = np.maximum(1, np.round(lengths)).astype(int)
    lengths[-1] += n - lengths.sum()
    labels = np.repeat(shots, lengths)[:n]
    x = centres[labels] + rng.normal(scale=0.035, size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def plain_auto_k(x: np.ndarray, seed: int = 0) -> int:
    """The textbook way: KMeans on everything, sklearn's silhouette_score per k."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    k_max = int(np.ceil(np.sqrt(len(x))))
    best, best_s = 2, -2.0
    for k in _candidate_ks(2, k_max, 10):
        labels = KMeans(k, n_init=1, max_iter=30, tol=1e-3, random_state=seed).fit_predict(x)
        s = silhouette_score(x, labels, sample_size=2000, random_state=seed)
        if s > best_s:
            best, best_s = k, s
    return best


def bench_summary(args) -> dict:
    x, labels = clustered_embeddings(args.frames, args.dim, args.clusters)
    times = np.arange(len(x)) / 2.0
    settings = SummarySettings()
    select_keyframes(x[:500], times[:500], settings)  # imports and threads warmed up
    ours_s, summary = median_time(lambda: select_keyframes(x, times, settings), args.runs)
    hit = len(set(labels[summary.indices].tolist()))
    print(
        f"summary of {len(x)} x {x.shape[1]}: {ours_s:.2f} s (median of {args.runs}), "
        f"k={summary.k} of {args.clusters} true, {len(summary.picks)} picks cover {hit} "
        f"clusters",
        flush=True,
    )
    out = {
        "summary_s": round(ours_s, 3),
        "summary_target_s": 5.0,
        "summary_k": summary.k,
        "summary_true_k": args.clusters,
        "summary_clusters_hit": hit,
    }
    if not args.no_baseline:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # the same single thread as ours
            t0 = time.perf_counter()
            k_plain = plain_auto_k(x)
            plain_s = time.perf_counter() - t0
        print(
            f"  plain KMeans + silhouette_score over the 10 k of the coarse grid "
            f"(ours tried {len(summary.silhouette)}): {plain_s:.2f} s, k={k_plain}"
        )
        out.update(
            {"plain_summary_s": round(plain_s, 3), "summary_speedup": round(plain_s / ours_s, 2)}
        )
    return out


# --------------------------------------------------------------------------- dedup


def thumbnails(n: int, shot_len: int = 50, size: tuple[int, int] = (228, 128), seed: int = 0):
    """n thumbnails in shots of `shot_len`: shifted, noisy views of one scene per shot."""
    rng = np.random.default_rng(seed)
    w, h = size
    out = np.empty((n, h, w, 3), np.uint8)
    for s, lo in enumerate(range(0, n, shot_len)):
        canvas = (scene_canvas(seed * 100_000 + s, (w + 8, h + 8), scale=1.0) * 255).astype(
            np.int16
        )
        for i in range(lo, min(n, lo + shot_len)):
            dx, dy = rng.integers(0, 3, size=2)  # a little camera shake
            view = canvas[dy : dy + h, dx : dx + w]
            noise = rng.integers(-4, 5, size=(h, w, 1), dtype=np.int16)
            out[i] = np.clip(view + noise, 0, 255).astype(np.uint8)
    return out


def ours_dedup(frames: np.ndarray) -> int:
    buf = make_buffer(DedupSettings(buffer="hash"))
    kept = 0
    for i, f in enumerate(frames):
        kept += len(buf.offer(f, i / 2.0))
    return kept + len(buf.flush())


def plain_dedup(frames: np.ndarray, size: int = 32) -> int:
    """The sampling tools' hash buffer: phash of the full image, exact string match."""
    import imagehash
    from PIL import Image

    ring: OrderedDict[str, None] = OrderedDict()
    kept = 0
    for f in frames:
        h = str(imagehash.phash(Image.fromarray(f), hash_size=8))
        if h in ring:
            ring.move_to_end(h)
            continue
        ring[h] = None
        kept += 1
        if len(ring) > size:
            ring.popitem(last=False)
    return kept


def bench_dedup(args) -> dict:
    frames = thumbnails(args.thumbnails)
    shots = int(np.ceil(len(frames) / 50))
    ours_dedup(frames[:50])  # warm-up
    ours_s, kept = median_time(lambda: ours_dedup(frames), args.runs)
    print(
        f"hash dedup of {len(frames)} thumbnails {frames.shape[2]}x{frames.shape[1]}: "
        f"{ours_s:.2f} s (median of {args.runs}), kept {kept} ({shots} shots)",
        flush=True,
    )
    out = {
        "dedup_s": round(ours_s, 3),
        "dedup_target_s": 10.0,
        "dedup_kept": kept,
        "dedup_shots": shots,
    }
    if not args.no_baseline:
        plain_s, plain_kept = median_time(lambda: plain_dedup(frames), 1)
        print(
            f"  imagehash.phash on full thumbnails, exact match: {plain_s:.2f} s, kept {plain_kept}"
        )
        out.update(
            {
                "plain_dedup_s": round(plain_s, 3),
                "plain_dedup_kept": plain_kept,
                "dedup_speedup": round(plain_s / ours_s, 2),
            }
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--clusters", type=int, default=40)
    p.add_argument("--thumbnails", type=int, default=10_000)
    p.add_argument("--no-baseline", action="store_true", help="skip the plain baselines")
    args = p.parse_args()
    result = {"benchmark": "summary", **bench_summary(args), **bench_dedup(args)}
    result["summary_ok"] = result["summary_s"] < result["summary_target_s"]
    result["dedup_ok"] = result["dedup_s"] < result["dedup_target_s"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
