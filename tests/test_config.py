"""The documented example config is valid for every command (one file serves them all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from summarizer import Settings
from summarizer.cli.main import main
from summarizer.synth import Shot, make_video

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "atlas.example.yaml"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "two shots.mp4"
    make_video(path, [Shot("static", 3, 1), Shot("pan", 3, 2)], fps=10, size=(160, 120))
    return path


def test_library_settings_read_the_example():
    s = Settings.from_yaml(EXAMPLE)
    assert s.sample.fps == 2.0 and s.seams.surveyor is True and s.summary.k == "auto"


@pytest.mark.parametrize(
    "command",
    [
        ["embed"],
        ["seams", "--out", "{out}"],
        ["summary", "--out", "{out}"],
        ["sample", "--out", "{out}"],
        ["map", "--out", "{out}", "--epochs", "2"],
        ["poster", "--out", "{out}/poster.png", "--cols", "4", "--rows", "3", "--dpi", "20"],
    ],
)
def test_every_command_accepts_the_example(command, video, tmp_path, capsys):
    args = [a.replace("{out}", str(tmp_path / "out")) for a in command]
    store = ["--store", str(tmp_path / "store")] if command[0] != "sample" else []
    embedder = ["--embedder", "pixels"] if command[0] != "sample" else []
    code = main([*args, str(video), "--config", str(EXAMPLE), *store, *embedder])
    assert code == 0, capsys.readouterr().err
