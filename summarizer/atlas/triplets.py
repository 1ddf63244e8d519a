"""Triplets of consecutive frames for the map's triplet loss, and the runs that batch them.

For frames A, B, C of one video in a row, the code should keep the log-ratio
``log((eps + |A - B|^2) / (eps + |B - C|^2))`` of the inputs: where a video moves fast or
stands still shows in the map. A training sample is a run of `CHUNK` consecutive frames of one
video (`make_chunks`): each frame is encoded about once per epoch instead of three times.
"""

from __future__ import annotations

import numpy as np


def triplet_indices(video_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Previous and next frame of each frame within its video, and whether it has both.

    `video_index` (N,) labels frames that are grouped per video in time order. Returns
    ``prev, next, valid``; where a frame lacks a neighbour, the index is the frame itself.
    """
    v = np.asarray(video_index)
    n = len(v)
    i = np.arange(n)
    has_prev = np.zeros(n, bool)
    has_next = np.zeros(n, bool)
    if n > 1:
        same = v[1:] == v[:-1]
        has_prev[1:] = same
        has_next[:-1] = same
    prev = np.where(has_prev, i - 1, i)
    nxt = np.where(has_next, i + 1, i)
    return prev, nxt, has_prev & has_next


CHUNK = 8  # frames per training sample: a run of consecutive frames of one video


def make_chunks(video_index: np.ndarray, length: int = CHUNK):
    """Runs of `length` consecutive frames of one video that cover every frame and triplet.

    Chunk k of a video starts at frame ``k * (length - 2)``: consecutive chunks overlap by two
    frames, so every frame with both neighbours in its video is the centre of exactly one
    triplet (positions 1 .. length-2 of one chunk), and each frame is encoded about
    ``length / (length - 2)`` times per epoch instead of 3 times (A, B and C separately).
    Returns ``idx`` (C, length) frame rows (padded with the video's last frame), ``rec``
    (C, length) 1 where the chunk reconstructs that frame (each frame once), ``tri``
    (C, length - 2) 1 where the centre has both neighbours.
    """
    v = np.asarray(video_index)
    step = length - 2
    bounds = np.flatnonzero(np.diff(v)) + 1
    starts_v = np.concatenate([[0], bounds]).astype(np.int64)
    ends_v = np.concatenate([bounds, [len(v)]]).astype(np.int64)
    idx, rec, tri = [], [], []
    j = np.arange(length)
    for a, b in zip(starts_v, ends_v, strict=True):
        n = int(b - a)
        k_last = max(0, (n - 3) // step) if n >= 3 else 0
        s0 = a + np.arange(k_last + 1) * step  # chunk starts
        pos = s0[:, None] + j[None, :]
        inside = pos < b
        own = (j[None, :] < step) | (np.arange(k_last + 1) == k_last)[:, None]
        idx.append(np.minimum(pos, b - 1))
        rec.append(inside & own)
        tri.append(pos[:, 1:-1] + 1 < b)
    return (
        np.concatenate(idx).astype(np.int64),
        np.concatenate(rec).astype(np.float32),
        np.concatenate(tri).astype(np.float32),
    )


def log_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, eps: float) -> np.ndarray:
    """``log((eps + |a-b|^2) / (eps + |b-c|^2))`` row-wise (float64)."""
    ab = np.sum((a.astype(np.float64) - b) ** 2, axis=-1)
    bc = np.sum((b.astype(np.float64) - c) ** 2, axis=-1)
    return np.log(eps + ab) - np.log(eps + bc)
