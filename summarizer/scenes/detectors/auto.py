"""The default detector: full-rate proposals, confirmed by the sampled embeddings.

Measured on real footage (`benchmarks/bench_seams.py`): the full-rate signal finds the cuts
(frame accurate, short shots, a cut in the last half second), dissolves and fades; the
embeddings' successor seams that the signal does not support are mostly camera or subject
motion, so they are not added. What the embeddings do is *confirm*: a proposal is kept when
the embeddings of the sampled frames just before it and just after it (outside a gradual
transition) are at least as far apart as the successor detector's threshold there (dynamic,
surveyed, floored: the same curve and settings), so a change of the pixels that leaves the
picture's content as it was (a title popping in, an exposure jump) is not a seam, and the
threshold settings (the Seams page's sliders) still decide what counts as a change. A proposal with no sample on one side (a cut in the last half
second) is kept. Without the full-rate signal (an image folder) it is the successor detector.
"""

from __future__ import annotations

import numpy as np

from summarizer.scenes.detectors import DetectInput, Detection, Transition
from summarizer.scenes.detectors.content import content_transitions
from summarizer.scenes.seams import SeamSettings, check_inputs, detect_seams

CONFIRM = 1.0  # of the successor threshold at the proposal
MARGIN_S = 0.05  # samples this close to a transition's ends count as inside it


def confirm(
    transitions: list[Transition],
    embeddings: np.ndarray,
    times_s: np.ndarray,
    settings: SeamSettings,
) -> list[Transition]:
    """The transitions the embeddings confirm (see the module docstring)."""
    if len(times_s) < 2 or not transitions:
        return list(transitions)
    e, t, _ = check_inputs(embeddings, times_s)
    unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    curve = detect_seams(e, t, settings)
    kept = []
    for tr in transitions:
        before = int(np.searchsorted(t, tr.start_s - MARGIN_S, side="left")) - 1
        after = int(np.searchsorted(t, tr.end_s + MARGIN_S, side="left"))
        if before < 0 or after >= len(t):
            kept.append(tr)
            continue
        cos = float(np.clip(unit[before] @ unit[after], -1.0, 1.0))
        dist = np.sqrt(max(2.0 - 2.0 * cos, 0.0)) if settings.metric == "euclidean" else 1.0 - cos
        thr = float(np.interp(tr.time_s, curve.times_s, curve.thresholds))
        if dist >= max(settings.floor, CONFIRM * thr):
            kept.append(tr)
    return kept


class AutoDetector:
    """Content proposals confirmed by the embeddings (the successor detector without a signal)."""

    name = "auto"
    needs_signal = True

    def detect(self, inputs: DetectInput, settings: SeamSettings) -> Detection:
        if inputs.signal is None:
            from summarizer.scenes.detectors.successor import SuccessorDetector

            return SuccessorDetector().detect(inputs, settings)
        proposals = content_transitions(
            inputs.signal, settings.cut_min, settings.cut_ratio, settings.dissolve_min
        )
        kept = confirm(proposals, inputs.embeddings, inputs.times_s, settings)
        return Detection(tuple(kept), frame_accurate=True)
