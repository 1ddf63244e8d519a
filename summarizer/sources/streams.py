"""Live and segmented streams (RTSP/RTMP, HLS, MJPEG over http), and video files read over
http(s) only as far as they are needed: what kind a URL is, and capturing it to a local
video file with ffmpeg, bounded by an end time.

The capture is re-encoded to H.264 (``-t END``), so everything downstream (exact seams, clips)
reads an ordinary file while the stream is read only as far as it is needed. A video file
(kind ``file``) is stream-copied instead: its own frames, read through ffmpeg's http
protocol (range requests where the server takes them), up to the end time. A stream that
never ends (RTSP, MJPEG, live HLS without ``#EXT-X-ENDLIST``) needs an end time.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from summarizer.errors import InputError, SettingsError

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp")
PROBE_TIMEOUT_S = 10.0
READ_TIMEOUT_US = 15_000_000  # ffmpeg gives up on a stream silent for this long


def _head(url: str) -> tuple[str, bytes]:
    """(content type, first bytes) of an http(s) URL, reading no more than a few KiB."""
    req = urllib.request.Request(url, headers={"User-Agent": "keyframe-atlas"})
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310
            return resp.headers.get("Content-Type", "").lower(), resp.read(4096)
    except urllib.error.HTTPError:  # a page may refuse this probe: yt-dlp says what is wrong
        return "", b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise InputError(f"{url}: cannot be reached ({why})") from None


def stream_kind(url: str) -> str | None:
    """ "rtsp" (any real-time protocol), "hls", "mjpeg", or None for anything else (a page or
    file for yt-dlp). http(s) URLs are asked for their content type."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in STREAM_SCHEMES:
        return "rtsp"
    if scheme not in ("http", "https"):
        return None
    if parts.path.lower().endswith(".m3u8"):
        return "hls"
    ctype, first = _head(url)
    if ctype.startswith("multipart/x-mixed-replace"):
        return "mjpeg"
    if "mpegurl" in ctype or first.lstrip().startswith(b"#EXTM3U"):
        return "hls"
    return None


def hls_ends(url: str) -> bool:
    """True when an HLS playlist is complete (``#EXT-X-ENDLIST``): it can be read to its end."""
    req = urllib.request.Request(url, headers={"User-Agent": "keyframe-atlas"})
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310
            text = resp.read(1 << 20).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InputError(f"{url}: cannot be reached ({getattr(exc, 'reason', exc)})") from None
    return "#EXT-X-ENDLIST" in text


def needs_end_time(url: str, kind: str) -> bool:
    return kind in ("rtsp", "mjpeg") or (kind == "hls" and not hls_ends(url))


def capture_args(
    url: str,
    kind: str,
    dst: Path,
    end_time_s: float | None,
    headers: tuple[tuple[str, str], ...] = (),
    copy: bool | None = None,
) -> list[str]:
    """The ffmpeg command line that records `url` (of `kind`) into the mp4 `dst`.
    headers: HTTP headers for the request (what yt-dlp says the URL wants). copy: stream
    copy instead of re-encoding (default: for kind ``file``)."""
    from summarizer.outputs.clips import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    if kind == "rtsp" and url.lower().startswith("rtsp"):
        cmd += ["-rtsp_transport", "tcp", "-timeout", str(READ_TIMEOUT_US)]
    elif kind in ("hls", "mjpeg", "file"):
        cmd += ["-rw_timeout", str(READ_TIMEOUT_US)]
    if headers and url.lower().startswith("http"):
        cmd += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in headers)]
    if kind == "mjpeg":  # multipart JPEGs carry no times: stamp them as they arrive
        cmd += ["-f", "mpjpeg", "-use_wallclock_as_timestamps", "1"]
    cmd += ["-i", url]
    if end_time_s is not None:
        cmd += ["-t", f"{end_time_s:.3f}"]
    if copy if copy is not None else kind == "file":
        return [*cmd, "-map", "0:v:0", "-an", "-c", "copy", "-movflags", "+faststart", str(dst)]
    cmd += ["-map", "0:v:0", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18"]
    cmd += ["-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
    cmd += ["-fps_mode", "vfr", "-movflags", "+faststart", str(dst.resolve())]
    return cmd


def capture(
    url: str,
    kind: str,
    dst: Path,
    end_time_s: float | None,
    live: bool | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Path:
    """Record the stream into `dst` (written to a temporary name, renamed when complete).
    live: whether it never ends by itself (None: ask the stream). A video file whose codec
    an mp4 cannot hold by stream copy is re-encoded instead."""
    if end_time_s is not None and not end_time_s > 0:
        raise SettingsError(f"--end-time must be > 0 seconds, got {end_time_s:g}")
    if live is None:
        live = needs_end_time(url, kind)
    if end_time_s is None and live:
        raise SettingsError(f"{url} is a live stream: give --end-time SECONDS to bound it")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.stem}.", suffix=dst.suffix)
    os.close(fd)
    tmp = Path(name)
    limit = (end_time_s or 3600.0) * 3 + 60  # a real-time stream takes its own length
    copies = [True, False] if kind == "file" else [False]
    for copy in copies:
        try:
            proc = subprocess.run(
                capture_args(url, kind, tmp, end_time_s, headers, copy),
                capture_output=True,
                text=True,
                check=False,
                timeout=limit,
            )
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise InputError(f"{url}: the stream did not finish within {limit:.0f} s") from None
        except BaseException:  # interrupted: no half capture is left behind
            tmp.unlink(missing_ok=True)
            raise
        if proc.returncode == 0 and tmp.is_file() and tmp.stat().st_size > 0:
            break
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        lines = (proc.stderr or "").strip().splitlines()
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        raise InputError(f"{url}: cannot read the {kind} stream: {why}")
    tmp.replace(dst)
    return dst
