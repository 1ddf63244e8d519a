"""Gates: after dedup, decide per frame whether it is worth keeping.

- ``pass``: keeps every frame.
- ``blur``: keeps sharp frames. The measure is the variance of the Laplacian of luma
  (``laplacian``, default threshold 100) or the share, in percent, of the spectral energy
  above `fft_cutoff` cycles per pixel under a Hann window (``fft``, default threshold 1.0).
  On real photos at 224 px, sharp frames measure 350-1500 / 4-7 %, a Gaussian blur of
  sigma 1 px 20-75 / 0.5-0.7 %.
- ``clip``: keeps frames that look like a positive prompt and not like a negative one: the
  best cosine similarity to the positive prompts must be >= `positive_margin` and the best
  similarity to the negative prompts < `negative_margin` (a side without prompts does not
  constrain). Uses an embedder's ``embed_texts`` once and ``embed_images`` per batch.

A gate is called on a batch of frames and returns a `GateResult` (kept mask, the score it
decided on and a reason per frame); `decide_embeddings` lets the CLIP gate run on
embeddings computed elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from summarizer.config import check
from summarizer.errors import SettingsError
from summarizer.summary import quality

GATES = ("pass", "blur", "clip")
BLUR_METHODS = ("laplacian", "fft")
BLUR_DEFAULTS = {"laplacian": 100.0, "fft": 1.0}


def _prompts(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{name} must be a list of prompt texts, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


@dataclass(frozen=True)
class GateSettings:
    """Which gate runs and its knobs (YAML section ``gate:``).

    gate: pass | blur | clip.
    blur_method: laplacian | fft; blur_threshold: keep frames measuring at least this
        (None: 100 for laplacian, 1.0 % for fft); fft_cutoff: cycles/pixel above which
        energy counts as high-frequency (0.5 is Nyquist); measure_side: frames larger than
        this (short side) are shrunk to it before measuring, so one threshold fits every
        resolution (both measures grow as a frame shrinks).
    positive / negative: prompt texts of the clip gate.
    positive_margin / negative_margin: cosine similarities (see the module text).
    batch_size: frames embedded at once by the clip gate.
    """

    gate: str = "pass"
    blur_method: str = "laplacian"
    blur_threshold: float | None = None
    fft_cutoff: float = 0.15
    measure_side: int = 224
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    positive_margin: float = 0.2
    negative_margin: float = 0.3
    batch_size: int = 32

    def __post_init__(self) -> None:
        check(self.gate in GATES, f"gate must be one of {', '.join(GATES)}, got {self.gate!r}")
        check(
            self.blur_method in BLUR_METHODS,
            f"blur_method must be laplacian or fft, got {self.blur_method!r}",
        )
        check(
            self.blur_threshold is None
            or (math.isfinite(self.blur_threshold) and self.blur_threshold >= 0),
            f"blur_threshold must be >= 0, got {self.blur_threshold}",
        )
        check(0 < self.fft_cutoff < 0.5, f"fft_cutoff must be in (0, 0.5), got {self.fft_cutoff}")
        check(
            16 <= self.measure_side <= 4096,
            f"measure_side must be in [16, 4096], got {self.measure_side}",
        )
        object.__setattr__(self, "positive", _prompts(self.positive, "positive"))
        object.__setattr__(self, "negative", _prompts(self.negative, "negative"))
        for name in ("positive_margin", "negative_margin"):
            v = getattr(self, name)
            check(
                isinstance(v, (int, float)) and -1.0 <= v <= 1.0,
                f"{name} must be a cosine similarity in [-1, 1], got {v!r}",
            )
        check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        if self.gate == "clip":
            check(
                bool(self.positive or self.negative),
                "the clip gate needs prompts: give --positive and/or --negative "
                "(or gate: {positive: [...], negative: [...]} in the config)",
            )

    @property
    def threshold(self) -> float:
        """The blur threshold in force (the method's default when none was set)."""
        if self.blur_threshold is not None:
            return float(self.blur_threshold)
        return BLUR_DEFAULTS[self.blur_method]


@dataclass(frozen=True)
class GateResult:
    """What a gate decided for a batch: kept (bool (n,)), score (float (n,)), reasons (n)."""

    keep: np.ndarray
    score: np.ndarray
    reasons: tuple[str, ...]


# --------------------------------------------------------------------------- measures


def high_frequency_share(images: np.ndarray, cutoff: float = 0.15, chunk: int = 64) -> np.ndarray:
    """Percent of the luma's spectral energy above `cutoff` cycles/pixel (Hann-windowed).

    The window removes the border discontinuity a plain FFT sees as an edge, so a blurred
    frame really measures near 0. The DC term is left out: brightness does not count.
    """
    images = np.asarray(images)
    n = len(images)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    h, w = images.shape[1:3]
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    high = np.sqrt(fx**2 + fy**2) > cutoff
    for lo in range(0, n, chunk):
        y = quality.luma(images[lo : lo + chunk])
        y = (y - y.mean(axis=(1, 2), keepdims=True)) * window
        power = np.abs(np.fft.rfft2(y)) ** 2
        power[:, 0, 0] = 0.0
        total = power.sum(axis=(1, 2))
        out[lo : lo + len(y)] = 100.0 * power[:, high].sum(axis=1) / np.maximum(total, 1e-12)
    return out


def blur_scores(images: np.ndarray, method: str = "laplacian", cutoff: float = 0.15) -> np.ndarray:
    """Sharpness of each frame by `method` (higher is sharper)."""
    if method == "fft":
        return high_frequency_share(images, cutoff)
    return quality.sharpness(images)


# --------------------------------------------------------------------------- gates


class Gate:
    """Base gate: `gate(images)` -> `GateResult` for a batch of uint8 (n, H, W, 3) frames."""

    name = "pass"

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings

    def __call__(self, images: np.ndarray) -> GateResult:
        n = len(images)
        return GateResult(np.ones(n, dtype=bool), np.zeros(n), ("pass",) * n)


def shrink(images: np.ndarray, short_side: int) -> np.ndarray:
    """Frames with a short side above `short_side` resized down to it (antialiased)."""
    images = np.asarray(images)
    if len(images) == 0 or min(images.shape[1:3]) <= short_side:
        return images
    from PIL import Image

    h, w = images.shape[1:3]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack(
        [
            np.asarray(Image.fromarray(im).resize(size, Image.BILINEAR, reducing_gap=2.0))
            for im in images
        ]
    )


class BlurGate(Gate):
    name = "blur"

    def __call__(self, images: np.ndarray) -> GateResult:
        s = self.settings
        score = blur_scores(shrink(images, s.measure_side), s.blur_method, s.fft_cutoff)
        keep = score >= s.threshold
        unit = "%" if s.blur_method == "fft" else ""
        reasons = tuple(
            f"sharp ({s.blur_method} {v:.1f}{unit} >= {s.threshold:g}{unit})"
            if k
            else f"blurred ({s.blur_method} {v:.1f}{unit} < {s.threshold:g}{unit})"
            for v, k in zip(score.tolist(), keep.tolist(), strict=True)
        )
        return GateResult(keep, score, reasons)


class ClipGate(Gate):
    """Prompt gate over an embedder with ``embed_texts`` and ``embed_images``."""

    name = "clip"

    def __init__(self, settings: GateSettings, embedder: Any) -> None:
        super().__init__(settings)
        if not (settings.positive or settings.negative):
            raise SettingsError("the clip gate needs prompts: give --positive and/or --negative")
        self.embedder = embedder
        self.pos = self._texts(settings.positive)
        self.neg = self._texts(settings.negative)

    def _texts(self, prompts: Sequence[str]) -> np.ndarray | None:
        if not prompts:
            return None
        v = np.asarray(self.embedder.embed_texts(list(prompts)), dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def __call__(self, images: np.ndarray) -> GateResult:
        vecs = [
            np.asarray(self.embedder.embed_images(images[lo : lo + self.settings.batch_size]))
            for lo in range(0, len(images), self.settings.batch_size)
        ]
        if not vecs:
            return GateResult(np.zeros(0, dtype=bool), np.zeros(0), ())
        return self.decide_embeddings(np.concatenate(vecs))

    def decide_embeddings(self, embeddings: np.ndarray) -> GateResult:
        """The gate's decision for frames already embedded by the same embedder."""
        s = self.settings
        x = np.asarray(embeddings, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        n = len(x)
        pos_sim = np.full(n, np.inf) if self.pos is None else (x @ self.pos.T).max(axis=1)
        pos_arg = np.zeros(n, int) if self.pos is None else (x @ self.pos.T).argmax(axis=1)
        neg_sim = np.full(n, -np.inf) if self.neg is None else (x @ self.neg.T).max(axis=1)
        neg_arg = np.zeros(n, int) if self.neg is None else (x @ self.neg.T).argmax(axis=1)
        pos_ok = pos_sim >= s.positive_margin
        neg_ok = neg_sim < s.negative_margin
        keep = pos_ok & neg_ok
        reasons = []
        for i in range(n):
            if not neg_ok[i]:
                reasons.append(
                    f"looks like {s.negative[neg_arg[i]]!r} ({neg_sim[i]:.3f} >= {s.negative_margin:g})"
                )
            elif not pos_ok[i]:
                reasons.append(
                    f"no positive prompt (best {s.positive[pos_arg[i]]!r} "
                    f"{pos_sim[i]:.3f} < {s.positive_margin:g})"
                )
            elif self.pos is not None:
                reasons.append(f"matches {s.positive[pos_arg[i]]!r} ({pos_sim[i]:.3f})")
            else:
                reasons.append(f"no negative prompt matched (best {neg_sim[i]:.3f})")
        score = np.where(np.isfinite(pos_sim), pos_sim, -neg_sim)
        return GateResult(keep, score.astype(np.float64), tuple(reasons))


def make_gate(settings: GateSettings | None = None, embedder: Any = None) -> Gate:
    """The gate `settings.gate` names; the clip gate uses `embedder` (or builds the default
    CLIP embedder when none is given)."""
    settings = settings or GateSettings()
    if settings.gate == "blur":
        return BlurGate(settings)
    if settings.gate == "clip":
        if embedder is None:
            from summarizer.config import EmbedSettings
            from summarizer.embed import get_embedder

            embedder = get_embedder(EmbedSettings(embedder="clip"))
        return ClipGate(settings, embedder)
    return Gate(settings)
