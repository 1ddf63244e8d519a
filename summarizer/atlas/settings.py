"""`LatentSettings`: how the latent map is made (read defaults via ``config.default("latent", k)``)."""

from __future__ import annotations

from dataclasses import dataclass

from summarizer.config import check_fields


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
        check_fields(
            self,
            pca_dims=">= 2",
            code_std="(0, 1)",
            activity_weight=">= 0",
            triplet_weight=">= 0",
            triplet_eps="> 0",
            epochs=">= 1",
            patience=">= 1",
            min_delta=">= 0",
            min_seen="[0, 10^10]",
            batch_size=">= 8",
            learning_rate="(0, 1)",
            validation_fraction="[0, 0.5)",
            monitor=MONITORS,
            min_frames=">= 8",
            stretch="[0, 1]",
            shape=SHAPES,
            angle_deg="finite",
            seed="[0, 2^31)",
        )


MONITORS = ("trustworthiness", "loss")
SHAPES = ("square", "disc")
