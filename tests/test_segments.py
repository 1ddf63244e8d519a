"""Segments from seams (min/max duration) and keyframes per segment."""

from __future__ import annotations

import numpy as np
import pytest

from summarizer.data import EmbeddedVideo, Probe, VideoRef
from summarizer.scenes.seams import SeamSettings, detect_seams
from summarizer.scenes.segments import (
    Segmentation,
    cut_frames,
    keyframe_count,
    merge_short,
    pick_keyframes,
    segment_frames,
    segment_video,
    split_long,
)


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def shots(cuts, duration, fps=2.0, dim=32, noise=0.02, seed=0, centres=None):
    rng = np.random.default_rng(seed)
    t = np.arange(0, duration, 1 / fps)
    bounds = [0.0, *cuts, duration]
    e = np.zeros((len(t), dim))
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        c = centres[i] if centres is not None else unit(rng.normal(size=dim))
        e[(t >= a) & (t < b)] = c
    e += rng.normal(size=e.shape) * noise / np.sqrt(dim)
    return unit(e).astype(np.float32), t


def check_partition(seg: Segmentation, n_frames: int):
    segs = seg.segments
    assert segs[0].first == 0 and segs[-1].stop == n_frames
    for a, b in zip(segs[:-1], segs[1:], strict=True):
        assert a.stop == b.first and a.end_s == b.start_s
    for s in segs:
        assert s.first < s.stop
        assert all(s.first <= k < s.stop for k in s.keyframes)
        assert list(s.keyframes) == sorted(set(s.keyframes))
        ft = seg.frame_times_s[s.first : s.stop]
        assert ft.min() >= s.start_s - 1e-9 and ft.max() < s.end_s + 1e-9


def test_clean_shots_become_segments():
    cuts = [6.0, 13.0, 22.0]
    e, t = shots(cuts, 30.0)
    seg = segment_frames(e, t, SeamSettings())
    check_partition(seg, len(t))
    assert len(seg.segments) == 4
    np.testing.assert_allclose(seg.boundaries_s, cuts, atol=0.5)
    for s in seg.segments:
        assert 2 <= len(s.keyframes) <= 4


def test_short_segment_merges_into_the_closer_neighbour():
    rng = np.random.default_rng(1)
    a, c = unit(rng.normal(size=(2, 32)))
    b = unit(a + 0.6 * unit(rng.normal(size=32)))  # the short shot looks like the first one
    e, t = shots([10.0, 11.0], 25.0, centres=[a, b, c])
    s = SeamSettings(threshold="fixed", fixed=0.3, min_segment_s=2.0, max_segment_s=None)
    seg = segment_frames(e, t, s)
    assert len(seg.seams_s) == 2  # both cuts are reported before merging
    assert len(seg.segments) == 2
    assert seg.segments[1].start_s == pytest.approx(11.0, abs=0.5)  # b joined a, on the left
    b2 = unit(c + 0.6 * unit(rng.normal(size=32)))  # now it looks like the last one
    e, t = shots([10.0, 11.0], 25.0, centres=[a, b2, c])
    seg = segment_frames(e, t, s)
    assert len(seg.segments) == 2
    assert seg.segments[1].start_s == pytest.approx(10.0, abs=0.5)


def test_merge_short_leaves_no_short_segment():
    rng = np.random.default_rng(2)
    n = 200
    t = np.arange(n) / 2.0
    emb = unit(rng.normal(size=(n, 8)))
    cuts = np.sort(rng.choice(np.arange(1, n), 60, replace=False))
    bounds = (t[cuts - 1] + t[cuts]) / 2
    kept, kb = merge_short(cuts, bounds, emb, 0.0, 100.0, 3.0)
    edges = np.r_[0.0, kb, 100.0]
    assert (np.diff(edges) >= 3.0).all()
    assert set(kept.tolist()) <= set(cuts.tolist())


def test_long_segment_splits_at_its_largest_internal_distance():
    t = np.arange(0, 40, 0.5)
    d = np.full(len(t) - 1, 0.1)
    d[45] = 0.9  # between frames 45 and 46: 22.75 s
    d[10] = 2.0  # too close to the start (5.25 s < min from the segment start? no: allowed)
    cuts = split_long(0, len(t), 0.0, 40.0, t, d, max_s=25.0, min_s=6.0)
    assert [c for c, _ in cuts] == [46]  # 10 would leave a 5.25 s first part
    assert cuts[0][1] == pytest.approx(22.75)
    # Needs at least 3 parts of <= 15 s: no more than that.
    cuts = split_long(0, len(t), 0.0, 40.0, t, d, max_s=15.0, min_s=2.0)
    edges = np.r_[0.0, [b for _, b in cuts], 40.0]
    assert len(cuts) == 2 and (np.diff(edges) <= 15.0).all()


