"""Glue between the Streamlit pages (`app.py`, `pages/`) and the library: app only.

Pure helpers (no Streamlit): upload ingestion, image data URLs for chart tooltips, ZIP
bundles, the Altair charts, query-parameter parsing. The small Streamlit pieces that every
page shares (sidebar, video picker, error boundary, cached store and embedder) are at the
end, under "Streamlit"; they import Streamlit lazily so the library never needs it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from summarizer.errors import InputError

# Containers decord/ffmpeg read; the upload widget lists them.
VIDEO_TYPES = ("mp4", "mov", "m4v", "mkv", "webm", "avi", "mpg", "mpeg", "wmv", "flv", "ts", "3gp")
UPLOAD_DIR = (
    "source"  # inside a video's store group: the uploaded bytes, for clips and full-res frames
)


# --------------------------------------------------------------------------- formatting


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


# --------------------------------------------------------------------------- uploads


@dataclass(frozen=True)
class SavedUpload:
    """An uploaded file copied into the store: its content hash and where the bytes are."""

    sha256: str
    name: str
    path: Path
    size: int


def check_upload_name(name: str) -> None:
    """Refuse a file whose extension is not a video container we read."""
    ext = Path(name).suffix.lower().lstrip(".")
    if ext not in VIDEO_TYPES:
        shown = ext or "no extension"
        raise InputError(
            f"{name}: not a video file ({shown}); accepted types: {', '.join(VIDEO_TYPES)}"
        )


def save_upload(
    store: Any,
    name: str,
    data: bytes | IO[bytes],
    max_bytes: int | None = None,
) -> SavedUpload:
    """Write an upload to a temp file while hashing it, then keep it in the store.

    The bytes end in ``<store>/<sha256>/source/<safe name>`` so clips and full-resolution
    keyframes work later (the same bytes under another name reuse the copy). Raises
    `InputError` for a wrong type, an empty file or one over `max_bytes`; nothing is left
    behind on failure.
    """
    import hashlib

    from summarizer.export import video_stem

    check_upload_name(name)
    stream: IO[bytes] = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    with contextlib.suppress(AttributeError, OSError):
        stream.seek(0)
    tmp_dir = Path(store.root) / ".uploads"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=Path(name).suffix.lower())
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise InputError(
                        f"{name}: too large ({fmt_bytes(size)}+); the limit is {fmt_bytes(max_bytes)}"
                    )
                h.update(chunk)
                fh.write(chunk)
        if size == 0:
            raise InputError(f"{name}: the file is empty")
        sha = h.hexdigest()
        folder = store.group_dir(sha) / UPLOAD_DIR
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.iterdir()) if folder.exists() else []
        if existing:  # same bytes already kept (maybe under another name)
            Path(tmp).unlink(missing_ok=True)
            return SavedUpload(sha, name, existing[0], size)
        final = folder / f"{video_stem(name)}{Path(name).suffix.lower()}"
        os.replace(tmp, final)
        return SavedUpload(sha, name, final, size)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def source_file(store: Any, sha256: str) -> Path | None:
    """The kept source video of a catalogued hash (upload copy or the original path)."""
    folder = Path(store.root) / sha256 / UPLOAD_DIR
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if files:
            return files[0]
    row = store.video(sha256)
    if row and row.get("path") and Path(row["path"]).exists():
        return Path(row["path"])
    return None


def forget_source(store: Any, sha256: str) -> None:
    """Remove the kept upload copy of a video (used when processing it failed)."""
    shutil.rmtree(Path(store.root) / sha256 / UPLOAD_DIR, ignore_errors=True)
    with contextlib.suppress(OSError):
        (Path(store.root) / sha256).rmdir()


# --------------------------------------------------------------------------- images


def image_data_url(image: np.ndarray, width: int = 160, quality: int = 70) -> str:
    """A small JPEG of `image` as a ``data:`` URL (Vega tooltips show a field named 'image')."""
    im = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if im.width > width:
        im = im.resize((width, max(1, round(im.height * width / im.width))), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def spread_indices(n: int, limit: int) -> np.ndarray:
    """At most `limit` indices spread evenly over range(n) (all of them when n <= limit)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def zip_bytes(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A ZIP archive (stored, not deflated: JPEGs do not shrink) of (name, bytes) pairs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


# --------------------------------------------------------------------------- query params


def qp_get(params: Mapping[str, Any], name: str, default: Any = None) -> Any:
    value = params.get(name, default)
    if isinstance(value, list):
        value = value[-1] if value else default
    return value


def qp_float(params: Mapping[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    """A float query parameter clamped to [lo, hi]; junk gives the default."""
    try:
        v = float(qp_get(params, name, default))
    except (TypeError, ValueError):
        return default
    return default if not math.isfinite(v) else min(max(v, lo), hi)


def qp_int(params: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    return int(round(qp_float(params, name, float(default), float(lo), float(hi))))


def qp_choice(params: Mapping[str, Any], name: str, choices: Sequence[str], default: str) -> str:
    v = qp_get(params, name, default)
    return v if v in choices else default


def qp_bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    v = qp_get(params, name, None)
    if v is None:
        return default
    return str(v).lower() in ("1", "true", "yes", "on")


def qp_list(params: Mapping[str, Any], name: str) -> list[str]:
    """A comma-separated query parameter as a list (empty items dropped)."""
    v = qp_get(params, name, "") or ""
    return [x for x in str(v).split(",") if x]


def fmt_num(x: float) -> str:
    """Short text for a number in a URL: 3, 2.5, 0.125."""
    return f"{x:g}"


# --------------------------------------------------------------------------- charts

SERIES_COLORS = {"distance": "#3559e0", "threshold": "#f08c00"}
SEAM_COLOR = "#e03131"


def frame_images(thumbnails: np.ndarray, max_images: int = 400, width: int = 160) -> dict[int, str]:
    """Small data-URL images of at most `max_images` frames spread over a video, by frame."""
    return {
        int(i): image_data_url(thumbnails[int(i)], width=width)
        for i in spread_indices(len(thumbnails), max_images)
    }


def curve_frame(seg: Any, images: Mapping[int, str] | None = None) -> Any:
    """The seam curve as a DataFrame for the timeline: one row per successor distance.

    ``frame`` is the frame after each step (what a seam there cuts to); ``image`` its data URL
    from `images` (frame -> URL; "" for frames without one).
    """
    import pandas as pd

    from summarizer.export import time_label

    t = np.asarray(seg.times_s, dtype=np.float64)
    frame = np.minimum(np.arange(1, len(t) + 1), len(seg.frame_times_s) - 1)
    images = images or {}
    return pd.DataFrame(
        {
            "time_s": t,
            "distance": np.asarray(seg.distances, dtype=np.float64),
            "threshold": np.asarray(seg.thresholds, dtype=np.float64),
            "frame": frame,
            "frame_time": [time_label(x) for x in np.asarray(seg.frame_times_s)[frame]],
            "image": [images.get(int(f), "") for f in frame],
        }
    )


def seams_chart(seg: Any, images: Mapping[int, str] | None = None, height: int = 280) -> Any:
    """Altair timeline: successor distance, threshold curve, detected seams, final segments.

    Hovering near a point shows its frame (tooltip image from `images`, see `frame_images`);
    clicking selects it (selection ``frame`` for ``st.altair_chart(on_select=...)``). Drag
    to pan, wheel to zoom in time.
    """
    import altair as alt
    import pandas as pd

    df = curve_frame(seg, images)
    long = df.melt(
        id_vars=["time_s"],
        value_vars=["distance", "threshold"],
        var_name="series",
        value_name="value",
    )
    x = alt.X("time_s:Q", title="time (s)", scale=alt.Scale(nice=False))
    color = alt.Color(
        "series:N",
        scale=alt.Scale(domain=list(SERIES_COLORS), range=list(SERIES_COLORS.values())),
        legend=alt.Legend(orient="top", title=None),
    )
    zoom = alt.selection_interval(bind="scales", encodings=["x"], name="zoom")
    hover = alt.selection_point(
        name="hover",
        on="pointerover",
        nearest=True,
        fields=["time_s"],
        empty=False,
        clear="pointerout",
    )
    pick = alt.selection_point(
        name="frame", on="click", nearest=True, fields=["frame"], empty=False
    )

    bands = pd.DataFrame(
        [
            {"start": s.start_s, "end": s.end_s, "segment": f"segment {s.index + 1}"}
            for s in seg.segments
            if s.index % 2 == 0  # every other segment shaded, so neighbours stand apart
        ]
    )
    layers = []
    if len(bands):
        layers.append(
            alt.Chart(bands)
            .mark_rect(color="#e8ecf8", opacity=0.7)
            .encode(
                x="start:Q",
                x2="end:Q",
                tooltip=[
                    alt.Tooltip("segment:N"),
                    alt.Tooltip("start:Q", format=".1f"),
                    alt.Tooltip("end:Q", format=".1f"),
                ],
            )
        )
    layers.append(
        alt.Chart(long)
        .mark_line(strokeWidth=1.6)
        .encode(
            x=x,
            y=alt.Y("value:Q", title="successor distance"),
            color=color,
            strokeDash=alt.StrokeDash(
                "series:N",
                scale=alt.Scale(domain=list(SERIES_COLORS), range=[[1, 0], [5, 3]]),
                legend=None,
            ),
        )
    )
    seams = pd.DataFrame({"seam_s": np.asarray(seg.seams_s, dtype=np.float64)})
    if len(seams):
        layers.append(
            alt.Chart(seams)
            .mark_rule(color=SEAM_COLOR, strokeWidth=1.5, opacity=0.8)
            .encode(
                x="seam_s:Q", tooltip=[alt.Tooltip("seam_s:Q", title="seam at (s)", format=".2f")]
            )
        )
    tooltip = [
        alt.Tooltip("frame_time:N", title="frame at"),
        alt.Tooltip("distance:Q", format=".3f"),
        alt.Tooltip("threshold:Q", format=".3f"),
    ]
    hover_rows = df
    if (df["image"] != "").any():
        tooltip.insert(0, alt.Tooltip("image:N"))
        hover_rows = df[df["image"] != ""]  # the points with a picture answer the pointer
    points = (
        alt.Chart(hover_rows)
        .mark_circle(size=60, color=SERIES_COLORS["distance"])
        .encode(
            x=x,
            y="distance:Q",
            opacity=alt.condition(hover, alt.value(1.0), alt.value(0.0)),
            tooltip=tooltip,
        )
        .add_params(hover, pick, zoom)
    )
    layers.append(points)
    layers.append(
        alt.Chart(hover_rows)
        .mark_rule(color="#868e96", strokeDash=[2, 2])
        .encode(x="time_s:Q")
        .transform_filter(hover)
    )
    return alt.layer(*layers).properties(height=height).configure_view(stroke=None)


# --------------------------------------------------------------------------- processing

STAGES = ("read", "embed", "seams")
STAGE_LABELS = {
    "read": "reading and hashing",
    "embed": "embedding frames",
    "seams": "finding seams",
}


def process_video(
    store: Any,
    path: str | Path,
    sample: Any,
    embed: Any,
    name: str | None = None,
    on_progress: Callable[[str, float, str], None] | None = None,
) -> tuple[Any, Any]:
    """Open, embed and segment one video; returns (EmbeddedVideo, Segmentation).

    `on_progress(stage, fraction, detail)` is called as each stage moves (stage in `STAGES`).
    Embeddings come from the store when this video was processed with these settings before.
    """
    from summarizer import pipeline
    from summarizer.segments import segment_video

    def report(stage: str, frac: float, detail: str = "") -> None:
        if on_progress is not None:
            on_progress(stage, min(max(frac, 0.0), 1.0), detail)

    report("read", 0.0)
    ref = pipeline.open_video(path, store, sample)
    if name and name != ref.name:  # an upload keeps its own name in the catalog
        import dataclasses

        ref = dataclasses.replace(ref, name=name)
        store.register_video(ref)
    report(
        "read", 1.0, f"{ref.probe.width}x{ref.probe.height}, {fmt_duration(ref.probe.duration_s)}"
    )

    def frames(done: int, total: int) -> None:
        report("embed", done / total if total else 0.0, f"{done} / {total} frames")

    report("embed", 0.0)
    embedded = pipeline.embed_video(ref, sample, embed, store, progress=frames)
    report(
        "embed", 1.0, "from the store" if embedded.cache_hit else f"{len(embedded.times_s)} frames"
    )
    report("seams", 0.0)
    seg = segment_video(embedded)
    report("seams", 1.0, f"{len(seg.segments)} segments")
    return embedded, seg


def ingest_and_process(
    store: Any,
    name: str,
    data: bytes | IO[bytes],
    sample: Any,
    embed: Any,
    max_bytes: int | None = None,
    on_progress: Callable[[str, float, str], None] | None = None,
) -> dict[str, Any]:
    """Keep an upload in the store and process it; never raises.

    Returns ``{"name", "sha256", "frames", "segments", "cached"}`` on success, or
    ``{"name", "error"}`` with a one-line message (bad type, too large, empty, not a video,
    no frames, model unavailable). A failed upload leaves no copy behind.
    """
    from summarizer.errors import AtlasError

    saved = None
    known = False
    try:
        if on_progress is not None:
            on_progress("read", 0.0, "saving")
        saved = save_upload(store, name, data, max_bytes)
        known = store.video(saved.sha256) is not None
        embedded, seg = process_video(store, saved.path, sample, embed, name, on_progress)
    except AtlasError as exc:
        error = str(exc)
    except Exception as exc:  # a bug: keep the traceback in the log, show one line
        log.exception("processing %s failed", name)
        error = f"unexpected problem while processing ({type(exc).__name__}); see the server log"
    else:
        return {
            "name": name,
            "sha256": saved.sha256,
            "frames": len(embedded.times_s),
            "segments": len(seg.segments),
            "cached": bool(embedded.cache_hit),
        }
    if saved is not None and not known:
        forget_source(store, saved.sha256)
    return {"name": name, "error": error.replace(str(saved.path) if saved else "\0", name)}


def computed_summary(store: Any, sha256: str) -> dict[str, list[str]]:
    """What the store holds for one video: stage -> model ids (e.g. {'embed': ['pixels-v1']})."""
    out: dict[str, list[str]] = {}
    for row in store.results(sha256):
        out.setdefault(row["stage"], [])
        if row["model_id"] not in out[row["stage"]]:
            out[row["stage"]].append(row["model_id"])
    return out


def library_thumbnail(store: Any, sha256: str) -> np.ndarray | None:
    """A representative thumbnail of a catalogued video (a frame from its first embedding)."""
    for row in store.results(sha256):
        if row["stage"] != "embed":
            continue
        res = store.load(store.key(sha256, row["stage"], row["settings_hash"], row["model_id"]))
        if res is not None and "thumbnails" in res and len(res["thumbnails"]):
            thumbs = res["thumbnails"]
            return np.array(thumbs[len(thumbs) // 3])
    return None


STAGE_NAMES = {"embed": "embeddings"}


def computed_text(done: Mapping[str, list[str]]) -> str:
    """'embeddings: pixels, CLIP ViT-B-32' for the library table."""
    if not done:
        return "nothing yet"
    return " · ".join(
        f"{STAGE_NAMES.get(stage, stage)}: {', '.join(model_label(m) for m in models if m)}"
        if any(models)
        else STAGE_NAMES.get(stage, stage)
        for stage, models in done.items()
    )


def model_label(model_id: str) -> str:
    """'pixels-v1' -> 'pixels'; 'clip:ViT-B-32:laion2b_s34b_b79k' -> 'CLIP ViT-B-32'."""
    if model_id.startswith("pixels"):
        return "pixels"
    if model_id.startswith("clip:"):
        return "CLIP " + model_id.split(":")[1]
    return model_id


# --------------------------------------------------------------------------- Streamlit
# Shared page pieces. Streamlit is imported inside them so the library never needs it.

log = logging.getLogger("summarizer.app")

HOME_PAGE: Any = None  # the Home `st.Page`, set by app.py (links back to it)
EMBEDDERS = ("clip", "pixels")
EMBEDDER_LABELS = {"clip": "CLIP ViT-B-32 (semantic)", "pixels": "pixels (model-free, instant)"}


def page_setup(title: str, icon: str = ":material/movie:") -> None:
    import streamlit as st

    st.set_page_config(page_title=f"{title} · keyframe-atlas", page_icon=icon, layout="wide")


def get_store() -> Any:
    """The store under ``$ATLAS_HOME`` (or the per-user default), one object per root."""
    from summarizer.store import default_root

    return _store_for(str(default_root()))


def _cache_resource(**kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    import streamlit as st

    return st.cache_resource(show_spinner=False, **kw)


@_cache_resource()
def _store_for(root: str) -> Any:
    from summarizer.store import Store

    return Store(root)


@_cache_resource()
def cached_embedder(settings: Any) -> Any:
    """The embedder for `settings`, loaded once per server process."""
    from summarizer.embed import get_embedder

    return get_embedder(settings)


@_cache_resource()
def clip_problem() -> str | None:
    """None when the default CLIP embedder loads here, else the one-line reason it does not."""
    from summarizer.errors import AtlasError
    from summarizer.settings import EmbedSettings

    try:
        cached_embedder(EmbedSettings())
    except AtlasError as exc:
        return str(exc)
    except Exception as exc:  # e.g. a broken install: say so, the pixels embedder still works
        log.exception("CLIP embedder failed to load")
        return f"CLIP could not be loaded ({type(exc).__name__}: {exc})"
    return None


def _keep_widget(key: str) -> None:
    import streamlit as st

    st.session_state["_keep_" + key] = st.session_state[key]


def bound(
    key: str,
    params: str | Sequence[str],
    from_url: Callable[[Mapping[str, Any]], Any],
    choices: Sequence[Any] | None = None,
) -> dict:
    """Keyword arguments that bind widget `key` to the URL and keep it across pages.

    The value comes from the URL (`from_url(query_params)`, which gives the default when the
    parameter is missing or junk) the first time, and whenever the URL says something this
    session did not write there itself (a shared link, a link from another page); otherwise
    the session keeps the user's last choice, even after visiting another page.
    """
    import streamlit as st

    ss = st.session_state
    keep = "_keep_" + key
    names = [params] if isinstance(params, str) else list(params)
    written = ss.get("_qp_written", {})
    from_link = any(
        qp_get(st.query_params, n) is not None and qp_get(st.query_params, n) != written.get(n)
        for n in names
    )
    if keep not in ss or from_link or (choices is not None and ss[keep] not in choices):
        ss[keep] = from_url(st.query_params)
    ss[key] = ss[keep]
    return {"key": key, "on_change": _keep_widget, "args": (key,)}


def kept(key: str, default: Any) -> Any:
    """The last value of a `bound` widget, also on runs where it is not shown."""
    import streamlit as st

    return st.session_state.get("_keep_" + key, default)


def query_written() -> dict[str, str]:
    """What this run last wrote to the URL (to add parameters to it)."""
    import streamlit as st

    return dict(st.session_state.get("_qp_written", {}))


def sync_query(params: Mapping[str, Any]) -> None:
    """Make the URL hold exactly `params` (None values dropped), so the link reopens this view."""
    import streamlit as st

    want = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    have = {k: qp_get(st.query_params, k) for k in st.query_params}
    st.session_state["_qp_written"] = want
    if want != have:
        st.query_params.from_dict(want)


def sidebar_embedder() -> Any:
    """Sidebar: the embedder choice (URL ``emb``), with a notice when CLIP is unavailable.

    Returns the `EmbedSettings` to use. The default is CLIP when its weights load here, else
    the model-free pixels embedder.
    """
    import streamlit as st

    from summarizer.settings import EmbedSettings

    with st.sidebar:
        with st.spinner("Checking the CLIP model..."):
            problem = clip_problem()
        default = "pixels" if problem else "clip"
        st.selectbox(
            "Embedder",
            EMBEDDERS,
            **bound("emb", "emb", lambda qp: qp_choice(qp, "emb", EMBEDDERS, default)),
            format_func=EMBEDDER_LABELS.get,
            help="What turns each frame into a vector. CLIP understands content; pixels compares "
            "colours and layout and needs no model.",
        )
        if problem:
            if st.session_state["emb"] == "clip":
                st.error("CLIP is not available on this server: choose the pixels embedder.")
            else:
                st.caption("CLIP is not available on this server, so pixels is used.")
            with st.expander("Why, and how to add CLIP"):
                st.caption(problem)
    return EmbedSettings(embedder=st.session_state["emb"])


def sample_settings(fps: float | None = None) -> Any:
    from summarizer.settings import SampleSettings

    return SampleSettings() if fps is None else SampleSettings(fps=fps)


def friendly_errors() -> Any:
    """A context manager: user errors become one red line, bugs a short apology (logged)."""
    import contextlib

    import streamlit as st

    from summarizer.errors import AtlasError

    @contextlib.contextmanager
    def boundary():  # type: ignore[no-untyped-def]
        try:
            yield
        except AtlasError as exc:
            st.error(str(exc), icon=":material/error:")
        except Exception as exc:
            log.exception("unexpected error in the app")
            st.error(
                f"Something went wrong ({type(exc).__name__}). The details are in the server "
                "log; other sessions are not affected.",
                icon=":material/error:",
            )

    return boundary()


def empty_library() -> None:
    """Say the library is empty, link to Home, stop the page."""
    import streamlit as st

    st.info("The library is empty: upload a video or try the sample video on the Home page.")
    if HOME_PAGE is not None:
        st.page_link(HOME_PAGE, label="Go to Home", icon=":material/home:")
    st.stop()


def video_label(row: Mapping[str, Any]) -> str:
    return f"{row.get('name') or row['sha256'][:12]}  ({fmt_duration(row.get('duration_s'))})"


def pick_video(store: Any, key: str = "video") -> dict[str, Any] | None:
    """Sidebar video picker over the catalog (URL ``video``, else the session's last video).

    Shows a pointer to the Home page and stops the page when the library is empty.
    """
    import streamlit as st

    rows = store.videos()
    by_hash = {r["sha256"]: r for r in rows}
    wanted = qp_get(st.query_params, "video")
    if wanted and wanted not in by_hash:
        st.warning(
            f"The link names a video ({str(wanted)[:12]}...) that is not in this server's "
            "library. Pick another one below or upload it on the Home page."
        )
    if not rows:
        empty_library()
    sha = st.sidebar.selectbox(
        "Video",
        list(by_hash),
        **bound(
            key,
            "video",
            lambda qp: qp_choice(qp, "video", list(by_hash), rows[0]["sha256"]),
            choices=list(by_hash),
        ),
        format_func=lambda h: video_label(by_hash[h]),
    )
    return by_hash[sha]


def _cache_data(**kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    import streamlit as st

    return st.cache_data(show_spinner=False, **kw)


@_cache_data(max_entries=64)
def cached_segments(sha256: str, model_id: str, settings: Any, _ev: Any) -> Any:
    """`segment_video` of one embedded video with `settings`, kept per server: going back to
    settings tried before (or opening a shared link) costs nothing."""
    from summarizer.segments import segment_video

    return segment_video(_ev, settings)


@_cache_data(max_entries=32)
def cached_frame_images(
    sha256: str, model_id: str, n_frames: int, _thumbnails: np.ndarray
) -> dict[int, str]:
    """`frame_images` of one embedded video, made once per video (not on every re-run)."""
    return frame_images(_thumbnails)


@_cache_data(max_entries=512)
def cached_library_thumbnail(root: str, sha256: str, n_results: int) -> str | None:
    """Data URL of a video's library thumbnail (`n_results` invalidates it when results change)."""
    img = library_thumbnail(_store_for(root), sha256)
    return None if img is None else image_data_url(img, width=120)


# --------------------------------------------------------------------------- loading results


@_cache_resource(max_entries=16)
def _load_embedded(root: str, sha256: str, sample: Any, embed: Any) -> Any:
    from summarizer.pipeline import load_embedded

    return load_embedded(_store_for(root), sha256, sample, embed)


def load_embedded_cached(store: Any, sha256: str, sample: Any, embed: Any) -> Any:
    """The stored embeddings of a video (None when not computed with these settings).

    Cached per server (arrays are read-only, memory-mapped); a miss is not cached.
    """
    ev = _load_embedded(str(store.root), sha256, sample, embed)
    if ev is None:
        _load_embedded.clear(str(store.root), sha256, sample, embed)
    return ev


def frames_at(ev: Any, positions: Sequence[int], short_side: int | None = 288) -> list[np.ndarray]:
    """Frames `positions` (indices into the embedding arrays) decoded again from the kept
    source at `short_side` (None: full size); the stored thumbnails when the source is gone."""
    positions = [int(p) for p in positions]
    if not positions:
        return []
    return list(_frames_at(ev.ref.sha256, str(ev.ref.path), tuple(positions), short_side, ev))


@_cache_data(max_entries=64)
def _frames_at(
    sha256: str, path: str, positions: tuple[int, ...], short_side: int | None, _ev: Any
) -> np.ndarray:
    return decode_frames(_ev, positions, short_side)


def decode_frames(ev: Any, positions: Sequence[int], short_side: int | None) -> np.ndarray:
    """Frames at `positions` from the kept source (uncached; thumbnails if it is gone)."""
    from summarizer.errors import AtlasError
    from summarizer.video import read_frames

    positions = [int(p) for p in positions]
    thumbs = np.stack([np.asarray(ev.thumbnails[p]) for p in positions])
    path = str(ev.ref.path or "")
    if path in ("", ".") or not Path(path).exists():
        return thumbs
    try:
        batch = read_frames(path, np.asarray(ev.indices)[positions], short_side)
    except (AtlasError, OSError, RuntimeError):
        return thumbs
    return np.asarray(batch.images)


def segment_downloads(ev: Any, seg: Any, sample: Any, embed: Any, what: str) -> bytes:
    """The bytes of one seams download, made like the CLI's ``seams`` output folder.

    what: "json" (segments.json), "csv" (segments.csv), "keyframes" (ZIP of full-resolution
    keyframe JPEGs + the grid PNG), "clips" (ZIP of one MP4 per segment, stream copy).
    """
    from summarizer.commands.seams import write_outputs

    with tempfile.TemporaryDirectory(prefix="atlas-dl-") as tmp:
        out = Path(tmp)
        write_outputs(
            out,
            ev,
            seg,
            sample,
            embed,
            seg.settings,
            clips=what == "clips",
            thumbnails_only=what in ("json", "csv"),
        )
        if what == "json":
            return (out / "segments.json").read_bytes()
        if what == "csv":
            return (out / "segments.csv").read_bytes()
        folder = "clips" if what == "clips" else "keyframes"
        files = [(f"{folder}/{p.name}", p.read_bytes()) for p in sorted((out / folder).iterdir())]
        if what == "keyframes":
            files.append(("keyframes.png", (out / "keyframes.png").read_bytes()))
            files.append(("segments.json", (out / "segments.json").read_bytes()))
        return zip_bytes(files)


def embed_here(store: Any, row: Mapping[str, Any], sample: Any, embed: Any) -> None:
    """A button that embeds a catalogued video with the chosen embedder (progress bar)."""
    import streamlit as st

    src = source_file(store, row["sha256"])
    label = model_label(embed.model_id)
    if src is None:
        st.error(
            f"{row['name']} has no {label} embeddings in the store and its file is gone; "
            "upload it again on the Home page."
        )
        st.stop()
    st.info(f"{row['name']} has not been embedded with {label} yet.")
    if not st.button(f"Embed it with {label}", type="primary", icon=":material/play_arrow:"):
        st.stop()
    bar = st.progress(0.0, text="starting")

    def on_progress(stage: str, frac: float, detail: str) -> None:
        k = STAGES.index(stage)
        bar.progress((k + frac) / len(STAGES), text=f"{STAGE_LABELS[stage]} {detail}")

    with friendly_errors():
        process_video(store, src, sample, embed, row["name"], on_progress)
        _load_embedded.clear()
        st.rerun()
    st.stop()


def selected_value(event: Any, selection: str, field: str) -> Any:
    """The `field` of the first point in chart selection `selection` (None when empty)."""
    try:
        points = event.selection[selection]
    except (AttributeError, KeyError, TypeError):
        return None
    if isinstance(points, list) and points and isinstance(points[0], Mapping):
        return points[0].get(field)
    if isinstance(points, Mapping):  # {"field": [values]} form
        vals = points.get(field)
        return vals[0] if isinstance(vals, list) and vals else vals
    return None


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class FilteredSummary:
    """A KMeans summary over the frames that passed dedup and the gate.

    picks: frame positions (into the video's embedding arrays) of the summary, time order.
    summary: the `select.Summary` (its pick indices are into `kept`, not the video).
    kept: positions of the frames that were clustered.
    dropped: reason -> frames removed before clustering (dedup reasons, "gate: ...").
    """

    picks: np.ndarray
    summary: Any
    kept: np.ndarray
    dropped: dict[str, int]


def summarize_filtered(
    ev: Any,
    settings: Any,
    dedup_settings: Any = None,
    gate_settings: Any = None,
    clip_embedder: Any = None,
) -> FilteredSummary:
    """Dedup buffer -> gate -> KMeans summary over one embedded video's frames.

    Dedup and the blur gate look at the stored thumbnails. The CLIP gate uses the stored
    embeddings when they are CLIP's, else it embeds the thumbnails with `clip_embedder`.
    """
    from summarizer.dedup import dedup
    from summarizer.errors import InputError as _InputError
    from summarizer.gates import ClipGate, make_gate
    from summarizer.select import select_keyframes

    thumbs = ev.thumbnails
    keep = np.ones(len(ev.times_s), dtype=bool)
    dropped: dict[str, int] = {}
    if dedup_settings is not None and dedup_settings.buffer != "passthrough":
        mask, _, counts = dedup(thumbs, ev.times_s, dedup_settings)
        keep &= mask
        dropped.update({f"dedup: {k}": int(v) for k, v in counts.items() if v})
    if gate_settings is not None and gate_settings.gate != "pass":
        pos = np.flatnonzero(keep)
        if gate_settings.gate == "clip":
            gate = ClipGate(gate_settings, clip_embedder)
            if (
                str(ev.model_id).startswith("clip:")
                and clip_embedder is not None
                and (getattr(clip_embedder, "model_id", None) == ev.model_id)
            ):
                result = gate.decide_embeddings(np.asarray(ev.embeddings)[pos])
            else:
                result = gate(np.asarray(thumbs[pos]))
        else:
            result = make_gate(gate_settings)(np.asarray(thumbs[pos]))
        keep[pos[~result.keep]] = False
        if (~result.keep).any():
            dropped[f"gate: {gate_settings.gate}"] = int((~result.keep).sum())
    kept = np.flatnonzero(keep)
    if len(kept) == 0:
        raise _InputError(
            "every frame was removed by dedup or the gate: loosen them to get a summary"
        )
    summary = select_keyframes(
        np.asarray(ev.embeddings)[kept],
        np.asarray(ev.times_s)[kept],
        settings,
        images=np.asarray(thumbs[kept]),
        duration_s=float(ev.ref.probe.duration_s) or None,
    )
    picks = kept[summary.indices] if len(summary.indices) else np.zeros(0, dtype=np.int64)
    return FilteredSummary(picks=picks, summary=summary, kept=kept, dropped=dropped)


@_cache_data(max_entries=64)
def cached_summary(
    sha256: str, model_id: str, settings: Any, dedup_settings: Any, gate_settings: Any, _ev: Any
) -> FilteredSummary:
    clip = cached_embedder(_clip_settings()) if gate_settings.gate == "clip" else None
    return summarize_filtered(_ev, settings, dedup_settings, gate_settings, clip)


def _clip_settings() -> Any:
    from summarizer.settings import EmbedSettings

    return EmbedSettings(embedder="clip")


def summary_document(ev: Any, fs: FilteredSummary, names: Sequence[str] | None = None) -> dict:
    """summary.json: the picks with time, image file and cluster size, and how they were made."""
    doc = {
        "video": ev.ref.name,
        "sha256": ev.ref.sha256,
        "model_id": ev.model_id,
        "frames": len(ev.times_s),
        "frames_clustered": len(fs.kept),
        "dropped_before_clustering": fs.dropped,
        **{k: v for k, v in fs.summary.to_dict().items() if k != "picks"},
        "picks": [],
    }
    for j, (p, pos) in enumerate(zip(fs.summary.picks, fs.picks, strict=True)):
        item = p.to_dict()
        item["index"] = int(pos)
        item["source_frame"] = int(np.asarray(ev.indices)[pos])
        if names is not None:
            item["image"] = names[j]
        doc["picks"].append(item)
    return doc


def summary_downloads(ev: Any, fs: FilteredSummary, what: str) -> bytes:
    """One summary download: "json", "csv" or "zip" (full-resolution picks + grid + JSON)."""
    from summarizer import export

    names = [f"picks/{j:03d}_{export.time_name(ev.times_s[p])}.jpg" for j, p in enumerate(fs.picks)]
    doc = summary_document(ev, fs, names)
    if what == "json":
        return export.to_json(doc).encode()
    if what == "csv":
        rows = [
            {
                k: p[k]
                for k in ("time_s", "cluster", "cluster_size", "score", "source_frame", "image")
            }
            for p in doc["picks"]
        ]
        return export.csv_text(rows).encode()
    images = list(decode_frames(ev, fs.picks, None)) if len(fs.picks) else []
    files = [(n, export.jpeg_bytes(im, 92)) for n, im in zip(names, images, strict=True)]
    grid = export.grid_image(images, [export.time_label(ev.times_s[p]) for p in fs.picks])
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    files += [("summary.png", buf.getvalue()), ("summary.json", export.to_json(doc).encode())]
    return zip_bytes(files)


# --------------------------------------------------------------------------- latent map


def latent_frame(
    lmap: Any, thumbnails: Sequence[np.ndarray], max_points: int = 6000, max_images: int = 600
) -> Any:
    """The map's points as a DataFrame for the scatter (a spread subsample when very large).

    thumbnails: one array per video of the map (its frames in the map's row order).
    """
    import pandas as pd

    from summarizer.export import time_label

    n = len(lmap.coords)
    rows = spread_indices(n, max_points) if n > max_points else np.arange(n)
    vi = np.asarray(lmap.video_index)
    local = np.zeros(n, dtype=np.int64)
    for v in np.unique(vi):
        sel = np.flatnonzero(vi == v)
        local[sel] = np.arange(len(sel))
    df = pd.DataFrame(
        {
            "row": rows,
            "x": np.asarray(lmap.coords)[rows, 0],
            "y": np.asarray(lmap.coords)[rows, 1],
            "video": [lmap.names[int(vi[r])] for r in rows],
            "time_s": np.asarray(lmap.times_s)[rows],
            "time": [time_label(t) for t in np.asarray(lmap.times_s)[rows]],
        }
    )
    images = [""] * len(df)
    for j in spread_indices(len(df), max_images):
        r = int(rows[j])
        images[int(j)] = image_data_url(thumbnails[int(vi[r])][int(local[r])], width=140)
    df["image"] = images
    return df


def latent_chart(
    lmap: Any,
    thumbnails: Sequence[np.ndarray],
    path_video: int | None = None,
    window: tuple[float, float, float, float] | None = None,
    height: int = 520,
) -> Any:
    """Altair scatter of the map: colour by video, hover shows the frame and its time, wheel
    to zoom and drag to pan; the path of `path_video` drawn over it; the poster `window`."""
    import altair as alt
    import pandas as pd

    df = latent_frame(lmap, thumbnails)
    scale = alt.Scale(domain=[-1.05, 1.05], nice=False)
    x = alt.X("x:Q", scale=scale, title=None, axis=alt.Axis(grid=False, labels=False, ticks=False))
    y = alt.Y("y:Q", scale=scale, title=None, axis=alt.Axis(grid=False, labels=False, ticks=False))
    tooltip = [alt.Tooltip("video:N"), alt.Tooltip("time:N", title="time")]
    if (df["image"] != "").any():
        tooltip.insert(0, alt.Tooltip("image:N"))
    size = 28 if len(df) < 2000 else 12
    points = (
        alt.Chart(df)
        .mark_circle(size=size, opacity=0.75)
        .encode(
            x=x,
            y=y,
            color=alt.Color("video:N", legend=alt.Legend(orient="bottom", title=None, columns=3)),
            tooltip=tooltip,
        )
        .interactive()
    )
    layers = [points]
    if path_video is not None and 0 <= path_video < len(lmap.names):
        sel = np.flatnonzero(np.asarray(lmap.video_index) == path_video)
        order = sel[np.argsort(np.asarray(lmap.times_s)[sel], kind="stable")]
        path = pd.DataFrame(
            {
                "x": np.asarray(lmap.coords)[order, 0],
                "y": np.asarray(lmap.coords)[order, 1],
                "time_s": np.asarray(lmap.times_s)[order],
                "step": np.arange(len(order)),
            }
        )
        layers.append(
            alt.Chart(path)
            .mark_line(color="#1c2333", strokeWidth=1.6, opacity=0.85)
            .encode(x=x, y=y, order="step:Q")
        )
        ends = path.iloc[[0, -1]].assign(label=["start", "end"])
        layers.append(
            alt.Chart(ends)
            .mark_point(shape="diamond", size=110, filled=True, color="#1c2333")
            .encode(x=x, y=y, tooltip=["label:N"])
        )
    if window is not None:
        x0, y0, x1, y1 = window
        box = pd.DataFrame({"x0": [x0], "x1": [x1], "y0": [y0], "y1": [y1]})
        layers.append(
            alt.Chart(box)
            .mark_rect(fill=None, stroke="#e03131", strokeWidth=2, strokeDash=[6, 3], clip=True)
            .encode(x="x0:Q", x2="x1:Q", y="y0:Q", y2="y1:Q")
        )
    return alt.layer(*layers).properties(width=height, height=height).configure_view(stroke=None)


def map_embedded(
    store: Any, hashes: Sequence[str], sample: Any, embed: Any
) -> tuple[list[Any], list[str]]:
    """(EmbeddedVideos found in the store, hashes that have no embedding with `embed`)."""
    found, missing = [], []
    for h in hashes:
        ev = load_embedded_cached(store, h, sample, embed)
        (found if ev is not None else missing).append(ev if ev is not None else h)
    return found, missing


def map_is_stored(store: Any, videos: Sequence[Any], settings: Any) -> bool:
    """Whether the map of these videos with these settings is in the store (no training)."""
    from summarizer.latent import latent_key

    unique = {v.ref.sha256: v for v in reversed(list(videos))}  # the fit order: by hash
    fit_order = [unique[h] for h in sorted(unique)]
    return store.exists(latent_key(store, fit_order, settings))


def render_poster_bytes(
    videos: Sequence[Any], lmap: Any, settings: Any, fmt: str = "png"
) -> tuple[bytes, dict]:
    """Render the poster of a map into memory: (PNG or PDF bytes, layout dict)."""
    import json

    from summarizer.poster import PosterFrames, render_poster

    frames = PosterFrames.from_embedded(list(videos), lmap.coords)
    with tempfile.TemporaryDirectory(prefix="atlas-poster-") as tmp:
        res = render_poster(frames, settings, Path(tmp) / f"poster.{fmt}")
        return res.path.read_bytes(), json.loads(res.layout_path.read_text())
