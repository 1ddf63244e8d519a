"""Home: the pitch, uploads (several at once), links (URLs, streams), the sample video, the
library."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from summarizer.app import (
    caches,
    catalog,
    jobs,
    labels,
    nav,
    processing,
    sources,
    ui,
    uploads,
    urlstate,
)
from summarizer.errors import AtlasError, InputError

ui.page_setup("Home", ":material/home:")


def show_outcome(outcome: dict, embedder: str) -> None:
    """One line per processed file: links to its results, or what went wrong."""
    name = labels.plain(outcome["name"])
    if outcome.get("error"):
        st.error(f"**{name}**: {ui.message(outcome['error'])}", icon=":material/error:")
        return
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="center")
    c1.success(
        f"**{name}**: {labels.plural(outcome['frames'], 'frame')}, "
        f"{labels.plural(outcome['segments'], 'segment')}"
        + (" (from the store)" if outcome["cached"] else "")
        + (f"; from a link, {sources.key_text(outcome['key_kind'])}" if outcome.get("url") else ""),
        icon=":material/check_circle:",
    )
    params = {"video": outcome["sha256"], "emb": embedder}
    c2.page_link(nav.SEAMS, label="Open seams", icon=":material/timeline:", query_params=params)
    c3.page_link(
        nav.SUMMARY, label="Open summary", icon=":material/grid_view:", query_params=params
    )


def keep_uploads(files: list, store, limit: int) -> list:
    """Copy every uploaded file to disk and free its copy in memory: per file, in order,
    the `SavedUpload` or the outcome saying why it was refused."""
    kept = []
    bar = st.progress(0.0, text="Saving the uploads")
    for i, f in enumerate(files):
        bar.progress(i / len(files), text=f"Saving {labels.plain(f.name)}")
        try:
            kept.append(uploads.save_upload(store, f.name, f, limit))
        except InputError as exc:  # wrong type, empty, too large
            kept.append({"name": f.name, "error": processing.error_about(str(exc), f.name, None)})
        finally:
            uploads.release(f)
    bar.empty()
    return kept


def process_saved(items: list, store, sample, embed) -> list[dict]:
    """Process kept uploads one by one (outcomes already made pass through). Never raises:
    each outcome says what happened."""
    saved = [item for item in items if not isinstance(item, dict)]
    jobs = [
        (
            item.name,
            lambda bar, item=item: processing.process_saved(store, item, sample, embed, bar),
        )
        for item in saved
    ]
    done = dict(zip(map(id, saved), run_jobs(jobs), strict=True))
    return [item if isinstance(item, dict) else done[id(item)] for item in items]


def run_jobs(jobs: list) -> list[dict]:
    """Run (name, job) pairs one by one, `job(on_progress)` -> outcome: a bar for the files,
    and per file a bar per stage, through the server's job queue."""
    outcomes = []
    overall = st.progress(0.0, text=f"File 1 of {len(jobs)}")
    for i, (name, job) in enumerate(jobs):
        overall.progress(i / len(jobs), text=f"File {i + 1} of {len(jobs)}")
        slot = st.empty()  # the file's progress box, cleared when it is done
        box = slot.container(border=True)
        box.markdown(f"**{labels.plain(name)}**")
        cols = box.columns(len(processing.STAGES))
        bars = {
            stage: col.progress(0.0, text=f"{k + 1}. {processing.STAGE_LABELS[stage]}")
            for k, (stage, col) in enumerate(zip(processing.STAGES, cols, strict=True))
        }

        def on_progress(stage: str, done: int, total: int, bars=bars) -> None:
            bar = processing.BAR_OF.get(stage)
            if bar is None:
                return
            k = processing.STAGES.index(bar)
            frac = min(done / total, 1.0) if total else 0.0
            text = f"{k + 1}. {processing.stage_text(stage, done, total)}"
            bars[bar].progress(frac, text=text)

        with ui.heavy_job(box):
            outcomes.append(job(on_progress))
        slot.empty()
        overall.progress((i + 1) / len(jobs), text=f"File {i + 1} of {len(jobs)} done")
    overall.empty()
    caches.library_changed()
    return outcomes


