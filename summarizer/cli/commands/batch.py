"""``keyframe-atlas batch INPUT... --out DIR``: decode, embed, seams and summary of many videos.

INPUTs are video files, folders (their videos, recursively) and text files listing one path
or URL per line. Results go to the store; ``DIR/videos/<name>.json`` holds each video's
seams, segments and summary, ``DIR/batch_report.json`` the outcome of every video. Videos
already done are skipped, so an interrupted run is finished by running it again; a bad
video is reported and the others go on (exit code 1 when any failed).

``--engine local`` (default) runs a process pool here; ``--engine ray`` runs Ray Data on the
cluster at ``--address`` (or a local Ray): CPU tasks decode, an actor pool embeds (with
``--gpus-per-worker`` GPUs each). Settings come from ``--config`` (every section) and flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from summarizer.cli import options as common

NAME = "batch"
HELP = "process a collection (files, folders, lists of paths/URLs) into the store, resumably"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from summarizer.batch import DEFAULT_ENGINE, ENGINES

    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="video files, folders, or .txt lists of them"
    )
    p.add_argument("--out", type=common.out_dir, required=True, help="report and results folder")
    g = p.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="where the work runs (default %(default)s)",
    )
    g.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray)")
    g.add_argument(
        "--workers", type=int, default=None, help="processes (local) or embedding actors (ray)"
    )
    g.add_argument(
        "--gpus-per-worker",
        type=float,
        default=None,
        help="GPUs per embedding actor (ray; default 1 when the cluster has GPUs, else 0)",
    )
    common.add_store(p)
    common.add_config(p)
    common.add_sample(p)
    common.add_embed(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or per-video lines")


def batch_settings(args: argparse.Namespace):
    from summarizer.config import Settings

    config = common.config_of(args)
    settings = Settings.from_dict(config)
    return dataclasses.replace(
        settings,
        sample=common.sample_settings(args, config),
        embed=common.embed_settings(args, config),
    )


def outcome_line(o) -> str:
    if o.status == "failed":
        return f"failed   {o.name}: {o.error}"
    what = f"{o.frames} frames, {o.seams} seams, {o.picks} picks"
    return f"{o.status:<8} {o.name}: {what} ({o.seconds:.1f} s)"


def run(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from summarizer.batch import make_engine, run_batch
    from summarizer.batch.report import REPORT

    settings = batch_settings(args)
    engine = make_engine(args.engine, args.workers, args.address, args.gpus_per_worker)
    bar = tqdm(
        desc=f"batch ({engine.name}, {engine.workers} workers)",
        unit="video",
        disable=True if args.quiet else None,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    frames = 0

    def on_outcome(o) -> None:
        nonlocal frames
        frames += o.frames if o.status == "done" else 0
        bar.update(1)
        bar.set_postfix_str(f"{frames / max(time.perf_counter() - t0, 1e-9):.1f} frames/s")
        if not args.quiet:
            tqdm.write(outcome_line(o), file=sys.stdout)

    try:
        report = run_batch(args.inputs, args.out, settings, args.store, engine, on_outcome)
    finally:
        bar.close()
    print(report.table())
    print(f"report: {args.out / REPORT}")
    return 1 if report.count("failed") else 0
