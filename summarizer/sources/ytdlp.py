"""Anything yt-dlp understands (a page, a playlist, ``ytsearch:QUERY``, a direct file URL):
list its videos, download each (with its subtitles when asked) into a downloads folder.

Only part of a video needed (an end time shorter than the video): a format yt-dlp gives a
direct media URL for (a plain http(s) file, or an HLS playlist) is not downloaded but
returned as a stream (`Download.stream_kind`), which `summarizer.sources.streams` reads only
up to the end time. Formats in fragments yt-dlp must assemble itself (DASH, ...) are
downloaded whole.

yt-dlp is the optional extra ``url``; without it a URL gives one line saying what to install.
Extra yt-dlp options are given as yt-dlp's own command line (``--ytdlp "--dateafter 20240101"``)
and parsed by yt-dlp itself, so every option it documents works.
"""

from __future__ import annotations

import dataclasses
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
    stream_url: str | None = None  # the media URL of a live stream or a streamed video
    subtitles: Path | None = None
    stream_kind: str | None = None  # "file" or "hls": a video to stream up to an end time
    format_id: str | None = None  # the format streamed (part of its identity)
    headers: tuple[tuple[str, str], ...] = ()  # HTTP headers the media URL wants


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
    end_time_s: float | None = None,
) -> list[Download]:
    """Download every video behind `url` into ``downloads/<hash of url>/`` (a file already
    there is not fetched again); live streams are returned with their media URL instead,
    and so are the videos that can be streamed when only their first `end_time_s` seconds
    are needed (see `streamable`)."""
    yt_dlp = _yt_dlp()
    folder = download_folder(url, downloads)
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
                media = streamable(entry, end_time_s)
                if media is not None:
                    done = entry
                    if subtitles:  # written without the video
                        ydl.params["skip_download"] = True
                        try:
                            done = ydl.process_ie_result(entry, download=True)
                        finally:
                            ydl.params["skip_download"] = False
                    out.append(
                        dataclasses.replace(
                            media,
                            title=title,
                            identity=ident,
                            webpage_url=page,
                            subtitles=_subtitle_file(done),
                        )
                    )
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


STREAM_PROTOCOLS = {"http": "file", "https": "file", "m3u8": "hls", "m3u8_native": "hls"}


def streamable(entry: dict[str, Any], end_time_s: float | None) -> Download | None:
    """The stream of a video yt-dlp resolved (its video format's direct URL and kind), when
    only its first `end_time_s` seconds are needed and yt-dlp gives a URL ffmpeg reads
    (http(s) file, HLS); None: download it whole (no end time, one past the video's known
    duration, or a format in fragments)."""
    if end_time_s is None:
        return None
    duration = entry.get("duration")
    if duration and end_time_s >= float(duration):
        return None  # every byte is needed: download it, keyed by its bytes
    formats = entry.get("requested_formats") or [entry]
    video = [f for f in formats if f.get("vcodec") != "none"]
    if not video:
        return None
    fmt = video[0]
    kind = STREAM_PROTOCOLS.get(str(fmt.get("protocol") or ""))
    if kind is None or not fmt.get("url"):
        return None
    headers = tuple(sorted((str(k), str(v)) for k, v in (fmt.get("http_headers") or {}).items()))
    return Download(
        None,
        "",
        "",
        "",
        stream_url=str(fmt["url"]),
        stream_kind=kind,
        format_id=str(fmt.get("format_id") or ""),
        headers=headers,
    )


def download_folder(url: str, downloads: Path) -> Path:
    """Where `fetch` puts the videos of `url`."""
    return Path(downloads) / hashlib.sha256(url.encode()).hexdigest()[:16]


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
