"""Trajectories on the latent map: paths, distances, similar clips, outliers, the picture."""

from __future__ import annotations

import numpy as np
import pytest

from summarizer.atlas.trajectories import (
    VideoPath,
    chamfer_distance,
    distance_matrix,
    draw_map,
    dtw_batch,
    dtw_distance,
    most_dissimilar,
    resample,
    similar_clips,
    video_paths,
)
from summarizer.errors import InputError, SettingsError


def line(a, b, n=40):
    t = np.linspace(0, 1, n)[:, None]
    return np.asarray(a) * (1 - t) + np.asarray(b) * t


def make_map(parts):
    """parts: list of (N, 2) arrays, one per video -> coords, video_index, times (0.5 s/frame)."""
    coords = np.concatenate(parts)
    vi = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    t = np.concatenate([np.arange(len(p)) * 0.5 for p in parts])
    return coords, vi, t


def test_video_paths_sorted_by_time():
    coords = np.array([[0.0, 0], [1, 1], [2, 2], [3, 3]])
    paths = video_paths(coords, [1, 0, 1, 0], [5.0, 2.0, 1.0, 0.0])
    assert [p.video for p in paths] == [0, 1]
    assert paths[0].rows.tolist() == [3, 1]
    assert paths[1].times_s.tolist() == [1.0, 5.0]
    assert paths[1].length == pytest.approx(np.hypot(2, 2))
    with pytest.raises(InputError):
        video_paths(coords, [0, 0], None)


def test_chamfer_and_dtw():
    p = line([-1, 0], [1, 0])
    assert chamfer_distance(p, p) == 0
    shifted = p + [0, 0.3]
    assert chamfer_distance(p, shifted) == pytest.approx(0.3)
    assert chamfer_distance(p, shifted) == chamfer_distance(shifted, p)
    # a path run backwards covers the same places: chamfer 0, DTW large
    assert chamfer_distance(p, p[::-1]) == 0
    assert dtw_distance(p, p) == 0
    assert dtw_distance(p, p[::-1]) > 0.5
    # DTW forgives speed: the same line sampled unevenly stays close
    uneven = line([-1, 0], [1, 0], 200)[np.r_[0:100:1, 100:200:10]]
    assert dtw_distance(p, uneven) < 0.05
    assert chamfer_distance(np.zeros((0, 2)), p) == np.inf
    # batch = one by one
    cands = np.stack([resample(p), resample(shifted), resample(p[::-1])])
    batch = dtw_batch(resample(p), cands)
    assert batch[0] == 0 and batch[1] == pytest.approx(0.3) and batch[2] > 0.5


def test_similar_whole_videos():
    a = line([-0.8, -0.8], [-0.2, -0.2])
    b = line([-0.75, -0.8], [-0.25, -0.15], 60)  # close to a, other length
    c = line([0.5, 0.5], [0.9, 0.9])
    d = line([0.8, -0.8], [0.2, -0.2])
    coords, vi, t = make_map([a, b, c, d])
    for metric in ("chamfer", "dtw"):
        m = similar_clips(coords, vi, t, 0, metric=metric)
        assert [x.video for x in m][0] == 1
        assert 0 not in [x.video for x in m]
        assert m[0].distance < m[1].distance
    assert len(similar_clips(coords, vi, t, 0, top_k=2)) == 2


def test_similar_windows_find_the_matching_stretch():
    rng = np.random.default_rng(0)
    # query video: seconds 10-20 (frames 20..40) run along a distinctive line
    q = rng.uniform(-1, -0.5, size=(80, 2))
    q[20:41] = line([0.2, 0.6], [0.6, 0.6], 21)
    # other video: the same line at seconds 30-40, noise elsewhere
    o = rng.uniform(-1, -0.5, size=(120, 2))
    o[60:81] = line([0.2, 0.62], [0.6, 0.62], 21)
    coords, vi, t = make_map([q, o])
    for metric in ("chamfer", "dtw"):
        m = similar_clips(coords, vi, t, 0, 10.0, 20.0, metric=metric, step_s=1.0)
        best = m[0]
        assert best.video == 1
        assert abs(best.start_s - 30.0) <= 1.0 and abs(best.end_s - 40.0) <= 1.0
        # thinned: kept windows of one video never overlap by more than half
        same = sorted((x.start_s, x.end_s) for x in m if x.video == 1)
        for (s0, e0), (s1, e1) in zip(same, same[1:], strict=False):
            assert min(e0, e1) - max(s0, s1) <= 5.0 + 1e-9
    # its own video, outside the query range, with include_same_video
    own = similar_clips(coords, vi, t, 0, 10.0, 20.0, include_same_video=True, top_k=50)
    for x in own:
        if x.video == 0:
            assert x.end_s <= 10.0 or x.start_s >= 20.0


def test_similar_bad_queries():
    coords, vi, t = make_map([line([0, 0], [1, 1]), line([0, 1], [1, 0])])
    with pytest.raises(SettingsError):
        similar_clips(coords, vi, t, 0, metric="euclid")
    with pytest.raises(SettingsError):
        similar_clips(coords, vi, t, 0, 5.0, 2.0)
    with pytest.raises(InputError):
        similar_clips(coords, vi, t, 0, 100.0, 200.0)
    with pytest.raises(InputError):
        similar_clips(coords, vi, t, 7)
    with pytest.raises(SettingsError):
        similar_clips(coords, vi, t, 0, top_k=0)


def test_most_dissimilar_and_matrix():
    a = line([-0.8, -0.8], [-0.2, -0.2])
    b = a + 0.05
    c = a - 0.05
    far = line([0.7, 0.9], [0.9, 0.7])
    coords, vi, t = make_map([a, b, far, c])
    for metric in ("chamfer", "dtw"):
        out = most_dissimilar(coords, vi, t, metric=metric)
        assert out[0].video == 2
        assert out[0].mean_distance > out[1].mean_distance
        assert {o.video for o in out} == {0, 1, 2, 3}
    d = distance_matrix(video_paths(coords, vi, t))
    assert np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    with pytest.raises(InputError):
        most_dissimilar(a, np.zeros(len(a)))


def test_draw_map():
    coords, vi, t = make_map([line([-1, -1], [1, 1]), line([-1, 1], [1, -1])])
    img = draw_map(coords, vi, t, ["one", "two"], size=300)
    assert img.size[1] == 300 and img.size[0] > 300
    arr = np.asarray(img)
    assert (arr != 255).any()
    with pytest.raises(SettingsError):
        draw_map(coords, vi, t, size=10)


def test_window_of_path():
    p = VideoPath(0, np.arange(5), np.arange(5.0), np.zeros((5, 2)))
    w = p.window(1.0, 3.0)
    assert w.times_s.tolist() == [1.0, 2.0, 3.0]
