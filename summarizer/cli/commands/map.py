"""``keyframe-atlas map VIDEO... --out DIR``: a 2-D map of every frame of a collection.

Writes into DIR:
- ``coordinates.csv``: ``video_hash, video_name, time_s, x, y`` (x, y in [-1, 1]);
- ``map.png``: every frame a dot coloured by video, each video's path drawn through them;
- ``autoencoder.keras`` (the trained model; absent when too few frames fell back to PCA),
  ``latent.npz`` + ``latent.json`` (PCA, stretch and settings: what maps new frames).

Embeddings and the trained map come from the store when they were computed before with the
same videos, sampling, embedder and latent settings (the seed included).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from summarizer.cli import options as common

NAME = "map"
HELP = "train a 2-D latent map of all frames of the videos; write coordinates, a picture, the model"


#: The latent settings that have flags (dest = the field's name).
LATENT_FLAGS = ("epochs", "seed", "pca_dims", "code_std", "triplet_weight", "stretch", "shape")


def add_latent_flags(p: argparse.ArgumentParser) -> None:
    from summarizer.atlas.settings import SHAPES

    g = p.add_argument_group("latent map (YAML section 'latent:')")
    common.setting_flag(g, "latent", "epochs", "most training epochs")
    common.setting_flag(g, "latent", "seed")
    common.setting_flag(g, "latent", "pca_dims", "PCA components")
    common.setting_flag(g, "latent", "code_std", "target code std")
    common.setting_flag(g, "latent", "triplet_weight", "weight of the triplet loss")
    common.setting_flag(g, "latent", "stretch", "percentile stretch 0..1")
    common.setting_flag(g, "latent", "shape", choices=SHAPES)


def latent_settings(args: argparse.Namespace, config: dict[str, Any]):
    from summarizer.atlas.settings import LatentSettings

    return common.section(config, "latent", LatentSettings, **common.given(args, *LATENT_FLAGS))


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_video_command(p)
    add_latent_flags(p)
    p.add_argument(
        "--size", type=int, default=1200, help="map.png size in pixels (default %(default)s)"
    )


class EpochBar:
    """``progress(epoch, total, loss)`` drawn as a tqdm bar with the loss beside it."""

    def __init__(self, disable: bool | None) -> None:
        self.disable = disable
        self.bar: Any = None

    def __call__(self, epoch: int, total: int, loss: float) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=total, desc="training map", unit="epoch", leave=False, disable=self.disable
            )
        self.bar.update(epoch - self.bar.n)
        self.bar.set_postfix(loss=f"{loss:.4f}")

    def __enter__(self) -> EpochBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


def compute_map(args: argparse.Namespace):
    """Embeddings + the map of the inputs (shared with the poster command)."""
    from summarizer.embed import runtime
    from summarizer.flow import map_collection
    from summarizer.store import Store

    config = common.config_of(args)
    settings = latent_settings(args, config)  # bad settings fail before any work
    store = Store(args.store)
    videos = [item.embedded for item in common.embedded_inputs(args, config, store)]
    with EpochBar(True if args.quiet else None) as bar:
        lmap = map_collection(
            videos, settings, store, progress=bar, threads=runtime.train_threads()
        )
    return videos, lmap


def describe(lmap) -> str:
    n, v = len(lmap.coords), len(lmap.hashes)
    how = (
        f"cache hit ({lmap.seconds:.2f} s)"
        if lmap.cache_hit
        else f"computed in {lmap.seconds:.1f} s"
    )
    if lmap.method == "autoencoder":
        what = f"autoencoder, {lmap.epochs_run} epochs"
    else:
        what = "PCA to 2-D"
    return f"map: {n} frames of {v} video(s), {what}, {how}"


def write_coordinates(path: Path, lmap) -> Path:
    from summarizer.outputs.files import write_csv

    rows = [
        {
            "video_hash": lmap.hashes[int(vi)],
            "video_name": lmap.names[int(vi)],
            "time_s": round(float(t), 4),
            "x": round(float(x), 6),
            "y": round(float(y), 6),
        }
        for vi, t, (x, y) in zip(lmap.video_index, lmap.times_s, lmap.coords, strict=True)
    ]
    return write_csv(path, rows)


def run(args: argparse.Namespace) -> int:
    from summarizer.atlas.trajectories import draw_map
    from summarizer.errors import SettingsError

    if not 64 <= args.size <= 20000:
        raise SettingsError(f"--size must be in [64, 20000] px, got {args.size}")
    t0 = time.perf_counter()
    _, lmap = compute_map(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_coordinates(out / "coordinates.csv", lmap)
    img = draw_map(lmap.coords, lmap.video_index, lmap.times_s, lmap.names, size=args.size)
    img.save(out / "map.png")
    files = lmap.export(out)
    print(describe(lmap))
    if lmap.note:
        print(f"note: {lmap.note}")
    print(
        f"wrote {out / 'coordinates.csv'}, {out / 'map.png'}, " + ", ".join(str(f) for f in files)
    )
    print(f"done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0
