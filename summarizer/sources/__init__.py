"""Where a video comes from: a local path, a URL yt-dlp understands, or a live stream.

`resolve_all(source)` turns what the user typed into local things the decoder reads
(`Source`), with the subtitles found for each; `resolve` is the one-video form that
`flow.open_video` calls. A URL's store key is the sha256 of its bytes when all of them were
read (a download), else the URL plus the stream's identity (`Source.key_kind`).

With an end time, a video yt-dlp gives a direct URL for (a plain http(s) file, an HLS
playlist) is streamed, read only up to that time, not downloaded whole; its identity is
yt-dlp's "extractor:id:format", the kind of stream and the end time
("Generic:clip:mp4:file:end=3"). A video that turns out shorter than the end time was
wanted whole: it is downloaded and keyed by its bytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from summarizer.errors import InputError
from summarizer.sources.subtitles import find_sidecar

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
SEARCH_PREFIXES = ("ytsearch", "ytsearchdate", "scsearch", "gvsearch")


@dataclass(frozen=True)
class Source:
    """One input, made local.

    path: the file or image folder the decoder reads.
    name: what people see (the file name, or the video's title for a URL).
    url: where it came from (None for a local path).
    key_kind: "bytes" (store key = sha256 of the file's bytes, all read) or "stream"
        (key = `key`, from the URL and `identity`).
    identity: yt-dlp's "extractor:id"; for a stream its kind and end time (after yt-dlp's
        "extractor:id:format" when it found it), and for a live one the time its capture
        started ("mjpeg:end=30:at=2026-11-30T21:20:05.1Z").
    subtitles: a .srt/.vtt found for it (a sidecar, yt-dlp's, or the one named).
    """

    path: Path
    name: str
    url: str | None = None
    key_kind: str = "bytes"
    key: str | None = None
    identity: str | None = None
    subtitles: Path | None = None

    @property
    def is_url(self) -> bool:
        return self.url is not None


def is_url(value: str | Path) -> bool:
    """True for ``scheme://...`` and ``ytsearch:...`` (never for an existing local path)."""
    s = str(value)
    if isinstance(value, Path) or Path(s).exists():
        return False
    if s.split(":", 1)[0].lower().rstrip("0123456789") in SEARCH_PREFIXES and ":" in s:
        return True
    return bool(_SCHEME.match(s)) and "://" in s and len(s.split(":", 1)[0]) > 1


def default_downloads() -> Path:
    """Where URL downloads and stream captures go unless told: ``$ATLAS_HOME/downloads``."""
    from summarizer.store import default_root

    return default_root() / "downloads"


def stream_key(url: str, identity: str) -> str:
    """The store key of a stream read up to an end time: the URL plus its identity."""
    return hashlib.sha256(f"stream\n{url}\n{identity}".encode()).hexdigest()


def _name(title: str, suffix: str = ".mp4") -> str:
    title = " ".join(title.replace("/", " ").split())[:120] or "video"
    return f"{title}{suffix}"


def resolve_all(
    source: str | Path,
    *,
    downloads: Path | None = None,
    end_time_s: float | None = None,
    ytdlp_options: dict[str, Any] | None = None,
    subtitles: str | Path | None = None,
    want_subtitles: bool = False,
) -> list[Source]:
    """Every video behind `source` (a playlist or a search gives several), made local.

    subtitles: a .srt/.vtt to use (else a sidecar next to a file, or yt-dlp's when
    `want_subtitles`). end_time_s: how much of a live stream to read (seconds).
    """
    named = Path(subtitles) if subtitles else None
    if named is not None and not named.is_file():
        raise InputError(f"{subtitles}: no such subtitle file")
    if not is_url(source):
        p = Path(source).expanduser()
        if not p.exists():
            raise InputError(f"{source}: no such file or folder")
        return [Source(p, p.name, subtitles=named or find_sidecar(p))]
    from summarizer.sources import streams

    url = str(source)
    downloads = Path(downloads) if downloads else default_downloads()
    kind = streams.stream_kind(url)
    if kind is not None:
        return [_capture(url, url, kind, downloads, end_time_s, named)]
    from summarizer.sources import ytdlp

    out = []
    fetched = ytdlp.fetch(
        url, downloads, options=ytdlp_options, subtitles=want_subtitles, end_time_s=end_time_s
    )
    for d in fetched:
        if d.stream_kind and d.stream_url:  # only its start is needed: streamed
            whole = _whole_download(d, downloads, end_time_s)
            if whole is not None:  # found shorter than the end time before: read whole
                out.append(whole)
                continue
            src = _capture(
                d.stream_url,
                d.webpage_url,
                d.stream_kind,
                downloads,
                end_time_s,
                named or d.subtitles,
                prefix=f"{d.identity}:{d.format_id}",
                title=d.title,
                headers=d.headers,
            )
            if d.stream_kind == "file" and _ended_early(src.path, end_time_s):
                out.append(_download_whole(d, src, downloads))
                continue
            out.append(src)
            continue
        if d.live:
            if not d.stream_url:
                raise InputError(f"{url}: yt-dlp gave no stream URL for the live video")
            out.append(_capture(d.stream_url, d.webpage_url, "hls", downloads, end_time_s, named))
            continue
        assert d.path is not None
        out.append(
            Source(
                d.path,
                _name(d.title, d.path.suffix),
                url=d.webpage_url,
                identity=d.identity,
                subtitles=named or d.subtitles,
            )
        )
    return out


def _capture(
    media_url: str,
    url: str,
    kind: str,
    downloads: Path,
    end_time_s: float | None,
    subtitles: Path | None,
    prefix: str | None = None,
    title: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Source:
    """Capture `media_url` (the stream of `url`) up to `end_time_s`. prefix: what comes
    before the stream's kind in its identity (yt-dlp's extractor:id:format); title: its
    name (default: from the URL)."""
    from summarizer.sources import streams

    # A stream with an end (HLS VOD) is the same video every time: its capture is kept and
    # reused. A live one (RTSP, MJPEG, live HLS) differs on every read: its identity holds
    # the time the capture started, so each capture is its own video in the store.
    live = streams.needs_end_time(media_url, kind)
    span = f"end={end_time_s:g}" if end_time_s else "all"
    identity = f"{prefix}:{kind}:{span}" if prefix else f"{kind}:{span}"
    if live:
        import datetime

        now = datetime.datetime.now(datetime.timezone.utc)
        identity += f":at={now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
    key = stream_key(url, identity)
    dst = downloads / "streams" / f"{key[:16]}.mp4"
    if live or not dst.is_file():
        streams.capture(media_url, kind, dst, end_time_s, live=live, headers=headers)
    tail = url.rstrip("/").rsplit("/", 1)[-1] or kind
    return Source(
        dst,
        _name(title or Path(tail).stem or kind),
        url=url,
        key_kind="stream",
        key=key,
        identity=identity,
        subtitles=subtitles,
    )


def _ended_early(path: Path, end_time_s: float | None) -> bool:
    """True when a capture is shorter than its end time: the video ended before it, so every
    byte of it was wanted after all."""
    from summarizer.decode import probe

    if end_time_s is None:
        return False
    p = probe(path)
    return p.duration_s < end_time_s - max(2.0 / (p.fps or 25.0), 0.05)


def _whole_download(d: Any, downloads: Path, end_time_s: float | None) -> Source | None:
    """A whole download of `d`'s media URL made before that ends before `end_time_s` (so
    it is what a capture up to that time would hold), if any."""
    from summarizer.sources import ytdlp

    if d.stream_kind != "file" or end_time_s is None:
        return None
    folder = ytdlp.download_folder(str(d.stream_url), downloads)
    found = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.endswith(".part"))
    videos = [p for p in found if p.suffix.lower() not in (".vtt", ".srt", ".json")]
    if len(videos) != 1 or not _ended_early(videos[0], end_time_s):
        return None
    return Source(videos[0], _name(d.title, videos[0].suffix), url=d.webpage_url,
                  identity=d.identity, subtitles=d.subtitles)  # fmt: skip


def _download_whole(d: Any, capture: Source, downloads: Path) -> Source:
    """The video of `d` downloaded whole from its media URL (keyed by its bytes) in place of
    its `capture`, which is removed."""
    from summarizer.sources import ytdlp

    options = {"http_headers": dict(d.headers)} if d.headers else None
    (whole,) = ytdlp.fetch(str(d.stream_url), downloads, options=options)[:1]
    capture.path.unlink(missing_ok=True)
    assert whole.path is not None
    return Source(
        whole.path,
        _name(d.title, whole.path.suffix),
        url=d.webpage_url,
        identity=d.identity,
        subtitles=capture.subtitles,
    )


def resolve(source: str | Path, **kwargs: Any) -> Source:
    """The one video behind `source` (see `resolve_all`); a URL with several videos (a
    playlist) is refused here: list it with `resolve_all`."""
    found = resolve_all(source, **kwargs)
    if len(found) != 1:
        raise InputError(f"{source}: holds {len(found)} videos; give one, or use the CLI")
    return found[0]
