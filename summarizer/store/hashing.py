"""Content keys: sha256 of a file's bytes, of an image folder, of a collection; checksums."""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20  # hashing reads 1 MiB at a time
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def hash_file(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB chunks (flat memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly inside `folder` (the ones `summarizer.decode` reads), sorted."""
    from summarizer.decode import IMAGE_EXTS

    return sorted(
        (p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS),
        key=lambda p: p.name,
    )


def hash_path(path: str | Path) -> str:
    """Content key of an input: a file's sha256, or for an image folder the sha256 over its
    image files' sorted names and bytes (so renaming the folder keeps the key, while renaming,
    adding or changing a frame changes it)."""
    p = Path(path)
    if not p.is_dir():
        return hash_file(p)
    h = hashlib.sha256(b"keyframe-atlas image folder v1\0")
    for f in image_files(p):
        name = f.name.encode("utf-8", "surrogateescape")
        h.update(len(name).to_bytes(8, "little") + name)
        h.update(f.stat().st_size.to_bytes(8, "little"))
        with open(f, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
    return h.hexdigest()


def collection_hash(hashes: Iterable[str]) -> str:
    """Key of a collection of videos: sha256 of their sorted hashes (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def sanitise(text: str, limit: int = 80) -> str:
    """A file-name-safe form of `text`; a short hash is added when characters were replaced."""
    clean = _SAFE.sub("_", text).strip("._") or "none"
    if clean != text or len(clean) > limit:
        clean = f"{clean[:limit]}~{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return clean


def crc32_file(path: str | Path, offset: int = 0) -> int:
    """CRC-32 of a file's bytes from `offset` to the end.

    The integrity check of big entry files: zlib's CRC-32 runs at several GB/s (about 5x
    sha256 here), so it can run on every open; it detects damage, not tampering.
    """
    crc = 0
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        buf = bytearray(CHUNK * 4)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            crc = zlib.crc32(view[:n], crc)
    return crc
