"""Entry files: keys and results, atomic writes, the ``.npy`` appender, the manifest.

An entry is a folder of ``.npy`` arrays, ``meta.json`` and any extra files (a ``.keras``
model), plus ``manifest.json``, written last, that lists every file with its size and a
checksum: sha256 of the whole file up to 4 MiB, CRC-32 of the payload above that (an
``.npy``'s bytes after its header). Reading an entry checks the manifest's shape and every
file against it; anything that does not match raises `Damaged`, which the store turns into a
miss and a recompute.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from summarizer.outputs.files import json_default
from summarizer.store.hashing import crc32_file, hash_file, sanitise

if TYPE_CHECKING:
    from summarizer.store.cache import Store

SMALL_FILE = 4 << 20  # files up to this size get a sha256 and load into memory
MANIFEST = "manifest.json"
META = "meta.json"
MANIFEST_VERSION = 2  # 2: every file has a checksum (1: big files had only their size)
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,100}")
GROUP_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a group folder's name


class Damaged(Exception):
    """An entry on disk that does not match its manifest (internal; a load returns None)."""


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
    """A loaded result: read-only arrays (big ones memory-mapped), its JSON metadata and the
    paths of its extra files (e.g. ``{"autoencoder.keras": Path}``)."""

    key: ResultKey
    path: Path
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name: object) -> bool:
        return name in self.arrays


def to_json(obj: Any, indent: int | None = 1) -> str:
    return json.dumps(obj, indent=indent, sort_keys=True, default=json_default)


def check_name(name: str) -> None:
    """Refuse file names that are not plain (no folders, no dot-files, not reserved)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (MANIFEST, META):
        raise ValueError(f"bad result file name {name!r}")


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a synced temp file and a rename (all or nothing)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object; `Damaged` for anything else."""
    try:
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Damaged(f"{path.name}: {exc}") from None
    if not isinstance(obj, dict):
        raise Damaged(f"{path.name}: not a JSON object")
    return obj


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


class NpyAppender:
    """Writes an ``.npy`` file batch by batch along axis 0 without holding it in memory, with
    the CRC-32 of its payload computed on the way (no second read)."""

    def __init__(self, path: Path, first: np.ndarray) -> None:
        self.path = path
        self.dtype = first.dtype
        self.tail = first.shape[1:]
        self.rows = 0
        self.crc = 0
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.fh.write(_npy_header(self.dtype, (0, *self.tail)))

    def append(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch)
        if batch.dtype != self.dtype or batch.shape[1:] != self.tail:
            raise ValueError(
                f"{self.path.name}: batch {batch.dtype}{batch.shape} does not match "
                f"{self.dtype}(n, {', '.join(map(str, self.tail))})"
            )
        data = np.ascontiguousarray(batch).tobytes()
        self.crc = zlib.crc32(data, self.crc)
        self.fh.write(data)
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


def _npy_header_info(f: Path) -> tuple[list[int], str, int]:
    """(shape, dtype descr, payload offset) from an ``.npy`` header."""
    with open(f, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        return list(shape), np.lib.format.dtype_to_descr(dtype), fh.tell()


def describe(f: Path, crc: int | None = None) -> dict[str, Any]:
    """A file's manifest line: size, checksums and (``.npy``) shape, dtype, payload offset.
    `crc`: the payload's CRC-32 when the writer already knows it."""
    size = f.stat().st_size
    info: dict[str, Any] = {"size": size, "offset": 0}
    if f.suffix == ".npy":
        shape, dtype, offset = _npy_header_info(f)
        info.update(shape=shape, dtype=dtype, offset=offset)
    info["crc32"] = crc if crc is not None else crc32_file(f, info["offset"])
    if size <= SMALL_FILE:
        info["sha256"] = hash_file(f)
    return info


# ---------------------------------------------------------------------------- manifest checks


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def check_manifest(manifest: Any, key: ResultKey | None = None) -> dict[str, dict[str, Any]]:
    """The manifest's file table after checking its whole shape; `Damaged` otherwise.
    `key`: the key it must belong to (None: any, as when rebuilding the catalog)."""
    if not isinstance(manifest, dict):
        raise Damaged("manifest is not a JSON object")
    if manifest.get("version") not in (1, MANIFEST_VERSION):
        raise Damaged(f"manifest version {manifest.get('version')!r}")
    for name in ("group", "stage", "settings_hash", "model_id"):
        value = manifest.get(name)
        if not isinstance(value, str):
            raise Damaged(f"manifest {name} is not a string")
        if key is not None and value != getattr(key, name):
            raise Damaged(f"manifest {name} does not match the key")
    if not isinstance(manifest.get("created_at"), (int, float)):
        raise Damaged("manifest created_at is not a number")
    files = manifest.get("files")
    if not isinstance(files, dict) or META not in files:
        raise Damaged("manifest has no file table with meta.json")
    for name, info in files.items():
        if name != META:
            try:
                check_name(name)
            except ValueError:
                raise Damaged(f"manifest names a bad file {name!r}") from None
        if not isinstance(info, dict) or not _is_int(info.get("size")):
            raise Damaged(f"manifest line of {name} is malformed")
        if not _is_int(info.get("offset", 0)) or not _is_int(info.get("crc32", 0)):
            raise Damaged(f"manifest line of {name} is malformed")
        if "sha256" in info and not isinstance(info["sha256"], str):
            raise Damaged(f"manifest line of {name} is malformed")
        if "sha256" not in info and "crc32" not in info:
            raise Damaged(f"{name} has no checksum (an entry from an older version)")
        if name.endswith(".npy") and (
            not isinstance(info.get("shape"), list)
            or not all(_is_int(n) for n in info["shape"])
            or not isinstance(info.get("dtype"), str)
        ):
            raise Damaged(f"manifest line of {name} has no shape/dtype")
    return files


