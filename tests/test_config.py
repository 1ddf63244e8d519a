"""The documented example config is valid for every command (one file serves them all), and
settings check their declared types and ranges."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from summarizer import Settings, SettingsError
from summarizer.cli.main import main
from summarizer.config import check_fields
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


def test_example_holds_every_section_and_captions():
    import yaml

    from summarizer.config import SECTIONS

    data = yaml.safe_load(EXAMPLE.read_text())
    assert set(data) == set(SECTIONS)  # every section is documented, none unknown
    s = Settings.from_yaml(EXAMPLE)
    assert s.captions.min_interval_s == 2.0 and s.captions.model is None


@pytest.mark.parametrize(
    "text,message",
    [
        ("seemz:\n  k: 3\n", "unknown config section(s): seemz"),
        ("captions:\n  timeout_s: 0\n", "timeout_s must be in (0, 3600]"),
        ("poster:\n  colz: 3\n", "unknown PosterSettings setting(s): colz"),
    ],
)
def test_every_section_is_checked_before_any_work(text, message, video, tmp_path, capsys):
    """A command fails on a bad section it does not itself read (one file serves them all)."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    code = main(["seams", str(video), "--out", str(out), "--config", str(cfg), "--embedder",
                 "pixels", "--store", str(tmp_path / "s"), "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "s").exists()


def test_help_shows_the_defaults_of_the_settings(capsys):
    from summarizer.config import default

    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"Hamming bits that still match (default {default('dedup', 'max_distance')})" in text
    assert f"frames per second to sample (default {default('sample', 'fps')})" in text


@dataclasses.dataclass(frozen=True)
class _Declared:
    n: int = 3
    rate: float | None = 0.5
    size: tuple[int, int] = (16, 16)
    mode: str = "a"

    def __post_init__(self) -> None:
        check_fields(self, n=">= 1", rate="(0, 1]", size="[16, 2^10]", mode=("a", "b"))


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"n": 0}, "n must be >= 1, got 0"),
        ({"n": 2.5}, "n must be a whole number, got 2.5"),
        ({"n": True}, "n must be a whole number, got True"),
        ({"rate": 0}, "rate must be in (0, 1] or null, got 0"),
        ({"rate": float("nan")}, "rate must be in (0, 1] or null, got nan"),
        ({"rate": "x"}, "rate must be a number or null, got 'x'"),
        ({"size": (16, 2000)}, "size values must be in [16, 2^10], got (16, 2000)"),
        ({"size": (16,)}, "size must be a list of 2 values"),
        ({"mode": "c"}, "mode must be one of a, b, got 'c'"),
    ],
)
def test_declared_ranges_check_type_then_range(bad, message):
    """`check_fields`: the field's type first (as a YAML file is checked), then its range or
    choices, one message naming the field; None passes where the type allows it."""
    with pytest.raises(SettingsError) as err:
        _Declared(**bad)
    assert str(err.value).startswith(message), err.value
    assert _Declared(rate=None, size=[16, 1024], n=np.int64(2)).rate is None
