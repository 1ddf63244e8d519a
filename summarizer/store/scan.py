"""The catalog's truth, read from the files: each video's row (``.videos/<sha256>.json``)
and every entry's manifest. Rebuilding the catalog and reading a shared store use these."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from summarizer.store.files import (
    GROUP_OK,
    MANIFEST,
    META,
    Damaged,
    ResultKey,
    check_manifest,
    read_json_object,
)

VIDEOS_DIR = ".videos"  # .videos/<sha256>.json: each video's catalog row, for rebuilds
VIDEO_COLUMNS = (
    "sha256", "name", "path", "kind", "fps", "frames", "duration_s", "width", "height",
    "added_at", "last_seen", "backend", "key_kind",
)  # fmt: skip


def groups(root: Path) -> list[Path]:
    """The group folders under the store's root."""
    try:
        return [g for g in root.iterdir() if GROUP_OK.match(g.name) and g.is_dir()]
    except OSError:
        return []


def manifests(gdir: Path) -> Iterator[dict[str, Any]]:
    """The well-formed manifests of a group's entries (whose folder matches their key)."""
    try:
        entries = [d for d in gdir.iterdir() if not d.name.startswith(".") and d.is_dir()]
    except OSError:
        return
    for d in entries:
        try:
            manifest = read_json_object(d / MANIFEST)
            check_manifest(manifest)
        except Damaged:
            continue
        key = ResultKey(
            manifest["group"], manifest["stage"], manifest["settings_hash"], manifest["model_id"]
        )
        if key.group == gdir.name and key.dirname == d.name:
            yield manifest


def video_file(root: Path, sha256: str) -> Path:
    """Where the row of video `sha256` is kept."""
    if not GROUP_OK.match(sha256):
        raise ValueError(f"bad store group {sha256!r}")
    return root / VIDEOS_DIR / f"{sha256}.json"


def video_files(root: Path) -> list[str]:
    """The hashes that have a ``.videos/<sha256>.json``."""
    try:
        return [f.stem for f in (root / VIDEOS_DIR).glob("*.json")]
    except OSError:
        return []


def video_file_row(root: Path, sha256: str) -> dict[str, Any] | None:
    """The video row kept in ``.videos/<sha256>.json`` (None when absent or malformed)."""
    try:
        row = read_json_object(video_file(root, sha256))
    except (Damaged, ValueError):
        return None
    if row.get("sha256") != sha256:
        return None
    return {c: row.get(c) for c in VIDEO_COLUMNS}


def video_from_entries(gdir: Path, manifests: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A video row recovered from an embedding entry's metadata (stores written before
    ``.videos/`` existed)."""
    for manifest in manifests:
        d = (
            gdir
            / ResultKey(
                manifest["group"],
                manifest["stage"],
                manifest["settings_hash"],
                manifest["model_id"],
            ).dirname
        )
        try:
            meta = read_json_object(d / META)
        except Damaged:
            continue
        probe = meta.get("probe")
        if meta.get("sha256") != gdir.name or not isinstance(probe, dict):
            continue
        t = float(manifest["created_at"])
        return {
            "sha256": gdir.name,
            "name": meta.get("name"),
            "path": meta.get("path"),
            "kind": meta.get("kind"),
            "fps": probe.get("fps"),
            "frames": probe.get("frame_count"),
            "duration_s": probe.get("duration_s"),
            "width": probe.get("width"),
            "height": probe.get("height"),
            "added_at": t,
            "last_seen": t,
            "backend": probe.get("backend"),
            "key_kind": meta.get("key_kind"),
        }
    return None
