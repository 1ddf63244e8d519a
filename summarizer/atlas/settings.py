"""`LatentSettings`: how the latent map is made (read defaults via ``config.default("latent", k)``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from summarizer.config import check


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class LatentSettings:
    """How the latent map is made (every field is part of the cache key).

    pca_dims: PCA components kept before the autoencoder (fewer when the data has fewer).
    code_std: target standard deviation of each code axis (activity regulariser).
    activity_weight / triplet_weight: weights of those loss terms (reconstruction has 1).
    triplet_eps: epsilon of the log-ratio, relative to each space's mean squared distance.
    epochs: most epochs; early stopping usually ends sooner (``patience`` epochs without a
        ``min_delta`` improvement of the monitored score).
    min_seen: fewest frames (frames x epochs) training sees before early stopping may end
        it: a collection of a few hundred frames needs a few hundred epochs (measured on real
        footage: stopping after 5 epochs left trustworthiness at 0.77), 100 000 frames two.
    batch_size / learning_rate: Adam mini-batches, in frames (None: `auto_batch`).
    validation_fraction: frames held out for early stopping (0: monitor the training loss).
    monitor: what early stopping follows: "trustworthiness" (of the map on a sample of
        frames, k = 10: the map keeping each frame's neighbours) or "loss".
    min_frames: fewer frames than this: PCA to 2-D instead of training (said in the result).
    stretch: 0 = no percentile stretch, 1 = full (points fill the shape evenly).
    shape: "square" fills [-1, 1]^2, "disc" the unit disc.
    rotate: turn the principal axis of the code onto x (signs fixed by skewness).
    angle_deg: an extra rotation, counter-clockwise, after that.
    seed: seeds weights, shuffling and the validation split.
    """

    pca_dims: int = 256
    code_std: float = 0.3
    activity_weight: float = 1.0
    triplet_weight: float = 0.03
    triplet_eps: float = 0.01
    epochs: int = 100
    patience: int = 10
    min_delta: float = 1e-3
    min_seen: int = 160_000
    batch_size: int | None = None
    learning_rate: float = 5e-3
    validation_fraction: float = 0.1
    monitor: str = "trustworthiness"
    min_frames: int = 64
    stretch: float = 1.0
    shape: str = "square"
    rotate: bool = True
    angle_deg: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        check(
            isinstance(self.pca_dims, int) and self.pca_dims >= 2,
            f"pca_dims must be >= 2, got {self.pca_dims}",
        )
        check(
            _finite(self.code_std) and 0 < self.code_std < 1,
            f"code_std must be in (0, 1), got {self.code_std}",
        )
        for name in ("activity_weight", "triplet_weight"):
            v = getattr(self, name)
            check(_finite(v) and v >= 0, f"{name} must be >= 0, got {v}")
        check(
            _finite(self.triplet_eps) and self.triplet_eps > 0,
            f"triplet_eps must be > 0, got {self.triplet_eps}",
        )
        check(
            isinstance(self.epochs, int) and self.epochs >= 1,
            f"epochs must be >= 1, got {self.epochs}",
        )
        check(
            isinstance(self.patience, int) and self.patience >= 1,
            f"patience must be >= 1, got {self.patience}",
        )
        check(
            _finite(self.min_delta) and self.min_delta >= 0,
            f"min_delta must be >= 0, got {self.min_delta}",
        )
        check(
            isinstance(self.min_seen, int) and 0 <= self.min_seen <= 10**10,
            f"min_seen must be in [0, 10^10] frames, got {self.min_seen}",
        )
        check(
            self.batch_size is None or (isinstance(self.batch_size, int) and self.batch_size >= 8),
            f"batch_size must be >= 8 frames (or None: automatic), got {self.batch_size}",
        )
        check(
            _finite(self.learning_rate) and 0 < self.learning_rate < 1,
            f"learning_rate must be in (0, 1), got {self.learning_rate}",
        )
        check(
            _finite(self.validation_fraction) and 0 <= self.validation_fraction < 0.5,
            f"validation_fraction must be in [0, 0.5), got {self.validation_fraction}",
        )
        check(
            self.monitor in MONITORS,
            f"monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}",
        )
        check(
            isinstance(self.min_frames, int) and self.min_frames >= 8,
            f"min_frames must be >= 8, got {self.min_frames}",
        )
        check(
            _finite(self.stretch) and 0 <= self.stretch <= 1,
            f"stretch must be in [0, 1], got {self.stretch}",
        )
        check(self.shape in ("square", "disc"), f"shape must be square or disc, got {self.shape!r}")
        check(_finite(self.angle_deg), f"angle_deg must be a number, got {self.angle_deg}")
        check(
            isinstance(self.seed, int)
            and not isinstance(self.seed, bool)
            and 0 <= self.seed < 2**31,
            f"seed must be an integer in [0, 2^31), got {self.seed}",
        )


MONITORS = ("trustworthiness", "loss")
