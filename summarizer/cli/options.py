"""Options and helpers shared by the CLI commands.

Settings come from three layers, later wins: dataclass defaults, the YAML ``--config`` file
(one section per settings class: ``sample:``, ``embed:``, ``seams:``, ...), then flags given
on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from summarizer.config import (
    EMBEDDERS,
    PRECISIONS,
    EmbedSettings,
    SampleSettings,
    default,
    from_dict,
    load_config,
    replace,
    split_sample_section,
)

T = TypeVar("T")


def shown(section: str | type, key: str) -> str:
    """'default X' of a settings field, read from `summarizer.config` (a YAML section's
    name) or a settings dataclass, never copied."""
    if isinstance(section, str):
        value = default(section, key)
    else:
        value = next(f.default for f in dataclasses.fields(section) if f.name == key)
    if isinstance(value, (tuple, list)):  # nargs flags: as they are typed
        value = " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"default {'none' if value is None else value}"


def setting_flag(
    g: Any,
    section: str | type,
    key: str,
    what: str | None = None,
    flag: str | None = None,
    **kw: Any,
) -> None:
    """Add the flag that overrides setting `section.key` to parser or group `g`: ``--key``
    (or `flag`), dest `key`, default None (not given: the config or the default wins), its
    help `what` and the default read from the settings. Its type is the field's (int,
    float; else text) unless ``type`` or ``action`` say otherwise."""
    if not {"type", "action"} & set(kw):
        kw["type"] = _field_type(section, key)
    help_ = shown(section, key) if what is None else f"{what} ({shown(section, key)})"
    g.add_argument(flag or f"--{key.replace('_', '-')}", dest=key, default=None, help=help_, **kw)


def _field_type(section: str | type, key: str) -> type | None:
    """int or float where the settings field is one (None or not), else None (text)."""
    import typing

    from summarizer.config import section_class

    cls = section_class(section) if isinstance(section, str) else section
    hint = typing.get_type_hints(cls)[key]
    kinds = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return kinds[0] if kinds[0] in (int, float) else None


def given(args: argparse.Namespace, *keys: str) -> dict[str, Any]:
    """The values of the setting flags `keys` (None: not given), lists (``nargs``) as tuples."""
    values = {k: getattr(args, k) for k in keys}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def add_inputs(p: argparse.ArgumentParser, what: str = "VIDEO") -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar=what,
        help="video files, folders of images, URLs (anything yt-dlp reads, ytsearch:QUERY) "
        "or streams (rtsp://, .m3u8, MJPEG over http)",
    )


def out_dir(value: str) -> Path:
    """argparse type of an output folder: checked now (not created: a run that fails on its
    settings leaves nothing behind), so a bad path fails before any work."""
    from summarizer.outputs.folders import check_out_dir

    return check_out_dir(value)


def out_file(value: str) -> Path:
    """argparse type of an output file: its folder is checked now."""
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


#: The setting flags of `add_sample` and `add_embed` (their dests are the fields' names).
SAMPLE_FLAGS = ("fps", "every_n", "keyframes_only", "start_s", "end_s", "time_regex")
EMBED_FLAGS = ("embedder", "model", "pretrained", "device", "precision", "batch_size")


def add_sample(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling (YAML section 'sample:')")
    setting_flag(g, "sample", "fps", "frames per second to sample")
    setting_flag(g, "sample", "every_n", "take every n-th frame instead of --fps")
    setting_flag(g, "sample", "keyframes_only", "only codec key frames", action="store_true")
    setting_flag(g, "sample", "start_s", "start time in seconds", flag="--start")
    setting_flag(g, "sample", "end_s", "end time in seconds", flag="--end")
    setting_flag(g, "sample", "time_regex", "image folders: regex whose group 1 is the time (s)")


def add_embed(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embedding (YAML section 'embed:')")
    setting_flag(g, "embed", "embedder", choices=EMBEDDERS)
    setting_flag(g, "embed", "model", "open_clip architecture")
    setting_flag(g, "embed", "pretrained", "open_clip weights tag or a checkpoint path")
    setting_flag(g, "embed", "device", "auto, cpu, cuda, mps")
    setting_flag(g, "embed", "precision", choices=PRECISIONS)
    setting_flag(g, "embed", "batch_size", "images per forward pass")


def add_source(p: argparse.ArgumentParser, keywords_help: str | None = None) -> None:
    """URL and stream options (see `summarizer.sources`); with `keywords_help` also
    --subtitles and --keywords (commands that use subtitles)."""
    g = p.add_argument_group("URLs and streams" + (" and subtitles" if keywords_help else ""))
    g.add_argument(
        "--end-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help="read a live stream (RTSP, live HLS, MJPEG) for this long; a URL's video is then "
        "streamed up to this time instead of downloaded whole (plain http files, HLS)",
    )
    g.add_argument(
        "--ytdlp",
        default=None,
        metavar="ARGS",
        help='extra yt-dlp options as its own command line, e.g. --ytdlp="--dateafter 20240101"',
    )
    g.add_argument(
        "--downloads",
        type=Path,
        default=None,
        metavar="DIR",
        help="where URL downloads and stream captures go (default: <store>/downloads)",
    )
    if not keywords_help:
        return
    g.add_argument(
        "--subtitles",
        type=Path,
        default=None,
        metavar="FILE",
        help="a .srt or .vtt for the (single) input (default: a sidecar next to the file, "
        "or the subtitles yt-dlp finds)",
    )
    g.add_argument("--keywords", default=None, metavar="WORDS", help=keywords_help)
    from summarizer.sources.keywords import MODES

    g.add_argument(
        "--keywords-as",
        choices=MODES,
        default=None,
        help="what the keyword spans do: extra segment boundaries (seams), a filter (only "
        "what lies inside them), or only a list; auto: boundaries for seams, filter for "
        f"summary and sample ({shown('keywords', 'mode')})",
    )


def add_captions(p: argparse.ArgumentParser) -> None:
    """--captions and the endpoint options (see `summarizer.captions`)."""
    from summarizer.captions import CaptionSettings

    g = p.add_argument_group("captions (YAML section 'captions:'; off by default)")
    g.add_argument(
        "--captions",
        action="store_true",
        help="caption frames with an OpenAI-compatible chat endpoint; writes captions.jsonl",
    )
    g.add_argument(
        "--caption-base-url", default=None, help="endpoint base URL (default $OPENAI_BASE_URL)"
    )
    g.add_argument("--caption-model", default=None, help="model name (default $OPENAI_MODEL)")
    g.add_argument(
        "--caption-api-key", default=None, help="API key (default $OPENAI_API_KEY; safer)"
    )
    g.add_argument(
        "--caption-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"seconds between captioned frames, at least "
        f"({shown(CaptionSettings, 'min_interval_s')})",
    )
    g.add_argument(
        "--caption-batch",
        type=int,
        default=None,
        help=f"images per request ({shown(CaptionSettings, 'batch_size')})",
    )
    g.add_argument(
        "--caption-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"per request ({shown(CaptionSettings, 'timeout_s')})",
    )
    g.add_argument(
        "--caption-retries", type=int, default=None, help=shown(CaptionSettings, "retries")
    )
    g.add_argument(
        "--caption-summary",
        action="store_true",
        default=None,
        help="also write a whole-video summary (captions_summary.txt)",
    )


def section(config: dict[str, Any], name: str, cls: type[T], **flags: Any) -> T:
    """Settings `cls` from config section `name`, overridden by the flags that were given."""
    return replace(from_dict(cls, config.get(name)), **flags)


def sample_settings(args: argparse.Namespace, config: dict[str, Any]) -> SampleSettings:
    decode = {"sample": split_sample_section(config)[0]}
    s = section(decode, "sample", SampleSettings, **given(args, *SAMPLE_FLAGS))
    if args.every_n is not None and args.fps is None:  # --every-n alone means: no fps target
        s = dataclasses.replace(s, fps=None)
    return s


def embed_settings(args: argparse.Namespace, config: dict[str, Any]) -> EmbedSettings:
    return section(config, "embed", EmbedSettings, **given(args, *EMBED_FLAGS))


def config_of(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--config`` file's sections, every one checked now (unknown sections and keys,
    bad values), so one file serves every command and fails before any work."""
    from summarizer.config import Settings

    config = load_config(getattr(args, "config", None))
    Settings.from_dict(config)
    return config


