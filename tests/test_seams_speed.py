"""What keeps ``keyframe-atlas seams`` fast: scipy-free peaks, one decode pass for both rates,
and a model-free run that loads no heavy library (issue 10, "fast at the door")."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from summarizer.config import SampleSettings
from summarizer.scenes.seams import peak_prominences

DATA = Path(__file__).parent / "data"


def repo_env() -> dict[str, str]:
    """The environment with this checkout first on the path (for a subprocess)."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


def test_peak_prominences_are_scipys():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    cases = [np.zeros(0), np.ones(1), np.array([0.0, 1.0, 1.0, 0.0]), np.array([1.0, 0.0, 1.0])]
    for i in range(600):
        n = int(rng.integers(2, 80))
        if i % 3 == 0:
            cases.append(rng.random(n))
        elif i % 3 == 1:
            cases.append(rng.integers(0, 4, n).astype(np.float64))  # plateaus and ties
        else:
            cases.append(np.round(rng.random(n), 1))
    for x in cases:
        peaks, props = signal.find_peaks(x, prominence=0.0)
        ours, prom = peak_prominences(x)
        np.testing.assert_array_equal(ours, peaks)
        np.testing.assert_array_equal(prom, props["prominences"])


@pytest.mark.parametrize("clip", ["bikes.mp4", "join_short.mp4"])
def test_one_pass_gives_the_sampled_frames_and_the_signal_of_two(clip):
    from summarizer import decode
    from summarizer.decode import onepass
    from summarizer.decode.signal import scan
    from summarizer.outputs.files import jpeg_bytes

    path = DATA / clip
    settings = SampleSettings(fps=2.0)
    got = onepass.sample_with_signal(path, settings, keep=jpeg_bytes)
    assert got is not None
    batches, tap = got
    one = list(batches)
    sig = tap.result()
    two = list(decode.iter_frames(path, settings))
    idx = np.concatenate([b.indices for b in one])
    np.testing.assert_array_equal(idx, np.concatenate([b.indices for b in two]))
    np.testing.assert_array_equal(
        np.concatenate([b.times_s for b in one]), np.concatenate([b.times_s for b in two])
    )
    a = np.concatenate([b.images for b in one]).astype(np.int16)
    b = np.concatenate([b.images for b in two]).astype(np.int16)
    assert a.shape == b.shape and np.abs(a - b).mean() < 3.0  # PyAV's scale vs decord's
    # the sampled frames, kept at full size (JPEG) for the keyframe images
    assert sorted(tap.full) == idx.tolist()
    full = decode.read_frames(path, idx[[0, -1]], None)
    for k, want in zip(idx[[0, -1]].tolist(), full.images, strict=True):
        kept = np.asarray(Image.open(io.BytesIO(tap.full[k])).convert("RGB")).astype(np.int16)
        assert kept.shape == want.shape and np.abs(kept - want).mean() < 4.0
    ref = scan(path)
    assert sig is not None and len(sig) == len(ref)
    assert sig.fps == pytest.approx(ref.fps, rel=1e-6) and sig.lag == ref.lag
    np.testing.assert_allclose(sig.times_s, ref.times_s, atol=1e-4)
    for name in ("luma", "contrast", "diff", "hist", "back", "span", "blend"):
        np.testing.assert_allclose(getattr(sig, name), getattr(ref, name), atol=1e-6, err_msg=name)


def test_one_pass_declines_what_it_cannot_see_whole():
    from summarizer.decode import onepass

    path = DATA / "bikes.mp4"
    assert onepass.sample_with_signal(path, SampleSettings(start_s=2.0)) is None
    assert onepass.sample_with_signal(path, SampleSettings(end_s=5.0)) is None
    assert onepass.sample_with_signal(path, SampleSettings(fps=0.2)) is None  # it would seek
    assert onepass.sample_with_signal(DATA, SampleSettings()) is None  # not a file


def test_model_free_seams_load_no_heavy_library_and_decode_once(tmp_path):
    """The CLI run on a real clip: torch, sklearn and scipy stay unloaded, the signal comes
    from the embedding pass (no `signal.scan`), and the seams are the annotated cuts."""
    code = (
        "import sys, json\n"
        "from summarizer.decode import signal\n"
        "def no_scan(*a, **k):\n"
        "    raise AssertionError('second decode')\n"
        "signal.scan = no_scan\n"
        "from summarizer.cli.main import main\n"
        "rc = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'scipy', 'open_clip', 'cv2') "
        "if m in sys.modules)\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    args = ["seams", str(DATA / "bikes.mp4"), "--embedder", "pixels", "--quiet",
            "--out", str(tmp_path / "out"), "--store", str(tmp_path / "store")]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=repo_env()
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"rc": 0, "heavy": []}
    doc = json.loads((tmp_path / "out" / "bikes" / "segments.json").read_text())
    cuts = np.array([1.20, 3.04, 5.48, 7.48, 9.68])
    seams = np.asarray(doc["seams_s"])
    assert len(seams) == len(cuts) and np.abs(seams - cuts).max() < 0.05, seams


def test_contact_sheet_from_tiles_is_the_sheet_from_full_frames():
    from summarizer.outputs import files as export

    rng = np.random.default_rng(5)
    for h, w in [(360, 640), (272, 640), (480, 360), (101, 333)]:
        images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(5)]
        labels = [f"#{i}" for i in range(5)]
        full = np.asarray(export.grid_image(images, labels))
        tiles = np.asarray(export.grid_image([export.grid_tile(im) for im in images], labels))
        np.testing.assert_array_equal(tiles, full)


def test_tile_of_a_kept_jpeg_is_the_tile_of_its_frame():
    from summarizer.outputs import files as export

    rng = np.random.default_rng(6)
    smooth = np.kron(rng.integers(0, 256, (9, 16, 3)), np.ones((40, 40, 1))).astype(np.uint8)
    data = export.jpeg_bytes(smooth)
    fast = export.grid_tile_jpeg(data).astype(np.int16)
    full = export.grid_tile(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    assert fast.shape == full.shape == (export.GRID_CELL_H, 320, 3)
    assert np.abs(fast - full).mean() < 3.0
