"""Where and how the embedders run: process runtime settings, device and precision.

`apply` sets the process-wide knobs (torch's CPU thread count, the OpenMP wait policy). It
is called by the entry points only (the CLI's ``main``, the app, each batch worker), once,
before torch is first imported where possible; library code never changes process state.

- Threads: torch's intra-op threads = the CPUs this process may use (its affinity mask),
  or a share of them for a worker in a pool (``threads=cpus // workers``).
- Training threads: torch threads while the latent map trains (`train_threads`). Its layers
  are tiny: one thread, measured 15x faster than two on the shared 2-core machine under load.
- OpenMP wait policy PASSIVE: torch's worker threads sleep instead of spinning while they
  wait. The cores are shared with the decoder thread, the app and other processes, and
  spinning workers burn the cores those need: on the 2-core machine bench_embed embeds
  2-3x faster with it, and decoding overlaps embedding instead of fighting it. OpenMP reads
  it when torch is first imported, so entry points call `apply` first thing.
Values already in the environment (``OMP_NUM_THREADS``, ``OMP_WAIT_POLICY``,
``GOMP_SPINCOUNT``) win over the defaults; an explicit ``threads`` wins over everything.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from summarizer.config import check_fields
from summarizer.errors import SettingsError


@dataclass(frozen=True)
class RuntimeSettings:
    """Process runtime knobs. threads: torch CPU threads (None: the environment's
    OMP_NUM_THREADS, else every CPU of the affinity mask); wait_policy: OMP_WAIT_POLICY;
    train_threads: torch threads while the latent map trains (see `train_threads`)."""

    threads: int | None = None
    wait_policy: str = "PASSIVE"
    train_threads: int = 1

    def __post_init__(self) -> None:
        check_fields(self, threads=">= 1", wait_policy=("PASSIVE", "ACTIVE"), train_threads=">= 1")


_applied: RuntimeSettings | None = None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; os.cpu_count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def apply(settings: RuntimeSettings | None = None) -> RuntimeSettings:
    """Apply `settings` to this process (entry points only; again with the same = no-op).

    Sets OMP_WAIT_POLICY and OMP_NUM_THREADS when the environment has none (torch reads them
    at import), and torch's thread count directly when torch is already imported.
    """
    global _applied
    settings = settings or RuntimeSettings()
    if settings == _applied:
        return settings
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = settings.wait_policy
    threads = settings.threads
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else available_cpus()
    if settings.threads is not None or "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    _applied = settings
    return settings


def train_threads() -> int:
    """Torch threads for training the latent map: the applied settings' (the default's when
    `apply` was not called). Passed by the callers that train (``threads=``); the count is
    restored after training, so embedding keeps its own."""
    return (_applied or RuntimeSettings()).train_threads


# --------------------------------------------------------------------------- device


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
    """Compute dtype of the image tower for a precision setting on a device: bf16 on CPUs
    with fast bf16 (else fp32), fp16 on GPUs (bf16 where asked: same speed on Ampere+)."""
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
