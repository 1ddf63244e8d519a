"""The result store: results cached per content hash, safe for many threads and processes.

Layout under the root (explicit argument > ``$ATLAS_HOME`` > the per-user cache dir)::

    catalog.sqlite                     videos, runs (timings), results
    .locks/<group>-<entry>.lock        one file lock per result key (cross-process)
    <group>/                           a video sha256 or a collection hash
        <stage>-<settings_hash>-<model>/   one result: arrays + metadata
            <name>.npy                 np.save, loaded with allow_pickle=False
            meta.json
            manifest.json              written LAST: each file's size and checksum
        <anything else>                extra files (keyframe JPEGs ...) via `group_dir`

A result key is (group, stage, settings hash, model id). Results are written into a temp
folder inside the group folder and renamed into place, so a reader sees a whole entry or
none. The manifest lets a load detect a damaged or partial entry; such an entry counts as a
miss and is recomputed, never a crash. No pickle anywhere: arrays are ``.npy`` loaded with
``allow_pickle=False``, metadata is JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.errors import StoreError
from summarizer.outputs.files import json_default

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # hashing reads 1 MiB at a time
SMALL_FILE = 4 << 20  # files up to this size get a sha256 in the manifest and load into memory
MANIFEST = "manifest.json"
META = "meta.json"
MANIFEST_VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_GROUP_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# ---------------------------------------------------------------------------- hashing


def hash_file(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB chunks (flat memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly inside `folder` (the ones `summarizer.decode.video` reads), sorted."""
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


def _sha256_bytes_of(path: Path) -> str:
    return hash_file(path)


def sanitise(text: str, limit: int = 80) -> str:
    """A file-name-safe form of `text`; a short hash is added when characters were replaced."""
    clean = _SAFE.sub("_", text).strip("._") or "none"
    if clean != text or len(clean) > limit:
        clean = f"{clean[:limit]}~{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return clean


# ---------------------------------------------------------------------------- keys, results


@dataclass(frozen=True)
class ResultKey:
    """Identifies one result: (group, stage, settings hash, model id)."""

    group: str
    stage: str
    settings_hash: str
    model_id: str = ""

    @property
    def dirname(self) -> str:
        return f"{sanitise(self.stage, 40)}-{sanitise(self.settings_hash, 64)}-{sanitise(self.model_id or 'none')}"

    @property
    def id(self) -> str:
        return f"{self.group}/{self.dirname}"

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class Result:
    """A loaded result: read-only arrays (big ones memory-mapped) and its JSON metadata."""

    key: ResultKey
    path: Path
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name: object) -> bool:
        return name in self.arrays


def to_json(obj: Any, indent: int | None = 1) -> str:
    return json.dumps(obj, indent=indent, sort_keys=True, default=json_default)


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,100}", name) or name in (MANIFEST, META):
        raise ValueError(f"bad result file name {name!r}")


# ---------------------------------------------------------------------------- npy streaming