def add_video_command(
    p: argparse.ArgumentParser,
    out: str | None = "output folder",
    keywords: str | None = None,
) -> None:
    """The options every embedding command shares: inputs, --out, store, config, sampling,
    URLs and subtitles (`keywords`: help of --keywords), embedding and --quiet
    (`out=None`: no --out)."""
    add_inputs(p)
    if out:
        p.add_argument("--out", type=out_dir, required=True, help=out)
    add_store(p)
    add_config(p)
    add_sample(p)
    add_source(p, keywords)
    add_embed(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def out_names(inputs: list[str]) -> list[str]:
    """A distinct folder name per input (see `summarizer.outputs.folders.out_names`)."""
    from summarizer.outputs.folders import out_names as names

    return names(inputs)


def resolve_inputs(args: argparse.Namespace, store: Any = None) -> list[Any]:
    """Every input made local (`summarizer.sources.Source`): URLs downloaded, streams
    captured up to --end-time, playlists expanded, subtitles found. Nothing is written to
    the output folder."""
    from summarizer.errors import SettingsError
    from summarizer.sources import resolve_all
    from summarizer.sources.subtitles import parse_keywords

    subtitles = getattr(args, "subtitles", None)
    if subtitles is not None and len(args.inputs) > 1:
        raise SettingsError("--subtitles names the subtitles of one input; give one input")
    options = None
    if getattr(args, "ytdlp", None):
        from summarizer.sources.ytdlp import extra_options

        options = extra_options(args.ytdlp)
    downloads = getattr(args, "downloads", None)
    if downloads is None and store is not None:
        downloads = Path(store.root) / "downloads"
    want = bool(parse_keywords(getattr(args, "keywords", None)))
    out = []
    for value in args.inputs:
        out += resolve_all(
            value,
            downloads=downloads,
            end_time_s=getattr(args, "end_time", None),
            ytdlp_options=options,
            subtitles=subtitles,
            want_subtitles=want,
        )
    return out


def subtitles_of(source: Any, keywords: tuple[str, ...]) -> Any:
    """The parsed subtitles of a source (None when it has none; a warning line when
    keywords were asked for and there are none)."""
    from summarizer.sources.subtitles import load_subtitles

    if source.subtitles is None:
        if keywords:
            print(
                f"warning: {source.name}: no subtitles found, --keywords ignored", file=sys.stderr
            )
        return None
    return load_subtitles(source.subtitles)


class Opened(NamedTuple):
    """One input, checked: where it came from, its ref, its output folder name."""

    source: Any
    ref: Any
    folder: str


def open_inputs(args: argparse.Namespace, store: Any, sample: SampleSettings) -> list[Opened]:
    """Resolve, validate and hash every input before anything is computed or written, so one
    bad input fails the run up front."""
    from summarizer.flow import open_video

    sources = resolve_inputs(args, store)
    opened = []
    names = out_names([s.name for s in sources])
    for source, folder in zip(sources, names, strict=True):
        ref = open_video(source, store, sample)
        opened.append(Opened(source, ref, folder))
    return opened


class EmbeddedInput(NamedTuple):
    """One input of a command: its ref, its embedding, its output folder name, the seconds
    the embedding took (a cache hit: the time to read it back), and its source."""

    ref: Any
    embedded: Any
    folder: str
    seconds: float
    source: Any = None


def embedded_inputs(
    args: argparse.Namespace,
    config: dict[str, Any],
    store: Any = None,
    sample: SampleSettings | None = None,
    embed: EmbedSettings | None = None,
    check: Callable[[list[Opened]], None] | None = None,
    signal: bool = False,
) -> Iterator[EmbeddedInput]:
    """Yield an `EmbeddedInput` per input, in order.

    Every input is resolved, validated and hashed (and `check` run on them all) before
    anything is computed, so one bad input fails the run up front; each is then embedded
    (or read from the store) with a progress bar. signal: the embedding pass also makes the
    full-rate frame signal (`summarizer.flow.embed_video`), for a detector that reads it.
    """
    from summarizer.cli.progress import TqdmProgress
    from summarizer.flow import embed_video
    from summarizer.store import Store

    sample = sample or sample_settings(args, config)
    embed = embed or embed_settings(args, config)
    store = store if store is not None else Store(args.store)
    opened = open_inputs(args, store, sample)
    if check is not None:
        check(opened)
    for source, ref, name in opened:
        t0 = time.perf_counter()
        with TqdmProgress(ref.name, disable=True if args.quiet else None) as bar:
            ev = embed_video(
                ref, sample, embed, store, progress=lambda _s, d, t: bar(d, t), signal=signal
            )
        yield EmbeddedInput(ref, ev, name, time.perf_counter() - t0, source)
