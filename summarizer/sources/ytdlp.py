"""Anything yt-dlp understands (a page, a playlist, ``ytsearch:QUERY``, a direct file URL):
list its videos, download each (with its subtitles when asked) into a downloads folder.

yt-dlp is the optional extra ``url``; without it a URL gives one line saying what to install.
Extra yt-dlp options are given as yt-dlp's own command line (``--ytdlp "--dateafter 20240101"``)
and parsed by yt-dlp itself, so every option it documents works.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from summarizer.errors import AtlasError, InputError, SettingsError

INSTALL = "URLs need yt-dlp: pip install 'keyframe-atlas[url]'"
SUBTITLE_LANGS = ["en.*", "en"]


@dataclass(frozen=True)
class Download:
    """One video yt-dlp fetched (or found live)."""

    path: Path | None  # the downloaded file (None for a live stream)
    title: str
    identity: str  # "extractor:id"
    webpage_url: str
    live: bool = False
    stream_url: str | None = None  # the media URL of a live stream
    subtitles: Path | None = None


def _yt_dlp():
    try:
        import yt_dlp
    except ImportError:
        raise AtlasError(INSTALL) from None
    return yt_dlp


def extra_options(args: str | None) -> dict[str, Any]:
    """yt-dlp options from a yt-dlp command line (only those that differ from its defaults)."""
    if not args:
        return {}
    yt_dlp = _yt_dlp()
    import optparse

    try:
        base = yt_dlp.parse_options(["--ignore-config"]).ydl_opts
        opts = yt_dlp.parse_options(["--ignore-config", *shlex.split(args)]).ydl_opts
    except (optparse.OptParseError, SystemExit, ValueError) as exc:  # a bad option
        lines = str(exc).strip().splitlines()
        why = lines[-1].split("error:", 1)[-1].strip() if lines else "not understood"
        raise SettingsError(f"--ytdlp {args!r}: {why}") from None
    return {k: v for k, v in opts.items() if base.get(k) != v}


class _Quiet:
    """yt-dlp logger: keep the last error line for our one-line message, print nothing."""

    def __init__(self) -> None:
        self.last = ""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        self.last = msg


def _why(exc: Exception, log: _Quiet) -> str:
    text = (log.last or str(exc)).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.removeprefix("ERROR: ").strip()


def fetch(
    url: str,
    downloads: Path,
    *,
    options: dict[str, Any] | None = None,
    subtitles: bool = False,
) -> list[Download]:
    """Download every video behind `url` into ``downloads/<hash of url>/`` (a file already
    there is not fetched again); live streams are returned with their media URL instead."""
    yt_dlp = _yt_dlp()
    folder = downloads / hashlib.sha256(url.encode()).hexdigest()[:16]
    log = _Quiet()
    opts: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": log,
        "outtmpl": str(folder / "%(extractor)s-%(id)s.%(ext)s"),
        "format": "bv*[height<=1080]+ba/b[height<=1080]/bv*+ba/b",
        "merge_output_format": "mp4",
        "noplaylist": False,
        "restrictfilenames": True,
        "socket_timeout": 30,
        "retries": 3,
    }
    if shutil.which("ffmpeg") is None:  # merging video + audio needs one: use ours
        from summarizer.outputs.clips import ffmpeg_exe

        opts["ffmpeg_location"] = ffmpeg_exe()
    if subtitles:
        opts.update(
            writesubtitles=True,
            writeautomaticsub=True,
            subtitleslangs=SUBTITLE_LANGS,
            subtitlesformat="vtt/srt/best",
        )
    opts.update(options or {})
    limit = opts.pop("max_downloads", None)  # applied here: yt-dlp stops by raising
    out: list[Download] = []
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=False)
            if info is None:
                raise InputError(f"{url}: yt-dlp found no video")
            entries = list(info.get("entries") or []) if "entries" in info else [info]
            entries = [e for e in entries if e is not None][:limit]
            for entry in entries:
                ident = f"{entry.get('extractor_key') or entry.get('extractor')}:{entry.get('id')}"
                title = str(entry.get("title") or entry.get("id") or "video")
                page = str(entry.get("webpage_url") or url)
                if entry.get("is_live"):
                    out.append(Download(None, title, ident, page, True, entry.get("url")))
                    continue
                done = ydl.process_ie_result(entry, download=True)
                path = _downloaded(done)
                if path is None:
                    raise InputError(f"{url}: yt-dlp downloaded nothing for {title!r}")
                out.append(Download(path, title, ident, page, subtitles=_subtitle_file(done)))
    except AtlasError:
        raise
    except Exception as exc:  # yt-dlp's DownloadError / ExtractorError and network errors
        raise InputError(f"{url}: {_why(exc, log)}") from None
    if not out:
        raise InputError(f"{url}: yt-dlp found no video")
    return out


def _downloaded(info: dict[str, Any]) -> Path | None:
    for item in info.get("requested_downloads") or []:
        p = item.get("filepath")
        if p and Path(p).is_file():
            return Path(p)
    p = info.get("filepath") or info.get("_filename")
    return Path(p) if p and Path(p).is_file() else None


def _subtitle_file(info: dict[str, Any]) -> Path | None:
    subs = info.get("requested_subtitles") or {}
    for lang in sorted(subs, key=lambda k: (not k.startswith("en"), k)):
        p = subs[lang].get("filepath")
        if p and Path(p).is_file() and Path(p).suffix.lower() in (".vtt", ".srt"):
            return Path(p)
    return None
