"""``keyframe-atlas poster VIDEO... --out FILE.png|FILE.pdf --cols C --rows R``.

Makes (or reuses from the store) the latent map of the videos, cuts a window of it
(``--center X Y --width W``, default the whole map) into a grid and puts in each cell the frame
nearest its centre, no frame twice (``--repeats`` allows it). Tiles are decoded again from the
video files at the size they need (``--thumbnails-only``: the stored thumbnails). The print
size is ``--size-cm W H`` at ``--dpi`` (e.g. ``--size-cm 60 90 --dpi 150``), or ``--size-px``,
or ``--tile-px`` per column. Writes FILE and ``FILE.layout.json`` (tile -> video, time).
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from summarizer.cli import options as common
from summarizer.cli.commands import map as map_cmd

NAME = "poster"
#: The poster settings with a flag of their own name (dest = the field's name).
POSTER_FLAGS = (
    "center",
    "width",
    "height",
    "dpi",
    "size_cm",
    "size_px",
    "tile_px",
    "fit",
    "gap_px",
)
HELP = "a printable poster (PNG/PDF) of the latent map: the frame nearest each grid cell"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from summarizer.poster.layout import FITS

    common.add_inputs(p)
    p.add_argument("--out", type=common.out_file, required=True, help="poster file, .png or .pdf")
    p.add_argument("--cols", type=int, required=True, help="tiles across")
    p.add_argument("--rows", type=int, required=True, help="tiles down")
    g = p.add_argument_group("window and print size")
    flag = functools.partial(common.setting_flag, g, "poster")
    flag("center", nargs=2, metavar=("X", "Y"), type=float)
    flag("width", "window width in map units, 2 = all")
    flag("height", "window height (none: width * rows / cols)")
    flag("dpi", "print resolution")
    flag("size_cm", "print size in cm", nargs=2, metavar=("W", "H"), type=float)
    flag("size_px", "print size in pixels", nargs=2, metavar=("W", "H"), type=int)
    flag("tile_px", "tile width without a print size")
    g.add_argument("--repeats", action="store_true", help="a frame may fill several cells")
    flag("fit", choices=FITS)
    flag("gap_px", "pixels between tiles", flag="--gap")
    g.add_argument(
        "--thumbnails-only", action="store_true", help="tiles from the stored thumbnails"
    )
    common.add_store(p)
    common.add_config(p)
    common.add_sample(p)
    common.add_embed(p)
    map_cmd.add_latent_flags(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def poster_settings(args: argparse.Namespace, config: dict):
    from summarizer.poster.layout import PosterSettings

    return common.section(
        config,
        "poster",
        PosterSettings,
        cols=args.cols,
        rows=args.rows,
        allow_repeats=True if args.repeats else None,
        use_source=False if args.thumbnails_only else None,
        **common.given(args, *POSTER_FLAGS),
    )


def run(args: argparse.Namespace) -> int:
    from summarizer.cli.progress import TqdmProgress
    from summarizer.errors import SettingsError
    from summarizer.poster.render import PosterFrames, render_poster

    t0 = time.perf_counter()
    out: Path = args.out
    if out.suffix.lower() not in (".png", ".pdf"):
        raise SettingsError(f"--out must end in .png or .pdf, got {out.name!r}")
    settings = poster_settings(args, common.config_of(args))
    settings.canvas_size()  # an absurd print size fails before any embedding or training
    videos, lmap = map_cmd.compute_map(args)
    print(map_cmd.describe(lmap))
    if lmap.note:
        print(f"note: {lmap.note}")
    by_hash = {v.ref.sha256: v for v in videos}
    ordered = [by_hash[h] for h in lmap.hashes]
    frames = PosterFrames.from_embedded(ordered, lmap.coords)
    with TqdmProgress("poster", unit="tile", disable=True if args.quiet else None) as bar:
        res = render_poster(frames, settings, out, progress=bar)
    for note in res.notes:
        print(f"note: {note}")
    w, h = res.size_px
    print(
        f"poster: {w} x {h} px, {settings.cols} x {settings.rows} tiles "
        f"({res.tiles_from_source} from the videos, {res.tiles_from_thumbnails} from thumbnails, "
        f"{res.empty_cells} empty)"
    )
    print(f"wrote {res.path} and {res.layout_path} in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0
