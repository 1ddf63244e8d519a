"""Frame embedders: CLIP (open_clip) and a model-free `pixels` baseline.

``get_embedder(EmbedSettings)`` returns one embedder per distinct settings per process.
Every embedder has ``model_id``, ``dim``, ``embed_images(uint8 (N,H,W,3)) -> float32 (N,D)``
(rows L2-normalised) and ``embed_texts(prompts) -> float32 (P,D)`` (CLIP only).

CLIP weights are resolved in this order (first hit wins):
1. an explicit path: ``EmbedSettings.pretrained`` naming a checkpoint file (or a folder
   holding one);
2. a file in the models folder (``$ATLAS_MODELS_DIR``, else the repository's ``models/``):
   ``<model>_<tag>.safetensors`` (or .bin/.pt/.pth), or a folder ``<model>_<tag>/`` with
   ``open_clip_model.safetensors`` / ``open_clip_pytorch_model.bin``;
3. the local open_clip / Hugging Face cache (looked up without the network);
4. a download through open_clip when the machine is online (a 3 s connection check first,
   skipped when ``HF_HUB_OFFLINE=1`` or ``ATLAS_OFFLINE=1``);
5. else one `ModelError` naming the file to put in the models folder.

Speed: preprocessing (resize, centre crop, normalise) runs in torch on whole batches;
the image tower runs in bfloat16 on CPUs with fast bf16 (AMX / AVX512-BF16), in fp16 on
GPUs, under ``torch.inference_mode()``; output is float32.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from summarizer.config import EmbedSettings
from summarizer.errors import ModelError, SettingsError

log = logging.getLogger(__name__)

# Torch's OpenMP worker threads sleep instead of spinning while they wait. The cores are
# shared with the decoder thread, the app and other processes, and spinning workers burn the
# cores those need: on the 2-core machine bench_embed embeds 2-3x faster with this, and the
# pipeline's decoding overlaps embedding instead of fighting it. It only takes effect when set
# before torch is first imported; OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment win.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

CHECKPOINT_EXTS = (".safetensors", ".bin", ".pt", ".pth")
FOLDER_CHECKPOINTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
)
REPO_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

# A tiny open_clip architecture (about 3.5 M parameters, mostly the token embedding) for
# fast tests of the real code path; registered with open_clip on first use.
TINY_MODEL = "atlas-tiny-vit"
_TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


_CREATE_LOCK = threading.Lock()  # model creation patches torch.nn.init (see _no_init)


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_images(self, images: np.ndarray) -> np.ndarray: ...

    def embed_texts(self, prompts: Sequence[str]) -> np.ndarray: ...


# --------------------------------------------------------------------------- environment


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has AMX-BF16 or AVX512-BF16 (bf16 matmuls are then fast)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"amx_bf16", "avx512_bf16"})
    return False


def pick_device(device: str = "auto"):
    """torch.device for "auto" (cuda > mps > cpu) or an explicit device string."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise SettingsError(f"device must be auto, cpu, cuda or mps, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device {device!r} asked for, but no CUDA GPU is available")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise SettingsError(f"device {device!r} asked for, but MPS is not available")
    return dev


def pick_dtype(precision: str, device):
    """Compute dtype of the image tower for a precision setting on a device."""
    import torch

    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cpu":
            raise SettingsError("precision fp16 is for GPUs; on a CPU use bf16 or fp32")
        return torch.float16
    # auto
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    return torch.float16


def _set_threads() -> None:
    import torch

    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _offline() -> bool:
    def true(name: str) -> bool:
        return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")

    return true("ATLAS_OFFLINE") or true("HF_HUB_OFFLINE") or true("TRANSFORMERS_OFFLINE")