def fetch_link(link: str, end_time_s: float, store, sample, embed) -> list[dict]:
    """Fetch the videos behind a link (a download bar, or the seconds so far while a page
    is asked or a stream recorded), then process each like an upload. Never raises: a dead link, a missing
    yt-dlp or a bad address is one outcome with one line. The download itself does not
    take a slot of the job queue (it waits on the network); processing does."""
    shown = labels.plain(link)
    with st.status(f"Fetching {shown}", expanded=True) as status:
        bar = st.progress(0.0, text="Asking the link for its videos")
        seen = {"done": 0, "total": 0}  # yt-dlp's last report (from the fetching thread)

        def on_fetch(_stage: str, done: int, total: int) -> None:
            seen.update(done=done, total=total)

        def tick(elapsed_s: float) -> None:
            done, total = seen["done"], seen["total"]
            if total:
                text = f"Downloading: {labels.fmt_bytes(done)} of {labels.fmt_bytes(total)}"
                bar.progress(min(done / total, 1.0), text=text)
            else:  # a stream being recorded, or a page being asked for its videos
                bar.progress(
                    0.0,
                    text=f"Reading the link: {elapsed_s:.0f} s (a live stream records for "
                    f"{end_time_s:g} s)",
                )

        try:
            limit = int(st.get_option("server.maxUploadSize")) * 1024 * 1024  # as uploads
            found = jobs.run_ticking(
                lambda: sources.fetch(store, link, end_time_s, on_fetch, limit), tick
            )
        except AtlasError as exc:
            status.update(label=f"Could not fetch {shown}", state="error", expanded=False)
            return [{"name": link, "error": processing.error_about(str(exc), link, None)}]
        status.update(
            label=f"Fetched {labels.plural(len(found), 'video')} from {shown}",
            state="complete",
            expanded=False,
        )
    work = [
        (s.name, lambda bar, s=s: processing.process_source(store, s, sample, embed, bar))
        for s in found
    ]
    return run_jobs(work)


KEY_LABELS = {"bytes": "file hash", "stream": "link + stream"}


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
                "name": row["name"],  # a table cell is plain text
                "duration": labels.fmt_duration(row["duration_s"]),
                "size": f"{row['width']}x{row['height']}",
                "added": datetime.fromtimestamp(row["added_at"]).strftime("%Y-%m-%d %H:%M"),
                "computed": catalog.computed_text(done),
                "key": KEY_LABELS.get(row.get("key_kind") or "bytes", row.get("key_kind")),
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
            "key": st.column_config.TextColumn(
                "key",
                help="What the store keys the results by: the hash of the file's bytes, or "
                "for a live stream recorded up to an end time, its link and stream identity.",
            ),
            "seams": st.column_config.LinkColumn("seams", display_text="open seams"),
            "summary": st.column_config.LinkColumn("summary", display_text="open summary"),
        },
    )
    st.caption(f"{labels.plural(len(rows), 'video')} in the library.")


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
ui.sidebar_store_path(store)

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Add videos")
    limit_mb = int(st.get_option("server.maxUploadSize"))
    # A new key after each batch empties the widget, so its files leave the server's memory.
    upload_key = f"uploads_{st.session_state.get('upload_batch', 0)}"
    files = st.file_uploader(
        "Video files",
        type=list(uploads.VIDEO_TYPES),
        accept_multiple_files=True,
        key=upload_key,
        help=f"Accepted types: {', '.join(uploads.VIDEO_TYPES)}. Up to {limit_mb:,} MB per file "
        "(server.maxUploadSize in .streamlit/config.toml). Several files at once are fine.",
    )
    go = st.button(
        f"Process {labels.plural(len(files), 'file')}" if files else "Process",
        type="primary",
        disabled=not files,
        icon=":material/play_arrow:",
    )
    with st.form("link_form", border=False):
        link = st.text_input(
            "Or paste a link",
            key="link",
            placeholder="https://... a video page, a playlist, a video file, or a live stream",
            help="Anything yt-dlp understands (a page, a playlist, ytsearch:QUERY), a direct "
            "http(s) video file, or a stream (HLS .m3u8, RTSP, MJPEG over http). Up to "
            f"{sources.MAX_VIDEOS} videos per link.",
        )
        l1, l2 = st.columns([1, 1], vertical_alignment="bottom")
        end_time = l1.number_input(
            "Live streams: record for (s)",
            min_value=1,
            max_value=3600,
            value=30,
            step=10,
            key="link_end",
            help="Only a live stream (RTSP, MJPEG, live HLS) uses it; videos and streams "
            "that end are read whole.",
        )
        fetch = l2.form_submit_button("Fetch and process", icon=":material/link:")
with right:
    st.subheader("No video at hand?")
    st.write(
        "Make a 21-second sample locally: four scenes (a still, a pan, a moving object after a "
        "dissolve, a zoom) with known cuts at 5, 11 and 16 s."
    )
    try_sample = st.button("Try the sample video", icon=":material/science:")

if go and files:
    kept = keep_uploads(files, store, limit_mb * 1024 * 1024)
    st.session_state["upload_batch"] = st.session_state.get("upload_batch", 0) + 1
    st.session_state["outcomes"] = process_saved(kept, store, sample, embed)
    st.rerun()  # shows the outcomes with an empty upload widget
elif fetch:
    st.session_state["outcomes"] = fetch_link(link, end_time, store, sample, embed)
elif try_sample:
    with st.spinner("Making the sample video..."), tempfile.TemporaryDirectory() as tmp:
        from summarizer.synth import sample_video

        path = sample_video(Path(tmp) / "sample-four-scenes.mp4")
        with path.open("rb") as fh:
            saved = uploads.save_upload(store, path.name, fh)
        st.session_state["outcomes"] = process_saved([saved], store, sample, embed)
for outcome in st.session_state.get("outcomes", []):
    show_outcome(outcome, embed.embedder)

st.divider()
st.subheader("Library")
library(store, embed.embedder)
