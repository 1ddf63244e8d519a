"""The seed's detector: successor distance of the sampled embeddings (`summarizer.scenes.seams`)."""

from __future__ import annotations

from summarizer.scenes.detectors import DetectInput, Detection, Transition
from summarizer.scenes.seams import SeamSettings, detect_seams


class SuccessorDetector:
    """Seams where the embeddings' successor distance beats the (surveyed) dynamic threshold.

    Each seam lies between two samples (refined to a source frame later, see
    `summarizer.scenes.refine`), so it is reported as a cut at its detected time.
    """

    name = "successor"
    needs_signal = False

    def detect(self, inputs: DetectInput, settings: SeamSettings) -> Detection:
        if len(inputs.times_s) < 2:
            return Detection((), frame_accurate=False)
        curve = detect_seams(inputs.embeddings, inputs.times_s, settings)
        d = curve.distances[curve.seam_positions]
        return Detection(
            tuple(
                Transition(float(t), float(t), "cut", float(s))
                for t, s in zip(curve.seams_s, d, strict=True)
            ),
            frame_accurate=False,
        )
