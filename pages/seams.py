"""Seams: the successor-distance timeline, its threshold, the segments and their keyframes,
with subtitles per segment and captions under keyframes when the video has them, and the
downloads (keyframes, segments, clips, EDL / OTIO / FCP XML, the keyframe list).

Every control (the detector too) re-runs seam detection at once from the cached embeddings
(no re-embedding); the URL holds the video and the settings, so the link reopens this exact
view.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from summarizer.app import (
    caches,
    charts,
    downloads,
    labels,
    panels,
    processing,
    texts,
    ui,
    uploads,
    urlparams,
    urlstate,
)
from summarizer.config import default
from summarizer.errors import AtlasError
from summarizer.outputs.files import time_label, video_stem
from summarizer.scenes import detector_names
from summarizer.scenes.seams import MODES, SeamSettings

ui.page_setup("Seams", ":material/timeline:")
store = caches.get_store()
embed = ui.sidebar_embedder()
sample = processing.sample_settings()
row = ui.pick_video(store)
d = SeamSettings(detector=default("seams", "detector"))
DETECTORS = tuple(detector_names())
DETECTOR_LABELS = {
    "auto": "auto (recommended)",
    "content": "content (every frame)",
    "successor": "successor (embeddings)",
    "transnetv2": "transnetv2 (network)",
}
NO_LIMIT = 120.0  # the longest-segment slider's top: no limit

# ---------------------------------------------------------------- settings (sidebar, URL)
with st.sidebar:
    st.subheader("Seam settings")
    mode = st.radio(
        "Threshold",
        MODES,
        **urlstate.bound(
            "seam_mode", "mode", lambda qp: urlparams.qp_choice(qp, "mode", MODES, d.threshold)
        ),
        horizontal=True,
        help="fixed: one value. dynamic: rolling mean + k x std. robust: rolling median + k x MAD.",
    )
    if mode == "fixed":
        st.slider(
            "Fixed threshold",
            0.0,
            2.0,
            step=0.01,
            **urlstate.bound(
                "seam_fixed", "thr", lambda qp: urlparams.qp_float(qp, "thr", d.fixed, 0.0, 2.0)
            ),
        )
    else:
        st.slider(
            "k (deviations above the rolling centre)",
            0.0,
            10.0,
            step=0.25,
            **urlstate.bound("seam_k", "k", lambda qp: urlparams.qp_float(qp, "k", d.k, 0.0, 10.0)),
            help="Higher k: fewer, stronger seams.",
        )
        st.slider(
            "Window (s)",
            2.0,
            300.0,
            step=1.0,
            **urlstate.bound(
                "seam_window",
                "win",
                lambda qp: urlparams.qp_float(qp, "win", d.window_s, 2.0, 300.0),
            ),
        )
    st.slider(
        "Shortest segment (s)",
        0.0,
        30.0,
        step=0.5,
        help="Shorter segments merge into the neighbour they look most like.",
        **urlstate.bound(
            "seam_min",
            "min",
            lambda qp: urlparams.qp_float(qp, "min", d.min_segment_s or 0.0, 0.0, 30.0),
        ),
    )
    st.slider(
        "Longest segment (s)",
        1.0,
        NO_LIMIT,
        step=1.0,
        help=f"Longer segments split at their largest internal change. {NO_LIMIT:g}: no limit.",
        **urlstate.bound(
            "seam_max",
            "max",
            lambda qp: urlparams.qp_float(qp, "max", d.max_segment_s or NO_LIMIT, 1.0, NO_LIMIT),
        ),
    )
    st.selectbox(
        "Detector",
        DETECTORS,
        **urlstate.bound(
            "seam_detector",
            "det",
            lambda qp: urlparams.qp_choice(qp, "det", DETECTORS, d.detector),
            choices=DETECTORS,
        ),
        format_func=lambda n: DETECTOR_LABELS.get(n, n),
        help="What proposes the seams. auto: every frame's cheap signal, confirmed by the "
        "embeddings (the default). content: every frame's signal alone. successor: the "
        "sampled embeddings alone. transnetv2: the TransNetV2 network (optional package). "
        "Switching re-runs from the stored embeddings and frame signal.",
    )
    with st.expander("Advanced"):
        st.checkbox(
            "KNN surveyor",
            **urlstate.bound(
                "seam_surveyor", "sv", lambda qp: urlparams.qp_bool(qp, "sv", d.surveyor)
            ),
            help="Adapt the threshold window by window from the neighbourhood of the successor "
            "distances.",
            disabled=mode == "fixed",
        )

min_s = urlstate.kept("seam_min", d.min_segment_s)
max_s = urlstate.kept("seam_max", d.max_segment_s)
settings = SeamSettings(
    detector=urlstate.kept("seam_detector", d.detector),
    threshold=mode,
    fixed=urlstate.kept("seam_fixed", d.fixed),
    k=urlstate.kept("seam_k", d.k),
    window_s=urlstate.kept("seam_window", d.window_s),
    min_segment_s=min_s,
    max_segment_s=None if max_s >= NO_LIMIT else max(max_s, min_s),
    surveyor=bool(urlstate.kept("seam_surveyor", d.surveyor)) and mode != "fixed",
)
t_link = urlparams.qp_float(st.query_params, "t", -1.0, 0.0, 1e7)  # a moment, from the map
t_link = t_link if urlparams.qp_get(st.query_params, "t") is not None and t_link >= 0 else None
keywords_text = urlstate.kept("seam_keywords", None)  # the Subtitles panel's keywords
if keywords_text is None:
    keywords_text = urlparams.qp_get(st.query_params, "kw") or ""
urlstate.sync_query(
    {
        "video": row["sha256"],
        "emb": embed.embedder,
        "det": settings.detector,
        "mode": mode,
        "k": urlparams.fmt_num(settings.k) if mode != "fixed" else None,
        "win": urlparams.fmt_num(settings.window_s) if mode != "fixed" else None,
        "thr": urlparams.fmt_num(settings.fixed) if mode == "fixed" else None,
        "min": urlparams.fmt_num(min_s),
        "max": urlparams.fmt_num(max_s),
        "sv": "1" if settings.surveyor else "0",
        "t": urlparams.fmt_num(round(t_link, 2)) if t_link is not None else None,
        "kw": keywords_text or None,
    }
)

# ---------------------------------------------------------------- result
st.title(f"Seams · {labels.plain(row['name'])}")
with st.spinner("Opening the embeddings..."):
    ev = caches.load_embedded_cached(store, row["sha256"], sample, embed)
if ev is None:
    ui.embed_here(store, row, sample, embed)

with ui.friendly_errors():
    with st.spinner("Finding the seams..."):
        try:
            seg = caches.cached_segments(row["sha256"], ev.model_id, settings, ev)
        except AtlasError as exc:  # e.g. an optional detector package that is not installed
            if settings.detector == d.detector:
                raise
            st.error(
                f"{ui.message(str(exc))}. Choose another detector in the sidebar.",
                icon=":material/error:",
            )
            st.stop()
    n_seg = len(seg.segments)
    c = st.columns(5)
    c[0].metric("Duration", labels.fmt_duration(ev.ref.probe.duration_s))
    c[1].metric("Frames embedded", f"{len(ev.times_s):,}")
    c[2].metric("Seams detected", len(seg.seams_s))
    c[3].metric("Segments", n_seg)
    c[4].metric("Keyframes", len(seg.keyframe_indices))

    chart_col, frame_col = st.columns([4, 1], gap="medium")
    with chart_col:
        event = st.vega_lite_chart(
            caches.seams_spec(row["sha256"], ev.model_id, settings, seg, ev),
            width="stretch",
            on_select="rerun",
            selection_mode="frame",
            key="seam_chart",
        )
        st.caption(
            "Blue: distance between consecutive frames. Orange dashes: the threshold. Red lines: "
            "detected seams. Shaded bands: the final segments. Hover for the frame, click to pin "
            "it, drag or scroll to pan and zoom."
        )
    with frame_col:
        picked = charts.selected_value(event, "frame", "frame")
        if picked is None and t_link is not None:  # a link to a moment (the map's frames)
            picked = int(np.argmin(np.abs(np.asarray(ev.times_s) - t_link)))
            where = next((s for s in seg.segments if s.first <= picked < s.stop), None)
            st.caption(
                f"Opened at {time_label(t_link)}"
                + (f", segment {where.index + 1}" if where is not None else "")
            )
        if picked is None and len(seg.seams_s):
            picked = int(min(len(ev.times_s) - 1, seg.segments[min(1, n_seg - 1)].first))
        if picked is not None:
            img = caches.frames_at(ev, [picked])[0]
            st.image(img, caption=f"frame at {time_label(ev.times_s[picked])}", width="stretch")
            st.caption("Click a point of the curve to show its frame here.")

    subtitles, keywords, hits = panels.words_panel(store, row, seg)
    caption_rows = texts.captions(store, row["sha256"])
    fps = float(ev.ref.probe.fps or 0)

    st.subheader("Segments and keyframes")
    per_page = 12
    pages = max(1, -(-n_seg // per_page))
    first = 0
    if pages > 1:
        at_t = next((s.index for s in seg.segments if t_link is not None and s.end_s > t_link), 0)
        page = st.number_input(
            f"Page (of {pages})", 1, pages, at_t // per_page + 1, key=f"seg_page_{t_link}"
        )
        first = (int(page) - 1) * per_page
    shown = seg.segments[first : first + per_page]
    wanted = [k for s in shown for k in s.keyframes]
    images = dict(zip(wanted, caches.frames_at(ev, wanted), strict=True))
    for s in shown:
        with st.container(border=True):
            # with captions the keyframes line up at the top, their texts below them
            align = "top" if caption_rows else "center"
            info, *cols = st.columns([1.1, 1, 1, 1, 1], vertical_alignment=align)
            info.markdown(
                f"**Segment {s.index + 1}**  \n{time_label(s.start_s)} - {time_label(s.end_s)}  \n"
                f"{s.duration_s:.1f} s · {labels.plural(s.n_frames, 'frame')}"
            )
            for span in hits.get(s.index, []):
                info.markdown(
                    f":orange-badge[{labels.plain(span.keyword)}] "
                    f"{time_label(span.start_s)} - {time_label(span.end_s)}"
                )
            for col, k, t in zip(cols, s.keyframes, s.keyframe_times_s, strict=False):
                col.image(images[k], caption=time_label(t), width="stretch")
                text = texts.caption_of(caption_rows, int(ev.indices[k]), float(t), fps)
                if text:
                    col.markdown(f":material/chat: *{labels.plain(text)}*")
            if subtitles is not None:
                said = subtitles.text_between(s.start_s, s.end_s)
                st.caption(
                    f":material/subtitles: {labels.plain(said)}" if said else "(nothing said)"
                )

    st.subheader("Downloads")
    stem = video_stem(row["name"])
    d1, d2, d3, d4, _ = st.columns([1, 1, 1, 1.2, 1])

    def deferred(what: str):
        """The download's bytes, made when it is clicked; clips (ffmpeg) and full-size
        keyframes go through the server's job queue."""

        def make() -> bytes:
            args = (ev, seg, sample, embed, what, subtitles, keywords)
            if what in ("clips", "keyframes"):
                with caches.job_queue().slot():
                    return downloads.segment_downloads(*args)
            return downloads.segment_downloads(*args)

        return make

    d1.download_button(
        "Keyframes (ZIP)",
        deferred("keyframes"),
        f"{stem}-keyframes.zip",
        "application/zip",
        on_click="ignore",
        icon=":material/photo_library:",
    )
    d2.download_button(
        "Segments (JSON)",
        deferred("json"),
        f"{stem}-segments.json",
        "application/json",
        on_click="ignore",
        icon=":material/data_object:",
    )
    d3.download_button(
        "Segments (CSV)",
        deferred("csv"),
        f"{stem}-segments.csv",
        "text/csv",
        on_click="ignore",
        icon=":material/table:",
    )
    has_source = uploads.source_file(store, row["sha256"]) is not None and ev.ref.kind == "video"
    d4.download_button(
        "Clips (ZIP of MP4)",
        deferred("clips"),
        f"{stem}-clips.zip",
        "application/zip",
        on_click="ignore",
        icon=":material/movie:",
        disabled=not has_source,
        help=None if has_source else "The video file is not kept on this server.",
    )

    st.caption("For your editor: the segments as a timeline, and the keyframe list.")
    e = st.columns(5)
    for col, (what, label, icon, help_text) in zip(e, panels.EDITOR_BUTTONS, strict=False):
        name, mime = downloads.EDITOR_FILES[what]
        col.download_button(
            label,
            deferred(what),
            f"{stem}-{name}",
            mime,
            on_click="ignore",
            icon=icon,
            help=help_text,
        )

    if texts.endpoint_configured():
        panels.caption_action(store, ev, seg)
