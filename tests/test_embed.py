"""summarizer.embed: weights resolution, CLIP on random weights, precision, pixels baseline."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from support import TINY_MODEL, save_random_checkpoint

from summarizer import embed, synth
from summarizer.config import EmbedSettings
from summarizer.errors import ModelError, SettingsError

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test may reach the network; the models folder is a private empty one."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ATLAS_MODELS_DIR", str(tmp_path / "models-empty"))
    monkeypatch.setattr(embed.weights, "REPO_MODELS_DIR", tmp_path / "repo-models-empty")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    return save_random_checkpoint(TINY_MODEL, tmp_path_factory.mktemp("tiny") / "tiny.safetensors")


@pytest.fixture(scope="module")
def vitb32_ckpt(tmp_path_factory) -> Path:
    """The real ViT-B-32 architecture with random weights (fp16 file, ~300 MB)."""
    torch.manual_seed(0)
    return save_random_checkpoint(
        "ViT-B-32", tmp_path_factory.mktemp("vitb32") / "vitb32-random.safetensors", half=True
    )


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """24 frames of 4 synthetic scenes at 224x398 (what decoding at short side 224 gives)."""
    shots = [
        synth.Shot(k, 1.0, seed=s)
        for k, s in zip(("static", "pan", "zoom", "motion"), range(4), strict=True)
    ]
    return np.stack(list(synth.render_shots(shots, fps=6, size=(398, 224))))


def tiny(ckpt: Path, **kw) -> EmbedSettings:
    return EmbedSettings(model=TINY_MODEL, pretrained=str(ckpt), **kw)


# --------------------------------------------------------------------------- CLIP


def test_local_checkpoint_embeddings(tiny_ckpt, frames):
    e = embed.get_embedder(tiny(tiny_ckpt))
    assert e.weights.source == "explicit" and e.weights.path == tiny_ckpt
    v = e.embed_images(frames)
    assert v.dtype == np.float32 and v.shape == (len(frames), e.dim) == (24, 64)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v, e.embed_images(frames))  # deterministic
    # batch size does not change the result
    small = embed.get_embedder(tiny(tiny_ckpt, batch_size=5, precision="fp32"))
    big = embed.get_embedder(tiny(tiny_ckpt, batch_size=64, precision="fp32"))
    np.testing.assert_allclose(small.embed_images(frames), big.embed_images(frames), atol=1e-5)
    assert e.embed_images(frames[:0]).shape == (0, 64)


def test_model_loads_once_per_settings(tiny_ckpt):
    a = embed.get_embedder(tiny(tiny_ckpt))
    assert embed.get_embedder(tiny(tiny_ckpt)) is a
    assert embed.get_embedder(tiny(tiny_ckpt, precision="fp32")) is not a


def test_text_embeddings(tiny_ckpt):
    e = embed.get_embedder(tiny(tiny_ckpt))
    t = e.embed_texts(["a photo of a dog", "a blurry frame", "text on screen"])
    assert t.shape == (3, e.dim) and t.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert e.embed_texts("one prompt").shape == (1, e.dim)
    assert not np.allclose(t[0], t[1])


def test_torch_preprocessing_matches_open_clip_transform(tiny_ckpt, frames):
    """Our batched torch resize/crop/normalise gives what open_clip's PIL transform gives."""
    from PIL import Image

    e = embed.get_embedder(tiny(tiny_ckpt, precision="fp32"))
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = PreprocessCfg(**e.model.visual.preprocess_cfg)
    pil = image_transform_v2(cfg, is_train=False)
    ours = e.preprocess(frames[:4])
    ref = torch.stack([pil(Image.fromarray(f)) for f in frames[:4]])
    assert ours.shape == ref.shape == (4, 3, 64, 64)
    assert (ours - ref).abs().mean() < 0.05  # bicubic kernels differ slightly
    with torch.inference_mode():
        a = torch.nn.functional.normalize(e.model.encode_image(ref), dim=-1)
    b = torch.from_numpy(e.embed_images(frames[:4]))
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99


