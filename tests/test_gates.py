"""Gates: a blurred copy is gated, prompts decide with known geometry, bad settings are clear."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from summarizer.config import from_dict
from summarizer.errors import SettingsError
from summarizer.summary.gates import (
    BlurGate,
    ClipGate,
    GateSettings,
    blur_scores,
    high_frequency_share,
    make_gate,
)
from summarizer.synth import scene_canvas


def scene(seed: int, w: int = 224, h: int = 160) -> np.ndarray:
    return (scene_canvas(seed, (w, h), scale=1.0) * 255).astype(np.uint8)


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(sigma)))


def photo() -> np.ndarray:
    """A real photograph shipped with scikit-learn, at 224 px short side."""
    from sklearn.datasets import load_sample_image

    im = Image.fromarray(load_sample_image("china.jpg"))
    return np.asarray(im.resize((315, 224), Image.BILINEAR))


@pytest.mark.parametrize("method", ["laplacian", "fft"])
@pytest.mark.parametrize("source", ["synthetic", "photo"])
def test_a_blurred_copy_is_gated(method, source):
    sharp = scene(3) if source == "synthetic" else photo()
    frames = np.stack([sharp, blurred(sharp, 2.0)])
    res = BlurGate(GateSettings(gate="blur", blur_method=method))(frames)
    assert res.keep.tolist() == [True, False]
    assert res.score[0] > res.score[1]
    assert res.reasons[0].startswith("sharp") and res.reasons[1].startswith("blurred")


@pytest.mark.parametrize("method", ["laplacian", "fft"])
def test_blur_measure_falls_with_blur(method):
    sharp = photo()
    scores = blur_scores(
        np.stack([blurred(sharp, s) if s else sharp for s in (0, 1, 2, 4)]), method
    )
    assert list(scores) == sorted(scores, reverse=True)


def test_high_frequency_share_of_flat_and_noise():
    rng = np.random.default_rng(0)
    flat = np.full((2, 64, 64, 3), 120, np.uint8)
    noise = rng.integers(0, 256, size=(1, 64, 64, 3), dtype=np.uint8)
    hf = high_frequency_share(np.concatenate([flat, noise]))
    assert hf[0] == 0 and hf[1] == 0
    assert hf[2] > 50  # white noise: most energy is at high frequencies
    assert high_frequency_share(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0,)


def test_large_frames_are_measured_at_the_same_scale():
    from sklearn.datasets import load_sample_image

    big = load_sample_image("china.jpg")  # 640 x 427
    gate = BlurGate(GateSettings(gate="blur"))
    small_score, big_score = gate(photo()[None]).score[0], gate(big[None]).score[0]
    assert big_score == pytest.approx(small_score, rel=0.2)
    assert gate(np.stack([big, blurred(big, 4.0)])).keep.tolist() == [True, False]


def test_threshold_default_and_override():
    assert GateSettings(gate="blur").threshold == 100.0
    assert GateSettings(gate="blur", blur_method="fft").threshold == 1.0
    s = GateSettings(gate="blur", blur_threshold=1e9)
    assert not BlurGate(s)(scene(1)[None]).keep[0]


def test_pass_gate_keeps_everything():
    res = make_gate(GateSettings())(np.zeros((3, 8, 8, 3), np.uint8))
    assert res.keep.all() and len(res.reasons) == 3


class FakeEmbedder:
    """Known geometry: texts map to fixed unit vectors, an image to its mean colour."""

    model_id = "fake"
    dim = 3
    TEXT = {
        "red": [1.0, 0.0, 0.0],
        "green": [0.0, 1.0, 0.0],
        "blue": [0.0, 0.0, 1.0],
        "orange": [1.0, 0.5, 0.0],
    }

    def __init__(self):
        self.text_calls = 0

    def embed_texts(self, prompts):
        self.text_calls += 1
        v = np.array([self.TEXT[p] for p in prompts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def embed_images(self, images):
        v = np.asarray(images, dtype=np.float32).mean(axis=(1, 2)) + 1e-3
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def solid(rgb) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (8, 8, 3)).copy()


def test_clip_gate_positive_and_negative_margins():
    frames = np.stack(
        [solid((250, 0, 0)), solid((0, 250, 0)), solid((250, 120, 0)), solid((0, 0, 250))]
    )
    emb = FakeEmbedder()
    s = GateSettings(
        gate="clip",
        positive=("red",),
        negative=("green",),
        positive_margin=0.8,
        negative_margin=0.3,
    )
    gate = ClipGate(s, emb)
    res = gate(frames)
    # red: pos 1.0 kept; green: negative; orange: pos 0.9, neg 0.43 -> negative; blue: no pos
    assert res.keep.tolist() == [True, False, False, False]
    assert "matches 'red'" in res.reasons[0]
    assert "looks like 'green'" in res.reasons[1]
    assert "looks like 'green'" in res.reasons[2]
    assert "no positive prompt" in res.reasons[3]
    assert emb.text_calls == 2  # prompts embedded once, not per batch
    gate(frames)
    assert emb.text_calls == 2


def test_clip_gate_best_of_several_positives_and_negatives_only():
    frames = np.stack([solid((250, 0, 0)), solid((0, 0, 250)), solid((0, 250, 0))])
    pos = ClipGate(
        GateSettings(gate="clip", positive=("red", "blue"), positive_margin=0.9), FakeEmbedder()
    )
    assert pos(frames).keep.tolist() == [True, True, False]
    neg = ClipGate(
        GateSettings(gate="clip", negative=("green",), negative_margin=0.5), FakeEmbedder()
    )
    assert neg(frames).keep.tolist() == [True, True, False]


def test_clip_gate_on_precomputed_embeddings_and_batches():
    s = GateSettings(gate="clip", positive=("blue",), positive_margin=0.5, batch_size=2)
    gate = ClipGate(s, FakeEmbedder())
    res = gate.decide_embeddings(np.array([[0, 0, 2.0], [1.0, 0, 0], [0.1, 0, 1.0]]))
    assert res.keep.tolist() == [True, False, True]
    frames = np.stack([solid((0, 0, 250))] * 5)
    assert gate(frames).keep.sum() == 5  # 3 batches of at most 2
    assert gate(np.zeros((0, 8, 8, 3), np.uint8)).keep.shape == (0,)


@pytest.mark.slow
def test_clip_gate_plumbing_with_a_tiny_random_open_clip_model(tmp_path):
    pytest.importorskip("open_clip")
    from support import TINY_MODEL, save_random_checkpoint

    from summarizer.config import EmbedSettings
    from summarizer.embed import get_embedder

    ckpt = save_random_checkpoint(TINY_MODEL, tmp_path / "tiny.pt")
    emb = get_embedder(
        EmbedSettings(model=TINY_MODEL, pretrained=str(ckpt), device="cpu", precision="fp32")
    )
    frames = np.stack([scene(s, 96, 64) for s in range(3)])
    loose = make_gate(
        GateSettings(gate="clip", positive=("a photo of a dog",), positive_margin=-1.0), emb
    )
    res = loose(frames)
    assert res.keep.tolist() == [True, True, True]
    assert np.all(np.abs(res.score) <= 1.0 + 1e-5)
    strict = make_gate(
        GateSettings(
            gate="clip",
            positive=("a photo of a dog",),
            negative=("a blurry photo",),
            positive_margin=1.0,
        ),
        emb,
    )
    assert not strict(frames).keep.any()


def test_clip_gate_without_prompts_is_a_clear_error():
    with pytest.raises(SettingsError, match="needs prompts"):
        GateSettings(gate="clip")
    with pytest.raises(SettingsError, match="needs prompts"):
        ClipGate(GateSettings(gate="pass"), FakeEmbedder())


def test_prompts_from_yaml_lists_become_tuples():
    s = from_dict(GateSettings, {"gate": "clip", "positive": ["a cat", " "], "negative": "a dog"})
    assert s.positive == ("a cat",) and s.negative == ("a dog",)
    hash(s)


@pytest.mark.parametrize(
    "bad",
    [
        {"gate": "magic"},
        {"blur_method": "sobel"},
        {"blur_threshold": -1},
        {"fft_cutoff": 0.7},
        {"measure_side": 8},
        {"positive_margin": 2},
        {"negative_margin": "x"},
        {"positive": [1, 2]},
        {"batch_size": 0},
    ],
)
def test_bad_gate_settings(bad):
    with pytest.raises(SettingsError):
        GateSettings(**bad)
