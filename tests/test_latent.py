"""Latent map: sizes, PCA, triplets, stretch, the autoencoder (torch and TensorFlow), the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from summarizer.atlas.autoencoder import auto_batch, layer_sizes
from summarizer.atlas.mapper import LatentMapper, fit_latent
from summarizer.atlas.pca import fit_pca
from summarizer.atlas.settings import LatentSettings
from summarizer.atlas.stretch import fit_stretch
from summarizer.atlas.triplets import log_ratio, make_chunks, triplet_indices
from summarizer.data import EmbeddedVideo, Probe, VideoRef
from summarizer.errors import InputError, SettingsError
from summarizer.flow import map_collection

ROOT = Path(__file__).resolve().parents[1]
# short training for tests: the loss monitor, stopping allowed at once
FAST = dict(epochs=8, patience=3, batch_size=64, min_frames=32, monitor="loss", min_seen=0)


def clustered_videos(
    n_clusters: int = 3, per_cluster: int = 2, frames: int = 50, dim: int = 64, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Videos whose frames walk smoothly around one of `n_clusters` well-separated centres."""
    rng = np.random.default_rng(seed)
    vids, labels = [], []
    for c in range(n_clusters):
        centre = rng.normal(size=dim) * 3.0
        for _ in range(per_cluster):
            walk = np.cumsum(rng.normal(size=(frames, dim)) * 0.08, axis=0)
            f = centre + walk
            vids.append((f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32))
            labels.append(np.full(frames, c))
    return vids, np.concatenate(labels)


