"""Options and helpers shared by the CLI commands.

Settings come from three layers, later wins: dataclass defaults, the YAML ``--config`` file
(one section per settings class: ``sample:``, ``embed:``, ``seams:``, ...), then flags given
on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from summarizer.config import (
    EmbedSettings,
    SampleSettings,
    from_dict,
    load_config,
    replace,
    split_sample_section,
)

T = TypeVar("T")


def add_inputs(p: argparse.ArgumentParser, what: str = "VIDEO") -> None:
    p.add_argument("inputs", nargs="+", metavar=what, help="video files (or folders of images)")


def out_dir(value: str) -> Path:
    """argparse type of an output folder: checked now (not created: a run that fails on its
    settings leaves nothing behind), so a bad path fails before any work."""
    from summarizer.errors import InputError

    p = Path(value)
    if p.exists() and not p.is_dir():
        raise InputError(f"the output folder {p} is a file")
    parent = p
    while not parent.exists():  # the nearest existing folder must let us create the rest
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot create the output folder {p}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to the output folder {p}: {parent} is not writable")
    return p


def out_file(value: str) -> Path:
    """argparse type of an output file: its folder is created (and checked) now."""
    from summarizer.errors import InputError

    p = Path(value)
    if p.is_dir():
        raise InputError(f"--out {p} is a folder; give a file name")
    out_dir(str(p.parent))
    return p


def add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="result store folder (default: $ATLAS_HOME or the per-user cache dir)",
    )


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="YAML file with settings sections")


def add_sample(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument(
        "--fps", type=float, default=None, help="frames per second to sample (default 2)"
    )
    g.add_argument(
        "--every-n", type=int, default=None, help="take every n-th frame instead of --fps"
    )
    g.add_argument(
        "--keyframes-only", action="store_true", default=None, help="only codec key frames"
    )
    g.add_argument(
        "--start", type=float, default=None, dest="start_s", help="start time in seconds"
    )
    g.add_argument("--end", type=float, default=None, dest="end_s", help="end time in seconds")
    g.add_argument(
        "--time-regex", default=None, help="image folders: regex whose group 1 is the time (s)"
    )


def add_embed(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embedding")
    g.add_argument("--embedder", choices=("clip", "pixels"), default=None, help="default clip")
    g.add_argument("--model", default=None, help="open_clip architecture (default ViT-B-32)")
    g.add_argument(
        "--pretrained",
        default=None,
        help="open_clip weights tag (default laion2b_s34b_b79k) or a checkpoint path",
    )
    g.add_argument("--device", default=None, help="auto, cpu, cuda, mps (default auto)")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default=None)
    g.add_argument("--batch-size", type=int, default=None)


def section(config: dict[str, Any], name: str, cls: type[T], **flags: Any) -> T:
    """Settings `cls` from config section `name`, overridden by the flags that were given."""
    return replace(from_dict(cls, config.get(name)), **flags)


def sample_settings(args: argparse.Namespace, config: dict[str, Any]) -> SampleSettings:
    s = section(
        {"sample": split_sample_section(config)[0]},
        "sample",
        SampleSettings,
        fps=args.fps,
        every_n=args.every_n,
        keyframes_only=args.keyframes_only,
        start_s=args.start_s,
        end_s=args.end_s,
        time_regex=args.time_regex,
    )
    if args.every_n is not None and args.fps is None:  # --every-n alone means: no fps target
        s = dataclasses.replace(s, fps=None)
    return s


def embed_settings(args: argparse.Namespace, config: dict[str, Any]) -> EmbedSettings:
    return section(
        config,
        "embed",
        EmbedSettings,
        embedder=args.embedder,
        model=args.model,
        pretrained=args.pretrained,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
    )


def config_of(args: argparse.Namespace) -> dict[str, Any]:
    return load_config(getattr(args, "config", None))


def add_video_command(p: argparse.ArgumentParser, out: str | None = "output folder") -> None:
    """The options every embedding command shares: inputs, --out, store, config, sampling,
    embedding and --quiet (`out=None`: no --out)."""
    add_inputs(p)
    if out:
        p.add_argument("--out", type=out_dir, required=True, help=out)
    add_store(p)
    add_config(p)
    add_sample(p)
    add_embed(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def out_names(inputs: list[str]) -> list[str]:
    """A distinct folder name per input (its stem; -2, -3 ... when two stems collide)."""
    from summarizer.outputs.files import video_stem

    seen: dict[str, int] = {}
    names = []
    for path in inputs:
        stem = video_stem(Path(path).name)
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


class EmbeddedInput(NamedTuple):
    """One input of a command: its ref, its embedding, its output folder name, and the
    seconds the embedding took (a cache hit: the time to read it back)."""

    ref: Any
    embedded: Any
    folder: str
    seconds: float


def embedded_inputs(
    args: argparse.Namespace,
    config: dict[str, Any],
    store: Any = None,
    sample: SampleSettings | None = None,
    embed: EmbedSettings | None = None,
) -> Iterator[EmbeddedInput]:
    """Yield an `EmbeddedInput` per input, in order.

    Every input is validated and hashed before anything is computed, so one bad file fails
    the run up front; each is then embedded (or read from the store) with a progress bar.
    """
    from summarizer.cli.progress import TqdmProgress
    from summarizer.flow import embed_video, open_video
    from summarizer.store import Store

    sample = sample or sample_settings(args, config)
    embed = embed or embed_settings(args, config)
    store = store if store is not None else Store(args.store)
    refs = [open_video(path, store, sample) for path in args.inputs]
    for ref, name in zip(refs, out_names(args.inputs), strict=True):
        t0 = time.perf_counter()
        with TqdmProgress(ref.name, disable=True if args.quiet else None) as bar:
            ev = embed_video(ref, sample, embed, store, progress=lambda _s, d, t: bar(d, t))
        yield EmbeddedInput(ref, ev, name, time.perf_counter() - t0)
