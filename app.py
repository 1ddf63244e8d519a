"""The keyframe-atlas dashboard: Home (library, uploads, sample video) and the navigation.

Run with ``make app`` (``streamlit run app.py``). The other pages are in ``pages/``.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from summarizer.app import caches, catalog, labels, processing, ui, uploads, urlstate


def show_outcome(outcome: dict, embedder: str) -> None:
    """One line per processed file: links to its results, or what went wrong."""
    if outcome.get("error"):
        st.error(f"**{outcome['name']}**: {outcome['error']}", icon=":material/error:")
        return
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="center")
    c1.success(
        f"**{outcome['name']}**: {labels.plural(outcome['frames'], 'frame')}, "
        f"{labels.plural(outcome['segments'], 'segment')}"
        + (" (from the store)" if outcome["cached"] else ""),
        icon=":material/check_circle:",
    )
    params = {"video": outcome["sha256"], "emb": embedder}
    c2.page_link(
        "pages/1_Seams.py", label="Open seams", icon=":material/timeline:", query_params=params
    )
    c3.page_link(
        "pages/2_Summary.py", label="Open summary", icon=":material/grid_view:", query_params=params
    )


def process_items(items: list[tuple[str, object]], store, sample, embed) -> list[dict]:
    """Process (name, bytes or file) uploads one by one: a bar for the files, and for each
    file a bar per stage. Never raises: each file's outcome says what happened."""
    limit = int(st.get_option("server.maxUploadSize")) * 1024 * 1024
    overall = st.progress(0.0, text=f"File 1 of {len(items)}")
    outcomes = []
    for i, (name, data) in enumerate(items):
        overall.progress(i / len(items), text=f"File {i + 1} of {len(items)}: {name}")
        slot = st.empty()  # the file's progress box, cleared if the file fails
        box = slot.container(border=True)
        box.markdown(f"**{name}**")
        bars = {
            stage: col.progress(0.0, text=f"{k + 1}. {processing.STAGE_LABELS[stage]}")
            for k, (stage, col) in enumerate(
                zip(processing.STAGES, box.columns(len(processing.STAGES)), strict=True)
            )
        }

        def on_progress(stage: str, frac: float, detail: str, bars=bars) -> None:
            k = processing.STAGES.index(stage)
            text = f"{k + 1}. {processing.STAGE_LABELS[stage]}" + (f": {detail}" if detail else "")
            bars[stage].progress(frac, text=text)

        outcome = processing.ingest_and_process(
            store, name, data, sample, embed, limit, on_progress
        )
        if outcome.get("error"):
            slot.empty()  # the error line below says what happened
        outcomes.append(outcome)
        overall.progress((i + 1) / len(items), text=f"File {i + 1} of {len(items)} done")
    overall.empty()
    return outcomes


def library(store, embedder: str) -> None:
    """The catalogued videos: thumbnail, name, duration, added, what is computed, links."""
    rows = store.videos()
    if not rows:
        st.info("No videos yet. Upload one above or try the sample video.")
        return
    table = []
    for row in rows:
        done = catalog.computed_summary(store, row["sha256"])
        q = f"?video={row['sha256']}&emb={embedder}"
        table.append(
            {
                "thumbnail": caches.cached_library_thumbnail(
                    str(store.root), row["sha256"], len(done)
                ),
                "name": row["name"],
                "duration": labels.fmt_duration(row["duration_s"]),
                "size": f"{row['width']}x{row['height']}",
                "added": datetime.fromtimestamp(row["added_at"]).strftime("%Y-%m-%d %H:%M"),
                "computed": catalog.computed_text(done),
                "seams": f"seams{q}",
                "summary": f"summary{q}",
            }
        )
    st.dataframe(
        pd.DataFrame(table),
        hide_index=True,
        width="stretch",
        row_height=64,
        column_config={
            "thumbnail": st.column_config.ImageColumn("", width="small"),
            "seams": st.column_config.LinkColumn("seams", display_text="open seams"),
            "summary": st.column_config.LinkColumn("summary", display_text="open summary"),
        },
    )
    st.caption(f"{labels.plural(len(rows), 'video')} in the library.")


def home() -> None:
    """Home: the pitch, uploads, the sample video, the library."""
    st.title("keyframe-atlas")
    st.markdown(
        "Turn videos into a few keyframes: find the scene seams, summarise each video, and map a "
        "whole collection onto one browsable, printable poster.  \n"
        "Upload videos (or try the sample), then open **Seams**, **Summary** or **Latent map** "
        "in the sidebar. Every result is cached, and every page's link reopens the same view."
    )
    store = caches.get_store()
    embed = ui.sidebar_embedder()
    sample = processing.sample_settings()
    urlstate.sync_query({"emb": embed.embedder})
    st.sidebar.caption(f"Store: `{store.root}`")

    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Add videos")
        limit_mb = int(st.get_option("server.maxUploadSize"))
        files = st.file_uploader(
            "Video files",
            type=list(uploads.VIDEO_TYPES),
            accept_multiple_files=True,
            help=f"Accepted types: {', '.join(uploads.VIDEO_TYPES)}. Up to {limit_mb:,} MB per file "
            "(server.maxUploadSize in .streamlit/config.toml). Several files at once are fine.",
        )
        go = st.button(
            f"Process {labels.plural(len(files), 'file')}" if files else "Process",
            type="primary",
            disabled=not files,
            icon=":material/play_arrow:",
        )
    with right:
        st.subheader("No video at hand?")
        st.write(
            "Make a 21-second sample locally: four scenes (a still, a pan, a moving object after a "
            "dissolve, a zoom) with known cuts at 5, 11 and 16 s."
        )
        try_sample = st.button("Try the sample video", icon=":material/science:")

    if go and files:
        st.session_state["outcomes"] = process_items(
            [(f.name, f) for f in files], store, sample, embed
        )
    elif try_sample:
        with st.spinner("Making the sample video..."), tempfile.TemporaryDirectory() as tmp:
            from summarizer.synth import sample_video

            path = sample_video(Path(tmp) / "sample-four-scenes.mp4")
            st.session_state["outcomes"] = process_items(
                [(path.name, path.read_bytes())], store, sample, embed
            )
    for outcome in st.session_state.get("outcomes", []):
        show_outcome(outcome, embed.embedder)

    st.divider()
    st.subheader("Library")
    library(store, embed.embedder)


PAGES = [
    st.Page(home, title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("pages/1_Seams.py", title="Seams", icon=":material/timeline:", url_path="seams"),
    st.Page("pages/2_Summary.py", title="Summary", icon=":material/grid_view:", url_path="summary"),
    st.Page(
        "pages/3_Latent_map.py",
        title="Latent map",
        icon=":material/scatter_plot:",
        url_path="latent-map",
    ),
]
ui.HOME_PAGE = PAGES[0]
st.set_page_config(page_title="keyframe-atlas", page_icon=":material/movie:", layout="wide")
st.navigation(PAGES).run()
