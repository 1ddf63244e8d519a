"""Seams page panels: the subtitles expander (add .srt/.vtt, keywords), the "Caption
keyframes" action, and the editor download buttons' labels. Streamlit glue; the work is in
`summarizer.app.texts` and `summarizer.app.downloads`."""

from __future__ import annotations

from typing import Any

import streamlit as st

from summarizer.app import frames, labels, texts, ui, urlparams, urlstate
from summarizer.errors import AtlasError

EDITOR_BUTTONS = (
    (
        "edl",
        "EDL (CMX 3600)",
        ":material/movie_edit:",
        "An edit decision list: one event per segment.",
    ),
    (
        "otio",
        "OpenTimelineIO",
        ":material/view_timeline:",
        "A .otio timeline: one clip per segment (subtitle text in each clip's metadata).",
    ),
    ("fcpxml", "Final Cut Pro XML", ":material/video_file:", "Final Cut Pro 7 XML (xmeml)."),
    (
        "keyframe_list",
        "Keyframe list (CSV)",
        ":material/format_list_numbered:",
        "One row per keyframe: segment, time, source frame number, timecode, image name.",
    ),
)


def words_panel(store: Any, row: dict, seg: Any) -> tuple:
    """The Subtitles expander: add .srt/.vtt, keywords to find. Returns (Subtitles or None,
    keywords, segment index -> keyword spans)."""
    from summarizer.sources.subtitles import parse_keywords

    subtitles, keywords, hits = None, (), {}
    try:
        subtitles = texts.load(store, row["sha256"])
    except AtlasError as exc:
        st.warning(f"Subtitles: {ui.message(str(exc))}", icon=":material/subtitles_off:")
    with st.expander("Subtitles", icon=":material/subtitles:", expanded=False):
        if subtitles is not None:
            st.caption(
                f"{labels.plural(len(subtitles.cues), 'line')} of subtitles; what is said in "
                "each segment is shown under it."
            )
        else:
            st.caption(
                "No subtitles for this video. Add a .srt or .vtt file to see what is said in "
                "each segment (a link's subtitles are fetched with it when the site has them)."
            )
        up = st.file_uploader(
            "Add subtitles", type=list(texts.SUBTITLE_TYPES), key=f"subs_{row['sha256'][:12]}"
        )
        if up is not None and st.session_state.get("_subs_kept") != up.file_id:
            try:
                texts.keep_subtitles(store, row["sha256"], up.name, up.getvalue())
            except AtlasError as exc:
                st.error(ui.message(str(exc)), icon=":material/error:")
            else:
                st.session_state["_subs_kept"] = up.file_id
                st.rerun()
        if subtitles is not None:
            raw = st.text_input(
                "Keywords",
                **urlstate.bound(
                    "seam_keywords", "kw", lambda qp: str(urlparams.qp_get(qp, "kw", "") or "")
                ),
                placeholder="cat, dog",
                help="Comma-separated words: the segments where they are said are marked, and "
                "the downloads list the spans.",
            )
            keywords = parse_keywords(raw)
            if keywords:
                hits = texts.keyword_hits(subtitles, keywords, seg.segments)
                n = len({id(x) for spans in hits.values() for x in spans})
                st.caption(f"{labels.plural(n, 'span')} in {labels.plural(len(hits), 'segment')}.")
    return subtitles, keywords, hits


def caption_action(store: Any, ev: Any, seg: Any) -> None:
    """Caption keyframes with the configured OpenAI-compatible endpoint (off by default:
    only offered when the server has OPENAI_BASE_URL or OPENAI_MODEL)."""
    st.subheader("Captions")
    st.caption(
        "Ask the multimodal model configured on this server (OPENAI_BASE_URL / OPENAI_MODEL) "
        "for one sentence per keyframe; captions appear under the keyframes above."
    )
    error = st.session_state.pop("caption_error", None)  # from the last click, shown once
    if error:
        st.error(error, icon=":material/error:")
    done = st.session_state.pop("caption_done", None)
    if done:
        st.success(done, icon=":material/check_circle:")
    if not st.button("Caption keyframes", icon=":material/chat:", key="caption_go"):
        return
    bar = st.progress(0.0, text="Captioning keyframes")

    def on_progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{done} of {total} keyframes")

    with ui.heavy_job():
        try:
            made, error = texts.caption_keyframes(
                store, ev, seg, lambda pos: list(frames.decode_frames(ev, pos, 512)), on_progress
            )
        except AtlasError as exc:
            made, error = 0, str(exc)
    bar.empty()
    if error:
        kept = f" ({labels.plural(made, 'caption')} made before it are kept)" if made else ""
        st.session_state["caption_error"] = f"Captions: {ui.message(error)}{kept}"
    else:
        st.session_state["caption_done"] = f"{labels.plural(made, 'keyframe')} captioned."
    st.rerun()