# Files verified by CRC in this process, by identity (device, inode, size, mtime, ctime):
# a long-running server checks a big memory-mapped array once, not on every page view;
# any write to the file changes its ctime and so its identity.
_VERIFIED: OrderedDict[tuple, bool] = OrderedDict()
_VERIFIED_MAX = 4096
_VERIFIED_LOCK = threading.Lock()


def _identity(f: Path, st: os.stat_result) -> tuple:
    return (str(f), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _verify_big(f: Path, st: os.stat_result, info: Mapping[str, Any]) -> None:
    ident = _identity(f, st)
    with _VERIFIED_LOCK:
        if ident in _VERIFIED:
            _VERIFIED.move_to_end(ident)
            return
    if "crc32" not in info:
        raise Damaged(f"{f.name}: no checksum (an entry from an older version)")
    if crc32_file(f, int(info.get("offset", 0))) != info["crc32"]:
        raise Damaged(f"{f.name}: checksum mismatch")
    with _VERIFIED_LOCK:
        _VERIFIED[ident] = True
        while len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)


def read_entry(key: ResultKey, path: Path, *, mmap: bool = True, verify: bool = True) -> Result:
    """Load and check one entry folder; `Damaged` (or OSError/ValueError) when it does not
    match its manifest. Files over 4 MiB are memory-mapped when `mmap`."""
    files = check_manifest(read_json_object(path / MANIFEST), key)
    arrays: dict[str, np.ndarray] = {}
    extra: dict[str, Path] = {}
    meta: dict[str, Any] = {}
    for name, info in files.items():
        f = path / name
        st = f.stat()
        if st.st_size != info["size"]:
            raise Damaged(f"{name}: {st.st_size} bytes, manifest says {info['size']}")
        small = st.st_size <= SMALL_FILE
        data = b""
        if small:
            data = f.read_bytes()
            if verify and hashlib.sha256(data).hexdigest() != info.get("sha256"):
                raise Damaged(f"{name}: checksum mismatch")
        elif verify:
            _verify_big(f, st, info)
        if name == META:
            meta = json.loads(data if small else f.read_bytes())
            if not isinstance(meta, dict):
                raise Damaged("meta.json is not a JSON object")
            continue
        if not name.endswith(".npy"):
            extra[name] = f
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
    return Result(key=key, path=path, arrays=arrays, meta=meta, files=extra)


# ---------------------------------------------------------------------------- writer


class ResultWriter:
    """Builds one result in a temp folder; `commit` makes it visible atomically.

    ``add(name, array)`` writes a whole array, ``append(name, batch)`` grows one batch by batch
    on disk (thumbnails of a two-hour video never sit in memory at once), ``file(name)`` gives
    a path inside the entry for any other file (e.g. ``model.save(w.file("m.keras"))``).
    """

    def __init__(self, store: Store, key: ResultKey) -> None:
        self.store = store
        self.key = key
        self.meta: dict[str, Any] = {}
        gdir = store.group_dir(key.group)
        store.sweep(key.group, own=key)
        self.tmp = Path(tempfile.mkdtemp(dir=gdir, prefix=f".tmp-{key.dirname}-"))
        os.chmod(self.tmp, 0o755)  # mkdtemp makes it owner-only; entries are ordinary folders
        self._appenders: dict[str, NpyAppender] = {}
        self._names: set[str] = set()
        self.done = False

    def _claim(self, filename: str, label: str) -> None:
        check_name(filename)
        if filename in self._names:
            raise ValueError(f"{label} {filename!r} written twice")
        self._names.add(filename)

    def add(self, name: str, array: np.ndarray) -> None:
        arr = np.asarray(array)
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; the store keeps no pickle")
        self._claim(f"{name}.npy", "array")
        with open(self.tmp / f"{name}.npy", "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())

    def add_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for name, arr in arrays.items():
            self.add(name, arr)

    def append(self, name: str, batch: np.ndarray) -> None:
        batch = np.asarray(batch)
        app = self._appenders.get(name)
        if app is None:
            if batch.dtype.hasobject or batch.ndim < 1:
                raise TypeError(f"array {name!r}: need a numeric batch with a first axis")
            self._claim(f"{name}.npy", "array")
            app = self._appenders[name] = NpyAppender(self.tmp / f"{name}.npy", batch)
        app.append(batch)

    def file(self, name: str) -> Path:
        """A path inside the entry where the caller writes one extra file before commit."""
        self._claim(name, "file")
        if name.endswith(".npy"):
            raise ValueError(f"{name!r}: write arrays with add() or append()")
        return self.tmp / name

    def commit(self, meta: Mapping[str, Any] | None = None) -> Path:
        """Write meta.json, then manifest.json, then rename the folder into place."""
        if meta:
            self.meta.update(meta)
        for app in self._appenders.values():
            app.close()
        (self.tmp / META).write_text(to_json(self.meta))
        crcs = {f"{n}.npy": a.crc for n, a in self._appenders.items()}
        files = {}
        for f in sorted(self.tmp.iterdir()):
            if not f.is_file():
                raise ValueError(f"{f.name}: an entry holds plain files only")
            files[f.name] = describe(f, crcs.get(f.name))
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
        self.store._install(self.tmp, self.store.entry_path(self.key))
        self.done = True
        self.store.catalog.add_result(self.key, manifest)
        return self.store.entry_path(self.key)

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
