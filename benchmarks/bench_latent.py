"""Latent map: quality on real footage and synthetic features beside PCA, t-SNE and UMAP;
speed on 100 000 frames x 512; peak memory of a streamed map of up to a million frames.

Real footage (``--real VIDEO_OR_FOLDER...``): the videos are embedded with the model-free
`pixels` embedder at the default sampling (2 frames/s) through the flow (store in a temporary
folder unless ``--store``), and mapped as a collection; trustworthiness at k = 10 on all their
frames and the 2-D silhouette of the video labels, for our map (its training time too), PCA to
2-D, t-SNE and UMAP, in the same run. Target: trustworthiness >= 0.95.

Synthetic features like CLIP embeddings of a collection: `--clusters` well-separated
clusters (one kind of scene each), `--videos` videos per cluster whose frames follow smooth
trajectories around the cluster's centre (a sum of a few slow sinusoids in random directions
plus a little per-frame noise), rows L2-normalised.

Speed: PCA to 256 + training to convergence (early stopping) + projecting every frame with
`summarizer.atlas.mapper.fit_latent` (Keras on the torch backend), wall time and the process' peak
resident memory. Target: < 120 s for 100 000 x 512 on this CPU.

Quality, on a random subsample (`--sample` frames, the same for every method): scikit-learn's
trustworthiness at k = 10 (target >= 0.9), the silhouette of the cluster labels in 2-D and the
10-NN cluster purity in 2-D ("clusters apart"), for our map, PCA to 2-D and t-SNE (t-SNE runs
on the subsample only: it does not scale to 100 000 points on two cores).

``--stream N``: N synthetic frames (as the synthetic set below) written per video as ``.npy``
files and memory-mapped, the way `map_collection` gets them from the store; the mapper streams
them (exact PCA accumulated chunk by chunk, PCA'd frames in memory: N x 256 float32, mini-batch
training, chunked projection): wall time per stage and the process' peak resident memory (the
memory-mapped pages it reads count in it). ``--stream-epochs`` bounds training (memory does not
depend on it).

The last line is one JSON object.

    python benchmarks/bench_latent.py [--frames 100000] [--dim 512] [--sample 3000]
        [--real PATH ...] [--stream 1000000 --stream-epochs 2] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from summarizer.atlas.backend import backend_name  # noqa: E402
from summarizer.atlas.mapper import LatentMapper, fit_latent  # noqa: E402
from summarizer.atlas.pca import fit_pca  # noqa: E402
from summarizer.atlas.settings import LatentSettings  # noqa: E402
from summarizer.embed import runtime  # noqa: E402


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


def others(x: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, dict]:
    """PCA to 2-D, t-SNE and UMAP on the same frames, each with its seconds."""
    from sklearn.manifold import TSNE
    from umap import UMAP

    out = {}
    for name, fn in (
        ("pca_2d", lambda: fit_pca(x, 2).transform(x)),
        ("tsne", lambda: TSNE(n_components=2, random_state=seed, init="pca").fit_transform(x)),
        ("umap", lambda: UMAP(n_components=2, random_state=seed).fit_transform(x)),
    ):
        t = time.perf_counter()
        y = fn()
        out[name] = {**quality(x, y, labels), "seconds": round(time.perf_counter() - t, 2)}
        print(f"{name}: {out[name]}", flush=True)
    return out


def real_footage(paths: list[str], store_dir: str | None, seed: int, epochs: int) -> dict:
    """Embed real videos (pixels, default sampling), map them, compare with PCA/t-SNE/UMAP."""
    from summarizer.config import EmbedSettings, SampleSettings
    from summarizer.flow import embed_video, map_collection, open_video
    from summarizer.store import Store

    files = []
    for p in paths:
        q = Path(p)
        files += sorted(f for f in q.iterdir() if f.is_file()) if q.is_dir() else [q]
    tmp = None if store_dir else tempfile.TemporaryDirectory(prefix="bench-latent-")
    store = Store(store_dir or tmp.name)
    sample, embed = SampleSettings(), EmbedSettings(embedder="pixels")
    videos = []
    for f in files:
        try:
            videos.append(embed_video(open_video(f, store, sample), sample, embed, store))
        except Exception as exc:  # noqa: BLE001 - a file the decoder refuses: say so, go on
            print(f"skipped {f.name}: {exc}", flush=True)
    settings = LatentSettings(epochs=epochs, seed=seed)
    t = time.perf_counter()
    lmap = map_collection(videos, settings, store, threads=runtime.train_threads())
    fit_s = time.perf_counter() - t
    order = {h: i for i, h in enumerate(lmap.hashes)}
    videos = sorted(videos, key=lambda v: order[v.ref.sha256])
    x = np.concatenate([np.asarray(v.embeddings) for v in videos])
    labels = np.asarray(lmap.video_index)
    ours = {**quality(x, lmap.coords, labels), "seconds": round(fit_s, 2)}
    print(
        f"real footage: {len(x)} frames of {len(videos)} videos; ours: {ours} "
        f"({lmap.epochs_run} epochs, {lmap.method})",
        flush=True,
    )
    res = {
        "videos": [v.ref.name for v in videos],
        "frames": int(len(x)),
        "epochs_run": lmap.epochs_run,
        "ours": ours,
        **others(x, labels, seed),
    }
    res["meets_trustworthiness"] = bool(ours["trustworthiness_k10"] >= 0.95)
    if tmp is not None:
        tmp.cleanup()
    return res


def streamed(frames: int, dim: int, seed: int, epochs: int) -> dict:
    """Map `frames` synthetic frames from memory-mapped per-video files; stage times, peak RSS."""
    rss0 = peak_rss_mb()
    n_videos = max(1, frames // 5000)
    with tempfile.TemporaryDirectory(prefix="bench-latent-stream-") as tmp:
        t = time.perf_counter()
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(20, dim)).astype(np.float32)
        per = np.full(n_videos, frames // n_videos)
        per[: frames - per.sum()] += 1
        vids = []
        for v, n in enumerate(per):
            arr = np.lib.format.open_memmap(
                Path(tmp) / f"v{v}.npy", mode="w+", dtype=np.float32, shape=(int(n), dim)
            )
            for i in range(0, int(n), 4096):
                m = min(4096, int(n) - i)
                tt = (np.arange(i, i + m, dtype=np.float32) / n)[:, None]
                block = centres[v % 20] + np.sin(2 * np.pi * (tt + v / n_videos)) * 0.5
                block += rng.normal(size=(m, dim)).astype(np.float32) * 0.05
                arr[i : i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
            arr.flush()
            del arr
            vids.append(np.load(Path(tmp) / f"v{v}.npy", mmap_mode="r"))
        write_s = time.perf_counter() - t
        print(
            f"stream: wrote {frames:,} x {dim} in {n_videos} files in {write_s:.1f} s", flush=True
        )
        stages: list[tuple[str, float]] = []
        t = time.perf_counter()
        mapper = LatentMapper(
            LatentSettings(epochs=epochs, seed=seed), threads=runtime.train_threads()
        )
        mapper.fit(
            vids, progress=lambda e, tot, loss: stages.append((f"epoch {e}", time.perf_counter()))
        )
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        coords = mapper.transform(vids[0])
        transform_s = time.perf_counter() - t
    res = {
        "frames": frames,
        "dim": dim,
        "videos": n_videos,
        "epochs": len(mapper.result_.history),
        "fit_seconds": round(fit_s, 1),
        "first_epoch_end_s": round(stages[0][1] - (t - fit_s - transform_s), 1) if stages else None,
        "transform_one_video_seconds": round(transform_s, 3),
        "coords_in_range": bool(np.abs(coords).max() <= 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(rss0, 1),
    }
    print(f"stream: {res}", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--clusters", type=int, default=20)
    ap.add_argument("--videos", type=int, default=10, help="videos per cluster")
    ap.add_argument("--sample", type=int, default=3000, help="frames scored for quality")
    ap.add_argument("--epochs", type=int, default=None, help="most epochs (early stopping)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tsne", action="store_true")
    ap.add_argument("--real", nargs="*", default=[], help="real videos or folders of videos")
    ap.add_argument("--store", default=None, help="store for the real footage's embeddings")
    ap.add_argument("--stream", type=int, default=0, help="frames of the streamed map (0: none)")
    ap.add_argument("--stream-epochs", type=int, default=2)
    ap.add_argument("--skip-synthetic", action="store_true")
    args = ap.parse_args()
    runtime.apply()  # an entry point: threads and OpenMP policy, before torch loads
    from summarizer.config import default

    epochs = args.epochs or default("latent", "epochs")
    load_before = os.getloadavg()
    backend = backend_name()  # imports Keras (torch backend) before any clock starts
    summary: dict = {"benchmark": "latent", "backend": backend, "cpus": os.cpu_count()}
    if args.real:
        summary["real"] = real_footage(args.real, args.store, args.seed, epochs)
    if not args.skip_synthetic:
        summary["synthetic"] = synthetic(args, epochs)
    if args.stream:
        summary["stream"] = streamed(args.stream, args.dim, args.seed, args.stream_epochs)
    summary["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(summary))


def synthetic(args: argparse.Namespace, epochs: int) -> dict:
    vids, labels = make_features(args.frames, args.dim, args.clusters, args.videos, args.seed)
    x_all = np.concatenate(vids)
    rss_data = peak_rss_mb()
    print(
        f"{len(x_all):,} frames x {args.dim} in {len(vids)} videos, {args.clusters} clusters; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    epochs_seen = []
    t0 = time.perf_counter()
    res = fit_latent(
        vids,
        LatentSettings(epochs=epochs, seed=args.seed),
        progress=lambda e, tot, loss: epochs_seen.append((e, loss, time.perf_counter())),
        threads=runtime.train_threads(),
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
    if not args.no_tsne:
        from sklearn.manifold import TSNE

        t2 = time.perf_counter()
        emb = TSNE(n_components=2, random_state=args.seed, init="pca").fit_transform(xs)
        results["tsne_subsample"] = {
            **quality(xs, emb, ls),
            "seconds": round(time.perf_counter() - t2, 2),
        }
        print(f"t-SNE on {len(xs)} frames: {results['tsne_subsample']}", flush=True)
    ours = results["ours"]
    return {
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
        "final_metrics": {k: round(float(v), 4) for k, v in res.metrics.items()},
    }


if __name__ == "__main__":
    main()