def test_preprocess_normalises_with_model_mean_std(tiny_ckpt):
    e = embed.get_embedder(tiny(tiny_ckpt, precision="fp32"))
    mean = np.array(e.model.visual.preprocess_cfg["mean"])
    img = np.broadcast_to((mean * 255).astype(np.uint8), (2, 50, 90, 3))
    x = e.preprocess(np.ascontiguousarray(img))
    assert x.shape == (2, 3, 64, 64)
    assert x.abs().max() < 0.05


def test_real_vitb32_file_and_bf16_agrees_with_fp32(vitb32_ckpt, frames):
    """The real architecture loads from a checkpoint file; bf16 stays within cosine 0.99."""
    fp32 = embed.ClipEmbedder(EmbedSettings(pretrained=str(vitb32_ckpt), precision="fp32"))
    bf16 = embed.ClipEmbedder(EmbedSettings(pretrained=str(vitb32_ckpt), precision="bf16"))
    assert fp32.dim == 512 and fp32.image_size == (224, 224)
    assert bf16.model.visual.conv1.weight.dtype == torch.bfloat16
    a, b = fp32.embed_images(frames), bf16.embed_images(frames)
    assert a.shape == b.shape == (24, 512) and b.dtype == np.float32
    cos = (a * b).sum(1)
    assert cos.min() >= 0.99, f"bf16 vs fp32 cosine min {cos.min():.4f}"
    # and the geometry downstream stages use (who is near whom) is kept
    np.testing.assert_allclose(a @ a.T, b @ b.T, atol=0.02)
    auto = embed.pick_dtype("auto", torch.device("cpu"))
    assert auto == (torch.bfloat16 if embed.cpu_has_fast_bf16() else torch.float32)


def test_bf16_agrees_with_fp32_tiny(tiny_ckpt, frames):
    a = embed.get_embedder(tiny(tiny_ckpt, precision="fp32")).embed_images(frames)
    b = embed.get_embedder(tiny(tiny_ckpt, precision="bf16")).embed_images(frames)
    assert (a * b).sum(1).min() >= 0.99


# --------------------------------------------------------------------------- weights


