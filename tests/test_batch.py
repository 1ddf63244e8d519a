"""keyframe-atlas batch: inputs, the local engine, faults, interrupt-and-resume, a shared
store, and Ray (a local Ray with 2 CPUs) giving the same store entries as the local engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from summarizer import synth
from summarizer.batch import run_batch
from summarizer.batch.inputs import expand_inputs
from summarizer.batch.job import Job, Outcome
from summarizer.batch.local import LocalEngine
from summarizer.cli.main import main
from summarizer.config import Settings
from summarizer.errors import InputError
from summarizer.flow import embed_key
from summarizer.store import Store

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = Settings.from_dict({"embed": {"embedder": "pixels"}, "sample": {"fps": 4.0}})
FLAGS = ["--embedder", "pixels", "--fps", "4"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A folder of three 5 s videos (one cut each, at 2.5 s) and a corrupt one."""
    d = tmp_path_factory.mktemp("collection")
    for i in range(3):
        shots = [synth.Shot("static", 2.5, seed=i), synth.Shot("pan", 2.5, seed=20 + i)]
        synth.make_video(d / f"clip{i}.mp4", shots, fps=25, size=(192, 144))
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    return d


def result(out: Path, name: str) -> dict:
    return json.loads((out / "videos" / f"{name}.json").read_text())


def report(out: Path) -> dict:
    return json.loads((out / "batch_report.json").read_text())


def statuses(out: Path) -> dict[str, str]:
    return {o["name"]: o["status"] for o in report(out)["outcomes"]}


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.startswith((".tmp-", ".trash-"))]


def cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "summarizer", "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


# ---------------------------------------------------------------------------- inputs


