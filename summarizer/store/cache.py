"""The store: results cached per content hash, and the one get-or-compute every stage uses.

Layout under the root (explicit argument > ``$ATLAS_HOME`` > the per-user cache dir)::

    catalog.sqlite                     index: videos, results, runs (rebuilt from the entries)
    .locks/<group>-<entry>.lock        one file lock per result key (cross-process)
    .videos/<sha256>.json              each video's catalog row (the catalog is rebuilt from these
                                       and the entries' manifests)
    .journal/                          catalog writes of shared-store workers (see catalog.py)
    .uploads/                          uploads being received (the app)
    <group>/                           a video sha256 or a collection hash
        source/<name>                  a kept upload (the app), for clips and full-size frames
        <stage>-<settings_hash>-<model>/   one result (see files.py)

A result key is (group, stage, settings hash, model id). Results are written into a temp
folder inside the group folder and renamed into place, so a reader sees a whole entry or
none; a damaged entry is a miss and is recomputed, never a crash. No pickle anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.errors import StoreError
from summarizer.store.catalog import Catalog
from summarizer.store.files import (
    GROUP_OK,
    MANIFEST,
    Damaged,
    Result,
    ResultKey,
    ResultWriter,
    read_entry,
)
from summarizer.store.hashing import sanitise
from summarizer.store.library import Library

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 3600.0  # opening a store sweeps temporaries left by killed writers this often
STALE_FILE_S = 3600.0  # a temp file untouched this long belongs to a dead writer
SHARED_MIN_AGE_S = 600.0  # shared stores: never sweep a temp folder younger than this

Compute = Callable[
    [ResultWriter], "Mapping[str, Any] | tuple[Mapping[str, np.ndarray], Mapping[str, Any]] | None"
]


def default_root() -> Path:
    """``$ATLAS_HOME`` if set, else the per-user cache dir for keyframe-atlas."""
    env = os.environ.get("ATLAS_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("keyframe-atlas"))


class Store(Library):
    """Cached results per content hash under `root`, plus the catalog.

    Safe to share between threads (every catalog call opens its own connection) and between
    processes (WAL, busy timeout, a file lock per result key). `shared=True` (or
    ``$ATLAS_STORE_SHARED=1``) is for workers writing into a store that other machines share:
    they journal catalog writes instead of opening SQLite (see `summarizer.store.catalog`).
    `catalog_path` (or ``$ATLAS_CATALOG``): keep the catalog elsewhere than ``<root>/catalog.sqlite``,
    e.g. on the catalog writer's local disk when the root is on NFS.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        lock_timeout: float = -1,
        shared: bool | None = None,
        catalog_path: str | Path | None = None,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.lock_timeout = lock_timeout
        env = os.environ.get("ATLAS_STORE_SHARED", "").strip().lower()
        self.shared = shared if shared is not None else env in ("1", "true", "yes", "on")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / ".locks").mkdir(exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise StoreError(
                f"store folder {self.root} is not writable: {exc.strerror or exc}"
            ) from None
        catalog_path = catalog_path or os.environ.get("ATLAS_CATALOG") or None
        self.catalog_path = (
            Path(catalog_path).expanduser() if catalog_path else self.root / "catalog.sqlite"
        )
        self.catalog = Catalog(self.root, path=self.catalog_path, shared=self.shared)
        self._maybe_sweep()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ catalog

    def register_video(self, ref: Any) -> None:
        """Add or refresh a `VideoRef` (same bytes, new name: name updated). Records which
        decoder read it (``probe.backend``) and what its hash keys (``ref.key_kind``:
        "bytes" for files and folders; a URL source may key by URL + stream identity)."""
        p = ref.probe
        self._group_path(ref.sha256)  # validates
        now = time.time()
        old = self.catalog.video(ref.sha256) or {}
        row = {
            "sha256": ref.sha256,
            "name": ref.name,
            "path": str(ref.path),
            "kind": ref.kind,
            "fps": float(p.fps),
            "frames": int(p.frame_count),
            "duration_s": float(p.duration_s),
            "width": int(p.width),
            "height": int(p.height),
            "added_at": old.get("added_at") or now,
            "last_seen": now,
            "backend": getattr(p, "backend", None) or old.get("backend"),
            "key_kind": getattr(ref, "key_kind", None) or old.get("key_kind") or "bytes",
        }
        self.catalog.put_video(row)

    def video(self, sha256: str) -> dict[str, Any] | None:
        """The catalog row of a video (a dict), or None."""
        return self.catalog.video(sha256)

    def videos(self) -> list[dict[str, Any]]:
        """All catalogued videos, most recently seen first."""
        return self.catalog.videos()

    def record_run(
        self, key: ResultKey, seconds: float, cache_hit: bool, settings: Any = None
    ) -> None:
        """Log one stage run (computed or cache hit) with its timing."""
        if settings is not None and is_dataclass(settings) and not isinstance(settings, type):
            settings = asdict(settings)
        self.catalog.record_run(key, seconds, cache_hit, settings)

    def runs(self, group: str | None = None, stage: str | None = None) -> list[dict[str, Any]]:
        """Logged runs, oldest first, optionally of one group / stage."""
        return self.catalog.runs(group, stage)

    def results(self, group: str | None = None) -> list[dict[str, Any]]:
        """Catalogued results (rows of the results table), optionally of one group."""
        return self.catalog.results(group)

    def sync(self) -> int:
        """Ingest what shared-store workers journaled (run on the one catalog writer)."""
        return self.catalog.sync()

    def rebuild_catalog(self) -> dict[str, int]:
        """Rebuild the catalog from the entry folders now (it also happens on damage)."""
        return self.catalog.rebuild()

    # ------------------------------------------------------------------ folders

    def _group_path(self, group: str) -> Path:
        if not isinstance(group, str) or not GROUP_OK.match(group):
            raise ValueError(f"bad store group {group!r}")
        return self.root / group

    def group_dir(self, group: str, create: bool = True) -> Path:
        """The folder of one group (video or collection), for extra files (keyframe JPEGs)."""
        p = self._group_path(group)
        if create:
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {p}: {exc.strerror or exc}") from None
        return p

    def key(self, group: str, stage: str, settings_hash: str, model_id: str = "") -> ResultKey:
        self._group_path(group)  # validates
        return ResultKey(group, stage, settings_hash, model_id)

    def entry_path(self, key: ResultKey) -> Path:
        return self._group_path(key.group) / key.dirname

    def _drop_empty_group(self, group: str) -> None:
        with contextlib.suppress(OSError):
            self._group_path(group).rmdir()  # only succeeds when empty

    def _install(self, tmp: Path, final: Path) -> None:
        """Rename a finished temp folder into place, replacing an old (damaged) entry."""
        try:
            os.rename(tmp, final)
            return
        except OSError:
            if not final.exists():
                raise
        trash = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".trash-{final.name}-"))
        os.rename(final, trash / "old")
        os.rename(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)

    # ------------------------------------------------------------------ results

    def _lock_path(self, group: str, dirname: str) -> Path:
        return self.root / ".locks" / f"{sanitise(f'{group}-{dirname}', 200)}.lock"

    @contextlib.contextmanager
    def lock(self, key: ResultKey, timeout: float | None = None) -> Iterator[None]:
        """Hold the cross-process lock of one result key."""
        from filelock import FileLock, Timeout

        lk = FileLock(str(self._lock_path(key.group, key.dirname)))
        try:
            lk.acquire(timeout=self.lock_timeout if timeout is None else timeout)
        except Timeout:
            raise StoreError(f"timed out waiting for another process computing {key}") from None
        try:
            yield
        finally:
            lk.release()

    def writer(self, key: ResultKey) -> ResultWriter:
        """A `ResultWriter` for `key` (use it as a context manager; hold `lock(key)`)."""
        try:
            return ResultWriter(self, key)
        except OSError as exc:
            raise StoreError(f"cannot write to {self.root}: {exc.strerror or exc}") from None

    def exists(self, key: ResultKey) -> bool:
        """Whether a complete (manifest-bearing) entry is on disk; does not verify it."""
        return (self.entry_path(key) / MANIFEST).is_file()

    def load(self, key: ResultKey, *, mmap: bool = True, verify: bool = True) -> Result | None:
        """The result of `key`, or None when missing or damaged (a damaged entry is logged).

        Arrays are read-only; files bigger than 4 MiB are memory-mapped when `mmap`. `verify`
        checks every file's checksum (big files once per process while unchanged).
        """
        path = self.entry_path(key)
        if not (path / MANIFEST).is_file():
            return None
        try:
            return read_entry(key, path, mmap=mmap, verify=verify)
        except (Damaged, OSError, ValueError, KeyError, TypeError, AttributeError, EOFError) as exc:
            log.warning("store entry %s is damaged (%s); it will be recomputed", key, exc)
            return None

    def save(
        self,
        key: ResultKey,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any] | None = None,
    ) -> Result:
        """Write a whole result atomically (under its lock) and return it as loaded."""
        with self.lock(key):
            return self._compute_and_load(key, lambda w: (arrays, meta or {}), None)

    def _compute_and_load(
        self, key: ResultKey, compute: Compute, valid: Callable[[Result], bool] | None
    ) -> Result:
        """Run `compute` into a writer and commit it (the caller holds the key's lock)."""
        with self.writer(key) as w:
            out = compute(w)
            if isinstance(out, tuple):
                arrays, meta = out
                w.add_arrays(arrays)
            else:
                meta = out
            w.commit(meta)
        res = self._load_valid(key, valid)
        if res is None:
            raise StoreError(f"store entry {key} could not be read back after writing")
        return res

    def _load_valid(self, key: ResultKey, valid: Callable[[Result], bool] | None) -> Result | None:
        res = self.load(key)
        if res is not None and valid is not None and not valid(res):
            log.warning("store entry %s is incomplete for its stage; it will be recomputed", key)
            return None
        return res

    def get_or_compute(
        self,
        key: ResultKey,
        compute: Compute,
        *,
        valid: Callable[[Result], bool] | None = None,
        settings: Any = None,
    ) -> tuple[Result, bool]:
        """Load `key`, or compute and save it; returns (result, cache hit). The one
        cache-or-compute of every stage.

        ``compute(writer)`` writes the result into a `ResultWriter` (``add``, ``append`` for
        arrays streamed batch by batch, ``file(name)`` for extra files such as a ``.keras``
        model) and returns its JSON metadata; or it returns ``(arrays, meta)`` for a result
        built in memory. An exception in `compute` leaves nothing behind. `valid(result)`:
        a stage's own completeness check; an entry failing it is recomputed like a damaged
        one. Concurrent callers of one key (threads or processes) compute it once: the
        others wait on the lock and load the first one's result. Each call is logged in the
        runs table with its time and `settings`.
        """
        t0 = time.perf_counter()
        res = self._load_valid(key, valid)
        if res is None:
            with self.lock(key):
                res = self._load_valid(key, valid)  # someone may have finished while we waited
                if res is None:
                    res = self._compute_and_load(key, compute, valid)
                    self.record_run(key, time.perf_counter() - t0, False, settings)
                    return res, False
        self.record_run(key, time.perf_counter() - t0, True, settings)
        return res, True

    def delete(self, key: ResultKey) -> None:
        """Remove one result (under its lock)."""
        with self.lock(key):
            path = self.entry_path(key)
            if path.exists():
                trash = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".trash-{path.name}-"))
                os.rename(path, trash / "old")
                shutil.rmtree(trash, ignore_errors=True)
            self.catalog.remove_result(key)

    # ------------------------------------------------------------------ temporaries

    def _maybe_sweep(self) -> None:
        """Sweep the whole store when the last sweep is over `SWEEP_EVERY_S` old (a stamp file
        keeps this to one directory scan per hour, however often stores are opened)."""
        stamp = self.root / ".locks" / "swept"
        try:
            if time.time() - stamp.stat().st_mtime < SWEEP_EVERY_S:
                return
        except OSError:
            pass
        with contextlib.suppress(OSError):
            stamp.touch()
            self.sweep()

    def sweep(self, group: str | None = None, own: ResultKey | None = None) -> int:
        """Remove temp folders left by killed writers (whose key lock nobody holds), stale
        trash and temp files; in one group, or in all (plus stale uploads). `own`: a key
        whose lock the caller holds. Returns the number of things removed."""
        from filelock import FileLock, Timeout

        if group is not None:
            groups = [self._group_path(group)]
        else:
            groups = [g for g in self.root.iterdir() if GROUP_OK.match(g.name) and g.is_dir()]
            groups.append(self.root / ".uploads")
        removed = 0
        now = time.time()
        for gdir in groups:
            try:
                items = list(gdir.iterdir())
            except OSError:
                continue
            for d in items:
                name = d.name
                if not name.startswith((".tmp-", ".trash-", "upload-")):
                    continue
                with contextlib.suppress(OSError):
                    age = now - _last_change(d)
                    if not d.is_dir() or name.startswith(".trash-"):
                        if age > (60 if name.startswith(".trash-") else STALE_FILE_S):
                            _remove(d)
                            removed += 1
                        continue
                    if len(name) < 15 or (self.shared and age < SHARED_MIN_AGE_S):
                        continue
                    dirname = name[len(".tmp-") : -9]  # mkdtemp adds "-" + 8 random characters
                    if own is not None and gdir.name == own.group and dirname == own.dirname:
                        _remove(d)  # ours: we hold its lock
                        removed += 1
                        continue
                    lk = FileLock(str(self._lock_path(gdir.name, dirname)))
                    try:
                        lk.acquire(timeout=0)
                    except Timeout:
                        continue  # a writer is at work on it
                    try:
                        _remove(d)
                        removed += 1
                    finally:
                        lk.release()
        return removed


def _last_change(p: Path) -> float:
    """Latest mtime of a path and (a folder) its files: an appending writer keeps it fresh."""
    t = p.stat().st_mtime
    if p.is_dir():
        for f in p.iterdir():
            with contextlib.suppress(OSError):
                t = max(t, f.stat().st_mtime)
    return t


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
