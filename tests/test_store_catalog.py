"""The catalog: migration of old catalogs, decoder and key kind per video, a store shared by
workers (journal + one writer), and the methods the app uses instead of the folder layout."""

from __future__ import annotations

import dataclasses
import io
import multiprocessing as mp
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from summarizer.data import Probe, VideoRef
from summarizer.store import Store

SHA = "ab" * 32
PROBE = Probe(fps=25.0, frame_count=100, duration_s=4.0, width=320, height=240)


@dataclasses.dataclass(frozen=True)
class ProbeWithBackend(Probe):
    backend: str = "pyav"


@dataclasses.dataclass(frozen=True)
class UrlRef(VideoRef):
    key_kind: str = "stream"


OLD_SCHEMA = """
CREATE TABLE videos (
    sha256 TEXT PRIMARY KEY, name TEXT, path TEXT, kind TEXT, fps REAL, frames INTEGER,
    duration_s REAL, width INTEGER, height INTEGER, added_at REAL, last_seen REAL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, "group" TEXT, stage TEXT, settings_json TEXT,
    settings_hash TEXT, model_id TEXT, seconds REAL, cache_hit INTEGER, created_at REAL
);
CREATE TABLE results (
    key TEXT PRIMARY KEY, "group" TEXT, stage TEXT, settings_hash TEXT, model_id TEXT,
    created_at REAL, files TEXT
);
INSERT INTO videos VALUES ('abababababababababababababababababababababababababababababababab',
    'old.mp4', '/x/old.mp4', 'video', 25.0, 100, 4.0, 320, 240, 1.0, 2.0);
INSERT INTO runs ("group", stage, seconds, cache_hit, created_at) VALUES ('g', 'embed', 1.5, 0, 3.0);
"""


