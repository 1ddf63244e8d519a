"""``keyframe-atlas embed VIDEO...``: sample frames, embed them, keep them in the store."""

from __future__ import annotations

import argparse
import sys
import time

from summarizer.commands import common

NAME = "embed"
HELP = "embed the sampled frames of videos (or image folders) into the result store"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_inputs(p)
    common.add_store(p)
    common.add_config(p)
    common.add_sample(p)
    common.add_embed(p)
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar, only the result lines"
    )


def result_line(name: str, ev, seconds: float) -> str:
    """One line per video: name, short hash, frame count, dimension, how it was obtained."""
    n, d = ev.embeddings.shape
    how = f"cache hit ({seconds:.2f} s)" if ev.cache_hit else f"computed in {seconds:.1f} s"
    return f"{name}  {ev.ref.sha256[:8]}…  {n} frames  {d}-d  {how}"


def run(args: argparse.Namespace) -> int:
    from summarizer.pipeline import TqdmProgress, embed_video, open_video
    from summarizer.store import Store

    config = common.config_of(args)
    sample = common.sample_settings(args, config)
    embed = common.embed_settings(args, config)
    store = Store(args.store)
    # Validate and hash every input first: a bad one fails before anything is computed.
    refs = [open_video(path, store, sample) for path in args.inputs]
    for ref in refs:
        t0 = time.perf_counter()
        with TqdmProgress(ref.name, disable=True if args.quiet else None) as bar:
            ev = embed_video(ref, sample, embed, store, progress=bar)
        print(result_line(ref.name, ev, time.perf_counter() - t0), flush=True)
    sys.stdout.flush()
    return 0
