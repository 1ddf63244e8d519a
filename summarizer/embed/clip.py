"""CLIP image/text embeddings with open_clip, batched end to end.

Preprocessing (resize, centre crop, normalise) runs in torch on whole batches, on the
device; the image tower runs in bfloat16 on CPUs with fast bf16 (AMX / AVX512-BF16), in
fp16 on GPUs (bf16 when asked), under ``torch.inference_mode()``; output is float32.
On a GPU, frames go up as uint8 from pinned memory (a quarter of the bytes of float32,
copied asynchronously), forward passes take at least `GPU_BATCH` images, and results come
back in one copy per call. Weights are found by `summarizer.embed.weights`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from summarizer.config import EmbedSettings
from summarizer.embed.runtime import pick_device, pick_dtype
from summarizer.embed.weights import CREATE_LOCK, missing_weights_message, no_init, resolve_weights
from summarizer.errors import ModelError

GPU_BATCH = 256  # images per forward pass on a GPU at least (ViT-B/32 fp16: ~1 GiB)


class ClipEmbedder:
    """open_clip image/text embedder with batched torch preprocessing."""

    def __init__(self, settings: EmbedSettings):
        import open_clip
        import torch

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
            with CREATE_LOCK, no_init(self.weights.path is not None):
                model = open_clip.create_model(name, pretrained=pretrained, device="cpu", **kwargs)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if self.weights.path is not None:
                raise ModelError(
                    f"cannot load {self.weights.path} as {settings.model} weights: {first[:300]}"
                ) from None
            raise ModelError(
                missing_weights_message(
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
        self.batch_size = settings.batch_size
        if self.device.type == "cuda":
            self.batch_size = max(self.batch_size, GPU_BATCH)
        self.dim = int(getattr(model, "embed_dim", 0) or self._probe_dim())
        self._tokenizer = None
        self._staging = PinnedStaging()

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
        if self.device.type == "cuda":
            x = self._staging.upload(images, self.device)
        else:
            x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
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
        bs = self.batch_size
        with torch.inference_mode():
            for i in range(0, len(images), bs):
                x = self.preprocess(images[i : i + bs])
                feats = self.model.visual(x).float()
                out.append(torch.nn.functional.normalize(feats, dim=-1))
            feats = out[0] if len(out) == 1 else torch.cat(out)
            return feats.cpu().numpy().astype(np.float32, copy=False)  # one device sync

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


class PinnedStaging:
    """Two reusable page-locked host buffers for uint8 frame uploads to a GPU.

    Pinned memory makes host-to-device copies asynchronous (the CPU prepares the next
    chunk while the GPU runs this one), but allocating it is slow (cudaHostAlloc), so two
    buffers are kept and used in turn; before a buffer is refilled, the event recorded
    after its last upload is waited on, so a copy in flight is never overwritten.
    """

    def __init__(self) -> None:
        self._buffers: list[Any] = [None, None]
        self._events: list[Any] = [None, None]
        self._slot = 0
        self._lock = threading.Lock()  # one embedder may serve several threads (the app)

    def upload(self, images: np.ndarray, device: Any) -> Any:
        """`images` (uint8, any shape) on `device`, copied through a pinned buffer."""
        import torch

        images = np.ascontiguousarray(images, dtype=np.uint8)
        with self._lock:
            return self._upload(images, device, torch)

    def _upload(self, images: np.ndarray, device: Any, torch: Any) -> Any:
        self._slot = 1 - self._slot
        buf, event = self._buffers[self._slot], self._events[self._slot]
        if event is not None:
            event.synchronize()  # the previous upload from this buffer has landed
        if buf is None or buf.numel() < images.size:
            buf = torch.empty(images.size, dtype=torch.uint8).pin_memory()
            self._buffers[self._slot] = buf
        host = buf[: images.size].view(images.shape)
        host.numpy()[...] = images
        out = host.to(device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()  # on the current stream, after the copy
        self._events[self._slot] = event
        return out
