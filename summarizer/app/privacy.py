"""What visitors may see: no server paths (unless whoever runs the server asks for them).

``ATLAS_SHOW_PATHS=1`` in the server's environment shows the store and model paths in the
sidebar and in messages (for the person running it on their own machine); otherwise paths
in messages are cut to a file name, and downloads never contain them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
_ABS_PATH = re.compile(r"(?<![\w.])(/[^\s'\"`,;:()]+)")
PATH_KEYS = frozenset({"path", "source_path", "video_path", "store", "store_root"})


def show_paths() -> bool:
    """Whether the server's operator asked to see paths (``ATLAS_SHOW_PATHS=1``)."""
    return os.environ.get("ATLAS_SHOW_PATHS", "").strip().lower() in ("1", "true", "yes", "on")


def redact(message: str, roots: Iterable[str | Path] = ()) -> str:
    """`message` with server paths cut: the project folder dropped (``models/x.pt``), the
    given `roots` (the store) named as "the store", any other absolute path cut to its name."""
    if show_paths():
        return message
    out = message
    for root in sorted((str(r) for r in roots), key=len, reverse=True):
        out = out.replace(root.rstrip("/") + "/", "").replace(root, "the store")
    out = out.replace(str(PROJECT) + "/", "")
    return _ABS_PATH.sub(lambda m: Path(m.group(1)).name or m.group(1), out)


def without_paths(doc: Any) -> Any:
    """A JSON document (dicts, lists) with every path-like key removed, for downloads."""
    if isinstance(doc, Mapping):
        return {k: without_paths(v) for k, v in doc.items() if k not in PATH_KEYS}
    if isinstance(doc, list):
        return [without_paths(v) for v in doc]
    return doc
