"""``keyframe-atlas embed VIDEO...``: sample frames, embed them, keep them in the store."""

from __future__ import annotations

import argparse
import sys

from summarizer.cli import options as common

NAME = "embed"
HELP = "embed the sampled frames of videos (or image folders) into the result store"


def add_arguments(p: argparse.ArgumentParser) -> None:
    common.add_video_command(p, out=None)


def result_line(name: str, ev, seconds: float) -> str:
    """One line per video: name, short hash, frame count, dimension, how it was obtained."""
    n, d = ev.embeddings.shape
    how = f"cache hit ({seconds:.2f} s)" if ev.cache_hit else f"computed in {seconds:.1f} s"
    return f"{name}  {ev.ref.sha256[:8]}…  {n} frames  {d}-d  {how}"


def run(args: argparse.Namespace) -> int:
    for item in common.embedded_inputs(args, common.config_of(args)):
        print(result_line(item.ref.name, item.embedded, item.seconds), flush=True)
    sys.stdout.flush()
    return 0
