"""Latent map: every frame of a collection on one 2-D map to explore (pictures on the map,
box and lasso selection, colours by video, segment or cluster, density, search by frame and
by text), paths of videos through it, similar clips, and a printable poster.

The map of a set of videos + settings is trained once and kept in the store; the URL holds
the videos, settings and view, so a link shows the same map at once.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from summarizer.app import (
    caches,
    catalog,
    downloads,
    explorer,
    labels,
    posters,
    processing,
    ui,
    uploads,
    urlparams,
    urlstate,
)
from summarizer.atlas.trajectories import most_dissimilar, similar_clips
from summarizer.config import section_class
from summarizer.errors import AtlasError
from summarizer.outputs.files import time_label
from summarizer.poster.layout import PosterSettings

ui.page_setup("Latent map", ":material/scatter_plot:")
store = caches.get_store()
embed = ui.sidebar_embedder()
sample = processing.sample_settings()
rows = store.videos()
if not rows:
    st.title("Latent map")
    ui.empty_library()
by_hash = {r["sha256"]: r for r in rows}
LatentSettings = section_class("latent")  # the class, wherever the atlas package keeps it
d = LatentSettings()

with st.sidebar:
    st.subheader("Map settings")
    chosen = st.multiselect(
        "Videos on the map",
        list(by_hash),
        format_func=lambda h: labels.video_label(by_hash[h]),
        **urlstate.bound(
            "map_videos",
            "videos",
            lambda qp: (
                [h for h in urlparams.qp_list(qp, "videos") if h in by_hash] or list(by_hash)
            ),
        ),
    )
    st.slider(
        "Most epochs",
        5,
        300,
        help="Training stops earlier when the validation loss stops improving.",
        **urlstate.bound(
            "map_epochs", "epochs", lambda qp: urlparams.qp_int(qp, "epochs", d.epochs, 5, 300)
        ),
    )
    st.number_input(
        "Seed",
        0,
        10_000,
        step=1,
        **urlstate.bound(
            "map_seed", "seed", lambda qp: urlparams.qp_int(qp, "seed", d.seed, 0, 10_000)
        ),
    )

settings = LatentSettings(
    epochs=int(urlstate.kept("map_epochs", d.epochs)), seed=int(urlstate.kept("map_seed", d.seed))
)
st.title("Latent map")
if not chosen:
    st.info("Choose at least one video in the sidebar.")
    st.stop()

videos, missing = caches.map_embedded(store, chosen, sample, embed)
if missing:
    names = ", ".join(labels.plain(by_hash[h]["name"]) for h in missing)
    st.warning(f"Not embedded with {labels.model_label(embed.model_id)} yet: {names}.")
    if st.button("Embed them now", icon=":material/play_arrow:"):
        bar = st.progress(0.0)
        with ui.friendly_errors():
            with ui.heavy_job():
                for i, h in enumerate(missing):
                    name = labels.plain(by_hash[h]["name"])
                    src = uploads.source_file(store, h)
                    if src is None:
                        st.error(f"{name}: its file is not kept here; upload it again.")
                        continue
                    processing.process_video(
                        store,
                        src,
                        sample,
                        embed,
                        by_hash[h]["name"],
                        lambda stage, done, total, i=i, name=name: bar.progress(
                            (i + (done / total if total else 0.0)) / len(missing),
                            text=f"{name}: {processing.stage_text(stage, done, total)}",
                        ),
                    )
            caches.library_changed()
            st.rerun()
if not videos:
    st.stop()

POSTER_PARAMS = ("cx", "cy", "pw", "cols", "rows", "wcm", "hcm", "dpi")
EXPLORE_PARAMS = ("color", "k", "dens", "pics", "view")  # kept until the map is drawn
WINDOW_MAX = 10.0  # the widest poster window (a wide print of the whole map needs > 2)
urlstate.sync_query(
    {
        # kept until the poster runs
        **{k: urlparams.qp_get(st.query_params, k) for k in POSTER_PARAMS + EXPLORE_PARAMS},
        "emb": embed.embedder,
        "videos": ",".join(chosen),
        "epochs": settings.epochs,
        "seed": settings.seed,
        "path": urlstate.kept("map_path", None),
    }
)

with ui.friendly_errors():
    stored = catalog.map_is_stored(store, videos, settings)
    if not stored:
        n = sum(len(v.times_s) for v in videos)
        prompt = st.empty()  # cleared once training starts: it is about a map not made yet
        with prompt.container():
            st.write(
                f"{labels.plural(len(videos), 'video')}, {labels.plural(n, 'frame')}. Training "
                f"the map takes up to {labels.plural(settings.epochs, 'epoch')}; the result is "
                "kept for the next visit."
            )
            train = st.button("Train the map", type="primary", icon=":material/model_training:")
        if not train:
            st.stop()
        prompt.empty()
        bar = st.progress(0.0, text="preparing (PCA)")

        def on_epoch(epoch: int, total: int, loss: float) -> None:
            bar.progress(
                min(epoch / max(total, 1), 1.0),
                text=f"epoch {epoch} of at most {total}, loss {loss:.4f}",
            )

        with ui.heavy_job():
            trained = catalog.map_runner()(videos, settings, store, progress=on_epoch)
        bar.empty()
        # Show it from the store, like every later view (the same figure, so a selection
        # made on it right away is kept), and say how long the training took.
        st.session_state["map_trained"] = (trained.path and str(trained.path), trained.seconds)
        st.rerun()
    with st.spinner("Opening the map..."):
        lmap = caches.cached_map(
            str(store.root),
            tuple(sorted({v.ref.sha256 for v in videos})),
            sample,
            embed,
            settings,
        )

    order = {h: i for i, h in enumerate(lmap.hashes)}
    videos = sorted(videos, key=lambda v: order[v.ref.sha256])
    thumbs = [v.thumbnails for v in videos]
    tile_aspect = (
        float(thumbs[0].shape[2]) / float(thumbs[0].shape[1]) if len(thumbs[0]) else 16 / 9
    )
    nv = len(lmap.names)
    info = f"{labels.plural(len(lmap.coords), 'frame')} of {labels.plural(nv, 'video')}"
    info += f" · {lmap.method}"
    if lmap.method == "autoencoder":
        info += f", {labels.plural(lmap.epochs_run, 'epoch')}"
    just = st.session_state.get("map_trained")
    if just and just[0] == (lmap.path and str(lmap.path)):
        info += f" · trained in {just[1]:.1f} s"
    else:
        info += " · loaded from the store" if lmap.cache_hit else f" · made in {lmap.seconds:.1f} s"
    info += ". Another seed or number of epochs in the sidebar trains another map."
    st.caption(info)
    if lmap.note:
        st.info(lmap.note)

    names = list(lmap.names)
    map_id = (tuple(str(h) for h in lmap.hashes), str(embed.model_id), settings)
    points = caches.map_points(map_id, lmap, tuple(videos))
    explorer_box = st.container()  # filled below, once the poster window is known

    st.subheader("Poster")
    map_col, side_col = st.columns([3, 2], gap="large")
    with map_col:

        def num(key, param, default, lo, hi, kind=float):
            return urlstate.bound(
                key, param, lambda qp: kind(urlparams.qp_float(qp, param, default, lo, hi))
            )

        s1, s2, s3 = st.columns(3)
        w_cm = s1.number_input(
            "width (cm)", 5.0, 500.0, step=5.0, **num("poster_wcm", "wcm", 60.0, 5.0, 500.0)
        )
        h_cm = s2.number_input(
            "height (cm)", 5.0, 500.0, step=5.0, **num("poster_hcm", "hcm", 90.0, 5.0, 500.0)
        )
        dpi = s3.number_input(
            "DPI", 10, 600, step=10, **num("poster_dpi", "dpi", 150, 10, 600, int)
        )
        # Defaults: a window that holds every frame, about one cell per frame. They follow
        # the map and the print size until the user changes them (or a link sets them).
        auto_cols, auto_rows = posters.fit_grid(
            len(lmap.coords), (float(w_cm), float(h_cm)), tile_aspect
        )
        auto_cx, auto_cy, auto_w = posters.fit_window(lmap.coords, (float(w_cm), float(h_cm)))
        auto = {
            "poster_cols": auto_cols,
            "poster_rows": auto_rows,
            "poster_cx": auto_cx,
            "poster_cy": auto_cy,
            "poster_w": min(auto_w, WINDOW_MAX),
        }
        urlstate.follow_defaults("poster", auto)
        g1, g2 = st.columns(2)
        cols = g1.number_input(
            "columns", 1, 200, **num("poster_cols", "cols", auto["poster_cols"], 1, 200, int)
        )
        rows_n = g2.number_input(
            "rows", 1, 200, **num("poster_rows", "rows", auto["poster_rows"], 1, 200, int)
        )
        p1, p2, p3 = st.columns(3)
        cx = p1.number_input(
            "window centre x",
            -1.0,
            1.0,
            step=0.05,
            **num("poster_cx", "cx", auto["poster_cx"], -1.0, 1.0),
        )
        cy = p2.number_input(
            "window centre y",
            -1.0,
            1.0,
            step=0.05,
            **num("poster_cy", "cy", auto["poster_cy"], -1.0, 1.0),
        )
        pw = p3.number_input(
            "window width",
            0.05,
            WINDOW_MAX,
            step=0.05,
            **num("poster_w", "pw", auto["poster_w"], 0.05, WINDOW_MAX),
        )
        repeats = st.checkbox("A frame may fill several cells", key="poster_repeats")
        poster = PosterSettings(
            cols=int(cols),
            rows=int(rows_n),
            center=(float(cx), float(cy)),
            width=float(pw),
            height=float(pw) * (float(h_cm) / float(w_cm)),
            size_cm=(float(w_cm), float(h_cm)),
            dpi=float(dpi),
            allow_repeats=repeats,
        )
        urlstate.sync_query(
            {
                **urlstate.query_written(),
                "cx": urlparams.fmt_num(cx),
                "cy": urlparams.fmt_num(cy),
                "pw": urlparams.fmt_num(pw),
                "cols": cols,
                "rows": rows_n,
                "wcm": urlparams.fmt_num(w_cm),
                "hcm": urlparams.fmt_num(h_cm),
                "dpi": dpi,
            }
        )
        too_big = None
        try:
            full_w, full_h = poster.canvas_size()
        except AtlasError as exc:
            too_big = ui.message(str(exc))
        else:
            st.caption(f"Print: {w_cm:g} x {h_cm:g} cm at {dpi} dpi = {full_w:,} x {full_h:,} px")
            if full_w * full_h > posters.APP_MAX_PIXELS:
                too_big = (
                    f"A {full_w:,} x {full_h:,} px poster needs about "
                    f"{labels.fmt_bytes(posters.render_bytes(full_w, full_h))} of memory; this "
                    f"server renders up to {posters.APP_MAX_PIXELS / 1e6:,.0f} megapixels. Lower "
                    "the DPI or the print size, or render it with `keyframe-atlas poster`."
                )
        if too_big:
            st.warning(too_big, icon=":material/warning:")
    with explorer_box:
        x0, y0, x1, y1 = poster.bounds
        explorer.explore_map(points, map_id, videos, (x0, x1, y0, y1), embed)
    with side_col:
        with st.spinner("Rendering the preview..."):
            preview_px = (600, max(16, int(600 * h_cm / w_cm)))
            preview = dataclasses.replace(
                poster, size_cm=None, size_px=preview_px, use_source=False
            )
            png, layout = caches.poster_preview(map_id, preview, lmap, tuple(videos))
        st.image(png, caption="Preview (from thumbnails)", width="stretch")
        empty = sum(1 for t in layout["tiles"] if t.get("empty"))
        if empty:
            st.caption(
                f"{empty} of {labels.plural(len(layout['tiles']), 'cell')} "
                f"{'is' if empty == 1 else 'are'} empty: the window holds fewer frames than "
                "cells. Use fewer cells, a wider window, or let a frame fill several cells."
            )
        stem = "latent-map-poster"
        b1, b2 = st.columns(2)
        b1.download_button(
            "Poster PNG",
            lambda: heavy_poster(poster, "png"),
            f"{stem}.png",
            "image/png",
            on_click="ignore",
            icon=":material/image:",
            disabled=bool(too_big),
        )
        b2.download_button(
            "Poster PDF",
            lambda: heavy_poster(poster, "pdf"),
            f"{stem}.pdf",
            "application/pdf",
            on_click="ignore",
            icon=":material/picture_as_pdf:",
            disabled=bool(too_big),
        )

    def heavy_poster(settings: PosterSettings, fmt: str) -> bytes:
        """The full poster, rendered through the server's job queue."""
        with caches.job_queue().slot():
            return downloads.render_poster_bytes(videos, lmap, settings, fmt)[0]

    st.subheader("Similar clips")
    q1, q2 = st.columns([1, 2])
    query = q1.selectbox("Like this video", names, key="sim_query")
    qv = names.index(query)
    qtimes = lmap.times_s[lmap.video_index == qv]
    t_lo, t_hi = float(qtimes.min()), float(qtimes.max())
    rng = q2.slider(
        "Time range of the query (the whole video: compare whole videos)",
        t_lo,
        max(t_hi, t_lo + 0.1),
        (t_lo, max(t_hi, t_lo + 0.1)),
        key="sim_range",
    )
    whole = rng[0] <= t_lo + 1e-6 and rng[1] >= t_hi - 1e-6
    if len(names) < 2 and whole:
        st.caption("Add a second video to the map to compare whole videos, or narrow the range.")
    else:
        matches = similar_clips(
            lmap.coords,
            lmap.video_index,
            lmap.times_s,
            qv,
            None if whole else rng[0],
            None if whole else rng[1],
            include_same_video=not whole,
            top_k=8,
        )
        table = pd.DataFrame(
            [
                {
                    "video": names[m.video],
                    "from": time_label(m.start_s),
                    "to": time_label(m.end_s),
                    "distance": round(m.distance, 4),
                    "frames": m.frames,
                }
                for m in matches
            ]
        )
        if table.empty:
            st.caption("No other clip to compare with.")
        else:
            st.dataframe(table, hide_index=True, width="stretch")
            st.caption(
                "Distance: symmetric mean nearest-point (chamfer) distance between the paths on "
                "the map; smaller is more alike."
            )
    if len(names) >= 3:
        outliers = most_dissimilar(lmap.coords, lmap.video_index, lmap.times_s)
        st.markdown("**Least like the rest**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "video": names[o.video],
                        "mean distance": round(o.mean_distance, 4),
                        "nearest": names[o.nearest_video],
                    }
                    for o in outliers[:5]
                ]
            ),
            hide_index=True,
            width="stretch",
        )