def test_old_catalog_is_migrated(tmp_path):
    con = sqlite3.connect(tmp_path / "catalog.sqlite")
    con.executescript(OLD_SCHEMA)
    con.close()
    store = Store(tmp_path)
    row = store.video(SHA)
    assert row["name"] == "old.mp4" and row["backend"] is None and row["key_kind"] is None
    assert [r["seconds"] for r in store.runs()] == [1.5]  # nothing lost
    store.register_video(
        VideoRef(Path("/x/old.mp4"), SHA, "old.mp4", dataclasses.replace(PROBE, backend="pyav"))
    )
    row = store.video(SHA)
    assert row["backend"] == "pyav" and row["key_kind"] == "bytes" and row["added_at"] == 1.0
    con = sqlite3.connect(tmp_path / "catalog.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    con.close()


def test_decoder_and_key_kind_are_recorded_and_kept(tmp_path):
    store = Store(tmp_path)
    probe = dataclasses.replace(PROBE, backend="decord")
    store.register_video(UrlRef(Path("/x/u.mp4"), SHA, "u.mp4", probe, key_kind="stream"))
    store.register_video(VideoRef(Path("/x/u.mp4"), SHA, "u.mp4", PROBE))  # a probe without it
    row = store.video(SHA)
    assert (row["backend"], row["key_kind"]) == ("decord", "stream")
    store.rebuild_catalog()  # and a rebuild keeps them
    row = store.video(SHA)
    assert (row["backend"], row["key_kind"]) == ("decord", "stream")


# ---------------------------------------------------------------------------- shared store


def _worker(root: str, i: int) -> None:
    store = Store(root, shared=True)
    sha = f"{i:02x}" * 32
    store.register_video(VideoRef(Path(f"/data/v{i}.mp4"), sha, f"v{i}.mp4", PROBE))
    for stage in ("embed", "signal"):
        key = store.key(sha, stage, "h", "m")
        store.get_or_compute(
            key, lambda w, i=i: ({"a": np.arange(i + 1)}, {"i": i}), settings={"i": i}
        )


def test_shared_workers_journal_and_one_writer_syncs(tmp_path):
    root = tmp_path / "shared"
    writer = Store(root)  # the catalog writer (e.g. the machine running batch)
    catalog_bytes = writer.catalog_path.read_bytes()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(root), i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert writer.catalog_path.read_bytes() == catalog_bytes  # no worker touched SQLite
    assert writer.videos() == [] and writer.results() == []  # until the writer syncs
    worker = Store(root, shared=True)
    assert len(worker.videos()) == 4 and len(worker.results()) == 8  # read from the files
    assert worker.load(worker.key("02" * 32, "embed", "h", "m"))["a"].tolist() == [0, 1, 2]
    applied = writer.sync()
    assert applied == 4 + 8 + 8  # videos, results, runs
    assert sorted(v["name"] for v in writer.videos()) == [f"v{i}.mp4" for i in range(4)]
    assert len(writer.results()) == 8 and len(writer.runs(stage="embed")) == 4
    assert writer.sync() == 0 and not list((root / ".journal").iterdir())  # idempotent
    # a second round: cache hits, journaled as a video refresh and two runs
    _worker(str(root), 1)
    assert writer.sync() == 1 + 2 and len(writer.runs()) == 10
    assert [r["cache_hit"] for r in writer.runs("01" * 32)] == [0, 0, 1, 1]


def test_a_malformed_journal_record_is_skipped(tmp_path):
    writer = Store(tmp_path)
    (tmp_path / ".journal").mkdir(exist_ok=True)
    (tmp_path / ".journal" / "0001-bad.json").write_text('{"op": "video", "row": 5}')
    (tmp_path / ".journal" / "0002-list.json").write_text("[1, 2]")
    (tmp_path / ".journal" / "0003-half.json").write_text('{"op": "vid')
    assert writer.sync() == 0
    assert writer.videos() == [] and not list((tmp_path / ".journal").iterdir())
    with pytest.raises(Exception, match="does not write the catalog"):
        Store(tmp_path, shared=True).sync()


# ---------------------------------------------------------------------------- the app's calls


def test_sources_thumbnail_and_library(tmp_path):
    store = Store(tmp_path)
    received = store.incoming(".mp4")
    received.write_bytes(b"video bytes")
    kept = store.keep_source(SHA, "My clip (1).MP4", received)
    assert kept.read_bytes() == b"video bytes" and not received.exists()
    assert kept.name.endswith(".mp4") and kept.parent.name == "source"
    again = store.incoming(".mp4")
    again.write_bytes(b"video bytes")
    assert store.keep_source(SHA, "other name.mp4", again) == kept and not again.exists()
    assert store.source_path(SHA) == kept
    store.register_video(VideoRef(Path("/gone/a.mp4"), SHA, "a.mp4", PROBE))
    other = "cd" * 32
    original = tmp_path / "b.mp4"
    original.write_bytes(b"b")
    store.register_video(VideoRef(original, other, "b.mp4", PROBE))
    assert store.source_path(other) == original and store.source_path("ef" * 32) is None

    assert store.thumbnail(SHA) is None
    thumbs = np.arange(3 * 4 * 5 * 3, dtype=np.uint8).reshape(3, 4, 5, 3)
    store.save(store.key(SHA, "embed", "h", "pixels-v1"), {"thumbnails": thumbs})
    store.save(store.key(SHA, "signal", "h"), {"d": np.zeros(3)})
    np.testing.assert_array_equal(store.thumbnail(SHA), thumbs[1])
    assert store.computed(SHA) == {"embed": ["pixels-v1"], "signal": [""]}
    lib = {r["sha256"]: r for r in store.library()}
    assert lib[SHA]["status"] == "ready" and lib[SHA]["has_source"]
    assert lib[other]["status"] == "new" and lib[other]["computed"] == {}

    store.forget_source(SHA)
    assert store.source_path(SHA) is None  # the original path is gone too
    store.forget_video(other)
    assert store.video(other) is None and not (tmp_path / other).exists()
    store.rebuild_catalog()
    assert [v["sha256"] for v in store.videos()] == [SHA]  # forgotten for good


def test_incoming_is_streamed_by_the_caller(tmp_path):
    """`incoming` gives a file to stream an upload into: nothing is held in memory here."""
    store = Store(tmp_path)
    f = store.incoming(".webm")
    src = io.BytesIO(b"x" * 3_000_000)
    with open(f, "wb") as fh:
        while chunk := src.read(1 << 20):
            fh.write(chunk)
    assert f.stat().st_size == 3_000_000 and f.parent == tmp_path / ".uploads"


def test_the_writer_ingests_on_open_and_may_keep_the_catalog_elsewhere(tmp_path, monkeypatch):
    root, local = tmp_path / "nfs" / "atlas", tmp_path / "local" / "catalog.sqlite"
    monkeypatch.setenv("ATLAS_STORE_SHARED", "1")
    worker = Store(root)
    assert worker.shared and not (root / "catalog.sqlite").exists()
    _worker(str(root), 7)
    monkeypatch.delenv("ATLAS_STORE_SHARED")
    monkeypatch.setenv("ATLAS_CATALOG", str(local))
    writer = Store(root)  # opening as the writer ingests the journal
    assert not writer.shared and writer.catalog_path == local and local.is_file()
    assert [v["name"] for v in writer.videos()] == ["v7.mp4"] and len(writer.results()) == 2
    assert not (root / "catalog.sqlite").exists() and not list((root / ".journal").iterdir())
    local.unlink()  # the local catalog lost: rebuilt from the shared entries
    for suffix in ("-wal", "-shm"):
        Path(str(local) + suffix).unlink(missing_ok=True)
    assert [v["name"] for v in Store(root).videos()] == ["v7.mp4"]
