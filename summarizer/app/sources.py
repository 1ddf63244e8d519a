"""Videos from a link for the app: the Home page's URL box, made local by `summarizer.sources`.

A link is anything `summarizer.sources.resolve_all` takes (a page yt-dlp understands, a
playlist, a direct http(s) file, an HLS / RTSP / MJPEG stream). Downloads and stream
captures go to ``<store>/downloads`` and are then processed like an upload; the catalog row
says what the store key is (``key_kind``: "bytes", the sha256 of the file, or "stream", the
URL + the stream's identity for a live stream read up to an end time). No Streamlit here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from summarizer.app.labels import fmt_bytes
from summarizer.data import VideoRef
from summarizer.errors import AtlasError, InputError, SettingsError

log = logging.getLogger("summarizer.app")

MAX_VIDEOS = 10  # a playlist or search link: at most this many videos per click
DOWNLOADS = "downloads"  # inside the store
#: The schemes and prefixes the box takes (for its help and the "not a link" message).
EXAMPLES = "https://, rtsp://, rtmp:// or ytsearch:"

#: What a visitor may paste: network addresses and yt-dlp's searches, never a path on the
#: server (file://) or a socket it would listen on.
SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "rtmps")
SEARCHES = ("ytsearch", "ytsearchdate", "scsearch", "gvsearch")

Progress = Callable[[str, int, int], None]


def catalog_ref(ref: VideoRef, opened: Any) -> VideoRef:
    """`ref` as the catalog should record it: with the key kind of the `Source` it was
    opened from (a plain path: its bytes), unless `flow.open_video` already set it."""
    if ref.key_kind:
        return ref
    kind = getattr(opened, "key_kind", None) or "bytes"
    return dataclasses.replace(ref, key_kind=kind)


def reopen(row: Mapping[str, Any], path: Path) -> Any:
    """What to open a catalogued video's kept file as, so its store key stays: the file
    itself (its bytes are hashed again: the same key), or for a video keyed by link +
    stream identity a `Source` carrying that key."""
    if row.get("key_kind") != "stream":
        return path
    from summarizer.sources import Source

    return Source(Path(path), row["name"], key_kind="stream", key=row["sha256"])


def downloads_dir(store: Any) -> Path:
    return Path(store.root) / DOWNLOADS


def check_link(text: str) -> str:
    """The link the user typed, trimmed; an `InputError` for something that is not one."""
    from summarizer.sources import is_url

    link = " ".join(str(text).split())
    if not link:
        raise InputError("Paste a link first")
    if not is_url(link):
        raise InputError(f"{link}: not a link (it should start with {EXAMPLES})")
    scheme = link.split(":", 1)[0].lower()
    if scheme not in SCHEMES and scheme.rstrip("0123456789") not in SEARCHES:
        # file:// would read the server's own files, udp:// and srt:// make it listen
        raise InputError(f"{link}: {scheme} links are not taken here (use {EXAMPLES})")
    return link


def fetch(
    store: Any,
    link: str,
    end_time_s: float | None = None,
    progress: Progress | None = None,
    max_bytes: int | None = None,
) -> list[Any]:
    """Every video behind `link`, made local (`summarizer.sources.Source`, at most
    `MAX_VIDEOS`), with the subtitles yt-dlp finds.

    A stream that ends (a VOD HLS) is read whole; a live one is recorded for `end_time_s`
    seconds. progress: ``("fetch", bytes done, bytes total)`` while yt-dlp downloads.
    max_bytes: a larger file is not downloaded (the server's upload limit, so a link cannot
    fill the disk beyond what an upload could).
    Raises `AtlasError` with one line (yt-dlp not installed, the link is dead, no video).
    """
    from summarizer.sources import resolve_all

    link = check_link(link)

    def hook(d: dict[str, Any]) -> None:
        if progress is None:
            return
        done = int(d.get("downloaded_bytes") or 0)
        total = int(d.get("total_bytes") or d.get("total_bytes_estimate") or 0)
        if d.get("status") == "finished":
            total = done = max(done, total)
        progress("fetch", done, total)

    options: dict[str, Any] = {"progress_hooks": [hook], "max_downloads": MAX_VIDEOS}
    if max_bytes:
        options["max_filesize"] = int(max_bytes)

    def resolve(end: float | None) -> list[Any]:
        return resolve_all(
            link,
            downloads=downloads_dir(store),
            end_time_s=end,
            ytdlp_options=options,
            want_subtitles=True,
        )

    if progress is not None:
        progress("fetch", 0, 0)
    try:
        try:
            found = resolve(None)  # read to its end when it has one
        except SettingsError as exc:
            if not end_time_s or "live stream" not in str(exc):
                raise
            found = resolve(end_time_s)  # a live stream: recorded up to the end time
    except InputError as exc:
        why = tidy(str(exc))
        if max_bytes and "downloaded nothing" in why:  # yt-dlp skips a file over the limit
            why += f" (files over this server's limit of {fmt_bytes(max_bytes)} are skipped)"
        raise InputError(why) from None
    except AtlasError:
        raise
    except Exception as exc:  # a bug below: logged, one line shown
        log.exception("fetching %s failed", link)
        raise InputError(
            f"{link}: unexpected problem while fetching ({type(exc).__name__}); see the server log"
        ) from None
    return found[:MAX_VIDEOS]


_YTDLP_WHERE = re.compile(r"(:\s)\[[\w:.-]+\] [^\s:]+: ")  # "[generic] clip: "
_YTDLP_CAUSE = re.compile(r"\s*\(caused by <.*>\)\s*$")


def tidy(message: str) -> str:
    """yt-dlp's error line without its extractor tag and Python cause, for people:
    "u: [generic] x: Unable to download webpage: HTTP Error 404: Not Found (caused by
    <HTTPError 404...>)" -> "u: Unable to download webpage: HTTP Error 404: Not Found"."""
    return _YTDLP_CAUSE.sub("", _YTDLP_WHERE.sub(r"\1", message, count=1))


def forget_download(store: Any, source: Any) -> None:
    """Remove a download (and its subtitles) that failed to process, unless a catalogued
    video still reads it; only files under the store's downloads folder are touched."""
    root = downloads_dir(store).resolve()
    path = Path(source.path).resolve()
    if any(row.get("path") == str(path) for row in store.videos()):
        return
    subs = getattr(source, "subtitles", None)
    for p in (path, Path(subs).resolve() if subs else None):
        if p is not None and p.is_relative_to(root):
            with contextlib.suppress(OSError):
                p.unlink(missing_ok=True)


def key_text(key_kind: str | None) -> str:
    """What a catalog's ``key_kind`` means, for people."""
    if key_kind == "stream":
        return "stored under its link and stream identity (a live capture)"
    return "stored under the hash of its bytes"
