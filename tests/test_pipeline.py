"""The embedding pipeline: cache hits and misses, settings that do and do not recompute,
damaged entries, overlapped decode/embed, errors from either side, a random-weights CLIP."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from summarizer import decode as video_mod
from summarizer import flow as pipeline
from summarizer import synth
from summarizer.config import EmbedSettings, SampleSettings
from summarizer.data import FrameBatch
from summarizer.decode.thumbnails import Thumbnailer
from summarizer.errors import InputError
from summarizer.flow import embed_video, load_embedded, open_video
from summarizer.prefetch import Prefetch
from summarizer.store import Store

PIXELS = EmbedSettings(embedder="pixels")
SAMPLE = SampleSettings(fps=4.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 4 s, 25 fps, 320x240 video with one cut at 2 s."""
    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    synth.make_video(path, [synth.Shot("static", 2.0, seed=3), synth.Shot("pan", 2.0, seed=9)])
    return path


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


def leftovers(store: Store) -> list[str]:
    return [p.name for p in store.root.rglob("*") if p.name.startswith((".tmp-", ".trash-"))]


def entries(store: Store, sha: str) -> list[str]:
    d = store.root / sha
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


def test_open_video_registers(clip, store):
    ref = open_video(clip, store)
    assert ref.name == "clip.mp4" and ref.kind == "video" and len(ref.sha256) == 64
    assert ref.probe.frame_count == 100 and ref.probe.width == 320
    row = store.video(ref.sha256)
    assert row["name"] == "clip.mp4" and row["frames"] == 100


def test_embed_miss_then_hit(clip, store):
    ref = open_video(clip, store)
    calls = []
    ev = embed_video(ref, SAMPLE, PIXELS, store, progress=lambda _s, d, t: calls.append((d, t)))
    assert not ev.cache_hit
    n = len(ev.times_s)
    assert n in (16, 17)  # 4 s at 4 fps (a last target at 4.0 s takes the last frame)
    assert ev.embeddings.dtype == np.float32 and ev.embeddings.shape[0] == n
    np.testing.assert_allclose(np.linalg.norm(ev.embeddings, axis=1), 1.0, atol=1e-4)
    assert np.all(np.diff(ev.times_s) > 0) and np.all(np.diff(ev.indices) > 0)
    assert ev.thumbnails.dtype == np.uint8 and ev.thumbnails.shape == (n, 128, 170, 3)
    assert isinstance(ev.thumbnails, np.memmap) or not ev.thumbnails.flags.writeable
    assert calls and calls[-1] == (n, n) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert ev.model_id == "pixels-v1"
    assert abs(pipeline.expected_frames(ref.probe, SAMPLE) - n) <= 1  # progress bar total

    again = embed_video(ref, SAMPLE, PIXELS, store)
    assert again.cache_hit
    for name in ("times_s", "indices", "embeddings", "thumbnails"):
        np.testing.assert_array_equal(getattr(again, name), getattr(ev, name))
    runs = store.runs(ref.sha256, "embed")
    assert [r["cache_hit"] for r in runs] == [0, 1]
    assert entries(store, ref.sha256) == [
        pipeline.embed_key(store, ref.sha256, SAMPLE, PIXELS).dirname
    ]
    assert leftovers(store) == []
    meta = store.load(pipeline.embed_key(store, ref.sha256, SAMPLE, PIXELS)).meta
    assert meta["frames"] == n and meta["name"] == "clip.mp4" and meta["probe"]["fps"] == 25.0
    assert set(meta["timings"]) >= {"wall_s", "embed_s", "decode_wait_s"}


def test_renamed_copy_hits(clip, store, tmp_path):
    ref = open_video(clip, store)
    embed_video(ref, SAMPLE, PIXELS, store)
    copy = tmp_path / "holiday copy.mp4"
    shutil.copy(clip, copy)
    ref2 = open_video(copy, store)
    assert ref2.sha256 == ref.sha256
    ev = embed_video(ref2, SAMPLE, PIXELS, store)
    assert ev.cache_hit and ev.ref.name == "holiday copy.mp4"
    assert store.video(ref.sha256)["name"] == "holiday copy.mp4"


def test_settings_that_must_and_must_not_recompute(clip, store):
    ref = open_video(clip, store)
    base = embed_video(ref, SAMPLE, PIXELS, store)
    # Batch sizes change how, not what: same key.
    same = embed_video(
        ref, SampleSettings(fps=4.0, batch_frames=3), EmbedSettings("pixels", batch_size=2), store
    )
    assert same.cache_hit
    np.testing.assert_array_equal(same.embeddings, base.embeddings)
    # The sampling rate changes which frames: recompute.
    other = embed_video(ref, SampleSettings(fps=2.0), PIXELS, store)
    assert not other.cache_hit and len(other.times_s) in (8, 9)
    # So does the thumbnail size.
    small = embed_video(ref, SampleSettings(fps=4.0, thumb_short_side=64), PIXELS, store)
    assert not small.cache_hit and small.thumbnails.shape[1:] == (64, 85, 3)
    assert len(entries(store, ref.sha256)) == 3


