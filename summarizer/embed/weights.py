"""Where CLIP weights come from, and building an open_clip model from them.

Resolution order (first hit wins):
1. an explicit path: ``EmbedSettings.pretrained`` naming a checkpoint file (or a folder
   holding one);
2. a file in the models folder (``$ATLAS_MODELS_DIR``, else the repository's ``models/``):
   ``<model>_<tag>.safetensors`` (or .bin/.pt/.pth), or a folder ``<model>_<tag>/`` with
   ``open_clip_model.safetensors`` / ``open_clip_pytorch_model.bin``;
3. the local open_clip / Hugging Face cache (looked up without the network);
4. a download through open_clip when the machine is online (a 3 s connection check first,
   skipped when ``HF_HUB_OFFLINE=1`` or ``ATLAS_OFFLINE=1``);
5. else one `ModelError` naming the file to put in the models folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from summarizer.errors import ModelError

CHECKPOINT_EXTS = (".safetensors", ".bin", ".pt", ".pth")
FOLDER_CHECKPOINTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
)
REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"  # the repository's models/


CREATE_LOCK = threading.Lock()  # model creation patches torch.nn.init (see no_init)


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


def ensure_model_known(model: str) -> None:
    """Raise `ModelError` unless open_clip knows the architecture `model`."""
    import open_clip

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


def missing_weights_message(model: str, tag: str, pcfg: dict, why: str) -> str:
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

    ensure_model_known(model)
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
        raise ModelError(missing_weights_message(model, tag, pcfg, "downloads are off (offline)"))
    host = "huggingface.co" if pcfg.get("hf_hub") else _url_host(pcfg.get("url", ""))
    if not host or not _online(host):
        raise ModelError(missing_weights_message(model, tag, pcfg, "the network is unreachable"))
    return Weights("download", tag=tag)


def _url_host(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).hostname or ""


@contextlib.contextmanager
def no_init(skip: bool = True):
    """Skip random initialisation while building a model whose weights are loaded next.

    Building ViT-B-32 spends ~2 s drawing random numbers that a strict checkpoint load
    overwrites anyway. Every parameter is then checked by ``load_state_dict(strict=True)``.
    Callers hold `CREATE_LOCK`, so no other model is built meanwhile.
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
