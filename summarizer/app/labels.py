"""Short text for people: durations, sizes, model and video names (tables, captions, errors)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from summarizer.outputs.files import plural as _export_plural


def fmt_duration(seconds: float | None) -> str:
    """'1:05:03', '4:07', '0:21' (or '?' when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def model_label(model_id: str) -> str:
    """'pixels-v1' -> 'pixels'; 'clip:ViT-B-32:laion2b_s34b_b79k' -> 'CLIP ViT-B-32'."""
    if model_id.startswith("pixels"):
        return "pixels"
    if model_id.startswith("clip:"):
        return "CLIP " + model_id.split(":")[1]
    return model_id


def video_label(row: Mapping[str, Any]) -> str:
    return f"{row.get('name') or row['sha256'][:12]}  ({fmt_duration(row.get('duration_s'))})"


# plural(n, word, many=None): '1 segment', '2 segments', '1,204 frames' (shared with the CLI)
plural = _export_plural


_CLI_ADVICE = (
    (re.compile(r",? or pass --pretrained \S+"), ""),
    (re.compile(r",? or use --embedder pixels"), ""),
    (re.compile(r"--embedder clip"), "the CLIP embedder"),
    (re.compile(r"--embedder pixels"), "the pixels embedder"),
    (
        re.compile(r"--captions needs a model: --caption-model NAME or \$OPENAI_MODEL"),
        "captions need a model: set OPENAI_MODEL on the server",
    ),
    (re.compile(r"give --end-time SECONDS to bound it"), "give an end time to bound it"),
    (re.compile(r"--end-time must be"), "the end time must be"),
)


def for_app(message: str) -> str:
    """A library/CLI error reworded for the dashboard: no command-line flags in it."""
    out = message
    for pattern, repl in _CLI_ADVICE:
        out = pattern.sub(repl, out)
    if "CLIP weights" in out and "put them at" in out:
        out = out.rstrip(".") + ", then restart the app."
    return out


_MD_SPECIAL = re.compile(r"([\\`*_\[\]()$<>~|#&!])")
_MD_LEAD = re.compile(r"^(\s*\d*)([-+=.)])(?=\s|$)")


def plain(text: object) -> str:
    """`text` (a file name, an error line) for a Markdown element, shown exactly as written.

    Streamlit renders Markdown in titles, captions and alerts: a name like
    ``**x** [y](http://z) $a^2$ :material/warning:.mp4`` would show bold text, a live link,
    a formula and an icon. Markdown punctuation is backslash-escaped (a leading list or
    heading marker too), and a word joiner (invisible) after each colon keeps ``:emoji:``,
    ``:material/icon:`` and ``:red[...]`` from being read as shortcodes.
    """
    s = _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))
    s = _MD_LEAD.sub(lambda m: m.group(1) + "\\" + m.group(2), s)
    return s.replace(":", ":\u2060")
