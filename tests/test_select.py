"""KMeans summary: synthetic embeddings and frames whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from summarizer.errors import InputError, SettingsError
from summarizer.summary.kmeans import (
    SummarySettings,
    pairwise_distances,
    parse_k,
    select_keyframes,
    silhouette,
    uninformative_reasons,
)


def blobs(k: int, per: int = 40, dim: int = 64, noise: float = 0.03, seed: int = 0):
    """`k` well separated clusters of `per` unit vectors each, in time order by cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(k), per)
    x = centres[labels] + rng.normal(scale=noise, size=(len(labels), dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def textured(seed: int, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(30, 220, size=(size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_auto_k_finds_the_clusters_and_picks_one_frame_each(k):
    x, labels = blobs(k)
    times = np.arange(len(x)) * 0.5
    s = select_keyframes(x, times, SummarySettings())
    assert s.mode == "auto"
    assert s.k == k
    assert len(s.picks) == k
    assert sorted(labels[s.indices]) == list(range(k))  # one pick per true cluster
    assert [p.time_s for p in s.picks] == sorted(p.time_s for p in s.picks)
    assert all(p.cluster_size == 40 for p in s.picks)
    assert all(0.9 < p.score <= 1.0 for p in s.picks)
    assert max(s.silhouette, key=s.silhouette.get) == k


def test_auto_k_on_a_subsample_of_many_frames_with_high_dimensions():
    x, labels = blobs(12, per=600, dim=512, noise=0.04, seed=3)  # 7200 > search_sample
    perm = np.random.default_rng(0).permutation(len(x))  # interleaved in time
    x, labels = x[perm], labels[perm]
    s = select_keyframes(x, np.arange(len(x), dtype=float))
    assert s.k == 12
    assert sorted(labels[s.indices]) == list(range(12))
    assert sum(p.cluster_size for p in s.picks) == len(x)


def test_pick_is_the_frame_nearest_the_centre():
    rng = np.random.default_rng(1)
    centre = np.zeros(16)
    centre[0] = 1.0
    x = centre + rng.normal(scale=0.05, size=(30, 16))
    x[17] = centre  # exactly at the centre of its cluster
    far = np.zeros(16)
    far[1] = 1.0
    x = np.vstack([x, far + rng.normal(scale=0.05, size=(30, 16))])
    s = select_keyframes(x, np.arange(60.0), SummarySettings(k=2))
    assert 17 in s.indices


def test_fixed_k_and_clamping():
    x, _ = blobs(4)
    s = select_keyframes(x, np.arange(len(x)) * 1.0, SummarySettings(k=4))
    assert s.mode == "fixed" and s.k == 4 and len(s.picks) == 4
    one = select_keyframes(x, np.arange(len(x)) * 1.0, SummarySettings(k=1))
    assert len(one.picks) == 1 and one.picks[0].cluster_size == len(x)
    few = select_keyframes(x[:3], np.arange(3.0), SummarySettings(k=10, max_similarity=1.0))
    assert few.k == 3 and any("more than" in n for n in few.notes)


def test_budget_per_minute():
    x, _ = blobs(6, per=50)
    times = np.linspace(0, 120, len(x))  # two minutes
    s = select_keyframes(x, times, SummarySettings(k="budget", per_minute=3, max_similarity=1.0))
    assert s.mode == "budget" and s.k == 6
    s = select_keyframes(
        x, times, SummarySettings(k="budget", per_minute=1, max_similarity=1.0), duration_s=240
    )
    assert s.k == 4


def test_near_duplicate_picks_are_merged_into_the_earlier_one():
    x, labels = blobs(3, per=20, dim=32)
    x[labels == 2] = x[labels == 0]  # cluster 2 repeats cluster 0 later in time
    times = np.arange(len(x)) * 1.0
    s = select_keyframes(x, times, SummarySettings(k=3, max_similarity=0.95))
    assert len(s.picks) == 2 and s.merged == 1
    assert labels[s.picks[0].index] == 0
    assert s.picks[0].cluster_size == 40
    assert s.picks[0].time_s < 20
    off = select_keyframes(x, times, SummarySettings(k=3, max_similarity=1.0))
    assert off.merged == 0


def test_identical_frames_give_one_pick():
    x = np.tile(np.eye(8, dtype=np.float32)[0], (10, 1))
    s = select_keyframes(x, np.arange(10.0))
    assert len(s.picks) == 1
    assert s.picks[0].cluster_size == 10


def test_single_frame_and_two_frames():
    assert len(select_keyframes(np.ones((1, 4)), [0.0]).picks) == 1
    two = select_keyframes(np.eye(4)[:2], [0.0, 1.0])
    assert [p.index for p in two.picks] == [0, 1]


def test_uninformative_frames_are_set_aside_before_clustering():
    x, labels = blobs(2, per=10, dim=16)
    images = np.stack([textured(i) for i in range(20)])
    images[3] = 128  # flat grey
    images[5] = 3  # black
    images[7] = 252  # white
    s = select_keyframes(x, np.arange(20.0), SummarySettings(k=2), images=images)
    assert s.n_used == 17
    assert s.set_aside == {"flat": 3}  # uniform frames are flat whatever their level
    assert not {3, 5, 7} & set(s.indices.tolist())


def test_uninformative_reasons_names_each_problem():
    ok = textured(0)
    yy, xx = np.mgrid[0:48, 0:48]
    checker = ((xx + yy) % 2).astype(np.uint8)[..., None].repeat(3, axis=2)
    dark = checker * 30  # textured but dark: mean 15
    bright = 228 + checker * 27  # mean 241.5
    grey = np.full_like(ok, 128)
    smooth = np.dstack([(xx * 5) % 256, (yy * 5) % 256, np.full_like(xx, 100)]).astype(np.uint8)
    r = uninformative_reasons(np.stack([ok, dark, bright, grey, smooth]), SummarySettings())
    assert list(r) == ["", "dark", "bright", "flat", "blurred"]


def test_every_frame_uninformative_uses_all_and_says_so():
    x, _ = blobs(2, per=5, dim=8)
    images = np.full((10, 16, 16, 3), 128, np.uint8)
    s = select_keyframes(x, np.arange(10.0), SummarySettings(k=2), images=images)
    assert s.n_used == 10 and len(s.picks) == 2 and s.notes


def test_same_input_same_picks():
    x, _ = blobs(5, per=30)
    a = select_keyframes(x, np.arange(len(x)) * 1.0)
    b = select_keyframes(x, np.arange(len(x)) * 1.0)
    assert a == b


def test_silhouette_matches_sklearn():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(0)
    z = rng.normal(size=(120, 5))
    labels = rng.integers(0, 4, 120)
    labels[0] = 9  # a singleton cluster
    ours = silhouette(pairwise_distances(z), labels)
    assert ours == pytest.approx(silhouette_score(z, labels), abs=1e-9)
    assert silhouette(pairwise_distances(z), np.zeros(120)) == -1.0


def test_summary_to_dict_is_json_ready():
    import json

    x, _ = blobs(3, per=10)
    d = select_keyframes(x, np.arange(30.0)).to_dict()
    text = json.dumps(d)
    assert '"picks"' in text and d["picks"][0].keys() >= {"time_s", "cluster_size", "score"}


@pytest.mark.parametrize("k", [0, -3, "zero", "1.5", True, 2.5])
def test_bad_k_is_a_clear_settings_error(k):
    with pytest.raises(SettingsError, match="k must"):
        SummarySettings(k=k)


def test_parse_k_accepts_text():
    assert parse_k("auto") == "auto"
    assert parse_k(" 7 ") == 7
    assert parse_k("Budget") == "budget"


@pytest.mark.parametrize(
    "bad",
    [
        {"per_minute": 0},
        {"k_max": 1},
        {"max_similarity": 1.5},
        {"dark": 200, "bright": 100},
        {"pca_dims": -1},
    ],
)
def test_other_bad_settings(bad):
    with pytest.raises(SettingsError):
        SummarySettings(**bad)


def test_bad_inputs():
    with pytest.raises(InputError, match="no frames"):
        select_keyframes(np.zeros((0, 8)), [])
    with pytest.raises(InputError, match="times"):
        select_keyframes(np.ones((3, 8)), [0.0, 1.0])
    with pytest.raises(InputError, match="NaN"):
        select_keyframes(np.full((3, 4), np.nan), [0.0, 1.0, 2.0])


def test_notes_use_singular_for_one():
    from summarizer.summary.kmeans import SummarySettings, select_keyframes

    s = select_keyframes(np.eye(4, dtype=np.float32)[:1], np.zeros(1), SummarySettings(k=3))
    assert any("the 1 frame to cluster" in n for n in s.notes), s.notes
