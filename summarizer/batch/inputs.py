"""What a batch runs on: files, folders and text files of paths or URLs, expanded to sources.

- a video file: itself;
- a folder: the video files under it (recursively, in name order); a folder holding images
  but no video is one image-folder video;
- a text file (``.txt``, ``.list``, ``.lst``): one path or URL per line, ``#`` comments and
  blank lines skipped, relative paths taken from the list's folder (a line may be a folder);
- a URL: itself (opened by the decoder);
- anything else (a missing file ...): kept, so that the batch reports it as failed and goes on.
Duplicates are dropped, first occurrence kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from summarizer.errors import InputError

VIDEO_EXTS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)
LIST_EXTS = frozenset({".txt", ".list", ".lst"})


def is_url(text: str) -> bool:
    return "://" in text and text.split("://", 1)[0].lower() in ("http", "https", "rtsp", "rtmp")


def _folder(folder: Path) -> list[str]:
    from summarizer.decode import IMAGE_EXTS

    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTS and p.is_file())
    if videos:
        return [str(p) for p in videos]
    if any(p.suffix.lower() in IMAGE_EXTS and p.is_file() for p in folder.iterdir()):
        return [str(folder)]
    raise InputError(f"{folder}: a folder with no video files and no images")


def _list_file(path: Path, seen_lists: set[Path]) -> list[str]:
    if path.resolve() in seen_lists:
        raise InputError(f"{path}: the list includes itself")
    seen_lists.add(path.resolve())
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the list of videos: {exc}") from None
    items = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if is_url(line) or Path(line).expanduser().is_absolute():
            items.append(line)
        else:
            items.append(str(path.parent / line))
    return _expand(items, seen_lists)


def _expand(items: Iterable[str], seen_lists: set[Path]) -> list[str]:
    out: list[str] = []
    for item in items:
        if is_url(item):
            out.append(item)
            continue
        p = Path(item).expanduser()
        if p.is_dir():
            out.extend(_folder(p))
        elif p.is_file() and p.suffix.lower() in LIST_EXTS:
            out.extend(_list_file(p, seen_lists))
        else:
            out.append(str(p))
    return out


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """The sources of a batch, in order, without duplicates (see the module doc)."""
    seen: set[str] = set()
    out = []
    for src in _expand(inputs, set()):
        key = src if is_url(src) else str(Path(src).resolve())
        if key not in seen:
            seen.add(key)
            out.append(src)
    if not out:
        raise InputError("no videos to process")
    return out
