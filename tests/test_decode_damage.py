"""Damage bookkeeping of the decoders (`summarizer.decode.source.DamageLog`)."""

from __future__ import annotations

import warnings

import numpy as np

from summarizer import decode
from summarizer.decode.source import DamageLog, StreamInfo, VideoIndex


def _index(n: int = 100, fps: float = 25.0) -> VideoIndex:
    info = StreamInfo("mp4", "h264", 160, 120, 0, 1.0, False, n, n / fps, fps, 0.0)
    return VideoIndex(np.arange(n) / fps, n / fps, (0,), info)


def test_damage_reported_out_of_order_is_one_span_from_its_first_frame():
    """A decoder rejects a later packet (in decode order) before the earlier frames turn out
    missing: the span still starts at the first damaged frame, and counts each frame once."""
    stats = decode.DecodeStats()
    log = DamageLog("clip.mp4", _index(), stats)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        log.add(46)
        log.add(44)
        log.add(40, 62)
        log.add(50)
        log.add(90)  # far away: a second span
        log.flush()
    assert [(round(a, 2), round(b, 2)) for a, b in stats.damaged_spans] == [
        (1.6, 2.52),
        (3.6, 3.64),
    ]
    messages = [str(w.message) for w in got]
    assert messages[0].startswith("clip.mp4: 23 frames from 1.60 s to 2.52 s")
    assert messages[1].startswith("clip.mp4: 1 frame from 3.60 s to 3.64 s")