def test_static_video_is_split_into_max_duration_parts():
    e, t = shots([], 100.0)
    seg = segment_frames(e, t, SeamSettings(max_segment_s=15.0))
    check_partition(seg, len(t))
    assert len(seg.seams_s) == 0
    assert len(seg.segments) == 7  # ceil(100 / 15)
    assert max(s.duration_s for s in seg.segments) <= 15.0
    unlimited = segment_frames(e, t, SeamSettings(max_segment_s=None))
    assert len(unlimited.segments) == 1


def test_keyframe_count_grows_with_duration_and_variety():
    s = SeamSettings(keyframes_min=2, keyframes_max=4, max_segment_s=15.0)
    assert keyframe_count(2.0, 0.0, 1.0, s) == 2
    assert keyframe_count(15.0, 1.0, 1.0, s) == 4
    assert keyframe_count(8.0, 0.5, 1.0, s) == 3
    assert keyframe_count(15.0, 0.0, 1.0, s) == 2  # long but static
    assert keyframe_count(1.0, 0.5, 1.0, s) == 2  # varied but short


def test_static_shots_get_the_fewest_keyframes():
    e, t = shots([10.0, 20.0], 30.0, noise=0.001)
    seg = segment_frames(e, t, SeamSettings())
    assert [len(s.keyframes) for s in seg.segments] == [2, 2, 2]


def test_keyframes_cover_the_distinct_parts_of_a_segment():
    rng = np.random.default_rng(3)
    centres = unit(rng.normal(size=(3, 16)))
    rows = unit(np.repeat(centres, [10, 6, 14], axis=0) + rng.normal(size=(30, 16)) * 0.01)
    k = pick_keyframes(rows, 3)
    groups = {int(np.searchsorted([10, 16], i, side="right")) for i in k}
    assert groups == {0, 1, 2}


def test_keyframes_avoid_flat_frames():
    rng = np.random.default_rng(4)
    e, t = shots([], 10.0, seed=4)
    thumbs = rng.integers(0, 255, size=(len(t), 16, 16, 3), dtype=np.uint8)
    flat = np.arange(len(t)) % 2 == 0  # every other frame is a uniform grey
    thumbs[flat] = 128
    seg = segment_frames(e, t, SeamSettings(), thumbnails=thumbs)
    kf = seg.keyframe_indices
    assert len(kf) >= 2 and not flat[kf].any()
    # All frames flat: still keyframes.
    seg = segment_frames(e, t, SeamSettings(), thumbnails=np.full_like(thumbs, 128))
    assert len(seg.keyframe_indices) >= 2


def test_identical_frames_spread_keyframes_in_time():
    e = np.tile(unit(np.ones(8)), (40, 1)).astype(np.float32)
    t = np.arange(40) / 2.0
    seg = segment_frames(e, t, SeamSettings(max_segment_s=None, keyframes_min=3, keyframes_max=3))
    kf = seg.segments[0].keyframes
    assert len(kf) == 3 and kf[-1] - kf[0] >= 20


def test_cut_frames_dedup_and_range():
    ft = np.arange(10, dtype=float)
    cuts, times = cut_frames(ft, np.array([2.5, 2.6, -1.0, 20.0, 7.5]))
    np.testing.assert_array_equal(cuts, [3, 8])
    np.testing.assert_allclose(times, [2.5, 7.5])


def test_segment_video_and_json():
    e, t = shots([5.0], 12.0)
    probe = Probe(fps=25.0, frame_count=300, duration_s=12.0, width=64, height=48)
    ref = VideoRef(
        path=__import__("pathlib").Path("x.mp4"), sha256="0" * 64, name="x.mp4", probe=probe
    )
    thumbs = np.random.default_rng(0).integers(0, 255, (len(t), 8, 8, 3), dtype=np.uint8)
    ev = EmbeddedVideo(
        ref=ref,
        times_s=t,
        indices=np.arange(len(t)) * 12,
        embeddings=e,
        thumbnails=thumbs,
        model_id="test",
    )
    seg = segment_video(ev, SeamSettings())
    assert seg.segments[-1].end_s == 12.0
    d = seg.to_dict()
    assert d["seams_s"] and d["segments"][0]["keyframes"][0]["time_s"] >= 0
    assert len(d["curve"]["distance"]) == len(t) - 1
    import json

    json.dumps(d)


def test_seams_are_reported_before_merging():
    e, t = shots([10.0, 10.8, 11.6], 25.0)
    curve = detect_seams(e, t, SeamSettings(merge_s=0.0))
    seg = segment_frames(e, t, SeamSettings(merge_s=0.0))
    np.testing.assert_allclose(seg.seams_s, curve.seams_s)
    assert len(seg.seams_s) == 3 and len(seg.segments) < 4


def test_keyframes_avoid_blurred_frames():
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(6)
    e, t = shots([], 10.0, seed=6)
    sharp = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(4)))
    thumbs = np.stack([blurred if i % 2 else sharp for i in range(len(t))])
    seg = segment_frames(e, t, SeamSettings(), thumbnails=thumbs)
    kf = seg.keyframe_indices
    assert len(kf) >= 2 and all(k % 2 == 0 for k in kf)
