"""Output folders: one distinct name per input, and everything checked before anything is
written (a run that fails leaves no half-written folder)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from summarizer.errors import InputError
from summarizer.outputs.files import video_stem


def out_names(names: Sequence[str]) -> list[str]:
    """A distinct folder name per input name (its safe stem; -2, -3 ... when two collide)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        stem = video_stem(Path(str(name)).name)
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return out


def check_out_dir(path: str | Path) -> Path:
    """An output folder that can be made and written, checked without creating it."""
    p = Path(path)
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


def check_clips(kinds: Sequence[tuple[str, str]]) -> None:
    """Clips need video files and an ffmpeg: checked for every (name, kind) before writing."""
    for name, kind in kinds:
        if kind != "video":
            raise InputError(f"{name}: --clips needs a video file, not a folder of images")
    from summarizer.outputs.clips import ffmpeg_exe

    try:
        exe = ffmpeg_exe()
    except Exception as exc:  # imageio-ffmpeg raises RuntimeError without a binary
        raise InputError(f"--clips needs ffmpeg: {exc}") from None
    if not Path(exe).is_file():
        raise InputError(f"--clips needs ffmpeg: {exe} is missing")
