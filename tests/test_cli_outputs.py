"""What the CLI leaves on disk: readable files, exact clips, no stale clips, clear --out errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from summarizer.cli.main import main
from summarizer.decode import probe
from summarizer.synth import Shot, make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("out") / "three.mp4"
    shots = [Shot("static", 3, 1), Shot("pan", 4, 2), Shot("motion", 3, 3)]
    make_video(path, shots, fps=10, size=(160, 120))
    return path


def _run(*args: str) -> int:
    return main([*args, "--embedder", "pixels", "-q"])


def test_output_files_are_world_readable(video, tmp_path):
    out, store = tmp_path / "o", tmp_path / "s"
    assert _run("seams", str(video), "--out", str(out), "--store", str(store)) == 0
    assert _run("poster", str(video), "--out", str(out / "p.png"), "--cols", "3", "--rows", "2",
                "--size-px", "300", "200", "--store", str(store)) == 0  # fmt: skip
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 5
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044, p


def test_clips_hold_their_segment_and_replace_stale_ones(video, tmp_path):
    out, store = tmp_path / "o", tmp_path / "s"
    common = ["--out", str(out), "--store", str(store), "--clips"]
    assert _run("seams", str(video), *common, "--min-segment", "4", "--max-segment", "30") == 0
    first = sorted((out / "three" / "clips").iterdir())
    assert _run("seams", str(video), *common) == 0
    clips = sorted((out / "three" / "clips").iterdir())
    assert len(clips) == 3 and set(first) != set(clips)  # the earlier run's clips are gone
    for clip in clips:
        start, end = (float(x) for x in clip.stem.rsplit("_", 1)[1].split("-"))
        # A stream copy would start at the previous key frame and run past the end.
        assert probe(clip).duration_s == pytest.approx(end - start, abs=0.25), clip.name
    assert _run("seams", str(video), *common, "--copy") == 0  # stream copy: same clip names
    assert sorted((out / "three" / "clips").iterdir()) == clips


@pytest.mark.parametrize("command", ["seams", "summary", "map", "sample"])
def test_unusable_out_is_one_line_before_any_work(command, video, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = [command, str(video), "--out", str(blocker / "sub"), "-q"]
    if command != "sample":
        args += ["--embedder", "pixels", "--store", str(tmp_path / "s")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "is a file" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s").exists()  # failed before anything was embedded


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "keyframe-atlas" in capsys.readouterr().out