_HEADER_LEN = 256  # a fixed-size .npy header, rewritten with the final shape on close


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    d = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    text = repr(d).encode("latin1")
    body_len = _HEADER_LEN - 10
    if len(text) + 1 > body_len:
        raise ValueError(f"npy header too long for shape {shape}")
    text = text + b" " * (body_len - len(text) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + text


class _NpyAppender:
    """Writes an ``.npy`` file batch by batch along axis 0 without holding it in memory."""

    def __init__(self, path: Path, first: np.ndarray) -> None:
        self.path = path
        self.dtype = first.dtype
        self.tail = first.shape[1:]
        self.rows = 0
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.fh.write(_npy_header(self.dtype, (0, *self.tail)))

    def append(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch)
        if batch.dtype != self.dtype or batch.shape[1:] != self.tail:
            raise ValueError(
                f"{self.path.name}: batch {batch.dtype}{batch.shape} does not match "
                f"{self.dtype}(n, {', '.join(map(str, self.tail))})"
            )
        self.fh.write(np.ascontiguousarray(batch).tobytes())
        self.rows += len(batch)

    def close(self) -> None:
        if self.fh.closed:
            return
        self.fh.seek(0)
        self.fh.write(_npy_header(self.dtype, (self.rows, *self.tail)))
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def abort(self) -> None:
        if not self.fh.closed:
            self.fh.close()


class ResultWriter:
    """Builds one result in a temp folder; `commit` makes it visible atomically.

    Use ``add(name, array)`` for whole arrays and ``append(name, batch)`` to grow an array
    batch by batch on disk (thumbnails of a two-hour video never sit in memory at once).
    """

    def __init__(self, store: Store, key: ResultKey) -> None:
        self.store = store
        self.key = key
        self.meta: dict[str, Any] = {}
        gdir = store._group_path(key.group)
        gdir.mkdir(parents=True, exist_ok=True)
        store.sweep(key.group, own=key)
        self.tmp = Path(tempfile.mkdtemp(dir=gdir, prefix=f".tmp-{key.dirname}-"))
        os.chmod(self.tmp, 0o755)  # mkdtemp makes it owner-only; entries are ordinary folders
        self._appenders: dict[str, _NpyAppender] = {}
        self._names: set[str] = set()
        self.done = False

    def add(self, name: str, array: np.ndarray) -> None:
        _check_name(name)
        if name in self._names:
            raise ValueError(f"array {name!r} written twice")
        arr = np.asarray(array)
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; the store keeps no pickle")
        with open(self.tmp / f"{name}.npy", "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        self._names.add(name)

    def append(self, name: str, batch: np.ndarray) -> None:
        batch = np.asarray(batch)
        app = self._appenders.get(name)
        if app is None:
            _check_name(name)
            if name in self._names:
                raise ValueError(f"array {name!r} written twice")
            if batch.dtype.hasobject or batch.ndim < 1:
                raise TypeError(f"array {name!r}: need a numeric batch with a first axis")
            app = self._appenders[name] = _NpyAppender(self.tmp / f"{name}.npy", batch)
            self._names.add(name)
        app.append(batch)

    def commit(self, meta: Mapping[str, Any] | None = None) -> Path:
        """Write meta.json, then manifest.json, then rename the folder into place."""
        if meta:
            self.meta.update(meta)
        for app in self._appenders.values():
            app.close()
        (self.tmp / META).write_text(to_json(self.meta))
        files = {}
        for f in sorted(self.tmp.iterdir()):
            files[f.name] = _describe(f)
        manifest = {
            "version": MANIFEST_VERSION,
            "group": self.key.group,
            "stage": self.key.stage,
            "settings_hash": self.key.settings_hash,
            "model_id": self.key.model_id,
            "created_at": time.time(),
            "files": files,
        }
        with open(self.tmp / MANIFEST, "w") as fh:
            fh.write(to_json(manifest))
            fh.flush()
            os.fsync(fh.fileno())
        final = self.store.entry_path(self.key)
        self.store._install(self.tmp, final)
        self.done = True
        self.store._catalog_result(self.key, manifest)
        return final

    def abort(self) -> None:
        for app in self._appenders.values():
            app.abort()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.store._drop_empty_group(self.key.group)
        self.done = True

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self.done:
            self.abort()


def _describe(f: Path) -> dict[str, Any]:
    size = f.stat().st_size
    info: dict[str, Any] = {"size": size}
    if f.suffix == ".npy":
        with open(f, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        info.update(shape=list(shape), dtype=np.lib.format.dtype_to_descr(dtype))
    if size <= SMALL_FILE:
        info["sha256"] = _sha256_bytes_of(f)
    return info


class Damaged(Exception):
    """An entry on disk that does not match its manifest (internal; a load returns None)."""


# ---------------------------------------------------------------------------- the store


_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    sha256 TEXT PRIMARY KEY, name TEXT, path TEXT, kind TEXT, fps REAL, frames INTEGER,
    duration_s REAL, width INTEGER, height INTEGER, added_at REAL, last_seen REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, "group" TEXT, stage TEXT, settings_json TEXT,
    settings_hash TEXT, model_id TEXT, seconds REAL, cache_hit INTEGER, created_at REAL
);
CREATE INDEX IF NOT EXISTS runs_group ON runs ("group", stage);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, "group" TEXT, stage TEXT, settings_hash TEXT, model_id TEXT,
    created_at REAL, files TEXT
);
CREATE INDEX IF NOT EXISTS results_group ON results ("group");
"""


def default_root() -> Path:
    """``$ATLAS_HOME`` if set, else the per-user cache dir for keyframe-atlas."""
    env = os.environ.get("ATLAS_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("keyframe-atlas"))


class Store:
    """Cached results per content hash under `root`, plus the SQLite catalog.

    Safe to share between threads (every catalog call opens its own connection) and between
    processes (WAL, busy timeout, a file lock per result key).
    """

    def __init__(self, root: str | Path | None = None, *, lock_timeout: float = -1) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.lock_timeout = lock_timeout
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / ".locks").mkdir(exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise StoreError(
                f"store folder {self.root} is not writable: {exc.strerror or exc}"
            ) from None
        self.catalog_path = self.root / "catalog.sqlite"
        try:
            con = self._connect()
            try:
                con.executescript(_SCHEMA)
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise StoreError(f"store catalog {self.catalog_path} cannot be used: {exc}") from None

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ catalog

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.catalog_path, timeout=30.0, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        con.row_factory = sqlite3.Row
        return con

    @contextlib.contextmanager
    def _db(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A fresh connection per call (threads never share one). Writes run in one
        IMMEDIATE transaction, committed on success; reads need none (WAL readers never
        block, nor are they blocked)."""
        con = self._connect()
        try:
            if not write:
                yield con
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def register_video(self, ref: Any) -> None:
        """Add or refresh a `VideoRef` in the catalog (same bytes, new name: name updated)."""
        now = time.time()
        p = ref.probe
        with self._db() as db:
            db.execute(
                """INSERT INTO videos (sha256, name, path, kind, fps, frames, duration_s, width,
                       height, added_at, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(sha256) DO UPDATE SET name=excluded.name, path=excluded.path,
                       last_seen=excluded.last_seen""",
                (
                    ref.sha256,
                    ref.name,
                    str(ref.path),
                    ref.kind,
                    float(p.fps),
                    int(p.frame_count),
                    float(p.duration_s),
                    int(p.width),
                    int(p.height),
                    now,
                    now,
                ),
            )

    def video(self, sha256: str) -> dict[str, Any] | None:
        """The catalog row of a video (a dict), or None."""
        with self._db(write=False) as db:
            row = db.execute("SELECT * FROM videos WHERE sha256 = ?", (sha256,)).fetchone()
        return dict(row) if row else None

    def videos(self) -> list[dict[str, Any]]:
        """All catalogued videos, most recently seen first."""
        with self._db(write=False) as db:
            rows = db.execute("SELECT * FROM videos ORDER BY last_seen DESC").fetchall()
        return [dict(r) for r in rows]

    def record_run(
        self,
        key: ResultKey,
        seconds: float,
        cache_hit: bool,
        settings: Any = None,
    ) -> None:
        """Log one stage run (computed or cache hit) with its timing."""
        if settings is not None and is_dataclass(settings) and not isinstance(settings, type):
            settings = asdict(settings)
        with self._db() as db:
            db.execute(
                """INSERT INTO runs ("group", stage, settings_json, settings_hash, model_id,
                       seconds, cache_hit, created_at) VALUES (?,?,?,?,?,?,?,?)""",
                (
                    key.group,
                    key.stage,
                    to_json(settings, indent=None) if settings is not None else None,
                    key.settings_hash,
                    key.model_id,
                    float(seconds),
                    int(bool(cache_hit)),
                    time.time(),
                ),
            )

    def runs(self, group: str | None = None, stage: str | None = None) -> list[dict[str, Any]]:
        """Logged runs, oldest first, optionally of one group / stage."""
        q, args = "SELECT * FROM runs WHERE 1=1", []
        if group is not None:
            q += ' AND "group" = ?'
            args.append(group)
        if stage is not None:
            q += " AND stage = ?"
            args.append(stage)
        with self._db(write=False) as db:
            rows = db.execute(q + " ORDER BY id", args).fetchall()
        return [dict(r) for r in rows]

    def results(self, group: str | None = None) -> list[dict[str, Any]]:
        """Catalogued results (rows of the results table), optionally of one group."""
        q, args = "SELECT * FROM results", []
        if group is not None:
            q += ' WHERE "group" = ?'
            args.append(group)
        with self._db(write=False) as db:
            rows = db.execute(q + " ORDER BY created_at", args).fetchall()
        return [dict(r) for r in rows]

    def _catalog_result(self, key: ResultKey, manifest: Mapping[str, Any]) -> None:
        try:
            with self._db() as db:
                db.execute(
                    """INSERT OR REPLACE INTO results (key, "group", stage, settings_hash,
                           model_id, created_at, files) VALUES (?,?,?,?,?,?,?)""",
                    (
                        key.id,
                        key.group,
                        key.stage,
                        key.settings_hash,
                        key.model_id,
                        manifest["created_at"],
                        to_json(sorted(manifest["files"]), indent=None),
                    ),
                )
        except sqlite3.Error as exc:  # the files are the truth; the table is an index
            log.warning("could not catalogue %s: %s", key, exc)

    def _uncatalog_result(self, key: ResultKey) -> None:
        with contextlib.suppress(sqlite3.Error), self._db() as db:
            db.execute("DELETE FROM results WHERE key = ?", (key.id,))

    # ------------------------------------------------------------------ folders

    def _group_path(self, group: str) -> Path:
        if not isinstance(group, str) or not _GROUP_OK.match(group):
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

        Arrays are read-only; files bigger than 4 MiB are memory-mapped when `mmap`.
        """
        path = self.entry_path(key)
        if not (path / MANIFEST).is_file():
            return None
        try:
            return self._read(key, path, mmap=mmap, verify=verify)
        except (Damaged, OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            log.warning("store entry %s is damaged (%s); it will be recomputed", key, exc)
            return None

    def _read(self, key: ResultKey, path: Path, *, mmap: bool, verify: bool) -> Result:
        manifest = json.loads((path / MANIFEST).read_text())
        if manifest.get("version") != MANIFEST_VERSION:
            raise Damaged(f"manifest version {manifest.get('version')!r}")
        for field_name in ("stage", "settings_hash", "model_id", "group"):
            if manifest.get(field_name) != getattr(key, field_name):
                raise Damaged(f"manifest {field_name} does not match the key")
        files: dict[str, dict[str, Any]] = manifest["files"]
        if META not in files:
            raise Damaged("no meta.json in manifest")
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        for name, info in files.items():
            f = path / name
            size = f.stat().st_size
            if size != info["size"]:
                raise Damaged(f"{name}: {size} bytes, manifest says {info['size']}")
            small = size <= SMALL_FILE
            if small:
                data = f.read_bytes()
                if verify and hashlib.sha256(data).hexdigest() != info.get("sha256"):
                    raise Damaged(f"{name}: checksum mismatch")
            if name == META:
                meta = json.loads(data if small else f.read_bytes())
                continue
            if not name.endswith(".npy"):
                continue
            if small:
                arr = np.load(io.BytesIO(data), allow_pickle=False)
            elif not mmap:
                arr = np.load(f, allow_pickle=False)
            else:
                arr = np.load(f, mmap_mode="r", allow_pickle=False)
            if (
                list(arr.shape) != info["shape"]
                or np.lib.format.dtype_to_descr(arr.dtype) != info["dtype"]
            ):
                raise Damaged(f"{name}: shape/dtype differ from the manifest")
            if not isinstance(arr, np.memmap):
                arr.flags.writeable = False
            arrays[name[: -len(".npy")]] = arr
        return Result(key=key, path=path, arrays=arrays, meta=meta)

    def save(
        self,
        key: ResultKey,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any] | None = None,
    ) -> Result:
        """Write a whole result atomically (under its lock) and return it as loaded."""
        with self.lock(key):
            return self._write_and_load(key, arrays, meta)

    def _write_and_load(
        self, key: ResultKey, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None
    ) -> Result:
        """Write a whole result (the caller holds its lock) and read it back."""
        with self.writer(key) as w:
            for name, arr in arrays.items():
                w.add(name, arr)
            w.commit(meta)
        res = self.load(key)
        if res is None:
            raise StoreError(f"store entry {key} could not be read back after writing")
        return res

    def delete(self, key: ResultKey) -> None:
        """Remove one result (under its lock)."""
        with self.lock(key):
            path = self.entry_path(key)
            if path.exists():
                trash = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".trash-{path.name}-"))
                os.rename(path, trash / "old")
                shutil.rmtree(trash, ignore_errors=True)
            self._uncatalog_result(key)

    def get_or_compute(
        self,
        key: ResultKey,
        compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]],
        *,
        settings: Any = None,
    ) -> tuple[Result, bool]:
        """Load `key`, or run `compute() -> (arrays, meta)` and save it; returns (result, hit).

        Concurrent callers of the same key (threads or processes) compute it once: the others
        wait on the lock and then load the first one's result.
        """
        t0 = time.perf_counter()
        res = self.load(key)
        if res is None:
            with self.lock(key):
                res = self.load(key)  # someone else may have finished while we waited
                if res is None:
                    res = self._write_and_load(key, *compute())
                    self.record_run(key, time.perf_counter() - t0, False, settings)
                    return res, False
        self.record_run(key, time.perf_counter() - t0, True, settings)
        return res, True

    def sweep(self, group: str | None = None, own: ResultKey | None = None) -> int:
        """Remove temp folders left by killed writers (whose key lock nobody holds) and stale
        trash; in one group, or in all. `own`: a key whose lock the caller holds. Returns the
        number of folders removed."""
        from filelock import FileLock, Timeout

        groups = (
            [self._group_path(group)]
            if group is not None
            else [g for g in self.root.iterdir() if g.is_dir() and not g.name.startswith(".")]
        )
        removed = 0
        now = time.time()
        for gdir in groups:
            if not gdir.is_dir():
                continue
            for d in gdir.iterdir():
                name = d.name
                if name.startswith(".trash-"):
                    with contextlib.suppress(OSError):
                        if now - d.stat().st_mtime > 60:
                            shutil.rmtree(d, ignore_errors=True)
                            removed += 1
                    continue
                if not name.startswith(".tmp-") or len(name) < 15:
                    continue
                dirname = name[len(".tmp-") : -9]  # mkdtemp adds "-" + 8 random characters
                if own is not None and gdir.name == own.group and dirname == own.dirname:
                    shutil.rmtree(d, ignore_errors=True)  # ours: we hold its lock
                    removed += 1
                    continue
                lk = FileLock(str(self._lock_path(gdir.name, dirname)))
                try:
                    lk.acquire(timeout=0)
                except Timeout:
                    continue  # a writer is at work on it
                try:
                    shutil.rmtree(d, ignore_errors=True)
                    removed += 1
                finally:
                    lk.release()
        return removed
