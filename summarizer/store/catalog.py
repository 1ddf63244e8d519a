"""The SQLite catalog: an index of the store's entries (videos, results, runs).

The entry folders are the truth; the catalog is rebuilt from them when it is damaged
(checked with ``PRAGMA quick_check`` on open, and on any "malformed" / "not a database"
error later): the damaged file is moved aside and a new one is filled from every
``.videos/<sha256>.json`` and entry manifest. Only the runs log (timings) is lost then.

Shared stores (`shared=True`, e.g. workers on other machines over NFS, where SQLite's WAL
must not be used): nothing touches the SQLite file; every catalog write becomes one small
JSON record in ``.journal/``, written atomically, and reads come from the entry files. The
one catalog writer (the machine that runs ``keyframe-atlas batch`` or the app) ingests the
journal with `Catalog.sync`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from summarizer.errors import StoreError
from summarizer.store.files import Damaged, ResultKey, atomic_write, check_manifest, to_json
from summarizer.store.scan import (
    VIDEO_COLUMNS,
    groups,
    manifests,
    video_file,
    video_file_row,
    video_files,
    video_from_entries,
)

log = logging.getLogger(__name__)

JOURNAL = ".journal"
SCHEMA_VERSION = 2  # 2: videos.backend, videos.key_kind
_CORRUPT = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    sha256 TEXT PRIMARY KEY, name TEXT, path TEXT, kind TEXT, fps REAL, frames INTEGER,
    duration_s REAL, width INTEGER, height INTEGER, added_at REAL, last_seen REAL,
    backend TEXT, key_kind TEXT
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
CREATE TABLE IF NOT EXISTS ingested (name TEXT PRIMARY KEY);
"""
# Columns added after the first release: (table, column, type); added to old catalogs.
_MIGRATIONS = (("videos", "backend", "TEXT"), ("videos", "key_kind", "TEXT"))

T = TypeVar("T")