def knn_purity(coords: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    return float(np.mean(labels[nn] == labels[:, None]))


# --------------------------------------------------------------------------- pure parts


def test_layer_sizes_are_weighted_geometric_means():
    assert layer_sizes(256, 2, 3) == [50, 10]
    assert layer_sizes(2, 256, 4) == [6, 22, 76]
    assert layer_sizes(16, 2, 3) == [8, 4]
    assert all(s >= 2 for s in layer_sizes(3, 2, 3))


@pytest.mark.parametrize(
    "bad",
    [
        dict(pca_dims=1),
        dict(code_std=0),
        dict(code_std=float("nan")),
        dict(triplet_weight=-1),
        dict(epochs=0),
        dict(learning_rate=2.0),
        dict(validation_fraction=0.6),
        dict(stretch=1.5),
        dict(shape="circle"),
        dict(seed=-1),
        dict(min_frames=2),
    ],
)
def test_settings_reject_nonsense(bad):
    with pytest.raises(SettingsError):
        LatentSettings(**bad)


def test_pca_matches_sklearn_and_caps_components():
    from sklearn.decomposition import PCA as SkPCA

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))
    p = fit_pca(x, 5)
    sk = SkPCA(5).fit(x)
    np.testing.assert_allclose(p.explained_variance, sk.explained_variance_, rtol=1e-6)
    dots = np.abs(np.sum(p.components * sk.components_, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-6)
    z = p.transform(x)
    assert z.shape == (300, 5)
    assert abs(np.mean(z.var(axis=0, ddof=1)) - 1.0) < 1e-4  # one scalar: mean variance 1
    assert len(fit_pca(x[:4], 256).components) == 3  # n - 1
    assert len(fit_pca(rng.normal(size=(50, 8)), 256).components) == 8  # D
    wide = rng.normal(size=(10, 40))  # N < D: SVD path
    assert fit_pca(wide, 256).components.shape == (9, 40)


def test_triplets_stay_inside_videos():
    prev, nxt, valid = triplet_indices(np.array([0, 0, 0, 1, 1, 2]))
    assert valid.tolist() == [False, True, False, False, False, False]
    assert prev.tolist() == [0, 0, 1, 3, 3, 5]
    assert nxt.tolist() == [1, 2, 2, 4, 4, 5]


@pytest.mark.parametrize("lengths", [[1], [2], [3], [8], [9], [50, 1, 7, 13], [6, 6, 2, 30]])
def test_chunks_cover_every_frame_and_triplet_once(lengths):
    vidx = np.repeat(np.arange(len(lengths)), lengths)
    idx, rec, tri = make_chunks(vidx)
    assert idx.shape[1] == 8 and rec.shape == idx.shape and tri.shape == (len(idx), 6)
    # every frame reconstructed exactly once
    counts = np.bincount(idx[rec > 0], minlength=len(vidx))
    assert counts.tolist() == [1] * len(vidx)
    # each chunk stays inside one video
    assert all(len(set(vidx[row].tolist())) == 1 for row in idx)
    # every frame with both neighbours in its video is the centre of exactly one triplet
    _, _, valid = triplet_indices(vidx)
    centres = idx[:, 1:-1][tri > 0]
    assert sorted(centres.tolist()) == np.flatnonzero(valid).tolist()
    for row, m in zip(idx, tri, strict=True):  # and its neighbours are the frames beside it
        for j in np.flatnonzero(m):
            assert row[j] + 1 == row[j + 1] == row[j + 2] - 1


def test_auto_batch():
    assert auto_batch(300) == 64
    assert auto_batch(20_000) == 512
    assert auto_batch(100_000) == 2048
    assert auto_batch(10**7) == 2048


def test_log_ratio():
    a, b, c = np.zeros((1, 2)), np.array([[1.0, 0]]), np.array([[3.0, 0]])
    np.testing.assert_allclose(log_ratio(a, b, c, 0.0), np.log(1 / 4))
    assert log_ratio(b, b, b, 0.01)[0] == 0.0  # static shot: ratio 1, not 0/0


def test_stretch_is_monotone_in_radius_and_fills_the_square():
    rng = np.random.default_rng(2)
    code = rng.normal(size=(4000, 2)) * [0.3, 0.1] + [0.2, -0.1]
    st = fit_stretch(code, shape="square")
    out = st.apply(code)
    assert out.min() >= -1 and out.max() <= 1
    r_in = np.linalg.norm((code - st.center) @ st.rotation.T, axis=1)
    r_out = np.linalg.norm(out, axis=1)
    order = np.argsort(r_in)
    assert np.all(np.diff(r_out[order] / _edge(out[order])) >= -1e-9)
    # fills evenly: each quadrant ~1/4, the central square of half the side ~1/4 of points
    for sx in (-1, 1):
        for sy in (-1, 1):
            frac = np.mean((np.sign(out[:, 0]) == sx) & (np.sign(out[:, 1]) == sy))
            assert 0.15 < frac < 0.35
    assert 0.2 < np.mean(np.max(np.abs(out), axis=1) < 0.5) < 0.3
    # the principal axis is turned onto x
    assert out[:, 0].std() >= out[:, 1].std() * 0.9
    # strength 0: no percentile stretch, a pure rescale of the radius
    lin = fit_stretch(code, strength=0.0, shape="disc", rotate=False).apply(code)
    ratio = np.linalg.norm(lin, axis=1) / np.maximum(
        np.linalg.norm(code - code.mean(0), axis=1), 1e-12
    )
    assert np.allclose(ratio, ratio[0], rtol=1e-5)


def _edge(pts: np.ndarray) -> np.ndarray:
    """Radius of the square's edge along each point's ray (1 on the axes, sqrt 2 diagonally)."""
    r = np.linalg.norm(pts, axis=1)
    u = pts / np.maximum(r, 1e-12)[:, None]
    return 1 / np.maximum(np.max(np.abs(u), axis=1), 1e-12)


# --------------------------------------------------------------------------- autoencoder


@pytest.fixture(scope="module")
def fitted():
    vids, labels = clustered_videos()
    calls = []
    res = fit_latent(vids, LatentSettings(**FAST), progress=lambda *a: calls.append(a))
    return vids, labels, res, calls


def test_autoencoder_map(fitted):
    vids, labels, res, calls = fitted
    n = sum(len(v) for v in vids)
    assert res.method == "autoencoder" and res.note == ""
    assert res.coords.shape == (n, 2) and res.coords.dtype == np.float32
    assert res.coords.min() >= -1 and res.coords.max() <= 1
    assert res.offsets.tolist() == [0, 50, 100, 150, 200, 250, 300]
    assert knn_purity(res.coords, labels) > 0.9  # the clusters stay apart in 2-D
    # progress: (epoch, total, loss) once per epoch
    assert [c[0] for c in calls] == list(range(1, len(calls) + 1))
    assert all(c[1] == FAST["epochs"] for c in calls)
    assert all(np.isfinite(c[2]) for c in calls)
    assert res.epochs_run == len(calls) == len(res.history)
    info = res.model.info
    assert info["encoder_sizes"] == [64, *layer_sizes(64, 2, 3), 2]
    assert info["decoder_sizes"] == [2, *layer_sizes(2, 64, 4), 64]
    # the activity regulariser: the code is centred with a std near the target
    assert abs(res.metrics["code_mean_x"]) < 0.15 and abs(res.metrics["code_mean_y"]) < 0.15


def test_same_seed_same_map_other_seed_other_map(fitted):
    vids, _, res, _ = fitted
    again = fit_latent(vids, LatentSettings(**FAST))
    np.testing.assert_array_equal(again.coords, res.coords)
    other = fit_latent(vids, LatentSettings(**FAST, seed=1))
    assert not np.allclose(other.coords, res.coords)


def test_model_roundtrip_maps_new_frames(fitted, tmp_path):
    vids, _, res, _ = fitted
    x = np.concatenate(vids)
    np.testing.assert_allclose(res.model.transform(x), res.coords, atol=1e-5)
    res.model.save(tmp_path)
    assert (tmp_path / "autoencoder.keras").is_file()
    back = LatentMapper.load(tmp_path)
    np.testing.assert_allclose(back.transform(x), res.coords, atol=1e-5)


def test_too_few_frames_falls_back_to_pca():
    vids, _ = clustered_videos(n_clusters=2, per_cluster=1, frames=10)
    res = fit_latent(vids, LatentSettings(min_frames=64))
    assert res.method == "pca"
    assert "PCA" in res.note and "20 frames" in res.note
    assert res.coords.shape == (20, 2) and np.abs(res.coords).max() <= 1
    one = fit_latent([vids[0][:1]])
    assert one.method == "pca" and one.coords.shape == (1, 2)


def test_bad_features():
    x = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    x[7, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fit_latent([x])
    with pytest.raises(InputError, match="different sizes"):
        fit_latent([np.zeros((5, 8)), np.zeros((5, 9))])
    with pytest.raises(InputError):
        fit_latent([])
    with pytest.raises(InputError):
        fit_latent([np.zeros((0, 8))])


TF_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    from test_latent import FAST, clustered_videos, knn_purity
    from summarizer.atlas.backend import backend_name
    from summarizer.atlas.mapper import LatentSettings, fit_latent
    vids, labels = clustered_videos()
    a = fit_latent(vids, LatentSettings(**FAST))
    b = fit_latent(vids, LatentSettings(**FAST))
    print(json.dumps({{
        "backend": backend_name(),
        "method": a.method,
        "same": bool(np.array_equal(a.coords, b.coords)),
        "purity": knn_purity(a.coords, labels),
        "in_range": bool(np.abs(a.coords).max() <= 1),
    }}))
    """
)


@pytest.mark.slow
def test_tensorflow_backend(tmp_path):
    pytest.importorskip("tensorflow")
    script = tmp_path / "tf_run.py"
    script.write_text(TF_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests")))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "tensorflow"
    assert out["method"] == "autoencoder"
    assert out["same"] and out["in_range"]
    assert out["purity"] > 0.9


# --------------------------------------------------------------------------- store


def embedded(vids: list[np.ndarray], names: list[str] | None = None) -> list[EmbeddedVideo]:
    out = []
    for i, e in enumerate(vids):
        n = len(e)
        ref = VideoRef(
            path=Path(f"/nonexistent/v{i}.mp4"),
            sha256=f"{i:02d}" + "ab" * 31,
            name=(names or [f"v{i}.mp4" for _ in vids])[i],
            probe=Probe(fps=2.0, frame_count=n, duration_s=n / 2, width=64, height=36),
        )
        out.append(
            EmbeddedVideo(
                ref=ref,
                times_s=np.arange(n) / 2.0,
                indices=np.arange(n),
                embeddings=e,
                thumbnails=np.zeros((n, 9, 16, 3), np.uint8),
                model_id="test-model",
            )
        )
    return out


def test_map_collection_is_cached_by_set_settings_and_seed(tmp_path):
    from summarizer.store import Store

    store = Store(tmp_path / "store")
    vids, labels = clustered_videos(frames=30)
    evs = embedded(vids)
    s = LatentSettings(**FAST)
    first = map_collection(evs, s, store)
    assert not first.cache_hit and first.method == "autoencoder"
    assert first.model_file is not None and first.model_file.is_file()
    again = map_collection(evs, s, store)
    assert again.cache_hit
    np.testing.assert_array_equal(again.coords, first.coords)
    # another order (and a duplicate) of the same videos: same entry, rows in the new order
    rev = map_collection(evs[::-1] + [evs[0]], s, store)
    assert rev.cache_hit and rev.hashes == tuple(v.ref.sha256 for v in evs[::-1])
    np.testing.assert_array_equal(rev.coords[:30], first.coords[-30:])
    # another seed: computed again
    other = map_collection(evs, LatentSettings(**{**FAST, "seed": 5}), store)
    assert not other.cache_hit
    # a subset is another collection
    assert not map_collection(evs[:4], s, store).cache_hit
    # the stored model maps the frames where the map put them
    model = again.model()
    np.testing.assert_allclose(model.transform(np.concatenate(vids)), first.coords, atol=1e-5)
    files = [p.name for p in first.export(tmp_path / "export")]
    assert set(files) == {"latent.npz", "latent.json", "autoencoder.keras"}
    assert LatentMapper.load(tmp_path / "export").method == "autoencoder"


def test_map_collection_damaged_entry_is_recomputed(tmp_path):
    from summarizer.store import Store

    store = Store(tmp_path / "store")
    evs = embedded(clustered_videos(frames=30)[0])
    s = LatentSettings(**FAST)
    first = map_collection(evs, s, store)
    with open(first.model_file, "r+b") as fh:  # truncate the model file
        fh.truncate(100)
    again = map_collection(evs, s, store)
    assert not again.cache_hit
    np.testing.assert_array_equal(again.coords, first.coords)
    assert again.model().method == "autoencoder"


def test_map_collection_refuses_mixed_models(tmp_path):
    from dataclasses import replace

    from summarizer.store import Store

    evs = embedded(clustered_videos(frames=20)[0][:2])
    evs[1] = replace(evs[1], model_id="other")
    with pytest.raises(InputError, match="different models"):
        map_collection(evs, LatentSettings(**FAST), Store(tmp_path))


# --------------------------------------------------------------------------- streaming, ties


def test_pca_streamed_over_chunks_equals_pca_of_all():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) + 5).astype(np.float32)
    whole = fit_pca(x, 6)
    parts = fit_pca([x[:123], x[123:124], x[124:]], 6, chunk=50)
    np.testing.assert_allclose(parts.explained_variance, whole.explained_variance, rtol=1e-4)
    np.testing.assert_allclose(parts.components, whole.components, atol=1e-4)
    np.testing.assert_allclose(parts.transform(x), whole.transform(x), atol=1e-3)


def test_stretch_is_continuous_where_frames_are_alike():
    """A static shot gives identical codes: float noise must not throw them across the jump
    that the tie makes in the radius' distribution (the cause of 0.03 map-unit differences
    between the stored coordinates and a re-embedded video's)."""
    rng = np.random.default_rng(4)
    code = np.concatenate([rng.normal(size=(300, 2)) * 0.3, np.repeat([[0.2, 0.1]], 40, 0)])
    st = fit_stretch(code)
    assert np.all(np.diff(st.radius_knots) > 0)
    base = st.apply(code)
    # away from the very centre (where sqrt(F) is steep by design)
    away = np.linalg.norm(code - st.center, axis=1) > st.radius_knots[10]
    for eps in (1e-7, -1e-7, 1e-6):
        np.testing.assert_allclose(st.apply(code + eps)[away], base[away], atol=1e-4)


def test_mapper_streams_memory_maps_to_the_same_map(tmp_path):
    vids, _ = clustered_videos(frames=40)
    mmaps = []
    for i, v in enumerate(vids):
        np.save(tmp_path / f"v{i}.npy", v)
        mmaps.append(np.load(tmp_path / f"v{i}.npy", mmap_mode="r"))
    a = fit_latent(vids, LatentSettings(**FAST))
    b = fit_latent(mmaps, LatentSettings(**FAST))
    np.testing.assert_array_equal(a.coords, b.coords)


def test_trustworthiness_monitor_keeps_the_best_map():
    vids, labels = clustered_videos()
    s = LatentSettings(**{**FAST, "monitor": "trustworthiness", "min_seen": 1000})
    res = fit_latent(vids, s)
    assert res.method == "autoencoder"
    assert 0.5 < res.metrics["monitor_trustworthiness"] <= 1.0
    assert 1 <= res.model.info["best_epoch"] <= res.epochs_run
    assert res.model.info["frames_seen"] >= 1000 or res.epochs_run == FAST["epochs"]
    with pytest.raises(SettingsError, match="monitor"):
        LatentSettings(monitor="val_accuracy")


def test_importing_the_atlas_changes_nothing():
    code = textwrap.dedent(
        """
        import os, sys, json
        before = dict(os.environ)
        import summarizer.atlas.mapper, summarizer.atlas.autoencoder, summarizer.atlas.backend
        import summarizer.flow
        print(json.dumps({
            "env_same": dict(os.environ) == before,
            "heavy": [m for m in ("keras", "torch", "tensorflow", "sklearn") if m in sys.modules],
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"env_same": True, "heavy": []}


def test_training_on_torch_does_not_import_tensorflow():
    code = textwrap.dedent(
        f"""
        import sys, json
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_latent import FAST, clustered_videos
        from summarizer.atlas.mapper import LatentSettings, fit_latent
        from summarizer.atlas.backend import backend_name
        res = fit_latent(clustered_videos(frames=20)[0], LatentSettings(**FAST))
        print(json.dumps({{"backend": backend_name(), "method": res.method,
                           "tf": "tensorflow" in sys.modules}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"backend": "torch", "method": "autoencoder", "tf": False}