def _online(host: str, timeout: float = 3.0) -> bool:
    """Quick reachability check, so an offline machine fails in seconds, not minutes."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- weights


def register_tiny_model() -> str:
    """Register `TINY_MODEL` (a 2-layer ViT/text CLIP) with open_clip; returns its name."""
    import json

    import open_clip

    if TINY_MODEL not in open_clip.list_models():
        folder = Path(tempfile.mkdtemp(prefix="atlas-openclip-cfg-"))
        (folder / f"{TINY_MODEL}.json").write_text(json.dumps(_TINY_CONFIG))
        open_clip.add_model_config(folder)
    return TINY_MODEL


def _ensure_model_known(model: str) -> None:
    import open_clip

    if model == TINY_MODEL:
        register_tiny_model()
    if open_clip.get_model_config(model.replace("/", "-")) is None:
        raise ModelError(
            f"unknown open_clip model {model!r} (for example: ViT-B-32, ViT-B-16, ViT-L-14)"
        )


def models_dirs() -> list[Path]:
    """Folders searched for weight files: $ATLAS_MODELS_DIR, then the repository's models/."""
    dirs = []
    env = os.environ.get("ATLAS_MODELS_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(REPO_MODELS_DIR)
    return dirs


def models_file_name(model: str, tag: str) -> str:
    """The file name the models folder should hold for `model` / `tag`."""
    return f"{model.replace('/', '-')}_{tag}.safetensors"


def _checkpoint_in_dir(folder: Path) -> Path | None:
    for name in FOLDER_CHECKPOINTS:
        if (folder / name).is_file():
            return folder / name
    found = sorted(f for f in folder.iterdir() if f.suffix in CHECKPOINT_EXTS and f.is_file())
    found.sort(key=lambda f: f.suffix != ".safetensors")
    return found[0] if found else None


def _looks_like_path(value: str) -> bool:
    return (
        value.endswith(CHECKPOINT_EXTS)
        or os.sep in value
        or "/" in value
        or value.startswith(("~", "."))
        or Path(value).exists()
    )


@dataclass(frozen=True)
class Weights:
    """Where CLIP weights come from: a local file, or a tag open_clip will download."""

    source: str  # "explicit" | "models" | "cache" | "download"
    path: Path | None = None
    tag: str | None = None


def _cache_candidates(pcfg: dict) -> list[Path]:
    out: list[Path] = []
    hub = pcfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - open_clip depends on huggingface_hub
            try_to_load_from_cache = None
        repo_id, filename = os.path.split(hub)
        filename = filename or "open_clip_pytorch_model.bin"
        names = [filename]
        if filename == "open_clip_pytorch_model.bin":
            names.insert(0, "open_clip_model.safetensors")
        elif filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        if try_to_load_from_cache is not None:
            for name in names:
                hit = try_to_load_from_cache(repo_id, name)
                if isinstance(hit, str) and Path(hit).is_file():
                    out.append(Path(hit))
    url = pcfg.get("url", "")
    if url:
        cached = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if cached.is_file():
            out.append(cached)
    return out


def _missing_weights_message(model: str, tag: str, pcfg: dict, why: str) -> str:
    target = models_dirs()[0] / models_file_name(model, tag)
    where = ""
    hub = pcfg.get("hf_hub", "")
    if hub:
        repo_id, filename = os.path.split(hub)
        src = filename or "open_clip_model.safetensors"
        where = f" (the file {src} of the Hugging Face repo {repo_id})"
    return (
        f"CLIP weights {model} / {tag} not found and {why}: put them at {target}{where}, "
        "or pass --pretrained /path/to/checkpoint, or use --embedder pixels"
    )


def resolve_weights(model: str, pretrained: str) -> Weights:
    """Find the weights for `model` / `pretrained` (tag or path); see the module doc."""
    import open_clip

    _ensure_model_known(model)
    # 1. explicit path
    if pretrained and _looks_like_path(pretrained):
        p = Path(pretrained).expanduser()
        if p.is_file():
            return Weights("explicit", path=p)
        if p.is_dir():
            found = _checkpoint_in_dir(p)
            if found is None:
                raise ModelError(f"no checkpoint file ({', '.join(CHECKPOINT_EXTS)}) in {p}")
            return Weights("explicit", path=found)
        raise ModelError(f"checkpoint file not found: {p}")
    tag = pretrained
    # 2. models folder
    stem = f"{model.replace('/', '-')}_{tag}"
    for folder in models_dirs():
        for ext in CHECKPOINT_EXTS:
            if (folder / f"{stem}{ext}").is_file():
                return Weights("models", path=folder / f"{stem}{ext}", tag=tag)
        if (folder / stem).is_dir():
            found = _checkpoint_in_dir(folder / stem)
            if found is not None:
                return Weights("models", path=found, tag=tag)
    pcfg = open_clip.get_pretrained_cfg(model.replace("/", "-"), tag) if tag else {}
    if not pcfg:
        known = open_clip.list_pretrained_tags_by_model(model.replace("/", "-"))
        raise ModelError(
            f"unknown weights {tag!r} for {model}: give a checkpoint path"
            + (f" or one of the tags {', '.join(known)}" if known else "")
        )
    # 3. local cache
    cached = _cache_candidates(pcfg)
    if cached:
        return Weights("cache", path=cached[0], tag=tag)
    # 4. download
    if _offline():
        raise ModelError(_missing_weights_message(model, tag, pcfg, "downloads are off (offline)"))
    host = "huggingface.co" if pcfg.get("hf_hub") else _url_host(pcfg.get("url", ""))
    if not host or not _online(host):
        raise ModelError(_missing_weights_message(model, tag, pcfg, "the network is unreachable"))
    return Weights("download", tag=tag)


def _url_host(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).hostname or ""


def save_random_checkpoint(model_name: str, path: str | Path, *, half: bool = False) -> Path:
    """Save a randomly initialised open_clip `model_name` as a checkpoint file (for tests).

    ``.safetensors`` paths are written with safetensors, anything else with torch.save of the
    state dict; `half` stores fp16 tensors (half the size, loaded back into fp32).
    """
    import open_clip
    import torch

    _ensure_model_known(model_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _CREATE_LOCK:
        model = open_clip.create_model(model_name, pretrained=None)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).contiguous()
        for k, v in model.state_dict().items()
    }
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@contextlib.contextmanager
def _no_init(skip: bool = True):
    """Skip random initialisation while building a model whose weights are loaded next.

    Building ViT-B-32 spends ~2 s drawing random numbers that a strict checkpoint load
    overwrites anyway. Every parameter is then checked by ``load_state_dict(strict=True)``.
    Callers hold `_CREATE_LOCK`, so no other model is built meanwhile.
    """
    import torch

    if not skip:
        yield
        return
    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}

    def keep(tensor, *args, **kwargs):
        return tensor

    try:
        for n in names:
            setattr(torch.nn.init, n, keep)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


