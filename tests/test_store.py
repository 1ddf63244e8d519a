"""The result store: hashing, atomic entries, damage detection, locks, catalog."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from summarizer.data import Probe, VideoRef
from summarizer.errors import StoreError
from summarizer.store import (
    Store,
    collection_hash,
    default_root,
    hash_file,
    hash_path,
)

SHA = "ab" * 32


def leftovers(store: Store) -> list[str]:
    """Temp / trash folders anywhere in the store (there should never be any at rest)."""
    return [
        str(p.relative_to(store.root))
        for p in store.root.rglob("*")
        if p.name.startswith((".tmp-", ".trash-"))
    ]


def arrays(n: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    return {
        "times_s": np.arange(n, dtype=np.float64) / 2,
        "embeddings": rng.standard_normal((n, 8)).astype(np.float32),
        "thumbnails": rng.integers(0, 255, (n, 600, 900, 3), dtype=np.uint8),  # > 4 MiB
    }


# ---------------------------------------------------------------------------- hashing


def test_hash_file_streams_and_matches_sha256(tmp_path):
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # spans several 1 MiB chunks
    f = tmp_path / "v.bin"
    f.write_bytes(data)
    assert hash_file(f) == hashlib.sha256(data).hexdigest()
    assert hash_path(f) == hash_file(f)


def test_hash_path_of_image_folder(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "f001.jpg").write_bytes(b"one")
    (a / "f002.jpg").write_bytes(b"two")
    (a / "notes.txt").write_text("not an image")
    h = hash_path(a)
    b = tmp_path / "renamed"
    a.rename(b)
    assert hash_path(b) == h  # the folder's own name does not matter
    (b / "notes.txt").write_text("changed, but not an image")
    assert hash_path(b) == h
    (b / "f002.jpg").write_bytes(b"TWO")
    assert hash_path(b) != h
    (b / "f002.jpg").write_bytes(b"two")
    (b / "f002.jpg").rename(b / "f003.jpg")
    assert hash_path(b) != h  # names are part of the key (they order the frames)


def test_collection_hash_ignores_order():
    assert collection_hash(["b", "a", "c"]) == collection_hash(["c", "b", "a"])
    assert collection_hash(["a", "b"]) != collection_hash(["a", "c"])
    assert len(collection_hash(["a"])) == 64


# ---------------------------------------------------------------------------- root


def test_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_HOME", str(tmp_path / "env"))
    assert Store().root == tmp_path / "env"
    assert Store(tmp_path / "explicit").root == tmp_path / "explicit"
    monkeypatch.delenv("ATLAS_HOME")
    import platformdirs

    assert default_root() == Path(platformdirs.user_cache_dir("keyframe-atlas"))


def test_unwritable_root_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not writable"):
        Store(blocker / "store")


def test_catalog_uses_wal(tmp_path):
    store = Store(tmp_path)
    con = sqlite3.connect(store.catalog_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert {"videos", "runs", "results"} <= tables


# ---------------------------------------------------------------------------- entries


def test_save_load_roundtrip(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "embed", "0123456789abcdef", "clip:ViT-B-32:laion2b_s34b_b79k")
    src = arrays()
    res = store.save(key, src, {"name": "v.mp4", "n": 5})
    assert res.meta == {"name": "v.mp4", "n": 5}
    again = store.load(key)
    assert again is not None
    for name, arr in src.items():
        np.testing.assert_array_equal(again[name], arr)
        assert again[name].dtype == arr.dtype
        assert not again[name].flags.writeable  # results are read-only
    assert isinstance(again["thumbnails"], np.memmap)  # big arrays are memory-mapped
    assert not isinstance(again["embeddings"], np.memmap)
    entry = store.entry_path(key)
    assert entry.parent == tmp_path / SHA
    assert entry.name.startswith("embed-0123456789abcdef-clip_ViT-B-32")
    manifest = json.loads((entry / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "times_s.npy",
        "embeddings.npy",
        "thumbnails.npy",
        "meta.json",
    }
    assert manifest["files"]["embeddings.npy"]["sha256"]
    assert manifest["files"]["thumbnails.npy"]["shape"] == [5, 600, 900, 3]
    assert [r["key"] for r in store.results(SHA)] == [key.id]
    assert leftovers(store) == []


def test_no_pickle(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "x", "h")
    with pytest.raises(TypeError, match="pickle"):
        store.save(key, {"bad": np.array([{"a": 1}], dtype=object)})
    assert store.load(key) is None
    assert leftovers(store) == []
    assert not (tmp_path / SHA).exists()  # a failed write leaves no empty group behind


def test_writer_appends_batches(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "x", "h")
    with store.lock(key), store.writer(key) as w:
        for i in range(3):
            w.append("t", np.full((2, 4, 3), i, np.uint8))
        w.commit({"ok": True})
    res = store.load(key)
    assert res["t"].shape == (6, 4, 3)
    np.testing.assert_array_equal(res["t"][:, 0, 0], [0, 0, 1, 1, 2, 2])


def test_failed_compute_writes_nothing(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "x", "h")

    def boom(_w):
        raise RuntimeError("compute failed")

    with pytest.raises(RuntimeError):
        store.get_or_compute(key, boom)
    with pytest.raises(RuntimeError), store.writer(key) as w:
        w.append("t", np.zeros((3, 2)))
        raise RuntimeError("half way")
    assert store.load(key) is None
    assert leftovers(store) == []
    assert not (tmp_path / SHA).exists()


def test_get_or_compute_hit_and_miss(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "x", "h", "m")
    calls = []

    def compute(_w):
        calls.append(1)
        return {"a": np.arange(4)}, {"m": 1}

    r1, hit1 = store.get_or_compute(key, compute, settings={"k": 1})
    r2, hit2 = store.get_or_compute(key, compute, settings={"k": 1})
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    np.testing.assert_array_equal(r1["a"], r2["a"])
    other, hit3 = store.get_or_compute(store.key(SHA, "x", "h2", "m"), compute)
    assert not hit3 and len(calls) == 2
    runs = store.runs(SHA, "x")
    assert [r["cache_hit"] for r in runs] == [0, 1, 0]
    assert json.loads(runs[0]["settings_json"]) == {"k": 1}
    assert all(r["seconds"] >= 0 for r in runs)


@pytest.mark.parametrize(
    "damage",
    ["truncate_npy", "delete_manifest", "delete_npy", "garble_manifest", "edit_meta", "flip_small"],
)
def test_damaged_entry_is_recomputed(tmp_path, damage):
    store = Store(tmp_path)
    key = store.key(SHA, "embed", "h", "m")
    store.save(key, arrays(), {"v": 1})
    entry = store.entry_path(key)
    if damage == "truncate_npy":
        f = entry / "thumbnails.npy"
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "delete_manifest":
        (entry / "manifest.json").unlink()
    elif damage == "delete_npy":
        (entry / "embeddings.npy").unlink()
    elif damage == "garble_manifest":
        (entry / "manifest.json").write_text("{not json")
    elif damage == "edit_meta":
        (entry / "meta.json").write_text('{"v": 2}')
    elif damage == "flip_small":
        f = entry / "embeddings.npy"
        data = bytearray(f.read_bytes())
        data[-1] ^= 0xFF
        f.write_bytes(bytes(data))
    assert store.load(key) is None  # detected, not a crash
    calls = []

    def compute(_w):
        calls.append(1)
        return arrays(), {"v": 1}

    res, hit = store.get_or_compute(key, compute)
    assert not hit and calls == [1]
    np.testing.assert_array_equal(res["thumbnails"], arrays()["thumbnails"])
    assert store.load(key) is not None
    assert leftovers(store) == []


def test_bad_group_is_refused(tmp_path):
    store = Store(tmp_path)
    for bad in ("../escape", "", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            store.key(bad, "x", "h")


def test_group_dir_for_extra_files(tmp_path):
    store = Store(tmp_path)
    d = store.group_dir(SHA)
    assert d == tmp_path / SHA and d.is_dir()


# ---------------------------------------------------------------------------- catalog


def test_register_video_updates_name(tmp_path):
    store = Store(tmp_path)
    probe = Probe(fps=25.0, frame_count=100, duration_s=4.0, width=320, height=240)
    store.register_video(VideoRef(Path("/x/a.mp4"), SHA, "a.mp4", probe))
    first = store.video(SHA)
    time.sleep(0.01)
    store.register_video(VideoRef(Path("/y/b.mp4"), SHA, "b.mp4", probe))
    row = store.video(SHA)
    assert row["name"] == "b.mp4" and row["path"] == "/y/b.mp4"
    assert row["added_at"] == first["added_at"] and row["last_seen"] > first["last_seen"]
    assert (row["fps"], row["frames"], row["width"], row["height"]) == (25.0, 100, 320, 240)
    assert [v["sha256"] for v in store.videos()] == [SHA]
    assert store.video("cd" * 32) is None


# ---------------------------------------------------------------------------- concurrency


def test_threads_compute_a_key_once(tmp_path):
    store = Store(tmp_path)
    key = store.key(SHA, "x", "h")
    calls = []
    hits = []

    def compute(_w):
        calls.append(1)
        time.sleep(0.2)
        return {"a": np.arange(1000)}, {}

    def worker():
        res, hit = store.get_or_compute(key, compute)
        hits.append(hit)
        assert int(res["a"].sum()) == 499500

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sorted(hits) == [False] + [True] * 5
    assert len(store.runs(SHA)) == 6


def _compute_in_process(root: str, marker_dir: str, queue) -> None:
    store = Store(root)
    key = store.key(SHA, "x", "h")

    def compute(_w):
        (Path(marker_dir) / f"computed-{mp.current_process().pid}").touch()
        time.sleep(0.5)
        return arrays(), {"pid": mp.current_process().pid}

    res, hit = store.get_or_compute(key, compute)
    queue.put((hit, hashlib.sha256(np.asarray(res["thumbnails"]).tobytes()).hexdigest()))


def test_two_processes_compute_a_key_once(tmp_path):
    root, markers = tmp_path / "store", tmp_path / "markers"
    markers.mkdir()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_compute_in_process, args=(str(root), str(markers), q)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    out = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(hit for hit, _ in out) == [False, True]
    assert out[0][1] == out[1][1]
    assert len(list(markers.iterdir())) == 1  # computed once; the other reused it
    store = Store(root)
    entries = [p for p in (root / SHA).iterdir()]
    assert [p.name for p in entries] == [store.key(SHA, "x", "h").dirname]
    assert leftovers(store) == []


def _open_store(root: str, barrier, queue) -> None:
    barrier.wait()
    try:
        Store(root)
        queue.put("ok")
    except Exception as exc:  # reported to the test, which names it
        queue.put(repr(exc))


def test_processes_opening_a_new_store_at_once_neither_fail_nor_rebuild(tmp_path):
    """A catalog another process is still creating once looked damaged (size 0) and was
    rebuilt under it, failing that process (CI saw it with two concurrent batches)."""
    ctx = mp.get_context("spawn")  # never fork a process with threads (torch's, pytest's)
    for round_ in range(5):
        root = tmp_path / f"store{round_}"
        barrier, q = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_store, args=(str(root), barrier, q)) for _ in range(4)]
        for p in procs:
            p.start()
        out = [q.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert out == ["ok"] * 4, out
        assert not (root / "catalog.sqlite.damaged").exists()


def test_sweep_removes_only_abandoned_temp_folders(tmp_path):
    store = Store(tmp_path)
    live, dead, own = (store.key(SHA, "x", h) for h in ("live", "dead", "own"))
    gdir = store.group_dir(SHA)
    for key in (live, dead, own):
        (gdir / f".tmp-{key.dirname}-abcd1234").mkdir()  # as mkdtemp names them
    with store.lock(live):  # a writer is still at work on `live`
        worker = threading.Thread(target=lambda: store.save(own, {"a": np.arange(3)}))
        worker.start()
        worker.join()
    names = sorted(p.name for p in gdir.iterdir())
    assert names == [f".tmp-{live.dirname}-abcd1234", own.dirname]
    assert store.sweep() == 1 and leftovers(store) == []