def test_inputs_files_folders_and_lists(tmp_path, videos):
    sub = tmp_path / "more" / "deeper"
    sub.mkdir(parents=True)
    (sub / "x.mov").write_bytes(b"")
    (tmp_path / "more" / "notes.md").write_text("not a video")
    images = tmp_path / "frames"
    images.mkdir()
    (images / "0001.jpg").write_bytes(b"")
    lst = tmp_path / "list.txt"
    lst.write_text(
        f"# my collection\n\n{videos / 'clip0.mp4'}\nmore\nhttps://example.org/v.mp4\n"
        f"missing.mp4\n{videos / 'clip0.mp4'}\n"
    )
    got = expand_inputs([str(lst), str(images), str(videos / "clip1.mp4")])
    assert got == [
        str(videos / "clip0.mp4"),
        str(sub / "x.mov"),
        "https://example.org/v.mp4",
        str(tmp_path / "missing.mp4"),  # kept: reported as failed, the others go on
        str(images),  # a folder of images is one video
        str(videos / "clip1.mp4"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no video files"):
        expand_inputs([str(empty)])
    loop = tmp_path / "loop.txt"
    loop.write_text("loop.txt\n")
    with pytest.raises(InputError, match="includes itself"):
        expand_inputs([str(loop)])


# ---------------------------------------------------------------------------- local


@pytest.mark.slow
def test_local_corrupt_video_among_good_ones_and_rerun_skips(videos, tmp_path, capsys):
    out, store = tmp_path / "out", tmp_path / "store"
    args = [str(videos), "--out", str(out), "--store", str(store), "--workers", "2", *FLAGS]
    assert main(["batch", *args]) == 1  # one video failed, the others were done
    printed = capsys.readouterr().out
    assert statuses(out) == {
        "broken": "failed",
        "clip0": "done",
        "clip1": "done",
        "clip2": "done",
    }
    rep = report(out)
    (bad,) = [o for o in rep["outcomes"] if o["status"] == "failed"]
    assert "broken.mp4" in bad["error"] and "\n" not in bad["error"]
    assert rep["frames"] == sum(o["frames"] for o in rep["outcomes"]) > 0
    assert rep["frames_per_s"] > 0 and rep["engine"] == "local" and rep["workers"] == 2
    assert "3 done, 0 skipped, 1 failed" in printed and "frames/s" in printed
    for i in range(3):
        doc = result(out, f"clip{i}")
        assert doc["batch"]["frames"] == 20 and doc["summary"]["picks"]
        assert min(abs(t - 2.5) for t in doc["seams_s"]) < 0.1  # the cut is found
    s = Store(store)
    assert {v["name"] for v in s.videos()} >= {"clip0.mp4", "clip1.mp4", "clip2.mp4"}

    # a rerun skips what is done; the corrupt video is still reported
    assert main(["batch", *args]) == 1
    assert statuses(out) == {
        "broken": "failed",
        "clip0": "skipped",
        "clip1": "skipped",
        "clip2": "skipped",
    }
    assert len(s.runs(stage="embed")) == 3  # nothing embedded again

    # other seam settings: the results are made again, from the stored embeddings
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text("seams:\n  min_segment_s: 1.0\n")
    assert main(["batch", *args, "--config", str(cfg), "--batch-size", "7"]) == 1
    assert set(statuses(out).values()) == {"failed", "done"}
    assert [r["cache_hit"] for r in s.runs(stage="embed")] == [0, 0, 0, 1, 1, 1]
    assert main(["batch", *args, "--config", str(cfg)]) == 1  # batch size: same results
    assert set(statuses(out).values()) == {"failed", "skipped"}


def crash_on_boom(job: Job) -> Outcome:
    """A worker function that kills its process on the job named "boom"."""
    if job.name == "boom":
        os._exit(3)
    time.sleep(0.05)
    return Outcome(job.source, job.name, "done", frames=1)


def test_a_video_that_kills_its_worker_fails_alone():
    engine = LocalEngine(2)
    engine.fn = crash_on_boom
    names = ["a", "b", "boom", "c", "d", "e"]
    got: list[Outcome] = []
    engine.run([Job(n, n, "", "") for n in names], got.append)
    assert sorted(o.name for o in got) == sorted(names)  # each exactly once
    by_name = {o.name: o for o in got}
    assert by_name.pop("boom").error == "the worker process died on this video"
    assert {o.status for o in by_name.values()} == {"done"}


@pytest.mark.slow
def test_interrupt_and_rerun_finishes_the_rest(tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(8):
        synth.make_video(d / f"v{i}.mp4", [synth.Shot("pan", 4.0, seed=i)], size=(160, 120))
    out, store = tmp_path / "out", tmp_path / "store"
    args = [str(d), "--out", str(out), "--store", str(store), "--workers", "1", "-q"]
    args += ["--embedder", "pixels", "--every-n", "1"]  # every frame: slow enough to stop
    proc = cli(*args, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((out / "videos").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the driver and its workers
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    first = report(out)
    assert first["interrupted"] and first["pending"], first
    reported = {o["name"] for o in first["outcomes"] if o["status"] == "done"}
    done_before = {p.stem for p in (out / "videos").glob("*.json")}  # incl. one finishing
    assert reported <= done_before and 1 <= len(done_before) < 8

    rerun = cli(*args)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    second = statuses(out)
    assert set(second) == {f"v{i}" for i in range(8)} and not report(out)["pending"]
    assert {n for n, s in second.items() if s == "skipped"} >= done_before
    assert set(second.values()) <= {"done", "skipped"}
    assert len({r["group"] for r in Store(store).runs(stage="embed")}) == 8
    assert leftovers(store) == []


@pytest.mark.slow
def test_two_concurrent_batches_share_one_store(videos, tmp_path):
    store = tmp_path / "store"
    procs = [
        cli(str(videos), "--out", str(tmp_path / f"out{k}"), "--store", str(store), *FLAGS, "-q")
        for k in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], outs  # the corrupt video, in each
    for k in range(2):
        got = statuses(tmp_path / f"out{k}")
        assert got.pop("broken") == "failed" and set(got.values()) == {"done"}
    s = Store(store)
    for i in range(3):
        sha = result(tmp_path / "out0", f"clip{i}")["video"]["sha256"]
        assert result(tmp_path / "out1", f"clip{i}")["video"]["sha256"] == sha
        key = embed_key(s, sha, SETTINGS.sample, SETTINGS.embed)
        entries = [p.name for p in (store / sha).iterdir() if p.name.startswith("embed")]
        assert entries == [key.dirname]  # computed once, read by the other run
    hits = [r["cache_hit"] for r in s.runs(stage="embed")]
    assert len(hits) == 6 and sum(hits) == 3
    assert leftovers(store) == []


def test_engine_flags_are_checked(videos, tmp_path, capsys):
    base = ["batch", str(videos), "--out", str(tmp_path / "o"), *FLAGS]
    assert main([*base, "--workers", "0"]) == 2
    assert main([*base, "--address", "ray://x:10001"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "--engine ray" in err


def test_ray_missing_is_one_line(videos, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the `ray` extra were not installed
    assert main(["batch", str(videos), "--out", str(tmp_path / "o"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "keyframe-atlas[ray]" in err


# ---------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    from summarizer.batch.ray import workers_import_this_summarizer

    with workers_import_this_summarizer():  # Ray's workers import this checkout
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_gives_the_local_engine_result(videos, tmp_path, local_ray):
    from summarizer.batch.ray import RayEngine

    runs = {}
    for name, engine in (("local", LocalEngine(2)), ("ray", RayEngine(2))):
        out, root = tmp_path / f"out-{name}", tmp_path / f"store-{name}"
        runs[name] = (run_batch([str(videos)], out, SETTINGS, root, engine), out, Store(root))
    (lrep, lout, lstore), (rrep, rout, rstore) = runs["local"], runs["ray"]
    assert [(o.name, o.status, o.frames) for o in rrep.outcomes] == [
        (o.name, o.status, o.frames) for o in lrep.outcomes
    ]
    assert rrep.count("failed") == 1 and rrep.count("done") == 3
    for i in range(3):
        a, b = result(lout, f"clip{i}"), result(rout, f"clip{i}")
        sha = a["video"]["sha256"]
        assert b["video"]["sha256"] == sha
        assert b["seams_s"] == a["seams_s"] and a["seams_s"]  # same seams
        assert [s["start_s"] for s in b["segments"]] == [s["start_s"] for s in a["segments"]]
        assert [p["time_s"] for p in b["summary"]["picks"]] == [
            p["time_s"] for p in a["summary"]["picks"]
        ]
        key = embed_key(lstore, sha, SETTINGS.sample, SETTINGS.embed)
        ea, eb = lstore.load(key), rstore.load(key)  # the same key in both stores
        assert ea is not None and eb is not None
        np.testing.assert_allclose(eb["embeddings"], ea["embeddings"], atol=1e-5)
        for name in ("times_s", "indices", "thumbnails"):
            np.testing.assert_array_equal(eb[name], ea[name])
        same = ("name", "kind", "sha256", "probe", "model_id", "sample", "embed", "frames", "dim")
        assert {k: eb.meta[k] for k in same} == {k: ea.meta[k] for k in same}
        assert eb.meta["thumb_size"] == ea.meta["thumb_size"]
    # resumable on Ray too: a rerun skips the done videos and reports the bad one again
    again = run_batch([str(videos)], rout, SETTINGS, rstore.root, RayEngine(2))
    assert sorted(o.status for o in again.outcomes) == ["failed", "skipped", "skipped", "skipped"]
