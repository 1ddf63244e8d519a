"""The ``sample`` flow: decode -> minimum interval -> dedup buffer -> gate -> kept frames.

Frames stream through in bounded batches (`summarizer.decode.iter_frames`: target fps or
every n-th frame, start/end time, keyframes only, image folders), so memory stays flat
whatever the length. Each frame ends in exactly one place: kept (with the reasons the
buffer and the gate kept it) or dropped, counted by reason:

- ``interval``: closer than `min_interval_s` to the previous frame that went to the buffer;
- ``duplicate`` / ``outranked``: the dedup buffer (see `summarizer.summary.dedup`);
- ``gate``: the gate said no (blurred, no positive prompt, looks like a negative prompt).

Unreadable images of an image folder are skipped with a warning and counted (``skipped``).
Stats follow the sampling tools' words: ``decoded`` frames came out of the decoder,
``produced`` left the dedup buffer, ``gated`` passed the gate (= kept).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from summarizer.config import SampleSettings
from summarizer.errors import SettingsError
from summarizer.summary.dedup import DedupSettings, Released, make_buffer
from summarizer.summary.gates import Gate, GateSettings, make_gate

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SamplerSettings:
    """Options of the sample flow beyond decoding (YAML: in the ``sample:`` section).

    min_interval_s: skip frames closer than this to the previous frame sent to the buffer.
    jpeg_quality: quality of the frames written by the ``sample`` command.
    """

    min_interval_s: float = 0.0
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_interval_s) and self.min_interval_s >= 0):
            raise SettingsError(f"min_interval_s must be >= 0, got {self.min_interval_s}")
        if not 1 <= self.jpeg_quality <= 100:
            raise SettingsError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")


@dataclass
class KeptFrame:
    """A frame the flow kept: when, which source frame, and why."""

    time_s: float
    index: int
    buffer_reason: str
    gate_reason: str
    gate_score: float
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_s": round(self.time_s, 6),
            "index": self.index,
            "file": self.file,
            "why": {"buffer": self.buffer_reason, "gate": self.gate_reason},
            "gate_score": None if not math.isfinite(self.gate_score) else round(self.gate_score, 6),
        }


@dataclass
class SampleResult:
    """Everything the flow did for one input."""

    kept: list[KeptFrame] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    decoded: int = 0
    skipped: int = 0
    skipped_files: list[str] = field(default_factory=list)
    produced: int = 0
    images: list[np.ndarray] = field(default_factory=list)  # kept frames when no writer

    @property
    def gated(self) -> int:
        return len(self.kept)

    def stats(self) -> dict[str, int]:
        return {
            "decoded": self.decoded,
            "produced": self.produced,
            "gated": self.gated,
            "kept": len(self.kept),
            "skipped_unreadable": self.skipped,
        }

    def stats_line(self, name: str) -> str:
        drops = ", ".join(f"{n} {r}" for r, n in sorted(self.dropped.items()))
        line = (
            f"{name}: decoded {self.decoded}, produced {self.produced}, gated {self.gated}"
            f" (kept {len(self.kept)}"
        )
        line += f"; dropped {drops}" if drops else ""
        line += f"; skipped {self.skipped} unreadable" if self.skipped else ""
        return line + ")"


Writer = Callable[[KeptFrame, np.ndarray], str]


def sample_frames(
    path: str | Path,
    sample: SampleSettings | None = None,
    dedup: DedupSettings | None = None,
    gate: Gate | GateSettings | None = None,
    sampler: SamplerSettings | None = None,
    *,
    write: Writer | None = None,
    progress: Progress | None = None,
    total: int = 0,
) -> SampleResult:
    """Run the sample flow over one video file or image folder.

    write: called with each kept frame (in time order) and its image; returns the file name
        it wrote, recorded in `KeptFrame.file`. Without it the kept images are collected in
        `SampleResult.images` (fine for short inputs and tests).
    progress: ``progress(decoded, total)`` after each decoded batch.
    Unreadable images are skipped with a `summarizer.decode.UnreadableImageWarning` each.
    """
    from summarizer import decode as video

    sample = sample or SampleSettings()
    sampler = sampler or SamplerSettings()
    the_gate = gate if isinstance(gate, Gate) else make_gate(gate or GateSettings())
    buffer = make_buffer(dedup or DedupSettings())
    result = SampleResult()
    pending: list[Released] = []
    batch_size = the_gate.settings.batch_size

    def run_gate(force: bool = False) -> None:
        while pending and (force or len(pending) >= batch_size):
            chunk = sorted(pending[:batch_size], key=lambda r: r.time_s)
            del pending[:batch_size]
            images = np.stack([r.item[1] for r in chunk])
            res = the_gate(images)
            for r, image, keep, why, score in zip(
                chunk, images, res.keep, res.reasons, res.score, strict=True
            ):
                if not keep:
                    result.dropped["gate"] += 1
                    continue
                kf = KeptFrame(r.time_s, int(r.item[0]), r.reason, why, float(score))
                if write is not None:
                    kf.file = write(kf, image)
                else:
                    result.images.append(image)
                result.kept.append(kf)

    stats = video.DecodeStats()
    last_offered = -math.inf
    for batch in video.iter_frames(path, sample, stats=stats):
        for t, idx, image in zip(batch.times_s, batch.indices, batch.images, strict=True):
            t = float(t)
            if t - last_offered < sampler.min_interval_s - 1e-9:
                result.dropped["interval"] += 1
                continue
            last_offered = t
            released = buffer.offer(image, t, item=(int(idx), image))
            result.produced += len(released)
            pending.extend(released)
        run_gate()
        if progress is not None:
            progress(stats.frames, max(total, stats.frames))
    released = buffer.flush()
    result.produced += len(released)
    pending.extend(released)
    run_gate(force=True)
    result.kept.sort(key=lambda k: k.time_s)
    result.dropped.update(buffer.dropped)
    result.decoded = stats.frames
    result.skipped = stats.skipped
    result.skipped_files = list(stats.skipped_files)
    return result


def sample_with_warnings(*args: Any, **kwargs: Any) -> tuple[SampleResult, list[str]]:
    """`sample_frames`, with the skipped-image warnings returned as lines instead of shown."""
    from summarizer.decode import UnreadableImageWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnreadableImageWarning)
        result = sample_frames(*args, **kwargs)
    lines = []
    for w in caught:
        if issubclass(w.category, UnreadableImageWarning):
            lines.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, lines
