"""Synthetic videos with known cuts: for tests, benchmarks and the app's sample video.

A video is a list of `Shot`s. Each shot shows one procedurally drawn scene (its `seed`
decides the colours and shapes, so different seeds look different) with a camera behaviour
(`kind`): static, pan, zoom, brightness flicker or a moving object. Shots start with a hard
cut or a dissolve; `make_video` returns the true cut times (a dissolve's midpoint), which is
what seam detection is scored against.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from summarizer.errors import SettingsError

KINDS = ("static", "pan", "zoom", "flicker", "motion")


@dataclass(frozen=True)
class Shot:
    """One shot: `duration_s` of scene `seed` filmed as `kind`, entered by `transition`."""

    kind: str = "static"
    duration_s: float = 4.0
    seed: int = 0
    transition: str = "cut"  # how this shot begins: "cut" | "dissolve"
    transition_s: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SettingsError(f"shot kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.transition not in ("cut", "dissolve"):
            raise SettingsError(f"transition must be cut or dissolve, got {self.transition!r}")
        if not self.duration_s > 0 or not self.transition_s > 0:
            raise SettingsError("shot duration and transition length must be > 0")


def scene_canvas(seed: int, size: tuple[int, int], scale: float = 2.0) -> np.ndarray:
    """A float32 RGB canvas `scale` times the frame size: smooth colour field plus shapes."""
    w, h = int(size[0] * scale), int(size[1] * scale)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= h
    xx /= w
    base = rng.uniform(0.1, 0.9, size=3).astype(np.float32)
    tilt = rng.uniform(-0.5, 0.5, size=(2, 3)).astype(np.float32)
    img = base + xx[..., None] * tilt[0] + yy[..., None] * tilt[1]
    for _ in range(rng.integers(8, 16)):
        color = rng.uniform(0, 1, size=3).astype(np.float32)
        cx, cy = rng.uniform(0, 1, size=2)
        r = rng.uniform(0.03, 0.15)
        if rng.random() < 0.5:
            mask = ((xx - cx) ** 2 * (w / h) ** 2 + (yy - cy) ** 2) < r**2
        else:
            mask = (np.abs(xx - cx) < r * 1.3) & (np.abs(yy - cy) < r)
        img[mask] = color
    # Fine texture so blur and sharpness measures have something to see.
    img += rng.normal(0, 0.03, size=(h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 1)


def _crop(
    canvas: np.ndarray, cx: float, cy: float, zoom: float, size: tuple[int, int]
) -> np.ndarray:
    """Crop around (cx, cy) in canvas fractions at `zoom` (1 = frame-sized crop) and resize."""
    ch, cw = canvas.shape[:2]
    w, h = size
    cw_crop, ch_crop = w / zoom, h / zoom
    x0 = int(round(np.clip(cx * cw - cw_crop / 2, 0, cw - cw_crop)))
    y0 = int(round(np.clip(cy * ch - ch_crop / 2, 0, ch - ch_crop)))
    patch = canvas[y0 : y0 + int(round(ch_crop)), x0 : x0 + int(round(cw_crop))]
    if patch.shape[:2] != (h, w):
        pil = Image.fromarray((patch * 255).astype(np.uint8))
        return np.asarray(pil.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255
    return patch


def shot_frame(shot: Shot, canvas: np.ndarray, t: float, size: tuple[int, int]) -> np.ndarray:
    """The float RGB frame of `shot` at local time `t` seconds (t may run past its ends)."""
    u = min(max(t / shot.duration_s, -0.2), 1.2)
    if shot.kind == "pan":
        return _crop(canvas, 0.3 + 0.4 * u, 0.5, 1.0, size)
    if shot.kind == "zoom":
        return _crop(canvas, 0.5, 0.5, 1.0 + 0.8 * max(u, 0.0), size)
    frame = _crop(canvas, 0.5, 0.5, 1.0, size).copy()
    if shot.kind == "flicker":
        rng = np.random.default_rng(shot.seed * 7919 + int(math.floor(t * 10)))
        gain = 1.0 + 0.25 * math.sin(2 * math.pi * 3.0 * t) + rng.uniform(-0.05, 0.05)
        frame = np.clip(frame * gain, 0, 1)
    elif shot.kind == "motion":
        h, w = frame.shape[:2]
        x = int((0.1 + 0.8 * min(max(u, 0.0), 1.0)) * w)
        y = int(h * (0.5 + 0.2 * math.sin(2 * math.pi * u)))
        r = max(4, h // 10)
        frame[max(0, y - r) : y + r, max(0, x - r) : x + r] = (0.95, 0.9, 0.2)
    return frame


def cut_times(shots: Sequence[Shot]) -> list[float]:
    """True cut times in seconds: each shot boundary (a dissolve counts at its midpoint)."""
    return [float(t) for t in np.cumsum([s.duration_s for s in shots])[:-1]]


def render_shots(
    shots: Sequence[Shot], fps: float = 25.0, size: tuple[int, int] = (320, 240)
) -> Iterator[np.ndarray]:
    """Yield uint8 (H, W, 3) frames of the shots in order, with cuts and dissolves."""
    if not shots:
        raise SettingsError("a synthetic video needs at least one shot")
    canvases = [scene_canvas(s.seed, size) for s in shots]
    starts = np.concatenate([[0.0], np.cumsum([s.duration_s for s in shots])])
    total = int(round(starts[-1] * fps))
    for n in range(total):
        t = n / fps
        i = int(np.searchsorted(starts, t, side="right") - 1)
        i = min(i, len(shots) - 1)
        frame = shot_frame(shots[i], canvases[i], t - starts[i], size)
        # Dissolves around the start of shot i (into it) and the start of shot i+1 (out of it).
        for j in (i, i + 1):
            if 0 < j < len(shots) and shots[j].transition == "dissolve":
                half = shots[j].transition_s / 2
                d = t - starts[j]
                if -half <= d < half:
                    a = (d + half) / (2 * half)  # 0 -> all previous shot, 1 -> all next
                    prev = shot_frame(shots[j - 1], canvases[j - 1], t - starts[j - 1], size)
                    nxt = shot_frame(shots[j], canvases[j], d, size)
                    frame = (1 - a) * prev + a * nxt
        yield (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_video(
    path: str | Path,
    frames: Iterator[np.ndarray],
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    gop: int | None = None,
) -> Path:
    """Encode uint8 frames to an H.264 mp4 with the ffmpeg from imageio-ffmpeg."""
    import imageio_ffmpeg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = ["-crf", "20", "-preset", "veryfast"]
    if gop:
        params += ["-g", str(gop)]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        size,
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        quality=None,
        macro_block_size=2,
        output_params=params,
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def make_video(
    path: str | Path,
    shots: Sequence[Shot],
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
) -> list[float]:
    """Write the shots to `path` (mp4) and return the true cut times in seconds."""
    if size[0] % 2 or size[1] % 2:
        raise SettingsError(f"video size must be even, got {size[0]}x{size[1]}")
    write_video(path, render_shots(shots, fps, size), fps, size)
    return cut_times(shots)


SAMPLE_SHOTS = (
    Shot("static", 5.0, seed=11),
    Shot("pan", 6.0, seed=23),
    Shot("motion", 5.0, seed=37, transition="dissolve", transition_s=1.0),
    Shot("zoom", 5.0, seed=41),
)


def sample_video(path: str | Path, size: tuple[int, int] = (480, 270), fps: float = 25.0) -> Path:
    """Write the demo video (21 s, four scenes, one dissolve) to `path` and return it."""
    make_video(path, SAMPLE_SHOTS, fps=fps, size=size)
    return Path(path)
