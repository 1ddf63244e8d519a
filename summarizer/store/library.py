"""What the app asks of the store without knowing its folder layout: kept sources (uploads),
a video's thumbnail, what has been computed, the library listing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from summarizer.store.hashing import sanitise

if TYPE_CHECKING:
    from summarizer.store.cache import Store

SOURCE_DIR = "source"  # <group>/source/<name>: a kept upload, for clips and full-size frames
UPLOADS_DIR = ".uploads"  # uploads being received; swept when untouched for an hour


def _ext(suffix: str) -> str:
    """A plain lower-case file extension (".mp4"), or "" when `suffix` is not one."""
    suffix = suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


class Library:
    """Store methods for the app (mixed into `Store`)."""

    def incoming(self: Store, suffix: str = "") -> Path:
        """A new empty temp file to receive an upload into; hand it to `keep_source`
        (or delete it). One left behind by a killed server is swept after an hour."""
        folder = self.root / UPLOADS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=_ext(suffix))
        os.close(fd)
        return Path(tmp)

    def keep_source(self: Store, sha256: str, name: str, received: str | Path) -> Path:
        """Keep a received file (whose sha256 the caller computed while writing it) as the
        source of video `sha256`; the same bytes kept before are reused and `received` is
        removed. Returns where the bytes are."""
        received = Path(received)
        try:
            existing = self.source_path(sha256, kept_only=True)
            if existing is not None:
                received.unlink(missing_ok=True)
                return existing
            folder = self.group_dir(sha256) / SOURCE_DIR
            folder.mkdir(exist_ok=True)
            stem = Path(name).stem or "video"
            final = folder / f"{sanitise(stem, 80)}{_ext(Path(name).suffix)}"
            os.replace(received, final)
            return final
        except BaseException:
            received.unlink(missing_ok=True)
            raise

    def source_path(self: Store, sha256: str, *, kept_only: bool = False) -> Path | None:
        """The bytes of a video: its kept upload, else (unless `kept_only`) the path it was
        opened from when that file is still there; None when neither is."""
        folder = self.group_dir(sha256, create=False) / SOURCE_DIR
        with contextlib.suppress(OSError):
            files = sorted(p for p in folder.iterdir() if p.is_file())
            if files:
                return files[0]
        if kept_only:
            return None
        row = self.video(sha256)
        if row and row.get("path") and Path(row["path"]).exists():
            return Path(row["path"])
        return None

    def forget_source(self: Store, sha256: str) -> None:
        """Remove the kept upload of a video (e.g. when processing it failed)."""
        gdir = self.group_dir(sha256, create=False)
        shutil.rmtree(gdir / SOURCE_DIR, ignore_errors=True)
        self._drop_empty_group(sha256)

    def forget_video(self: Store, sha256: str) -> None:
        """Take a video out of the library: its catalog row, kept upload and results."""
        gdir = self.group_dir(sha256, create=False)
        for row in self.results(sha256):
            self.delete(self.key(sha256, row["stage"], row["settings_hash"], row["model_id"]))
        shutil.rmtree(gdir / SOURCE_DIR, ignore_errors=True)
        self.catalog.remove_video(sha256)
        self._drop_empty_group(sha256)

    def computed(self: Store, sha256: str) -> dict[str, list[str]]:
        """What the store holds for one video: stage -> model ids, e.g. {'embed': ['pixels-v1']}."""
        out: dict[str, list[str]] = {}
        for row in self.results(sha256):
            models = out.setdefault(row["stage"], [])
            if row["model_id"] not in models:
                models.append(row["model_id"])
        return out

    def thumbnail(self: Store, sha256: str) -> np.ndarray | None:
        """A representative frame of a video (a third of the way into the first stored
        result with thumbnails), as a small uint8 (h, w, 3) array; None when none is stored.
        Sizes and headers are checked, not checksums: the entry is verified when used."""
        for row in self.results(sha256):
            try:
                if "thumbnails.npy" not in json.loads(row.get("files") or "[]"):
                    continue
            except ValueError:
                continue
            key = self.key(sha256, row["stage"], row["settings_hash"], row["model_id"])
            res = self.load(key, verify=False)  # a preview: no full read of a 1 GB array
            if res is not None and "thumbnails" in res and len(res["thumbnails"]):
                thumbs = res["thumbnails"]
                return np.array(thumbs[len(thumbs) // 3])
        return None

    def library(self: Store) -> list[dict[str, Any]]:
        """The catalogued videos, most recently seen first, each row with ``computed``
        (stage -> model ids), ``status`` ("ready" when any result is stored, else "new") and
        ``has_source`` (its bytes are at hand for clips and full-size frames)."""
        results: dict[str, dict[str, list[str]]] = {}
        for row in self.results():
            models = results.setdefault(row["group"], {}).setdefault(row["stage"], [])
            if row["model_id"] not in models:
                models.append(row["model_id"])
        out = []
        for row in self.videos():
            done = results.get(row["sha256"], {})
            out.append(
                {
                    **row,
                    "computed": done,
                    "status": "ready" if done else "new",
                    "has_source": self.source_path(row["sha256"]) is not None,
                }
            )
        return out