def test_batch_frames_does_not_change_the_result(clip, store, tmp_path):
    ref = open_video(clip, store)
    a = embed_video(ref, SampleSettings(fps=4.0, batch_frames=64), PIXELS, store)
    other = Store(tmp_path / "other")
    b = embed_video(ref, SampleSettings(fps=4.0, batch_frames=3), PIXELS, other)
    assert not b.cache_hit
    np.testing.assert_array_equal(a.times_s, b.times_s)
    np.testing.assert_array_equal(a.thumbnails, b.thumbnails)
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-6)


@pytest.mark.parametrize("damage", ["truncate_npy", "delete_manifest"])
def test_damaged_entry_is_recomputed(clip, store, damage):
    ref = open_video(clip, store)
    first = embed_video(ref, SAMPLE, PIXELS, store)
    want = np.array(first.embeddings)
    entry = store.entry_path(pipeline.embed_key(store, ref.sha256, SAMPLE, PIXELS))
    if damage == "truncate_npy":
        f = entry / "embeddings.npy"
        f.write_bytes(f.read_bytes()[:100])
    else:
        (entry / "manifest.json").unlink()
    assert load_embedded(store, ref.sha256, SAMPLE, PIXELS) is None
    ev = embed_video(ref, SAMPLE, PIXELS, store)
    assert not ev.cache_hit
    np.testing.assert_allclose(ev.embeddings, want, atol=1e-6)
    assert embed_video(ref, SAMPLE, PIXELS, store).cache_hit
    assert leftovers(store) == []


def test_load_embedded(clip, store):
    ref = open_video(clip, store)
    assert load_embedded(store, ref.sha256, SAMPLE, PIXELS) is None
    ev = embed_video(ref, SAMPLE, PIXELS, store)
    t0 = time.perf_counter()
    got = load_embedded(store, ref.sha256, SAMPLE, PIXELS)
    assert time.perf_counter() - t0 < 0.2
    assert got is not None and got.cache_hit and got.ref.name == "clip.mp4"
    assert got.ref.probe == ref.probe
    np.testing.assert_array_equal(got.embeddings, ev.embeddings)
    assert load_embedded(store, ref.sha256, SampleSettings(fps=1.0), PIXELS) is None


def test_image_folder(tmp_path, store):
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(synth.render_shots([synth.Shot("pan", 0.4, seed=5)], fps=25)):
        Image.fromarray(frame).save(folder / f"img{i}.png")
    sample = SampleSettings(fps=None, every_n=2)
    ref = open_video(folder, store, sample)
    assert ref.kind == "images"
    ev = embed_video(ref, sample, PIXELS, store)
    assert len(ev.times_s) == 5 and not ev.cache_hit
    assert embed_video(open_video(folder, store, sample), sample, PIXELS, store).cache_hit


def test_no_frames_sampled_writes_nothing(clip, store):
    ref = open_video(clip, store)
    with pytest.raises(InputError, match="no frames"):
        embed_video(ref, SampleSettings(start_s=30.0), PIXELS, store)
    assert entries(store, ref.sha256) == [] and leftovers(store) == []


# ---------------------------------------------------------------------------- overlap


def _fake_batches(n: int, delay: float = 0.0, fail_at: int | None = None):
    def frames(path, settings, **kw):
        for i in range(n):
            if fail_at is not None and i == fail_at:
                raise InputError("clip.mp4: truncated at frame 42")
            time.sleep(delay)
            imgs = np.full((4, 32, 48, 3), i * 10, np.uint8)
            yield FrameBatch(np.arange(4) + 4.0 * i, np.arange(4) + 4 * i, imgs)

    return frames


