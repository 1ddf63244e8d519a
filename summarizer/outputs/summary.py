"""The ``summary`` output folder of one video: the picked frames, a grid and summary.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from summarizer.outputs import files as export


def write_outputs(
    out_dir: Path,
    ev,
    summary,
    images,
    settings,
    sample,
    embed,
    extra: dict | None = None,
    positions=None,
) -> dict[str, Any]:
    """summary.json, the picked JPEGs and summary.png for one video; returns the JSON data.

    extra: more top-level entries for summary.json (e.g. the keyword spans the frames were
    kept from). positions: when `ev` holds only some of the video's sampled frames, the
    position of each among all of them (the picks' ``index`` is then into all of them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for pick, image in zip(summary.picks, images, strict=True):
        name = f"{export.time_name(pick.time_s)}.jpg"
        export.save_jpeg(image, out_dir / name)
        names.append(name)
    for old in out_dir.glob("*.jpg"):  # picks of an earlier run with other settings
        if old.name not in names:
            old.unlink()
    labels = [f"{export.time_label(p.time_s)}  x{p.cluster_size}" for p in summary.picks]
    export.save_image(export.grid_image(images, labels), out_dir / "summary.png")
    data = summary.to_dict()
    for d, name in zip(data["picks"], names, strict=True):
        d["image"] = name
        d["source_frame"] = int(ev.indices[d["index"]])
        if positions is not None:
            d["index"] = int(positions[d["index"]])
    doc = {
        "video": ev.ref.name,
        "path": str(ev.ref.path),
        "sha256": ev.ref.sha256,
        "duration_s": ev.ref.probe.duration_s,
        "model_id": ev.model_id,
        "frames": len(ev.times_s),
        "settings": {
            "summary": dataclasses.asdict(settings),
            "sample": dataclasses.asdict(sample),
            "embed": dataclasses.asdict(embed),
        },
        **data,
        "grid": "summary.png",
        **(extra or {}),
    }
    export.write_json(out_dir / "summary.json", doc)
    return doc
