"""Test and benchmark scaffolding that must not ship in the product.

- `TINY_MODEL`: a tiny open_clip architecture (2-layer ViT and text tower, about 3.5 M
  parameters, mostly the token embedding) for fast tests of the real CLIP code path;
  `register_tiny_model` makes it known to open_clip in this process.
- `save_random_checkpoint`: a randomly initialised open_clip model saved as a checkpoint
  file, which `--pretrained PATH` then loads through the real weights path.

Tests import it as ``from support import ...`` (pytest puts ``tests/`` on sys.path);
benchmarks as ``from tests.support import ...`` (the repository root is on their path).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

TINY_MODEL = "atlas-tiny-vit"
TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def register_tiny_model() -> str:
    """Register `TINY_MODEL` with open_clip (once per process); returns its name."""
    import open_clip

    if TINY_MODEL not in open_clip.list_models():
        folder = Path(tempfile.mkdtemp(prefix="atlas-openclip-cfg-"))
        (folder / f"{TINY_MODEL}.json").write_text(json.dumps(TINY_CONFIG))
        open_clip.add_model_config(folder)
    return TINY_MODEL


def save_random_checkpoint(model_name: str, path: str | Path, *, half: bool = False) -> Path:
    """Save a randomly initialised open_clip `model_name` as a checkpoint file.

    ``.safetensors`` paths are written with safetensors, anything else with torch.save of the
    state dict; `half` stores fp16 tensors (half the size, loaded back into fp32).
    """
    import open_clip
    import torch

    from summarizer.embed.weights import CREATE_LOCK, ensure_model_known

    if model_name == TINY_MODEL:
        register_tiny_model()
    ensure_model_known(model_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with CREATE_LOCK:  # no other thread is building a model with its init skipped
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
