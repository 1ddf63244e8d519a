"""Streamlit pieces every page shares: page setup, sidebar pickers, error boundary, the job
queue's waiting notice, the embed button."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st

from summarizer.app import caches, nav, privacy
from summarizer.app.caches import clip_problem
from summarizer.app.labels import for_app, model_label, plain, video_label
from summarizer.app.processing import BAR_OF, STAGES, process_video, stage_text
from summarizer.app.uploads import source_file
from summarizer.app.urlparams import qp_choice, qp_get
from summarizer.app.urlstate import bound

log = logging.getLogger("summarizer.app")

EMBEDDERS = ("clip", "pixels")
EMBEDDER_LABELS = {"clip": "CLIP ViT-B-32 (semantic)", "pixels": "pixels (model-free, instant)"}


def page_setup(title: str, icon: str = ":material/movie:") -> None:
    """First call of every page: the app's navigation (see `nav.ensure`) and the tab title."""
    nav.ensure()
    st.set_page_config(page_title=f"{title} · keyframe-atlas", page_icon=icon, layout="wide")


def sidebar_embedder() -> Any:
    """Sidebar: the embedder choice (URL ``emb``), with a notice when CLIP is unavailable.

    Returns the `EmbedSettings` to use. The default is CLIP when its weights load here, else
    the model-free pixels embedder.
    """
    from summarizer.config import EmbedSettings

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
                st.caption(message(problem))
    return EmbedSettings(embedder=st.session_state["emb"])


def message(text: str) -> str:
    """A library or CLI message for a page: no command-line flags, no server paths (unless
    the operator asked for them, `privacy.show_paths`), no Markdown read into it."""
    return plain(privacy.redact(for_app(str(text)), [caches.get_store().root]))


def sidebar_store_path(store: Any) -> None:
    """The store's folder in the sidebar, only for whoever runs the server."""
    if privacy.show_paths():
        st.sidebar.caption(f"Store: `{store.root}`")


def heavy_job(box: Any = None) -> Any:
    """A context manager holding a slot of the server's job queue (`jobs.JobQueue`); while
    other heavy jobs run, `box` (default: the page) says how many are ahead."""
    import contextlib

    queue = caches.job_queue()

    @contextlib.contextmanager
    def hold():  # type: ignore[no-untyped-def]
        notice = (box or st).empty()
        shown = [None]

        def on_wait(ahead: int) -> None:
            if shown[0] != ahead:
                shown[0] = ahead
                notice.info(
                    f"Waiting for {ahead} other job{'s' if ahead != 1 else ''} on this server "
                    "(embedding, map training or posters run one at a time).",
                    icon=":material/hourglass_top:",
                )

        with queue.slot(on_wait):
            notice.empty()
            yield

    return hold()


def friendly_errors() -> Any:
    """A context manager: user errors become one red line, bugs a short apology (logged)."""
    import contextlib

    from summarizer.errors import AtlasError

    @contextlib.contextmanager
    def boundary():  # type: ignore[no-untyped-def]
        try:
            yield
        except AtlasError as exc:
            st.error(message(str(exc)), icon=":material/error:")
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
    st.info("The library is empty: upload a video or try the sample video on the Home page.")
    st.page_link(nav.HOME, label="Go to Home", icon=":material/home:")
    st.stop()


def pick_video(store: Any, key: str = "video") -> dict[str, Any] | None:
    """Sidebar video picker over the catalog (URL ``video``, else the session's last video).

    Shows a pointer to the Home page and stops the page when the library is empty.
    """
    rows = store.videos()
    by_hash = {r["sha256"]: r for r in rows}
    wanted = qp_get(st.query_params, "video")
    if wanted and wanted not in by_hash:
        st.warning(
            f"The link names a video ({plain(str(wanted)[:12])}...) that is not in this server's "
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


def embed_here(store: Any, row: Mapping[str, Any], sample: Any, embed: Any) -> None:
    """A button that embeds a catalogued video with the chosen embedder (progress bar)."""
    src = source_file(store, row["sha256"])
    label = model_label(embed.model_id)
    if src is None:
        st.error(
            f"{plain(row['name'])} has no {label} embeddings in the store and its file is gone; "
            "upload it again on the Home page."
        )
        st.stop()
    st.info(f"{plain(row['name'])} has not been embedded with {label} yet.")
    if not st.button(f"Embed it with {label}", type="primary", icon=":material/play_arrow:"):
        st.stop()
    bar = st.progress(0.0, text="starting")

    def on_progress(stage: str, done: int, total: int) -> None:
        k = STAGES.index(BAR_OF.get(stage, "scenes"))
        frac = min(done / total, 1.0) if total else 0.0
        bar.progress((k + frac) / len(STAGES), text=stage_text(stage, done, total))

    from summarizer.app.sources import reopen

    opened = reopen(row, src)  # a live capture keeps its link + identity key
    with friendly_errors():
        with heavy_job():
            process_video(store, opened, sample, embed, row["name"], on_progress)
        caches.library_changed()
        st.rerun()
    st.stop()
