"""The result store: results cached per content hash, safe for many threads and processes.

- `hashing`: content keys (sha256 of a file, an image folder, a collection) and checksums.
- `files`: one entry on disk: atomic writes, the ``.npy`` appender, the manifest and its checks.
- `catalog`: the SQLite index (videos, results, runs), rebuilt from the entries when damaged;
  a journal for workers sharing a store across machines.
- `cache`: `Store`, with ``get_or_compute``, the one cache-or-compute every stage uses.
- `scan`: the catalog's truth read from the files (video rows, manifests).
- `library`: what the app asks (kept sources, thumbnails, the library listing).
"""

from summarizer.store.cache import GROUP_OK, Store, default_root
from summarizer.store.catalog import Catalog
from summarizer.store.files import (
    MANIFEST,
    MANIFEST_VERSION,
    META,
    SMALL_FILE,
    Damaged,
    Result,
    ResultKey,
    ResultWriter,
    to_json,
)
from summarizer.store.hashing import (
    CHUNK,
    collection_hash,
    hash_file,
    hash_path,
    image_files,
    sanitise,
)

__all__ = [
    "CHUNK",
    "GROUP_OK",
    "MANIFEST",
    "MANIFEST_VERSION",
    "META",
    "SMALL_FILE",
    "Catalog",
    "Damaged",
    "Result",
    "ResultKey",
    "ResultWriter",
    "Store",
    "collection_hash",
    "default_root",
    "hash_file",
    "hash_path",
    "image_files",
    "sanitise",
    "to_json",
]
