"""The library front door: one call from a video file to seams, segments and a summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from summarizer import Settings, SettingsError, summarize
from summarizer.scenes.evaluate import score_seams
from summarizer.store import Store
from summarizer.synth import Shot

SHOTS = [Shot("static", 4, 3), Shot("pan", 5, 8), Shot("motion", 4, 13), Shot("zoom", 4, 21)]


@pytest.fixture
def cut_video(synth_video) -> tuple[Path, list[float]]:
    return synth_video(SHOTS, name="cuts.mp4")


def test_summarize_finds_the_cuts_and_caches(cut_video, tmp_path):
    path, cuts = cut_video
    settings = Settings.from_dict({"embed": {"embedder": "pixels"}})
    store = Store(tmp_path / "store")
    first = summarize(path, settings, store=store)
    assert not first.embedded.cache_hit
    # Refined to the first frame of each new shot: exact at 10 fps.
    score = score_seams(first.segmentation.seams_s, cuts, tolerance_s=0.06)
    assert score.f1 == 1.0, (first.segmentation.seams_s, cuts)
    assert 2 <= len(first.summary.picks) <= 8
    assert all(2 <= len(s.keyframes) <= 4 for s in first.segmentation.segments)
    again = summarize(path, settings, store=store)
    assert again.embedded.cache_hit
    assert again.to_dict()["seams_s"] == first.to_dict()["seams_s"]


def test_settings_from_yaml_refuses_unknown_keys(tmp_path):
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text("seams:\n  window_s: 20\nsample:\n  fps: 4\n")
    s = Settings.from_yaml(cfg)
    assert s.seams.window_s == 20 and s.sample.fps == 4
    cfg.write_text("seams:\n  windows: 20\n")
    with pytest.raises(SettingsError, match="windows"):
        Settings.from_yaml(cfg)


def test_settings_take_mappings_and_refuse_other_types():
    s = Settings(embed={"embedder": "pixels"}, seams={"k": 2.5})
    assert s.embed.model_id == "pixels-v1" and s.seams.k == 2.5
    with pytest.raises(SettingsError, match="Settings.sample must be"):
        Settings(sample=3)


def test_summary_repr_is_short(cut_video, tmp_path):
    path, _ = cut_video
    r = summarize(path, Settings(embed={"embedder": "pixels"}), store=Store(tmp_path / "s"))
    text = repr(r)
    assert text.startswith("VideoSummary('cuts.mp4'") and "seams" in text and len(text) < 200


def test_settings_cover_every_section_and_refuse_unknown_ones(tmp_path):
    from summarizer.config import SECTIONS, default

    s = Settings()
    assert {f for f in vars(s)} == set(SECTIONS)
    assert default("seams", "min_segment_s") == s.seams.min_segment_s
    assert Settings.from_dict({"poster": {"cols": 7}}).poster.cols == 7
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text("seam:\n  k: 2\n")
    with pytest.raises(SettingsError, match="unknown config section"):
        Settings.from_yaml(cfg)


def test_importing_the_library_is_light_and_changes_nothing():
    import subprocess
    import sys

    code = (
        "import os, sys; before = dict(os.environ); import summarizer; "
        "from summarizer import Settings, summarize; Settings(); import summarizer.cli.main; "
        "assert dict(os.environ) == before, 'environment changed'; "
        "heavy = [m for m in ('torch', 'sklearn', 'keras', 'tensorflow') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("sample:\n  fps: true\n", "sample.fps must be a number or null, got True"),
        ('seams:\n  k: "3"\n', "seams.k must be a number, got '3'"),
        ("poster:\n  cols: 2.5\n", "poster.cols must be a whole number"),
        ("posters:\n  cols: 2\n", "unknown config section(s): posters"),
    ],
)
def test_settings_say_what_is_wrong_with_a_value(tmp_path, yaml_text, message):
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(SettingsError) as err:
        Settings.from_yaml(cfg)
    assert message in str(err.value)


def test_a_config_that_is_not_utf8_is_one_clear_error(tmp_path):
    cfg = tmp_path / "atlas.yaml"
    cfg.write_bytes("seams:\n  k: 3 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(SettingsError, match="not UTF-8"):
        Settings.from_yaml(cfg)
