"""Uploads kept in the store under their content hash, so clips and full-size frames work later.

An upload is copied to disk in 1 MiB chunks while it is hashed, then Streamlit's copy in
memory is dropped (`release`), so a server holds at most the files being uploaded right
now (``server.maxUploadSize`` each), never the library.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from summarizer.app.labels import fmt_bytes
from summarizer.errors import InputError

VIDEO_TYPES = ("mp4", "mov", "m4v", "mkv", "webm", "avi", "mpg", "mpeg", "wmv", "flv", "ts", "3gp")

UPLOAD_DIR = (
    "source"  # inside a video's store group: the uploaded bytes, for clips and full-res frames
)


@dataclass(frozen=True)
class SavedUpload:
    """An uploaded file copied into the store: its content hash and where the bytes are."""

    sha256: str
    name: str
    path: Path
    size: int


def check_upload_name(name: str) -> None:
    """Refuse a file whose extension is not a video container we read."""
    ext = Path(name).suffix.lower().lstrip(".")
    if ext not in VIDEO_TYPES:
        shown = ext or "no extension"
        raise InputError(
            f"{name}: not a video file ({shown}); accepted types: {', '.join(VIDEO_TYPES)}"
        )


def save_upload(
    store: Any,
    name: str,
    data: bytes | IO[bytes],
    max_bytes: int | None = None,
) -> SavedUpload:
    """Write an upload to a temp file while hashing it, then keep it in the store.

    The bytes end in ``<store>/<sha256>/source/<safe name>`` so clips and full-resolution
    keyframes work later (the same bytes under another name reuse the copy). Raises
    `InputError` for a wrong type, an empty file or one over `max_bytes`; nothing is left
    behind on failure.
    """
    import hashlib

    from summarizer.outputs.files import video_stem

    check_upload_name(name)
    stream: IO[bytes] = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    with contextlib.suppress(AttributeError, OSError):
        stream.seek(0)
    tmp_dir = Path(store.root) / ".uploads"  # the app's own: on the store's file system
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=Path(name).suffix.lower())
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise InputError(
                        f"{name}: too large ({fmt_bytes(size)}+); the limit is {fmt_bytes(max_bytes)}"
                    )
                h.update(chunk)
                fh.write(chunk)
        if size == 0:
            raise InputError(f"{name}: the file is empty")
        sha = h.hexdigest()
        folder = store.group_dir(sha) / UPLOAD_DIR
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.iterdir()) if folder.exists() else []
        if existing:  # same bytes already kept (maybe under another name)
            Path(tmp).unlink(missing_ok=True)
            return SavedUpload(sha, name, existing[0], size)
        final = folder / f"{video_stem(name)}{Path(name).suffix.lower()}"
        os.replace(tmp, final)
        return SavedUpload(sha, name, final, size)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def release(uploaded: Any) -> None:
    """Drop Streamlit's in-memory copy of an uploaded file (after `save_upload` kept it)."""
    with contextlib.suppress(Exception):
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        remove = getattr(getattr(ctx, "uploaded_file_mgr", None), "remove_file", None)
        if ctx is not None and remove is not None:
            remove(session_id=ctx.session_id, file_id=uploaded.file_id)
    with contextlib.suppress(Exception):
        uploaded.close()


def source_file(store: Any, sha256: str) -> Path | None:
    """The kept source video of a catalogued hash (upload copy or the original path)."""
    folder = store.group_dir(sha256, create=False) / UPLOAD_DIR
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if files:
            return files[0]
    row = store.video(sha256)
    if row and row.get("path") and Path(row["path"]).exists():
        return Path(row["path"])
    return None


def forget_source(store: Any, sha256: str) -> None:
    """Remove the kept upload copy of a video (used when processing it failed)."""
    group = store.group_dir(sha256, create=False)
    shutil.rmtree(group / UPLOAD_DIR, ignore_errors=True)
    with contextlib.suppress(OSError):
        group.rmdir()  # only when nothing else is kept for this hash
