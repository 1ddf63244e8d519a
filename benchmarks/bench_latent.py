"""Latent map: speed on 100 000 frames x 512, and quality against PCA and t-SNE.

Synthetic features like CLIP embeddings of a collection: `--clusters` well-separated
clusters (one kind of scene each), `--videos` videos per cluster whose frames follow smooth
trajectories around the cluster's centre (a sum of a few slow sinusoids in random directions
plus a little per-frame noise), rows L2-normalised.

Speed: PCA to 256 + training to convergence (early stopping) + projecting every frame with
`summarizer.atlas.latent.fit_latent` (Keras on the torch backend), wall time and the process' peak
resident memory. Target: < 120 s for 100 000 x 512 on this CPU.

Quality, on a random subsample (`--sample` frames, the same for every method): scikit-learn's
trustworthiness at k = 10 (target >= 0.9), the silhouette of the cluster labels in 2-D and the
10-NN cluster purity in 2-D ("clusters apart"), for our map, PCA to 2-D and t-SNE (t-SNE runs
on the subsample only: it does not scale to 100 000 points on two cores).

The last line is one JSON object.

    python benchmarks/bench_latent.py [--frames 100000] [--dim 512] [--sample 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from summarizer.atlas.latent import LatentSettings, backend_name, fit_latent, fit_pca  # noqa: E402


def make_features(
    frames: int, dim: int, clusters: int, videos_per_cluster: int, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """One float32 (n, dim) array per video (time order) and the cluster label of each row."""
    rng = np.random.default_rng(seed)
    n_videos = clusters * videos_per_cluster
    per_video = np.full(n_videos, frames // n_videos)
    per_video[: frames - per_video.sum()] += 1
    vids, labels = [], []
    k = 0
    for c in range(clusters):
        centre = rng.normal(size=dim).astype(np.float32)
        for _ in range(videos_per_cluster):
            n = int(per_video[k])
            k += 1
            t = np.linspace(0, 1, n, dtype=np.float32)[:, None]
            x = np.repeat(centre[None], n, axis=0)
            for _ in range(3):  # smooth path: slow sinusoids in random directions
                direction = rng.normal(size=dim).astype(np.float32) * 0.35
                f = rng.uniform(0.3, 2.0)
                x += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * direction
            x += rng.normal(size=x.shape).astype(np.float32) * 0.05
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            vids.append(x)
            labels.append(np.full(n, c, dtype=np.int32))
    return vids, np.concatenate(labels)


def quality(x: np.ndarray, y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=11).fit(y)
    idx = nn.kneighbors(y, return_distance=False)[:, 1:]
    return {
        "trustworthiness_k10": round(float(trustworthiness(x, y, n_neighbors=10)), 4),
        "silhouette_2d": round(float(silhouette_score(y, labels)), 4),
        "knn10_cluster_purity": round(float(np.mean(labels[idx] == labels[:, None])), 4),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--clusters", type=int, default=20)
    ap.add_argument("--videos", type=int, default=10, help="videos per cluster")
    ap.add_argument("--sample", type=int, default=3000, help="frames scored for quality")
    ap.add_argument("--epochs", type=int, default=100, help="most epochs (early stopping)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tsne", action="store_true")
    args = ap.parse_args()

    load_before = os.getloadavg()
    vids, labels = make_features(args.frames, args.dim, args.clusters, args.videos, args.seed)
    x_all = np.concatenate(vids)
    rss_data = peak_rss_mb()
    print(
        f"{len(x_all):,} frames x {args.dim} in {len(vids)} videos, {args.clusters} clusters; "
        f"load average {load_before[0]:.2f} on {os.cpu_count()} CPUs",
        flush=True,
    )

    backend = backend_name()  # imports Keras (torch backend) before the clock starts

    epochs_seen = []
    t0 = time.perf_counter()
    res = fit_latent(
        vids,
        LatentSettings(epochs=args.epochs, seed=args.seed),
        progress=lambda e, tot, loss: epochs_seen.append((e, loss, time.perf_counter())),
    )
    fit_s = time.perf_counter() - t0
    rss_peak = peak_rss_mb()
    epoch_s = np.diff([t0] + [e[2] for e in epochs_seen])
    print(
        f"ours: {fit_s:.1f} s ({res.epochs_run} epochs, median {np.median(epoch_s):.2f} s/epoch), "
        f"peak RSS {rss_peak:.0f} MB (data alone {rss_data:.0f} MB)",
        flush=True,
    )

    rng = np.random.default_rng(args.seed + 1)
    sub = np.sort(rng.choice(len(x_all), size=min(args.sample, len(x_all)), replace=False))
    xs, ls = x_all[sub], labels[sub]
    results: dict[str, dict] = {"ours": quality(xs, res.coords[sub], ls)}
    print(f"ours: {results['ours']}", flush=True)

    t1 = time.perf_counter()
    pca2 = fit_pca(x_all, 2).transform(x_all)
    pca_s = time.perf_counter() - t1
    results["pca_2d"] = quality(xs, pca2[sub], ls)
    print(f"pca_2d ({pca_s:.1f} s on all frames): {results['pca_2d']}", flush=True)

    tsne_s = None
    if not args.no_tsne:
        from sklearn.manifold import TSNE

        t2 = time.perf_counter()
        emb = TSNE(n_components=2, random_state=args.seed, init="pca").fit_transform(xs)
        tsne_s = time.perf_counter() - t2
        results["tsne_subsample"] = quality(xs, emb, ls)
        print(
            f"t-SNE ({tsne_s:.1f} s on {len(xs)} frames): {results['tsne_subsample']}", flush=True
        )

    load_after = os.getloadavg()
    ours = results["ours"]
    summary = {
        "benchmark": "latent",
        "frames": int(len(x_all)),
        "dim": args.dim,
        "videos": len(vids),
        "clusters": args.clusters,
        "method": res.method,
        "epochs_run": res.epochs_run,
        "fit_seconds": round(fit_s, 2),
        "seconds_per_epoch_median": round(float(np.median(epoch_s)), 3),
        "target_seconds": 120,
        "meets_time": bool(fit_s < 120),
        "peak_rss_mb": round(rss_peak, 1),
        "data_rss_mb": round(rss_data, 1),
        "quality_sample": int(len(xs)),
        "quality": results,
        "meets_trustworthiness": bool(ours["trustworthiness_k10"] >= 0.9),
        "pca_2d_seconds": round(pca_s, 2),
        "tsne_seconds": None if tsne_s is None else round(tsne_s, 2),
        "backend": backend,
        "final_metrics": {k: round(float(v), 4) for k, v in res.metrics.items()},
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