# --------------------------------------------------------------------------- CLIP


class ClipEmbedder:
    """open_clip image/text embedder with batched torch preprocessing."""

    def __init__(self, settings: EmbedSettings):
        import open_clip
        import torch

        _set_threads()
        self.settings = settings
        self.model_id = settings.model_id
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.precision, self.device)
        self.weights = resolve_weights(settings.model, settings.pretrained)
        name = settings.model.replace("/", "-")
        kwargs = {}
        if self.weights.tag and self.weights.path is not None:
            # A local file for a known tag: use that tag's preprocessing (mean/std, ...).
            pcfg = open_clip.get_pretrained_cfg(name, self.weights.tag)
            force = {
                k: pcfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in pcfg
            }
            if force:
                kwargs["force_preprocess_cfg"] = force
        pretrained = str(self.weights.path) if self.weights.path is not None else self.weights.tag
        try:
            with _CREATE_LOCK, _no_init(self.weights.path is not None):
                model = open_clip.create_model(name, pretrained=pretrained, device="cpu", **kwargs)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if self.weights.path is not None:
                raise ModelError(
                    f"cannot load {self.weights.path} as {settings.model} weights: {first[:300]}"
                ) from None
            raise ModelError(
                _missing_weights_message(
                    settings.model,
                    settings.pretrained,
                    open_clip.get_pretrained_cfg(name, settings.pretrained),
                    f"the download failed ({first[:200]})",
                )
            ) from None
        model.eval()
        self.model = model.to(self.device)
        if self.dtype != torch.float32:
            self.model.visual.to(self.dtype)
        cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
        size = cfg.get("size", model.visual.image_size)
        if isinstance(size, int):
            size = (size, size)
        self.image_size = tuple(int(s) for s in size)  # (H, W)
        self.interpolation = cfg.get("interpolation", "bicubic")
        self.resize_mode = cfg.get("resize_mode", "shortest")
        mean = cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = cfg.get("std", open_clip.OPENAI_DATASET_STD)
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.dim = int(getattr(model, "embed_dim", 0) or self._probe_dim())
        self._tokenizer = None

    def _probe_dim(self) -> int:
        out = self.embed_images(np.zeros((1, *self.image_size, 3), dtype=np.uint8))
        return int(out.shape[1])

    # -- preprocessing ------------------------------------------------------------------
    def preprocess(self, images: np.ndarray):
        """uint8 (N,H,W,3) -> normalised (N,3,S,S) tensor on the device, in the tower dtype."""
        import torch
        import torch.nn.functional as F

        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got shape {images.shape}")
        x = torch.from_numpy(np.ascontiguousarray(images))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        x = x.permute(0, 3, 1, 2).float()
        th, tw = self.image_size
        h, w = x.shape[-2:]
        mode = self.interpolation if self.interpolation in ("bilinear", "bicubic") else "bilinear"
        if self.resize_mode == "squash":
            if (h, w) != (th, tw):
                x = F.interpolate(x, size=(th, tw), mode=mode, antialias=True, align_corners=False)
        elif self.resize_mode == "longest":
            scale = min(th / h, tw / w)
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            if (nh, nw) != (h, w):
                x = F.interpolate(x, size=(nh, nw), mode=mode, antialias=True, align_corners=False)
            pad = torch.zeros((x.shape[0], 3, th, tw), dtype=x.dtype, device=x.device)
            y0, x0 = (th - nh) // 2, (tw - nw) // 2
            pad[:, :, y0 : y0 + nh, x0 : x0 + nw] = x
            x = pad
        else:  # shortest: scale the short side to the target, then centre crop
            scale = max(th / h, tw / w)
            nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
            if (nh, nw) != (h, w):
                x = F.interpolate(x, size=(nh, nw), mode=mode, antialias=True, align_corners=False)
            y0, x0 = (nh - th) // 2, (nw - tw) // 2
            x = x[:, :, y0 : y0 + th, x0 : x0 + tw]
        x = (x.clamp_(0, 255) / 255.0 - self._mean) / self._std
        return x.to(self.dtype).contiguous()

    # -- embedding ----------------------------------------------------------------------
    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, dim) L2-normalised image embeddings of uint8 (N,H,W,3) frames."""
        import torch

        images = np.asarray(images)
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        bs = self.settings.batch_size
        with torch.inference_mode():
            for i in range(0, len(images), bs):
                x = self.preprocess(images[i : i + bs])
                feats = self.model.visual(x).float()
                feats = torch.nn.functional.normalize(feats, dim=-1)
                out.append(feats.cpu().numpy())
        return np.concatenate(out).astype(np.float32, copy=False)

    def embed_texts(self, prompts: Sequence[str]) -> np.ndarray:
        """float32 (P, dim) L2-normalised text embeddings (prompts for the CLIP gates)."""
        import open_clip
        import torch

        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._tokenizer is None:
            self._tokenizer = open_clip.get_tokenizer(self.settings.model.replace("/", "-"))
        tokens = self._tokenizer(prompts).to(self.device)
        with torch.inference_mode():
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    feats = self.model.encode_text(tokens)
            else:
                feats = self.model.encode_text(tokens)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy().astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return (
            f"ClipEmbedder({self.model_id}, device={self.device}, dtype={self.dtype}, "
            f"weights={self.weights.source})"
        )


# --------------------------------------------------------------------------- pixels


class PixelEmbedder:
    """Model-free frame features: instant, offline, good at hard cuts.

    Four blocks, each L2-normalised and weighted, then the whole vector L2-normalised:
    - layout: the 8x8 Lab lightness thumbnail, standardised per frame (zero mean, unit
      spread), so a brightness change or flicker barely moves it (weight 0.45);
    - colour: the 8x8 Lab a/b thumbnail (weight 0.25);
    - tones: a 16-bin histogram of luma relative to the frame's mean luma (weight 0.15);
    - palette: a hue (12) x saturation (3) histogram weighted by value (weight 0.15).
    Histograms are square-rooted (Hellinger geometry), so cosine compares them fairly.
    """

    model_id = "pixels-v1"
    THUMB = 8
    LUMA_BINS = 16
    HUE_BINS = 12
    SAT_BINS = 3
    dim = THUMB * THUMB * 3 + LUMA_BINS + HUE_BINS * SAT_BINS
    _WEIGHTS = (0.45, 0.25, 0.15, 0.15)

    def __init__(self, settings: EmbedSettings | None = None):
        self.settings = settings or EmbedSettings(embedder="pixels")

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, 244) L2-normalised features of uint8 (N,H,W,3) frames."""
        import torch

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got shape {images.shape}")
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), 256):
                chunk = np.ascontiguousarray(images[i : i + 256])
                out.append(self._features(torch.from_numpy(chunk)))
        return np.concatenate(out).astype(np.float32, copy=False)

    def _features(self, x) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        x = x.permute(0, 3, 1, 2).float()  # (n,3,H,W), 0..255
        # histograms over 1024 averaged pixels; scale to [0, 1] after pooling (cheaper)
        small = F.adaptive_avg_pool2d(x, (32, 32)) / 255.0
        thumb = F.adaptive_avg_pool2d(small, (self.THUMB, self.THUMB))
        n = x.shape[0]
        lab = _rgb_to_lab(thumb)
        # 1. layout: standardised lightness
        L = lab[:, 0].reshape(n, -1)
        L = L - L.mean(1, keepdim=True)
        b1 = L / L.norm(dim=1, keepdim=True).clamp_min(8.0 * 2.0)
        # 2. colour: a/b
        ab = lab[:, 1:].reshape(n, -1)
        b2 = ab / ab.norm(dim=1, keepdim=True).clamp_min(8.0 * 3.0)
        # 3. tones: luma relative to the mean luma, bins over [0, 2.5)
        r, g, b = small[:, 0], small[:, 1], small[:, 2]
        y = (0.299 * r + 0.587 * g + 0.114 * b).reshape(n, -1)
        rel = y / y.mean(1, keepdim=True).clamp_min(0.02)
        yi = (rel / 2.5 * self.LUMA_BINS).long().clamp_(0, self.LUMA_BINS - 1)
        h1 = torch.zeros(n, self.LUMA_BINS).scatter_add_(1, yi, torch.ones_like(y))
        b3 = torch.sqrt(h1 / h1.sum(1, keepdim=True))
        # 4. palette: hue x saturation, weighted by value
        mx, _ = small.max(1)
        mn, _ = small.min(1)
        delta = mx - mn
        sat = torch.where(mx > 0, delta / mx.clamp_min(1e-6), torch.zeros_like(mx))
        safe = delta.clamp_min(1e-6)
        hue = (
            torch.where(
                mx == r,
                ((g - b) / safe) % 6,
                torch.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4),
            )
            / 6.0
        )
        hi = (hue.reshape(n, -1) * self.HUE_BINS).long().clamp_(0, self.HUE_BINS - 1)
        si = (sat.reshape(n, -1) * self.SAT_BINS).long().clamp_(0, self.SAT_BINS - 1)
        wts = (mx * sat.clamp_min(0.05)).reshape(n, -1)
        h2 = torch.zeros(n, self.HUE_BINS * self.SAT_BINS)
        h2.scatter_add_(1, hi * self.SAT_BINS + si, wts)
        b4 = torch.sqrt(h2 / h2.sum(1, keepdim=True).clamp_min(1e-6))
        ws = [float(np.sqrt(w)) for w in self._WEIGHTS]
        v = torch.cat([ws[0] * b1, ws[1] * b2, ws[2] * b3, ws[3] * b4], dim=1)
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return v.numpy()

    def embed_texts(self, prompts: Sequence[str]) -> np.ndarray:
        raise ModelError("the pixels embedder has no text side: prompt gates need --embedder clip")

    def __repr__(self) -> str:
        return "PixelEmbedder(pixels-v1)"


def _rgb_to_lab(x):
    """sRGB in [0,1], (n,3,h,w) -> CIE Lab (D65), same shape."""
    import torch

    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
        dtype=x.dtype,
    )
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=x.dtype).view(1, 3, 1, 1)
    t = xyz / white
    f = torch.where(t > 0.008856, t.clamp_min(1e-12) ** (1 / 3), 7.787 * t + 16 / 116)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)


# --------------------------------------------------------------------------- factory


@functools.lru_cache(maxsize=8)
def get_embedder(settings: EmbedSettings) -> Embedder:
    """The embedder for `settings`, built once per process (models load once)."""
    if settings.embedder == "pixels":
        return PixelEmbedder(settings)
    return ClipEmbedder(settings)
