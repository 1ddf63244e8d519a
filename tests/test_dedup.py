"""Dedup buffers on frames whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from summarizer.errors import SettingsError
from summarizer.summary.dedup import (
    BUFFERS,
    DedupSettings,
    dedup,
    frame_hash,
    grid_hashes,
    hamming,
    make_buffer,
)
from summarizer.synth import scene_canvas


def scene(seed: int, w: int = 128, h: int = 96) -> np.ndarray:
    """A distinct procedurally drawn picture per seed (shapes on a colour field)."""
    return (scene_canvas(seed, (w, h), scale=1.0) * 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["hash", "grid", "entropy", "gzip"])
def test_two_identical_frames_keep_one(kind):
    a = scene(1)
    keep, released, dropped = dedup([a, a.copy()], settings=DedupSettings(buffer=kind))
    assert keep.tolist() == [True, False]
    assert dropped == {"duplicate": 1}
    assert len(released) == 1 and released[0].item == 0


@pytest.mark.parametrize("kind", ["hash", "grid"])
def test_distinct_scenes_are_all_kept_and_repeats_dropped(kind):
    frames = [scene(s) for s in (1, 2, 3, 1, 2, 4)]
    keep, released, dropped = dedup(frames, settings=DedupSettings(buffer=kind))
    assert keep.tolist() == [True, True, True, False, False, True]
    assert dropped == {"duplicate": 2}
    assert [r.item for r in released] == [0, 1, 2, 5]
    assert released[0].reason == "first frame"


@pytest.mark.parametrize("kind", ["hash", "grid"])
@pytest.mark.parametrize("seed", [1, 2, 7])
def test_noise_is_not_a_new_picture(kind, seed):
    rng = np.random.default_rng(seed)
    a = scene(seed, 256, 192)
    noisy = np.clip(a.astype(int) + rng.integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    keep, _, _ = dedup([a, noisy], settings=DedupSettings(buffer=kind))
    assert keep.tolist() == [True, False]


def test_passthrough_keeps_everything():
    a = scene(1)
    keep, released, dropped = dedup([a, a, a], settings=DedupSettings(buffer="passthrough"))
    assert keep.all() and dropped == {} and len(released) == 3


def test_ring_buffer_forgets_old_hashes():
    frames = [scene(s) for s in (1, 2, 3, 1)]
    keep, _, _ = dedup(frames, settings=DedupSettings(buffer="hash", buffer_size=2))
    assert keep.tolist() == [True, True, True, True]  # scene 1 left the 2-slot ring


def test_grid_sees_a_small_local_change_the_whole_frame_hash_misses():
    a = scene(7, 256, 256)
    b = a.copy()
    b[8:24, 8:24] = [255, 0, 0]  # a small red square appears in one corner cell
    assert hamming(frame_hash(a), frame_hash(b)) <= DedupSettings().max_distance
    whole, _, _ = dedup([a, b], settings=DedupSettings(buffer="hash"))
    grid, released, _ = dedup([a, b], settings=DedupSettings(buffer="grid"))
    assert whole.tolist() == [True, False]
    assert grid.tolist() == [True, True]
    assert "cells changed" in released[1].reason


def test_grid_hashes_shape_and_stability():
    a = scene(3, 160, 120)
    g = grid_hashes(a, 4, 3, 8)
    assert g.shape == (12, 64) and g.dtype == bool
    assert (grid_hashes(a.copy(), 4, 3, 8) == g).all()


@pytest.mark.parametrize("kind", ["entropy", "gzip"])
def test_top_k_keeps_the_most_detailed_frames_of_each_window(kind):
    rng = np.random.default_rng(0)
    detailed = [scene(s) for s in range(10, 16)]
    flat = [np.full((96, 128, 3), v, np.uint8) for v in (40, 90, 140, 190, 60, 110)]
    # windows of 4 frames: 2 detailed + 2 flat each, keep 2 per window
    frames, want = [], []
    for w in range(3):
        group = [(detailed[2 * w], True), (flat[2 * w], False)]
        group += [(flat[2 * w + 1], False), (detailed[2 * w + 1], True)]
        order = rng.permutation(4)
        for j in order:
            frames.append(group[j][0])
            want.append(group[j][1])
    s = DedupSettings(buffer=kind, buffer_size=2, expiry=4)
    keep, released, dropped = dedup(frames, settings=s)
    assert keep.tolist() == want
    assert sum(dropped.values()) == 6  # outranked, or duplicates of another flat frame
    assert [r.item for r in released] == sorted(r.item for r in released)
    assert all(kind in r.reason and "rank" in r.reason for r in released)


def test_top_k_flush_releases_the_last_partial_window():
    frames = [scene(s) for s in range(5)]
    keep, _, dropped = dedup(
        frames, settings=DedupSettings(buffer="entropy", buffer_size=2, expiry=4)
    )
    # window 1: frames 0-3 keep 2; window 2 (flushed at the end): frame 4
    assert keep.sum() == 3 and dropped == {"outranked": 2}


@pytest.mark.parametrize("kind", BUFFERS)
def test_counts_add_up(kind):
    frames = [scene(s % 4) for s in range(20)]
    buf = make_buffer(DedupSettings(buffer=kind, buffer_size=3, expiry=6))
    kept = []
    for i, f in enumerate(frames):
        kept += buf.offer(f, i * 0.5)
    kept += buf.flush()
    assert buf.offered == 20
    assert len(kept) + sum(buf.dropped.values()) == 20


def test_offer_returns_the_item_given():
    buf = make_buffer(DedupSettings())
    out = buf.offer(scene(1), 1.5, item={"id": 7})
    assert out[0].item == {"id": 7} and out[0].time_s == 1.5


def test_frame_hash_methods_differ_but_are_stable():
    a = scene(2)
    hs = {m: frame_hash(a, m) for m in ("phash", "dhash", "ahash")}
    assert all(0 <= h < 2**64 for h in hs.values())
    assert frame_hash(a.copy(), "dhash") == hs["dhash"]
    assert frame_hash(a, "phash", hash_size=4) < 2**16


@pytest.mark.parametrize(
    "bad",
    [
        {"buffer": "nope"},
        {"hash_method": "md5"},
        {"hash_size": 1},
        {"buffer_size": 0},
        {"max_distance": 64},
        {"grid_x": 0},
        {"min_changed_cells": 17},
        {"buffer": "entropy", "buffer_size": 10, "expiry": 10},
        {"gzip_level": 0},
    ],
)
def test_bad_settings_are_clear_errors(bad):
    with pytest.raises(SettingsError):
        DedupSettings(**bad)