def is_corrupt(exc: BaseException) -> bool:
    """Whether an sqlite3 error says the file is damaged (not merely busy or read-only)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in _CORRUPT


def _healing(best_effort: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run a catalog call; on corruption rebuild the catalog and retry once. Any other
    SQLite failure becomes a `StoreError` (or, `best_effort`, a logged warning)."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def call(self: Catalog, *args: Any, **kwargs: Any) -> Any:
            for attempt in (0, 1):
                try:
                    return fn(self, *args, **kwargs)
                except sqlite3.Error as exc:
                    if attempt == 0 and is_corrupt(exc):
                        seen = self._identity()
                        log.warning("store catalog %s is damaged (%s); rebuilding", self.path, exc)
                        self.rebuild(seen)
                        continue
                    if best_effort:
                        log.warning("store catalog %s: %s failed: %s", self.path, fn.__name__, exc)
                        return None
                    raise StoreError(f"store catalog {self.path} cannot be used: {exc}") from None
            return None

        return call

    return wrap


class Catalog:
    """The catalog of the store at `root` (one SQLite file, or the journal when `shared`)."""

    def __init__(
        self, root: Path, *, path: Path | None = None, shared: bool = False, check: bool = True
    ) -> None:
        self.root = root
        self.path = path if path is not None else root / "catalog.sqlite"
        self.shared = shared
        if shared:
            (root / JOURNAL).mkdir(exist_ok=True)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        self._open(check)
        with contextlib.suppress(OSError):
            if any((root / JOURNAL).glob("*.json")):
                self.sync()  # what shared-store workers wrote since the last open

    def _lock(self) -> Any:
        """The cross-process lock held while the catalog file is created, checked or
        replaced (a half-created file must never look damaged to a second process)."""
        from filelock import FileLock

        locks = self.root / ".locks"
        try:
            locks.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {locks}: {exc.strerror or exc}") from None
        return FileLock(str(locks / "catalog.lock"))

    @_healing()
    def _open(self, check: bool) -> None:
        """Create or migrate the schema; rebuild first when the file is damaged, or missing
        while entries exist. Runs under the catalog lock, so two processes opening a new
        store never see each other's half-made file."""
        with self._lock():
            seen = self._identity()
            if check and (self.path.exists() or groups(self.root)) and not self._healthy():
                log.warning("store catalog %s is damaged or missing; rebuilding", self.path)
                self._replace(seen)
            self._create_schema()

    def _create_schema(self) -> None:
        con = self._connect()
        try:
            con.executescript(_SCHEMA)
            con.execute("BEGIN IMMEDIATE")  # one process migrates; the others then see it
            have = {r[1] for r in con.execute("PRAGMA table_info(videos)")}
            for table, column, kind in _MIGRATIONS:
                if column not in have:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        finally:
            con.close()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 30000")
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            con.close()
            raise
        con.row_factory = sqlite3.Row
        return con

    @contextlib.contextmanager
    def _db(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A fresh connection per call (threads never share one). Writes run in one
        IMMEDIATE transaction, committed on success; WAL readers need none."""
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

    # ------------------------------------------------------------------ writes

    def _journal(self, op: str, record: Mapping[str, Any]) -> None:
        """One catalog write of a shared-store worker, as an atomic JSON file."""
        name = f"{time.time_ns():020d}-{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        body = to_json({"op": op, **record}, indent=None).encode()
        try:
            atomic_write(self.root / JOURNAL / f"{_safe(name)}.json", body)
        except OSError as exc:
            log.warning("could not journal %s: %s", op, exc)

    def put_video(self, row: Mapping[str, Any]) -> None:
        """Add or refresh a video row (keeps `added_at` of an existing row). The row is also
        kept as ``.videos/<sha256>.json``, from which a damaged catalog is rebuilt."""
        f = video_file(self.root, str(row["sha256"]))
        try:
            f.parent.mkdir(exist_ok=True)
            atomic_write(f, to_json(dict(row)).encode())
        except OSError as exc:
            raise StoreError(f"cannot write to {f.parent}: {exc.strerror or exc}") from None
        if self.shared:
            self._journal("video", {"row": dict(row)})
            return
        self._put_video(row)

    @_healing()
    def _put_video(self, row: Mapping[str, Any]) -> None:
        with self._db() as db:
            _upsert_video(db, row)

    @_healing(best_effort=True)
    def add_result(self, key: ResultKey, manifest: Mapping[str, Any]) -> None:
        """Index a committed entry (best effort: the files are the truth)."""
        if self.shared:
            self._journal("result", {"manifest": dict(manifest)})
            return
        with self._db() as db:
            _insert_result(db, manifest)

    @_healing(best_effort=True)
    def remove_result(self, key: ResultKey) -> None:
        if self.shared:
            self._journal("unresult", {"key": key.id})
            return
        with self._db() as db:
            db.execute("DELETE FROM results WHERE key = ?", (key.id,))

    @_healing(best_effort=True)
    def remove_video(self, sha256: str) -> None:
        video_file(self.root, sha256).unlink(missing_ok=True)
        if self.shared:
            self._journal("unvideo", {"sha256": sha256})
            return
        with self._db() as db:
            db.execute("DELETE FROM videos WHERE sha256 = ?", (sha256,))
            db.execute('DELETE FROM results WHERE "group" = ?', (sha256,))

    @_healing(best_effort=True)
    def record_run(self, key: ResultKey, seconds: float, cache_hit: bool, settings: Any) -> None:
        """Log one stage run (best effort: a full disk never fails a computed result)."""
        row = {
            "group": key.group,
            "stage": key.stage,
            "settings_json": to_json(settings, indent=None) if settings is not None else None,
            "settings_hash": key.settings_hash,
            "model_id": key.model_id,
            "seconds": float(seconds),
            "cache_hit": int(bool(cache_hit)),
            "created_at": time.time(),
        }
        if self.shared:
            self._journal("run", {"row": row})
            return
        with self._db() as db:
            _insert_run(db, row)

    # ------------------------------------------------------------------ reads

    @_healing()
    def video(self, sha256: str) -> dict[str, Any] | None:
        if self.shared:
            return video_file_row(self.root, sha256)
        with self._db(write=False) as db:
            row = db.execute("SELECT * FROM videos WHERE sha256 = ?", (sha256,)).fetchone()
        return dict(row) if row else None

    @_healing()
    def videos(self) -> list[dict[str, Any]]:
        if self.shared:
            rows = [r for sha in video_files(self.root) if (r := video_file_row(self.root, sha))]
            return sorted(rows, key=lambda r: -float(r.get("last_seen") or 0))
        return self._select("videos", "last_seen DESC")

    @_healing()
    def runs(self, group: str | None = None, stage: str | None = None) -> list[dict[str, Any]]:
        if self.shared:
            return []  # in the journal until the catalog writer syncs it
        return self._select("runs", "id", group=group, stage=stage)

    @_healing()
    def results(self, group: str | None = None) -> list[dict[str, Any]]:
        if self.shared:
            gdirs = [self.root / group] if group is not None else groups(self.root)
            rows = [_result_row(m) for g in gdirs for m in manifests(g)]
            return sorted(rows, key=lambda r: r["created_at"])
        return self._select("results", "created_at", group=group)

    def _select(self, table: str, order: str, **where: Any) -> list[dict[str, Any]]:
        """The rows of `table` whose columns equal the `where` values given (None: any),
        ordered by `order` (the callers' own constants: nothing here comes from input)."""
        given = {k: v for k, v in where.items() if v is not None}
        cond = " AND ".join(f'"{k}" = ?' for k in given)
        q = f"SELECT * FROM {table}" + (f" WHERE {cond}" if cond else "") + f" ORDER BY {order}"
        with self._db(write=False) as db:
            rows = db.execute(q, list(given.values())).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ repair, sync

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def rebuild(self, seen: tuple[int, int] | None | bool = False) -> dict[str, int]:
        """Replace the catalog by one built from the entry folders (the damaged file is kept
        as ``catalog.sqlite.damaged``). `seen`: the identity of the file found damaged; when
        another process has replaced it meanwhile, nothing is done (False: always rebuild)."""
        with self._lock():
            return self._replace(seen)

    def _replace(self, seen: tuple[int, int] | None | bool) -> dict[str, int]:
        """`rebuild`'s work; the caller holds the catalog lock."""
        if seen is not False and self._identity() != seen and self._healthy():
            return {}  # another process rebuilt it while we waited
        new = self.path.with_name(f".{self.path.name}-rebuild-{os.getpid()}")
        new.unlink(missing_ok=True)
        counts = self._fill(new)
        damaged = self.path.with_name(self.path.name + ".damaged")
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, damaged)
        for suffix in ("-wal", "-shm"):  # belong to the damaged file: never replay them
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        os.replace(new, self.path)
        log.warning("store catalog rebuilt from the entries: %s", counts)
        return counts

    def _healthy(self) -> bool:
        """False when the file is missing or damaged (a busy or read-only one counts as
        healthy here: the call that needs it reports that)."""
        try:
            if self.path.stat().st_size == 0:  # SQLite would take it for an empty catalog
                return False
        except OSError:
            return False
        try:
            con = sqlite3.connect(self.path, timeout=30.0)
            try:
                row = con.execute("PRAGMA quick_check(1)").fetchone()
                return row is not None and row[0] == "ok"
            finally:
                con.close()
        except sqlite3.Error as exc:
            return not is_corrupt(exc)

    def _fill(self, path: Path) -> dict[str, int]:
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("BEGIN")
            videos = results = 0
            for sha in video_files(self.root):
                if (row := video_file_row(self.root, sha)) is not None:
                    _upsert_video(con, row)
                    videos += 1
            for gdir in groups(self.root):
                found = list(manifests(gdir))
                row = None
                if not video_file(self.root, gdir.name).exists():
                    row = video_from_entries(gdir, found)
                if row is not None:
                    _upsert_video(con, row)
                    videos += 1
                for manifest in found:
                    _insert_result(con, manifest)
                    results += 1
            con.execute("COMMIT")
        finally:
            con.close()
        return {"videos": videos, "results": results}

    @_healing()
    def sync(self) -> int:
        """Ingest the journal written by shared-store workers (the one catalog writer calls
        this); returns the number of records applied. Idempotent and safe to interrupt."""
        if self.shared:
            raise StoreError("a shared-store worker does not write the catalog; sync on the writer")
        jdir = self.root / JOURNAL
        names = sorted(p.name for p in jdir.glob("*.json")) if jdir.is_dir() else []
        applied = 0
        for name in names:
            f = jdir / name
            try:
                rec = json.loads(f.read_bytes())
            except OSError:
                continue  # gone meanwhile
            except ValueError:  # records are renamed in whole: this one is garbage
                log.warning("skipping a malformed journal record %s", name)
                rec = None
            with self._db() as db:
                if db.execute("SELECT 1 FROM ingested WHERE name = ?", (name,)).fetchone():
                    pass
                elif _apply(db, rec):
                    applied += 1
                db.execute("INSERT OR IGNORE INTO ingested (name) VALUES (?)", (name,))
            with contextlib.suppress(OSError):
                f.unlink(missing_ok=True)  # a failed unlink: its name is marked ingested
        if names:
            with self._db() as db:  # forget ingested names once their files are gone
                db.execute("DELETE FROM ingested WHERE name < ?", (names[0],))
        return applied


# ---------------------------------------------------------------------------- rows


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _upsert_video(db: sqlite3.Connection, row: Mapping[str, Any]) -> None:
    values = [row.get(c) for c in VIDEO_COLUMNS]
    db.execute(
        f"""INSERT INTO videos ({", ".join(VIDEO_COLUMNS)}) VALUES ({",".join("?" * len(VIDEO_COLUMNS))})
            ON CONFLICT(sha256) DO UPDATE SET name=excluded.name, path=excluded.path,
                last_seen=excluded.last_seen,
                backend=coalesce(excluded.backend, backend),
                key_kind=coalesce(excluded.key_kind, key_kind)""",
        values,
    )


def _result_row(manifest: Mapping[str, Any]) -> dict[str, Any]:
    key = ResultKey(
        manifest["group"], manifest["stage"], manifest["settings_hash"], manifest["model_id"]
    )
    return {
        "key": key.id,
        "group": key.group,
        "stage": key.stage,
        "settings_hash": key.settings_hash,
        "model_id": key.model_id,
        "created_at": manifest["created_at"],
        "files": to_json(sorted(manifest["files"]), indent=None),
    }


def _insert_result(db: sqlite3.Connection, manifest: Mapping[str, Any]) -> None:
    r = _result_row(manifest)
    db.execute(
        """INSERT OR REPLACE INTO results (key, "group", stage, settings_hash, model_id,
               created_at, files) VALUES (?,?,?,?,?,?,?)""",
        [
            r[c]
            for c in ("key", "group", "stage", "settings_hash", "model_id", "created_at", "files")
        ],
    )


_RUN_COLUMNS = (
    "group", "stage", "settings_json", "settings_hash", "model_id", "seconds", "cache_hit",
    "created_at",
)  # fmt: skip


def _insert_run(db: sqlite3.Connection, row: Mapping[str, Any]) -> None:
    db.execute(
        f"INSERT INTO runs ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in _RUN_COLUMNS)}) "
        f"VALUES ({','.join('?' * len(_RUN_COLUMNS))})",
        [row.get(c) for c in _RUN_COLUMNS],
    )


def _apply(db: sqlite3.Connection, rec: Any) -> bool:
    """Apply one journal record; False (skipped) when it is malformed."""
    try:
        if not isinstance(rec, dict):
            raise TypeError("not an object")
        op = rec["op"]
        if op in ("video", "run") and not isinstance(rec["row"], dict):
            raise TypeError("row is not an object")
        if op == "video":
            video_file(Path("."), str(rec["row"]["sha256"]))  # validates the hash
            _upsert_video(db, rec["row"])
        elif op == "result":
            check_manifest(rec["manifest"])
            _insert_result(db, rec["manifest"])
        elif op == "unresult":
            db.execute("DELETE FROM results WHERE key = ?", (str(rec["key"]),))
        elif op == "unvideo":
            db.execute("DELETE FROM videos WHERE sha256 = ?", (str(rec["sha256"]),))
            db.execute('DELETE FROM results WHERE "group" = ?', (str(rec["sha256"]),))
        elif op == "run":
            _insert_run(db, rec["row"])
        else:
            return False
    except (KeyError, TypeError, ValueError, Damaged, sqlite3.InterfaceError):
        log.warning("skipping a malformed journal record")
        return False
    return True
