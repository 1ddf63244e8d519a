"""``keyframe-atlas embed``: output lines, cache hits, config files and every bad input."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import pytest

from summarizer import synth
from summarizer.cli.main import main
from summarizer.store import Store, hash_file

LINE = re.compile(
    r"^(?P<name>.+?)  (?P<sha>[0-9a-f]{8})…  (?P<n>\d+) frames  (?P<d>\d+)-d  "
    r"(?:computed in (?P<secs>[\d.]+) s|cache hit \((?P<hit>[\d.]+) s\))$"
)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    synth.make_video(path, [synth.Shot("static", 1.5, seed=1), synth.Shot("zoom", 1.5, seed=2)])
    return path


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "summarizer", "embed", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def parse(stdout: str) -> list[re.Match]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    matches = [LINE.match(line) for line in lines]
    assert all(matches), stdout
    return matches


def result_dirs(store: Path) -> list[Path]:
    """Result folders and temp/trash leftovers anywhere under the store."""
    if not store.exists():
        return []
    return [
        p
        for group in store.iterdir()
        if group.is_dir() and not group.name.startswith(".")
        for p in group.iterdir()
    ]


# ---------------------------------------------------------------------------- good inputs


def test_subprocess_miss_then_hit_under_another_name(clip, tmp_path):
    store = tmp_path / "store"
    first = cli(str(clip), "--store", str(store), "--embedder", "pixels", "--fps", "2")
    assert first.returncode == 0, first.stderr
    (m,) = parse(first.stdout)
    assert m["name"] == "clip.mp4" and m["sha"] == hash_file(clip)[:8]
    assert m["secs"] is not None and int(m["n"]) in (6, 7)
    assert "Traceback" not in first.stderr

    copy = tmp_path / "renamed.mp4"
    shutil.copy(clip, copy)
    second = cli(str(copy), "--store", str(store), "--embedder", "pixels", "--fps", "2")
    assert second.returncode == 0, second.stderr
    (m2,) = parse(second.stdout)
    assert m2["name"] == "renamed.mp4" and m2["hit"] is not None
    assert (m2["sha"], m2["n"], m2["d"]) == (m["sha"], m["n"], m["d"])
    assert len(result_dirs(store)) == 1


def test_main_in_process(clip, tmp_path, capsys):
    store = tmp_path / "store"
    args = [str(clip), "--store", str(store), "--embedder", "pixels", "-q"]
    assert main(["embed", *args, "--fps", "1"]) == 0
    (a,) = parse(capsys.readouterr().out)
    assert a["secs"] is not None
    # batch sizes do not change the result: still a hit; the fps does: a miss
    assert main(["embed", *args, "--fps", "1", "--batch-size", "2"]) == 0
    (b,) = parse(capsys.readouterr().out)
    assert b["hit"] is not None
    assert main(["embed", *args, "--fps", "3"]) == 0
    (c,) = parse(capsys.readouterr().out)
    assert c["secs"] is not None and int(c["n"]) > int(a["n"])
    assert len(result_dirs(store)) == 2


def test_several_videos_and_a_config_file(clip, tmp_path, capsys):
    other = tmp_path / "other.mp4"
    synth.make_video(other, [synth.Shot("flicker", 1.0, seed=4)])
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text("sample:\n  fps: 1.0\n  thumb_short_side: 64\nembed:\n  embedder: pixels\n")
    store = tmp_path / "store"
    assert main(["embed", str(clip), str(other), "--store", str(store), "--config", str(cfg)]) == 0
    lines = parse(capsys.readouterr().out)
    assert [m["name"] for m in lines] == ["clip.mp4", "other.mp4"]
    assert int(lines[1]["n"]) in (1, 2)
    s = Store(store)
    assert {v["name"] for v in s.videos()} == {"clip.mp4", "other.mp4"}


def test_atlas_home_is_the_default_store(clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATLAS_HOME", str(tmp_path / "home"))
    assert main(["embed", str(clip), "--embedder", "pixels", "--fps", "1", "-q"]) == 0
    capsys.readouterr()
    assert len(result_dirs(tmp_path / "home")) == 1


#: Runs the CLI after a start line: imports done, it touches argv[1] and waits for argv[2]
#: to exist, so that two processes reach the store together however busy the machine is.
AT_THE_LINE = (
    "import pathlib, sys, time\n"
    "from summarizer.cli.main import build_parser, main\n"
    "import summarizer.flow, summarizer.store\n"
    "build_parser()\n"
    "ready, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
    "ready.touch()\n"
    "deadline = time.monotonic() + 300\n"
    "while not go.exists() and time.monotonic() < deadline:\n"
    "    time.sleep(0.005)\n"
    "sys.exit(main(sys.argv[3:]))\n"
)


def test_two_processes_same_key(clip, tmp_path):
    """Two CLI processes on the same video at once: both succeed, one computes and the other
    waits for it and reads its entry (same vectors), one entry, nothing left over. They start
    from a common line (markers, not timing), so they do overlap on a busy machine too."""
    store = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["embed", str(clip), "--store", str(store), "--embedder", "pixels", "--fps", "4"]
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AT_THE_LINE, str(r), str(go), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for r in ready
    ]
    try:
        deadline = time.monotonic() + 300
        while not all(r.exists() for r in ready):
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.monotonic() < deadline, "the processes never reached the start line"
            time.sleep(0.005)
        go.touch()
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs
    ms = [parse(out)[0] for out, _ in outs]
    assert ms[0]["n"] == ms[1]["n"] and ms[0]["sha"] == ms[1]["sha"]
    assert sorted(m["hit"] is None for m in ms) == [False, True], outs  # one computed
    assert len(result_dirs(store)) == 1  # one entry, no temp folders left
    s = Store(store)
    assert len(s.runs(stage="embed")) == 2


def test_clip_checkpoint_via_cli(clip, tmp_path, capsys):
    from support import TINY_MODEL, save_random_checkpoint

    ckpt = save_random_checkpoint(TINY_MODEL, tmp_path / "tiny.safetensors")
    store = tmp_path / "store"
    args = ["embed", str(clip), "--store", str(store), "--embedder", "clip"]
    args += ["--model", TINY_MODEL, "--pretrained", str(ckpt), "--fps", "1", "-q"]
    assert main(args) == 0
    (m,) = parse(capsys.readouterr().out)
    assert m["d"] == "64" and m["secs"] is not None
    assert main(args) == 0
    (m2,) = parse(capsys.readouterr().out)
    assert m2["hit"] is not None


def test_missing_checkpoint_is_one_line(clip, tmp_path, capsys):
    store = tmp_path / "store"
    code = main(
        ["embed", str(clip), "--store", str(store), "--embedder", "clip", "--fps", "1"]
        + ["--pretrained", str(tmp_path / "nowhere.pt")]
    )
    err = capsys.readouterr().err
    _assert_clean_failure(code, err, store)


# ---------------------------------------------------------------------------- bad inputs


def _ffmpeg(*args: str) -> None:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([exe, "-loglevel", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def bad_inputs(clip, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    text = d / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    data = clip.read_bytes()
    trunc = d / "truncated.mp4"
    trunc.write_bytes(data[: len(data) // 2])
    audio = d / "audio.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(audio))
    zero = d / "zero.avi"  # a video stream with no frames in it
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=64x48:d=1", "-frames:v", "0", "-c:v", "mpeg4", str(zero)
    )  # fmt: skip
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "non-video": text,
        "truncated": trunc,
        "audio-only": audio,
        "zero-frames": zero,
        "empty-file": empty,
        "missing": d / "does-not-exist.mp4",
    }


BAD = ["non-video", "truncated", "audio-only", "zero-frames", "empty-file", "missing"]


def _assert_clean_failure(code: int, err: str, store: Path) -> None:
    """Exit 2, one ``error:`` line (native decoder logging included), no traceback, nothing
    (not even temp folders) in the store."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert result_dirs(store) == []


