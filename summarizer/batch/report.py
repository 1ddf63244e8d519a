"""The batch's report: a summary table on the terminal and ``batch_report.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summarizer.batch.job import Outcome

REPORT = "batch_report.json"


@dataclass
class BatchReport:
    """Outcomes of one batch run, in input order, with its throughput."""

    engine: str
    workers: int
    outcomes: list[Outcome] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False
    pending: list[str] = field(default_factory=list)  # sources not reached (interrupted)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def frames(self) -> int:
        """Frames decoded and embedded in this run (skipped videos do not count)."""
        return sum(o.frames for o in self.outcomes if o.status == "done")

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def videos_per_s(self) -> float:
        return self.count("done") / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "workers": self.workers,
            "videos": len(self.outcomes) + len(self.pending),
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "interrupted": self.interrupted,
            "wall_s": round(self.wall_s, 3),
            "frames": self.frames,
            "frames_per_s": round(self.frames_per_s, 2),
            "videos_per_s": round(self.videos_per_s, 4),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "pending": list(self.pending),
        }

    def write(self, out_dir: str | Path) -> Path:
        from summarizer.outputs.files import write_json

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return write_json(Path(out_dir) / REPORT, self.to_dict())

    def table(self) -> str:
        """One row per video (status, frames, seams, picks, seconds, error) and a total."""
        rows = [("video", "status", "frames", "seams", "picks", "s", "error")]
        for o in self.outcomes:
            rows.append(
                (
                    o.name,
                    o.status,
                    str(o.frames),
                    str(o.seams),
                    str(o.picks),
                    f"{o.seconds:.1f}",
                    o.error[:120],
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r[:6], widths, strict=True)) + "  " + r[6]
            for r in rows
        ]
        lines = [line.rstrip() for line in lines]
        total = (
            f"{self.count('done')} done, {self.count('skipped')} skipped, "
            f"{self.count('failed')} failed"
            + (f", {len(self.pending)} not reached (interrupted)" if self.interrupted else "")
            + f" in {self.wall_s:.1f} s: {self.frames_per_s:.1f} frames/s, "
            f"{self.videos_per_s:.2f} videos/s ({self.engine}, {self.workers} workers)"
        )
        return "\n".join([*lines, total])
