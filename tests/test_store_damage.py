"""Store damage (issue 15, items 5 and 6): every case is detected and recomputed or rebuilt,
never a traceback; temporaries left by killed writers are swept."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from summarizer import synth
from summarizer.cli.main import main
from summarizer.config import EmbedSettings, SampleSettings
from summarizer.data import Probe, VideoRef
from summarizer.flow import embed_key, embed_video, load_embedded, open_video
from summarizer.store import Store
from summarizer.store import files as store_files

SHA = "ab" * 32
PIXELS = EmbedSettings(embedder="pixels")
SAMPLE = SampleSettings(fps=2.0)


def big_arrays(n: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    return {
        "times_s": np.arange(n, dtype=np.float64) / 2,
        "thumbnails": rng.integers(0, 255, (n, 600, 900, 3), dtype=np.uint8),  # 8.1 MB > 4 MiB
    }


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.name.startswith((".tmp-", ".trash-"))]


def recompute(store: Store, key, expect_hit: bool = False):
    calls = []

    def compute(_w):
        calls.append(1)
        return big_arrays(), {"v": 1}

    res, hit = store.get_or_compute(key, compute)
    assert hit is expect_hit and len(calls) == (0 if expect_hit else 1)
    np.testing.assert_array_equal(res["thumbnails"], big_arrays()["thumbnails"])
    return res


@pytest.fixture
def clip(synth_video) -> Path:
    path, _ = synth_video([synth.Shot("static", 1.5, seed=1), synth.Shot("zoom", 1.5, seed=2)])
    return path


# ---------------------------------------------------------------------------- entries

WRONG_SHAPES = {
    "list": [1, 2],
    "string": "manifest",
    "null": None,
    "empty_object": {},
    "files_is_a_list": "FILES:[]",
    "file_line_is_a_number": "LINE:5",
    "size_is_a_string": "SIZE:'12'",
    "escaping_name": "NAME:../../catalog.sqlite",
    "no_checksum": "NOSUM",
    "shape_not_a_list": "SHAPE:7",
    "version_missing": "VERSION",
}


@pytest.mark.parametrize("case", sorted(WRONG_SHAPES))
def test_manifest_of_the_wrong_shape_is_a_miss(tmp_path, case, caplog):
    store = Store(tmp_path)
    key = store.key(SHA, "embed", "h", "m")
    store.save(key, big_arrays(), {"v": 1})
    mf = store.entry_path(key) / "manifest.json"
    good = json.loads(mf.read_text())
    bad = WRONG_SHAPES[case]
    if isinstance(bad, str) and ":" in bad or bad in ("NOSUM", "VERSION"):
        m = json.loads(mf.read_text())
        what, _, arg = bad.partition(":")
        if what == "FILES":
            m["files"] = []
        elif what == "LINE":
            m["files"]["times_s.npy"] = 5
        elif what == "SIZE":
            m["files"]["times_s.npy"]["size"] = "12"
        elif what == "NAME":
            m["files"][arg] = m["files"].pop("times_s.npy")
        elif what == "NOSUM":
            for info in m["files"].values():
                info.pop("crc32", None)
                info.pop("sha256", None)
        elif what == "SHAPE":
            m["files"]["times_s.npy"]["shape"] = 7
        elif what == "VERSION":
            del m["version"]
        bad = m
    assert bad != good
    mf.write_text(json.dumps(bad))
    assert store.load(key) is None  # not an AttributeError
    assert "damaged" in caplog.text
    recompute(store, key)
    recompute(store, key, expect_hit=True)


def test_meta_of_the_wrong_shape_is_a_miss(tmp_path):
    """meta.json rewritten as valid JSON of the wrong shape, with a matching manifest."""
    store = Store(tmp_path)
    key = store.key(SHA, "embed", "h", "m")
    store.save(key, big_arrays(), {"v": 1})
    entry = store.entry_path(key)
    (entry / "meta.json").write_text("[1, 2]")
    m = json.loads((entry / "manifest.json").read_text())
    m["files"]["meta.json"] = store_files.describe(entry / "meta.json")
    (entry / "manifest.json").write_text(json.dumps(m))
    assert store.load(key) is None
    recompute(store, key)


@pytest.mark.parametrize("where", ["middle", "start_of_payload", "end"])
def test_garbage_inside_a_big_array_is_detected(tmp_path, where):
    """1 MiB of random bytes inside a memory-mapped array over 4 MiB, size unchanged."""
    store = Store(tmp_path)
    key = store.key(SHA, "embed", "h", "m")
    store.save(key, big_arrays(), {"v": 1})
    f = store.entry_path(key) / "thumbnails.npy"
    size = f.stat().st_size
    assert size > store_files.SMALL_FILE
    at = {"middle": size // 2, "start_of_payload": 256, "end": size - (1 << 20)}[where]
    with open(f, "r+b") as fh:
        fh.seek(at)
        fh.write(np.random.default_rng(1).bytes(1 << 20))
    assert f.stat().st_size == size
    assert store.load(key) is None
    recompute(store, key)


def test_a_verified_big_file_is_checked_again_after_a_change(tmp_path):
    """Big files are verified once per process while unchanged; a later write is caught."""
    store = Store(tmp_path)
    key = store.key(SHA, "embed", "h", "m")
    store.save(key, big_arrays(), {"v": 1})
    assert store.load(key) is not None
    assert store.load(key) is not None  # the second open is served by the identity cache
    f = store.entry_path(key) / "thumbnails.npy"
    time.sleep(0.01)
    with open(f, "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\x00" * 64 if fh.read(1) != b"\x00" else b"\x01" * 64)
    assert store.load(key) is None


def test_extra_file_damage_is_detected(tmp_path):
    """An extra file (a model) is checked like the arrays."""
    store = Store(tmp_path)
    key = store.key(SHA, "map", "h", "m")

    def compute(w):
        w.add("coords", np.zeros((4, 2), np.float32))
        w.file("model.keras").write_bytes(b"PK" + bytes(range(256)) * 40)
        return {"method": "autoencoder"}

    res, hit = store.get_or_compute(key, compute)
    assert not hit and res.files["model.keras"].read_bytes().startswith(b"PK")
    assert set(res.files) == {"model.keras"} and set(res.arrays) == {"coords"}
    res.files["model.keras"].write_bytes(b"PK" + bytes(range(256)) * 39 + b"x" * 256)
    assert store.load(key) is None
    res, hit = store.get_or_compute(key, compute)
    assert not hit and "model.keras" in res.files


def test_stage_validity_check_recomputes(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "x", "h")
    store.save(key, {"a": np.arange(3)})
    res, hit = store.get_or_compute(
        key, lambda w: ({"a": np.arange(3), "b": np.arange(2)}, {}), valid=lambda r: "b" in r
    )
    assert not hit and "b" in res


# ---------------------------------------------------------------------------- catalog


def _video(store: Store, sha: str = SHA, name: str = "a.mp4") -> None:
    probe = Probe(fps=25.0, frame_count=100, duration_s=4.0, width=320, height=240)
    store.register_video(VideoRef(Path(f"/x/{name}"), sha, name, probe))


def _damage_catalog(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage_pages":
        data = bytearray(data)
        page = 4096
        for start in range(page, len(data), page):  # every page after the header page
            data[start + 100 : start + 600] = np.random.default_rng(start).bytes(500)
        data = bytes(data)
    elif how == "garbage_header":
        data = np.random.default_rng(0).bytes(100) + data[100:]
    elif how == "half_truncated":
        data = data[: len(data) // 2]
    elif how == "zero_bytes":
        data = b""
    elif how == "text":
        data = b"this is not a database\n" * 50
    path.write_bytes(data)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _fill(store: Store, n: int = 40) -> list:
    keys = []
    for i in range(n):
        sha = f"{i:02x}" * 32
        _video(store, sha, f"v{i}.mp4")
        key = store.key(sha, "embed", "h", "m")
        store.save(key, {"a": np.arange(i + 1)}, {"i": i})
        keys.append(key)
    con = sqlite3.connect(store.catalog_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return keys


@pytest.mark.parametrize(
    "how", ["garbage_pages", "garbage_header", "half_truncated", "zero_bytes", "text", "deleted"]
)
def test_damaged_catalog_is_rebuilt_on_open(tmp_path, how, caplog):
    store = Store(tmp_path)
    keys = _fill(store)
    before = {r["sha256"]: r for r in store.videos()}
    if how == "deleted":
        store.catalog_path.unlink()
    else:
        _damage_catalog(store.catalog_path, how)
    again = Store(tmp_path)  # no sqlite3.DatabaseError: rebuilt from the entries
    after = {r["sha256"]: r for r in again.videos()}
    assert after.keys() == before.keys()
    for sha, row in before.items():
        assert after[sha]["name"] == row["name"] and after[sha]["added_at"] == row["added_at"]
    assert sorted(r["key"] for r in again.results()) == sorted(k.id for k in keys)
    assert again.load(keys[3])["a"].tolist() == [0, 1, 2, 3]
    assert "rebuil" in caplog.text
    _video(again, "ff" * 32, "new.mp4")  # and it keeps working
    assert again.video("ff" * 32)["name"] == "new.mp4"


def test_catalog_damaged_while_open_heals_on_the_next_call(tmp_path):
    store = Store(tmp_path)
    _fill(store, 30)
    _damage_catalog(store.catalog_path, "garbage_pages")
    assert len(store.videos()) == 30  # the same Store object: rebuilt, then answered
    key = store.key("cd" * 32, "x", "h")
    store.save(key, {"a": np.arange(2)})
    assert key.id in [r["key"] for r in store.results("cd" * 32)]


def test_the_cli_and_the_app_calls_survive_every_damage(clip, tmp_path, capsys):
    """The CLI and the calls the app makes, on a store with a wrong-shape manifest, a big
    array with garbage inside and a catalog with random pages: a silent recompute."""
    root = tmp_path / "store"
    args = ["embed", str(clip), "--store", str(root), "--embedder", "pixels", "--fps", "2"]
    assert main([*args, "-q"]) == 0
    capsys.readouterr()
    store = Store(root)
    ref = open_video(clip, store)
    key = embed_key(store, ref.sha256, SAMPLE, PIXELS)
    (store.entry_path(key) / "manifest.json").write_text("[1, 2]")
    _damage_catalog(store.catalog_path, "garbage_pages")
    assert main([*args, "-q"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "computed in" in out
    store = Store(root)
    assert load_embedded(store, ref.sha256, SAMPLE, PIXELS) is not None
    assert store.thumbnail(ref.sha256) is not None
    assert [r["status"] for r in store.library()] == ["ready"]
    ev = embed_video(ref, SAMPLE, PIXELS, store)
    assert ev.cache_hit


# ---------------------------------------------------------------------------- kills


def _killed_writer(root: str, ready) -> None:
    store = Store(root)
    key = store.key(SHA, "embed", "h", "m")
    with store.lock(key), store.writer(key) as w:
        w.append("thumbnails", np.zeros((10, 64, 64, 3), np.uint8))
        ready.set()
        time.sleep(60)  # killed here, half way through an entry


def test_temporaries_of_a_killed_writer_are_swept_on_open(tmp_path):
    root = tmp_path / "store"
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_killed_writer, args=(str(root), ready))
    p.start()
    assert ready.wait(60)
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    assert len(leftovers(root)) == 1
    (root / ".locks" / "swept").unlink()  # as if the last sweep was long ago
    Store(root)
    assert leftovers(root) == []
    assert not (root / SHA).exists() or not any((root / SHA).iterdir())


def test_sweep_spares_a_live_writer_and_is_rate_limited(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "embed", "h", "m")
    other = "cd" * 32  # a writer sweeps its own group; this one only a store-wide sweep
    dead = store.group_dir(other) / f".tmp-{store.key(other, 'x', 'y').dirname}-abcd1234"
    dead.mkdir()
    with store.lock(key), store.writer(key) as w:
        w.append("t", np.zeros((2, 2)))
        Store(tmp_path)  # swept less than an hour ago: no scan
        assert dead.exists()
        (tmp_path / ".locks" / "swept").unlink()
        Store(tmp_path)
        assert not dead.exists() and w.tmp.exists()  # the live writer keeps its folder
        w.commit({})
    assert store.load(key) is not None and leftovers(tmp_path) == []


def test_stale_upload_and_temp_files_are_swept(tmp_path):
    store = Store(tmp_path)
    old = store.incoming(".mp4")
    fresh = store.incoming(".mp4")
    stale_json = store.group_dir(SHA) / ".tmp-video.json-abcd1234"
    stale_json.write_text("{")
    for f in (old, stale_json):
        os.utime(f, (time.time() - 7200, time.time() - 7200))
    assert store.sweep() == 2
    assert not old.exists() and not stale_json.exists() and fresh.exists()


def _open_and_count(root: str, queue) -> None:
    queue.put(len(Store(root).videos()))


def test_processes_opening_a_damaged_catalog_at_once_all_get_it_back(tmp_path):
    store = Store(tmp_path)
    _fill(store, 20)
    _damage_catalog(store.catalog_path, "garbage_pages")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_open_and_count, args=(str(tmp_path), q)) for _ in range(3)]
    for p in procs:
        p.start()
    counts = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert counts == [20, 20, 20]
    assert len(list(tmp_path.glob("catalog.sqlite.damaged"))) == 1
    assert not list(tmp_path.glob(".catalog.sqlite-rebuild-*"))


def test_entries_from_the_previous_manifest_version(tmp_path):
    """Version 1 manifests had no checksum for big files: small entries still load, an entry
    with a big file is recomputed once (its big file cannot be checked)."""
    store = Store(tmp_path)
    small, big = store.key(SHA, "x", "small"), store.key(SHA, "x", "big")
    store.save(small, {"a": np.arange(5)}, {"v": 1})
    store.save(big, big_arrays(), {"v": 1})
    for key in (small, big):
        mf = store.entry_path(key) / "manifest.json"
        m = json.loads(mf.read_text())
        m["version"] = 1
        for info in m["files"].values():
            info.pop("crc32")
            info.pop("offset")
        mf.write_text(json.dumps(m))
    store_files._VERIFIED.clear()
    assert store.load(small)["a"].tolist() == [0, 1, 2, 3, 4]
    assert store.load(big) is None
    recompute(store, big)
