"""Poster: cell assignment, print sizes, tiles from thumbnails and from the video, PNG/PDF."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from summarizer.errors import SettingsError
from summarizer.poster import render as poster_mod
from summarizer.poster.layout import PosterSettings, assign_cells, cell_centers
from summarizer.poster.render import PosterFrames, render_poster


def colour_frames(coords: np.ndarray, videos: int = 2, size=(12, 20)) -> PosterFrames:
    """Frames whose thumbnails are flat colours that encode their row (to check placement)."""
    n = len(coords)
    vi = np.arange(n) % videos
    thumbs = []
    for v in range(videos):
        rows = np.flatnonzero(vi == v)
        t = np.zeros((len(rows), *size, 3), np.uint8)
        for k, r in enumerate(rows):
            t[k] = [r % 256, (r // 256) * 40 % 256, 200]
        thumbs.append(t)
    return PosterFrames(
        coords=coords,
        video_index=vi,
        times_s=np.arange(n) * 0.5,
        frame_indices=np.arange(n),
        thumbnails=thumbs,
        names=[f"v{i}.mp4" for i in range(videos)],
        hashes=[f"{i:064x}" for i in range(videos)],
        paths=[None] * videos,
    )


def test_cell_centres_cover_the_window():
    s = PosterSettings(cols=4, rows=2, center=(0.5, -0.5), width=1.0)
    c = cell_centers(s)
    assert c.shape == (2, 4, 2)
    assert s.window_height == 0.5
    np.testing.assert_allclose(c[0, 0], [0.125, -0.375])  # top left: small x, large y
    np.testing.assert_allclose(c[1, 3], [0.875, -0.625])


def test_each_cell_gets_the_frame_at_its_centre():
    s = PosterSettings(cols=6, rows=4)
    centres = cell_centers(s).reshape(-1, 2)
    rng = np.random.default_rng(0)
    extra = rng.uniform(-1, 1, size=(400, 2))
    far = np.min(np.linalg.norm(extra[:, None] - centres[None], axis=-1), axis=1) > 0.05
    extra = extra[far][:200]
    coords = np.concatenate([extra, centres + rng.normal(0, 0.01, size=centres.shape)])
    grid = assign_cells(coords, s)
    np.testing.assert_array_equal(grid.ravel(), 200 + np.arange(24))


def test_no_frame_twice_unless_asked():
    s = PosterSettings(cols=8, rows=8)
    rng = np.random.default_rng(1)
    coords = rng.normal(0, 0.15, size=(300, 2))  # crowded in the middle
    grid = assign_cells(coords, s)
    assert (grid >= 0).all()
    assert len(np.unique(grid)) == 64
    # repeats allowed: every cell shows its nearest frame (brute force)
    rep = assign_cells(coords, PosterSettings(cols=8, rows=8, allow_repeats=True))
    centres = cell_centers(s).reshape(-1, 2)
    nearest = np.argmin(np.linalg.norm(centres[:, None] - coords[None], axis=-1), axis=1)
    d_rep = np.linalg.norm(coords[rep.ravel()] - centres, axis=1)
    d_ref = np.linalg.norm(coords[nearest] - centres, axis=1)
    np.testing.assert_allclose(d_rep, d_ref)
    assert len(np.unique(rep)) < 64
    # the unique assignment puts frames no farther in total than needed by much
    d_uni = np.linalg.norm(coords[grid.ravel()] - centres, axis=1)
    assert d_uni.sum() >= d_ref.sum()


def test_fewer_frames_than_cells_leaves_the_farthest_cells_empty():
    s = PosterSettings(cols=5, rows=5)
    coords = np.array([[0.0, 0.0], [0.05, 0.0], [0.8, 0.8]])
    grid = assign_cells(coords, s)
    assert sorted(grid[grid >= 0].tolist()) == [0, 1, 2]
    assert grid[2, 2] in (0, 1) and grid[0, 4] == 2
    assert (grid == -1).sum() == 22


def test_window_filters_frames_and_empty_window_is_an_error():
    coords = np.array([[0.9, 0.9], [-0.9, -0.9], [0.8, 0.85]])
    grid = assign_cells(coords, PosterSettings(cols=2, rows=1, center=(0.85, 0.85), width=0.4))
    assert set(grid.ravel().tolist()) == {0, 2}
    with pytest.raises(SettingsError, match="no frames in the poster window"):
        assign_cells(coords, PosterSettings(cols=2, rows=2, center=(0, 0), width=0.2))


@pytest.mark.parametrize(
    "bad",
    [
        dict(size_cm=(5000, 90)),
        dict(size_cm=(60, 0)),
        dict(dpi=0),
        dict(dpi=1e6),
        dict(cols=0),
        dict(width=-1),
        dict(width=float("nan")),
        dict(center=(0, float("inf"))),
        dict(size_cm=(60, 90), size_px=(100, 100)),
        dict(fit="stretch"),
    ],
)
def test_settings_reject_nonsense(bad):
    with pytest.raises(SettingsError):
        PosterSettings(**bad)


def test_print_sizes():
    assert PosterSettings(size_cm=(60, 90), dpi=150).canvas_size() == (3543, 5315)
    assert PosterSettings(size_px=(5874, 5400)).canvas_size() == (5874, 5400)
    assert PosterSettings(cols=3, rows=2, tile_px=160).canvas_size(16 / 9) == (480, 180)
    with pytest.raises(SettingsError, match="too big"):
        PosterSettings(size_cm=(1000, 1000), dpi=2400).canvas_size()
    with pytest.raises(SettingsError, match="too small"):
        PosterSettings(cols=500, rows=500, size_cm=(10, 10), dpi=50).canvas_size()


def test_png_from_thumbnails_puts_each_frame_in_its_cell(tmp_path):
    s = PosterSettings(cols=4, rows=3, size_px=(400, 240), gap_px=2)
    centres = cell_centers(s).reshape(-1, 2)
    frames = colour_frames(np.concatenate([centres, np.full((5, 2), 0.99)]))
    res = render_poster(frames, s, tmp_path / "p.png")
    assert res.path.is_file() and res.layout_path == tmp_path / "p.layout.json"
    img = np.asarray(Image.open(res.path).convert("RGB"))
    assert img.shape == (240, 400, 3)
    layout = json.loads(res.layout_path.read_text())
    assert layout["size_px"] == [400, 240] and len(layout["tiles"]) == 12
    for tile in layout["tiles"]:
        x0, y0, x1, y1 = tile["box_px"]
        row = tile["row"] * 4 + tile["col"]
        assert tile["frame_index"] == row  # the frame made at this cell's centre
        assert tile["time_s"] == row * 0.5
        assert tile["video_name"] == f"v{row % 2}.mp4" and tile["source"] == "thumbnail"
        assert tuple(img[(y0 + y1) // 2, (x0 + x1) // 2]) == (row, 0, 200)
    assert tuple(img[79, 99]) == (255, 255, 255) or tuple(img[80, 99]) == (255, 255, 255)


def test_pdf_has_the_print_size(tmp_path):
    rng = np.random.default_rng(3)
    frames = colour_frames(rng.uniform(-1, 1, size=(100, 2)))
    s = PosterSettings(cols=4, rows=6, size_cm=(60, 90), dpi=150)
    res = render_poster(frames, s, tmp_path / "big.pdf")
    data = res.path.read_bytes()
    assert data.startswith(b"%PDF")
    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    w_pt, h_pt = float(box.group(1)), float(box.group(2))
    assert w_pt / 72 * 2.54 == pytest.approx(60, abs=0.05)
    assert h_pt / 72 * 2.54 == pytest.approx(90, abs=0.05)
    assert res.size_px == (3543, 5315)
    with pytest.raises(SettingsError):
        render_poster(frames, s, tmp_path / "big.jpg")


def test_tiles_from_the_video_in_small_groups(tmp_path, monkeypatch):
    from summarizer import decode as video_mod
    from summarizer import synth

    path = tmp_path / "clip.mp4"
    synth.make_video(path, [synth.Shot("pan", 4.0, seed=7)], size=(320, 180), fps=10)
    probe = video_mod.probe(path)
    n = probe.frame_count
    rng = np.random.default_rng(4)
    coords = rng.uniform(-1, 1, size=(n, 2))
    thumbs = np.zeros((n, 9, 16, 3), np.uint8)  # black: a tile from here would be black
    frames = PosterFrames(
        coords=coords,
        video_index=np.zeros(n, int),
        times_s=np.arange(n) / 10,
        frame_indices=np.arange(n),
        thumbnails=[thumbs],
        names=["clip.mp4"],
        hashes=["ab" * 32],
        paths=[path],
    )
    calls = []
    real = video_mod.read_frames

    def spy(p, indices, short_side=None, **kw):
        batch = real(p, indices, short_side, **kw)
        calls.append((len(indices), batch.images[0].nbytes if len(batch.images) else 0))
        return batch

    monkeypatch.setattr(video_mod, "read_frames", spy)
    s = PosterSettings(cols=6, rows=4, size_px=(1200, 800))  # 200 px tiles > 180 px source
    res = render_poster(frames, s, tmp_path / "src.png")
    assert res.tiles_from_source == 24 and res.tiles_from_thumbnails == 0
    full = probe.width * probe.height * 3
    assert len(calls) >= 24 // 4
    assert all(k * nbytes <= 4 * full for k, nbytes in calls)  # never more than 4 full frames
    img = np.asarray(Image.open(res.path).convert("RGB"))
    assert img.mean() > 30  # real content, not the black thumbnails
    layout = json.loads(res.layout_path.read_text())
    assert {t["source"] for t in layout["tiles"]} == {"video"}
    # tiles smaller than the source: decoded smaller, so more frames per read
    calls.clear()
    render_poster(frames, PosterSettings(cols=6, rows=4, size_px=(240, 120)), tmp_path / "s.png")
    assert len(calls) == 1 and calls[0][0] == 24
    # thumbnails only when asked
    res = render_poster(
        frames,
        PosterSettings(cols=6, rows=4, size_px=(240, 120), use_source=False),
        tmp_path / "t.png",
    )
    assert res.tiles_from_thumbnails == 24


def test_unreadable_source_falls_back_to_thumbnails(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    frames = colour_frames(np.random.default_rng(5).uniform(-1, 1, size=(40, 2)), videos=1)
    frames = PosterFrames(**{**frames.__dict__, "paths": [bad]})
    res = render_poster(
        frames, PosterSettings(cols=3, rows=3, size_px=(90, 60)), tmp_path / "f.png"
    )
    assert res.tiles_from_thumbnails == 9
    assert res.notes and "broken.mp4" in res.notes[0]


def test_decode_size():
    assert poster_mod._decode_short_side(1920, 1080, (192, 108), "cover") == 110
    assert poster_mod._decode_short_side(1920, 1080, (1920, 1080), "cover") is None
    assert Path(poster_mod.__file__).name == "render.py"


def test_banded_png_and_pdf_hold_the_same_pixels(tmp_path, monkeypatch):
    """The canvas lives on disk and is encoded band by band: small bands (many of them, and
    many PNG data chunks) give exactly the pixels of one band, in PNG and in the PDF."""
    import zlib

    from summarizer.poster import canvas as canvas_mod

    rng = np.random.default_rng(5)
    frames = colour_frames(rng.uniform(-1, 1, size=(80, 2)))
    s = PosterSettings(cols=5, rows=4, size_px=(300, 170), gap_px=1)
    one = np.asarray(Image.open(render_poster(frames, s, tmp_path / "one.png").path))
    monkeypatch.setattr(canvas_mod, "BAND_BYTES", 300 * 3 * 7)  # 7 lines a band
    monkeypatch.setattr(canvas_mod, "IDAT_BYTES", 500)
    banded = np.asarray(Image.open(render_poster(frames, s, tmp_path / "many.png").path))
    np.testing.assert_array_equal(banded, one)
    # PDF: one image per band; lossless (Flate) beyond JPEG's width limit, else JPEG
    monkeypatch.setattr(canvas_mod, "JPEG_MAX_SIDE", 299)
    for filt in ("FlateDecode", "DCTDecode"):
        pdf = render_poster(frames, s, tmp_path / f"{filt}.pdf").path.read_bytes()
        pat = rb"/Height (\d+) [^>]*/Filter /(\w+) /Length (\d+) >>\nstream\n"
        bands = list(re.finditer(pat, pdf))
        assert len(bands) == -(-170 // 7) and {m.group(2) for m in bands} == {filt.encode()}
        rows = []
        for m in bands:
            h, n = int(m.group(1)), int(m.group(3))
            data = pdf[m.end() : m.end() + n]
            if filt == "FlateDecode":
                rows.append(np.frombuffer(zlib.decompress(data), np.uint8).reshape(h, 300, 3))
            else:
                import io

                rows.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        got = np.concatenate(rows)
        if filt == "FlateDecode":
            np.testing.assert_array_equal(got, one)
        else:
            assert got.shape == one.shape
            assert np.abs(got.astype(int) - one).mean() < 4  # JPEG, quality 92
        monkeypatch.setattr(canvas_mod, "JPEG_MAX_SIDE", 65500)
    assert not list(tmp_path.glob("*.canvas"))  # the raw canvas is gone


def test_memory_bound_is_said_before_rendering():
    with pytest.raises(SettingsError, match="megapixels a tile"):
        PosterSettings(cols=1, rows=1, size_px=(10000, 10000)).canvas_size()
    # the app's largest poster: 500 x 500 cm, 200 x 200 tiles, at most 1000 megapixels
    assert PosterSettings(cols=200, rows=200, size_cm=(500, 500), dpi=160).canvas_size() == (
        31496,
        31496,
    )