def test_weights_from_models_folder(tiny_ckpt, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("ATLAS_MODELS_DIR", str(models))
    (models / f"{TINY_MODEL}_mytag.safetensors").symlink_to(tiny_ckpt)
    w = embed.resolve_weights(TINY_MODEL, "mytag")
    assert w.source == "models" and w.path == models / f"{TINY_MODEL}_mytag.safetensors"
    e = embed.ClipEmbedder(EmbedSettings(model=TINY_MODEL, pretrained="mytag"))
    assert e.embed_images(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 64)
    # the folder form: models/<model>_<tag>/open_clip_model.safetensors
    sub = models / f"{TINY_MODEL}_other"
    sub.mkdir()
    (sub / "open_clip_model.safetensors").symlink_to(tiny_ckpt)
    assert embed.resolve_weights(TINY_MODEL, "other").path == sub / "open_clip_model.safetensors"
    # the repo's models/ folder when the env var is not set
    monkeypatch.delenv("ATLAS_MODELS_DIR")
    monkeypatch.setattr(embed.weights, "REPO_MODELS_DIR", models)
    assert embed.resolve_weights(TINY_MODEL, "mytag").source == "models"


def test_weights_from_the_hugging_face_cache(vitb32_ckpt, tmp_path, monkeypatch):
    """A default tag found in the local HF cache loads without the network."""
    import huggingface_hub.constants as hfc

    repo = tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snap / "open_clip_model.safetensors").symlink_to(vitb32_ckpt)
    monkeypatch.setattr(hfc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    w = embed.resolve_weights("ViT-B-32", "laion2b_s34b_b79k")
    assert w.source == "cache" and w.path == snap / "open_clip_model.safetensors"


def test_missing_weights_offline_is_one_fast_clear_error():
    t = time.perf_counter()
    with pytest.raises(ModelError) as info:
        embed.get_embedder(EmbedSettings())  # ViT-B-32 / laion2b_s34b_b79k, nowhere local
    assert time.perf_counter() - t < 5
    msg = str(info.value)
    assert "ViT-B-32_laion2b_s34b_b79k.safetensors" in msg and "\n" not in msg
    assert "--embedder pixels" in msg


def test_missing_weights_no_network_does_not_hang(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(embed.weights, "_online", lambda host, timeout=3.0: False)
    with pytest.raises(ModelError, match="network is unreachable"):
        embed.resolve_weights("ViT-B-32", "laion2b_s34b_b79k")


def test_bad_weights_and_names(tiny_ckpt, tmp_path):
    with pytest.raises(ModelError, match="checkpoint file not found"):
        embed.resolve_weights("ViT-B-32", str(tmp_path / "nope.safetensors"))
    with pytest.raises(ModelError, match="unknown weights 'bogus'"):
        embed.resolve_weights("ViT-B-32", "bogus")
    with pytest.raises(ModelError, match="unknown open_clip model"):
        embed.resolve_weights("ViT-Nope-99", "x")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot load"):
        embed.ClipEmbedder(EmbedSettings(model=TINY_MODEL, pretrained=str(junk)))
    with pytest.raises(ModelError, match="cannot load"):  # right file, wrong architecture
        embed.ClipEmbedder(EmbedSettings(model="ViT-B-16", pretrained=str(tiny_ckpt)))


def test_device_choice():
    assert embed.pick_device("cpu").type == "cpu"
    auto = embed.pick_device("auto").type
    assert auto == ("cuda" if torch.cuda.is_available() else auto)
    with pytest.raises(SettingsError):
        embed.pick_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(SettingsError, match="no CUDA"):
            embed.pick_device("cuda")
    with pytest.raises(SettingsError, match="fp16"):
        embed.pick_dtype("fp16", torch.device("cpu"))


def test_checkpoint_formats(tmp_path):
    pt = save_random_checkpoint(TINY_MODEL, tmp_path / "w.pt")
    e = embed.ClipEmbedder(EmbedSettings(model=TINY_MODEL, pretrained=str(pt)))
    assert e.embed_images(np.zeros((2, 30, 40, 3), np.uint8)).shape == (2, 64)


# --------------------------------------------------------------------------- pixels


def test_pixels_properties(frames):
    e = embed.get_embedder(EmbedSettings(embedder="pixels"))
    assert isinstance(e, embed.PixelEmbedder) and e.model_id == "pixels-v1"
    v = e.embed_images(frames)
    assert v.shape == (24, e.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v, e.embed_images(frames))
    # any frame size, and the result does not depend on the batch it came in
    np.testing.assert_allclose(e.embed_images(frames[3:4]), v[3:4], atol=1e-6)
    assert e.embed_images(np.zeros((1, 17, 33, 3), np.uint8)).shape == (1, e.dim)
    flat = e.embed_images(np.full((2, 40, 40, 3), 128, np.uint8))
    assert np.isfinite(flat).all()
    with pytest.raises(ModelError, match="no text side"):
        e.embed_texts(["a dog"])


def test_pixels_brightness_change_is_small_scene_change_is_large(frames):
    e = embed.PixelEmbedder()
    base = frames[0]
    darker = np.clip(base.astype(np.float32) * 0.8, 0, 255).astype(np.uint8)
    v = e.embed_images(np.stack([base, darker, frames[6], frames[12], frames[18]]))
    d = 1 - v @ v.T
    assert d[0, 1] < 0.1  # flicker / exposure change
    assert min(d[0, 2], d[0, 3], d[0, 4]) > 3 * d[0, 1]  # other scenes


def test_pixels_separates_hard_cuts_from_motion(tmp_path):
    """Successor distances at hard cuts stand clear above pans, zooms, flicker and motion."""
    from summarizer import decode as video
    from summarizer.config import SampleSettings

    kinds = ["static", "pan", "zoom", "flicker", "motion", "pan", "flicker", "zoom"]
    shots = [synth.Shot(k, 2.0, seed=10 + i) for i, k in enumerate(kinds)]
    path = tmp_path / "cuts.mp4"
    cuts = synth.make_video(path, shots, fps=25, size=(320, 240))
    batches = list(video.iter_frames(path, SampleSettings(fps=5)))
    t = np.concatenate([b.times_s for b in batches])
    v = embed.PixelEmbedder().embed_images(np.concatenate([b.images for b in batches]))
    d = 1 - (v[1:] * v[:-1]).sum(1)
    at_cut = np.array([any(t[i] < c <= t[i + 1] for c in cuts) for i in range(len(d))])
    assert at_cut.sum() == len(cuts)
    assert d[at_cut].min() > 2 * d[~at_cut].max(), (d[at_cut].min(), d[~at_cut].max())


# --------------------------------------------------------------------------- runtime


def _python(code: str, **env: str) -> str:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_importing_changes_no_process_state_and_loads_nothing_heavy():
    code = (
        "import os, sys; before = dict(os.environ)\n"
        "import summarizer, summarizer.embed, summarizer.flow\n"
        "heavy = [m for m in ('torch', 'sklearn', 'keras', 'open_clip') if m in sys.modules]\n"
        "print(dict(os.environ) == before, heavy)"
    )
    assert _python(code) == "True []"


def test_runtime_apply_sets_threads_and_wait_policy_once():
    code = (
        "from summarizer.embed import runtime\n"
        "runtime.apply(runtime.RuntimeSettings(threads=1))\n"
        "import os, torch\n"
        "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads(), end=' ')\n"
        "runtime.apply(runtime.RuntimeSettings(threads=2))  # torch loaded: set directly\n"
        "print(torch.get_num_threads())"
    )
    assert _python(code) == "PASSIVE 1 2"
    # the environment wins over the default policy and thread count
    code = "from summarizer.embed import runtime; runtime.apply(); import torch, os\n"
    code += "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())"
    assert _python(code, OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1") == "ACTIVE 1"
    with pytest.raises(SettingsError):
        embed.runtime.RuntimeSettings(threads=0)


def test_training_threads_are_a_runtime_setting():
    """The map trains on `RuntimeSettings.train_threads` (default 1), as applied by the entry
    point; the process' own thread count is not that one."""
    code = (
        "from summarizer.embed import runtime\n"
        "print(runtime.train_threads(), end=' ')\n"
        "runtime.apply(runtime.RuntimeSettings(threads=2, train_threads=3))\n"
        "print(runtime.train_threads())"
    )
    assert _python(code) == "1 3"
    with pytest.raises(SettingsError, match="train_threads must be >= 1"):
        embed.runtime.RuntimeSettings(train_threads=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pinned_staging_uploads_every_chunk_intact():
    from summarizer.embed.clip import PinnedStaging

    staging, dev = PinnedStaging(), torch.device("cuda")
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 255, (n, 30, 40, 3), dtype=np.uint8) for n in (5, 9, 2, 9, 7)]
    on_gpu = [staging.upload(c, dev) for c in chunks]  # buffers reused while copies fly
    for c, g in zip(chunks, on_gpu, strict=True):
        np.testing.assert_array_equal(g.cpu().numpy(), c)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_fp16_agrees_with_cpu_fp32(tiny_ckpt, frames):
    cpu = embed.get_embedder(tiny(tiny_ckpt, device="cpu", precision="fp32"))
    gpu = embed.get_embedder(tiny(tiny_ckpt, device="cuda", precision="fp16"))
    assert gpu.batch_size >= embed.clip.GPU_BATCH
    a, b = cpu.embed_images(frames), gpu.embed_images(frames)
    assert (a * b).sum(1).min() >= 0.99