@pytest.mark.parametrize("what", BAD)
def test_bad_input_in_process(bad_inputs, what, tmp_path, capsys):
    store = tmp_path / "store"
    code = main(["embed", str(bad_inputs[what]), "--store", str(store), "--embedder", "pixels"])
    captured = capsys.readouterr()
    _assert_clean_failure(code, captured.err, store)
    assert captured.out == ""


@pytest.mark.parametrize("what", ["truncated", "audio-only", "missing"])
def test_bad_input_subprocess(bad_inputs, what, tmp_path):
    store = tmp_path / "store"
    r = cli(str(bad_inputs[what]), "--store", str(store), "--embedder", "pixels")
    _assert_clean_failure(r.returncode, r.stderr, store)


def test_bad_input_among_good_ones_computes_nothing(clip, bad_inputs, tmp_path, capsys):
    store = tmp_path / "store"
    args = [str(clip), str(bad_inputs["truncated"]), "--store", str(store), "--embedder", "pixels"]
    code = main(["embed", *args])
    _assert_clean_failure(code, capsys.readouterr().err, store)


@pytest.mark.parametrize("fps", ["0", "-1", "nan"])
def test_nonsense_fps(clip, fps, tmp_path, capsys):
    store = tmp_path / "store"
    code = main(["embed", str(clip), "--store", str(store), "--embedder", "pixels", "--fps", fps])
    err = capsys.readouterr().err
    _assert_clean_failure(code, err, store)
    assert "fps" in err


def test_no_frames_in_range(clip, tmp_path, capsys):
    store = tmp_path / "store"
    code = main(
        ["embed", str(clip), "--store", str(store), "--embedder", "pixels", "--start", "60"]
    )
    err = capsys.readouterr().err
    _assert_clean_failure(code, err, store)
    assert "no frames" in err


def test_unwritable_store(clip, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["embed", str(clip), "--store", str(blocker / "store"), "--embedder", "pixels"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: store folder") and "Traceback" not in err


def test_subprocess_truncated_stderr_is_one_line(bad_inputs, tmp_path):
    """The whole stderr of a failing run, native decoder logging included, is one line."""
    r = cli(str(bad_inputs["truncated"]), "--store", str(tmp_path / "s"), "--embedder", "pixels")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
