"""Options and helpers shared by the CLI commands.

Settings come from three layers, later wins: dataclass defaults, the YAML ``--config`` file
(one section per settings class: ``sample:``, ``embed:``, ``seams:``, ...), then flags given
on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from summarizer.sampling import split_sample_section
from summarizer.settings import EmbedSettings, SampleSettings, from_dict, load_config, replace

T = TypeVar("T")


def add_inputs(p: argparse.ArgumentParser, what: str = "VIDEO") -> None:
    p.add_argument("inputs", nargs="+", metavar=what, help="video files (or folders of images)")


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
