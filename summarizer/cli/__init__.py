"""The `keyframe-atlas` command line tool."""

from summarizer.cli.main import main

__all__ = ["main"]
