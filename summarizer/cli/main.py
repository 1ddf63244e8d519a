"""Command line entry point: ``keyframe-atlas <command> ...`` and ``python -m summarizer``.

Each command lives in ``summarizer/commands/<name>.py`` and exposes ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. User errors (`AtlasError`, and file system
errors such as an unwritable --out) print one line and exit 2; nothing else is caught, so bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from summarizer.errors import AtlasError

COMMANDS = ("embed", "seams", "sample", "summary", "map", "poster", "batch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyframe-atlas",
        description="Turn videos into keyframes, scene summaries and a printable map of their content.",
    )
    from summarizer import __version__

    parser.add_argument("--version", action="version", version=f"keyframe-atlas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"summarizer.cli.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name != f"summarizer.cli.commands.{name}":
                raise
            continue
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from summarizer.embed import runtime

    runtime.apply()  # the entry point sets threads and the OpenMP policy, before torch loads
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args._run(args) or 0)
    except AtlasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied, a file where a folder should be
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