class _SlowEmbedder:
    def __init__(self, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.delay, self.fail_at, self.calls = delay, fail_at, 0

    def embed_images(self, images):
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("embedder broke")
        self.calls += 1
        time.sleep(self.delay)
        v = np.ones((len(images), 8), np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def fakes(monkeypatch, clip, store):
    """Patch decode and embed with controllable fakes; returns a setter."""
    import summarizer.embed

    def setup(frames, embedder):
        monkeypatch.setattr(video_mod, "iter_frames", frames)
        monkeypatch.setattr(summarizer.embed, "get_embedder", lambda settings: embedder)
        return open_video(clip, store)

    return setup


def test_decode_and_embed_overlap(fakes, store):
    """Decoding and embedding run at the same time: every batch after the first is decoded
    while the batch before it is being embedded. Checked by events, not wall time (a busy
    machine stretches any timing): the decoder hands out batch i + 1 only once the embedder
    has started on batch i, and the embedder finishes batch i only once batch i + 1 is
    decoded, so each step needs the other side running concurrently; a serial pipeline
    (either order) would wait on itself and record a timeout."""
    n, patience = 10, 60.0  # seconds a side waits for the other before it records a failure
    started = [threading.Event() for _ in range(n)]  # the embedder began batch i
    decoded = [threading.Event() for _ in range(n)]  # the decoder produced batch i
    log: list[tuple[str, int]] = []

    def frames(path, settings, **kw):
        for i in range(n):
            if i and not started[i - 1].wait(patience):
                log.append(("decoder waited in vain", i))
            imgs = np.full((4, 32, 48, 3), i * 10, np.uint8)
            log.append(("decoded", i))
            decoded[i].set()
            yield FrameBatch(np.arange(4) + 4.0 * i, np.arange(4) + 4 * i, imgs)

    class Embedder:
        def embed_images(self, images):
            i = int(images[0, 0, 0, 0]) // 10
            log.append(("embed start", i))
            started[i].set()
            if i + 1 < n and not decoded[i + 1].wait(patience):
                log.append(("embedder waited in vain", i))
            log.append(("embed end", i))
            v = np.ones((len(images), 8), np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    ref = fakes(frames, Embedder())
    ev = embed_video(ref, SAMPLE, PIXELS, store)
    assert len(ev.times_s) == 4 * n
    assert not [e for e in log if "in vain" in e[0]], log
    at = {e: k for k, e in enumerate(log)}
    for i in range(n - 1):  # batch i + 1 decoded between the start and the end of embedding i
        assert at[("embed start", i)] < at[("decoded", i + 1)] < at[("embed end", i)], log


def test_decoder_error_reaches_the_caller(fakes, store):
    before = threading.active_count()
    ref = fakes(_fake_batches(6, fail_at=3), _SlowEmbedder())
    with pytest.raises(InputError, match="truncated at frame 42"):
        embed_video(ref, SAMPLE, PIXELS, store)
    assert entries(store, ref.sha256) == [] and leftovers(store) == []
    assert threading.active_count() == before  # the producer thread is gone


def test_embedder_error_stops_the_decoder(fakes, store):
    before = threading.active_count()
    ref = fakes(_fake_batches(50, 0.001), _SlowEmbedder(fail_at=2))
    with pytest.raises(RuntimeError, match="embedder broke"):
        embed_video(ref, SAMPLE, PIXELS, store)
    assert entries(store, ref.sha256) == [] and leftovers(store) == []
    assert threading.active_count() == before


def test_prefetch_is_bounded():
    produced = []

    def gen():
        for i in range(100):
            produced.append(i)
            yield i

    with Prefetch(gen, maxsize=3) as it:
        first = next(iter(it))
        time.sleep(0.2)
        assert first == 0 and len(produced) <= 5  # queue of 3 + one in hand + one being put
    assert len(produced) < 100


def test_thumbnailer_keeps_one_size():
    th = Thumbnailer(64)
    a = th(np.zeros((2, 224, 300, 3), np.uint8))
    b = th(np.zeros((3, 230, 310, 3), np.uint8))  # a stray size is brought to the first one
    assert a.shape == (2, 64, 86, 3) and b.shape == (3, 64, 86, 3)
    tall = Thumbnailer(64)(np.full((1, 300, 200, 3), 200, np.uint8))
    assert tall.shape == (1, 96, 64, 3) and int(tall.min()) == 200  # antialiased, no ringing
    small = Thumbnailer(128)(np.zeros((1, 60, 80, 3), np.uint8))
    assert small.shape == (1, 60, 80, 3)  # never upscaled


# ---------------------------------------------------------------------------- CLIP


def test_random_weights_clip_checkpoint(clip, store, tmp_path):
    """The real open_clip code path with random weights loaded from a local checkpoint."""
    from support import TINY_MODEL, save_random_checkpoint

    ckpt = save_random_checkpoint(TINY_MODEL, tmp_path / "random-tiny.pt")
    settings = EmbedSettings(embedder="clip", model=TINY_MODEL, pretrained=str(ckpt))
    sample = SampleSettings(fps=2.0, batch_frames=3)  # several batches through the queue
    ref = open_video(clip, store)
    ev = embed_video(ref, sample, settings, store)
    assert ev.embeddings.shape == (len(ev.times_s), 64) and not ev.cache_hit
    assert ev.model_id == settings.model_id and "random-tiny.pt" in ev.model_id
    assert np.isfinite(ev.embeddings).all()
    np.testing.assert_allclose(np.linalg.norm(ev.embeddings, axis=1), 1.0, atol=1e-3)
    assert embed_video(ref, sample, settings, store).cache_hit
    assert not embed_video(ref, sample, PIXELS, store).cache_hit  # another model: another key
    assert len(entries(store, ref.sha256)) == 2
