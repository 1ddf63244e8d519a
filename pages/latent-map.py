"""Latent map: every frame of a collection on one 2-D map to explore (pictures on the map,
box and lasso selection, colours by video, segment or cluster, density, search by frame and
by text), paths of videos through it, similar clips, and a printable poster.

The map of a set of videos + settings is trained once and kept in the store; the URL holds
the videos, settings and view, so a link shows the same map at once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from summarizer.app import (
    caches,
    catalog,
    downloads,
    explore,
    labels,
    nav,
    posters,
    processing,
    ui,
    uploads,
    urlparams,
    urlstate,
)
from summarizer.atlas.latent import LatentSettings, map_videos
from summarizer.atlas.trajectories import most_dissimilar, similar_clips
from summarizer.errors import AtlasError
from summarizer.outputs.files import time_label
from summarizer.poster.render import PosterSettings

ui.page_setup("Latent map", ":material/scatter_plot:")
store = caches.get_store()
embed = ui.sidebar_embedder()
sample = processing.sample_settings()
rows = store.videos()
if not rows:
    st.title("Latent map")
    ui.empty_library()
by_hash = {r["sha256"]: r for r in rows}
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

GRID_TILES = 24  # frames shown under the map at most (selection or search results)


def frame_grid(rows: np.ndarray, points, videos, key: str) -> None:
    """Frames as a grid: picture, video and time, a link to that moment on the Seams page,
    and a button that searches for frames like it."""
    per_row = 6
    shown = rows[:GRID_TILES]
    for start in range(0, len(shown), per_row):
        cols = st.columns(per_row)
        for col, r in zip(cols, shown[start : start + per_row], strict=False):
            v, pos, t = int(points.video[r]), int(points.position[r]), float(points.time_s[r])
            with col:
                st.image(
                    np.asarray(videos[v].thumbnails[pos]),
                    caption=f"{points.names[v]} · {time_label(t)}",
                    width="stretch",
                )
                st.page_link(
                    nav.SEAMS,
                    label="Open in Seams",
                    icon=":material/timeline:",
                    query_params={
                        "video": points.hashes[v],
                        "emb": embed.embedder,
                        "t": f"{t:.2f}",
                    },
                )
                if st.button("Similar frames", key=f"{key}_{r}", icon=":material/search:"):
                    st.session_state["map_search"] = ("frame", int(r))
                    st.rerun()
    if len(rows) > len(shown):
        st.caption(f"Showing {len(shown)} of {labels.plural(len(rows), 'frame')}, in time order.")


def explore_map(points, map_id, videos, box) -> None:
    """The map to explore: controls, the WebGL map, the selected or found frames."""
    c1, c2, c3, c4, c5 = st.columns([1.2, 1, 1, 1, 1.4], vertical_alignment="bottom")
    color = c1.selectbox(
        "Colour by",
        explore.COLOR_BY,
        format_func=explore.COLOR_LABELS.get,
        **urlstate.bound(
            "map_color",
            "color",
            lambda qp: urlparams.qp_choice(qp, "color", explore.COLOR_BY, "video"),
        ),
    )
    k = int(
        c2.number_input(
            "Clusters",
            2,
            64,
            disabled=color != "cluster",
            **urlstate.bound("map_k", "k", lambda qp: urlparams.qp_int(qp, "k", 12, 2, 64)),
        )
    )
    density = c3.toggle(
        "Density",
        **urlstate.bound("map_dens", "dens", lambda qp: urlparams.qp_bool(qp, "dens", True)),
    )
    pictures = c4.toggle(
        "Pictures",
        help="Frames drawn as pictures on the map, one per cell of a grid over the view; "
        "zoom to a selection for finer ones.",
        **urlstate.bound("map_pics", "pics", lambda qp: urlparams.qp_bool(qp, "pics", True)),
    )
    names = list(points.names)
    path_choice = c5.selectbox(
        "Draw the path of",
        ["(none)", *names],
        **urlstate.bound(
            "map_path",
            "path",
            lambda qp: urlparams.qp_choice(qp, "path", ["(none)", *names], "(none)"),
            choices=["(none)", *names],
        ),
    )
    cells = int(urlstate.kept("map_cells", 14))
    view_list = [float(x) for x in urlparams.qp_list(st.query_params, "view")][:4]
    view = tuple(st.session_state.get("map_view", view_list if len(view_list) == 4 else ())) or None

    with st.spinner("Drawing the map..."):
        clusters = caches.map_clusters(map_id, k, tuple(videos)) if color == "cluster" else None
        codes = explore.colour_codes(points, color, clusters)
        legend = (
            {i: n for i, n in enumerate(names)} if color == "video" and len(names) <= 16 else None
        )
        search = st.session_state.get("map_search")
        found = found_rows(search, points, map_id, videos)
        pic_rows, pic_at, pic_size = (
            explore.thumbnail_rows(points, view, cells) if pictures else ([], None, 0.0)
        )
        pv = names.index(path_choice) if path_choice in names else None
        path_rows = np.flatnonzero(points.video == pv) if pv is not None else None
        look = (color, k, density, pictures, cells, view, search, pv, tuple(box))
        fig = caches.map_figure(
            map_id,
            look,
            points,
            codes,
            {
                "legend": legend,
                "density": density,
                "thumbnails": {
                    int(r): np.asarray(
                        videos[int(points.video[r])].thumbnails[int(points.position[r])]
                    )
                    for r in pic_rows
                },
                "thumb_at": pic_at,
                "thumb_size": pic_size,
                "highlight": found,
                "view": view,
                "path": path_rows,
                "box": box,
            },
        )
    event = st.plotly_chart(
        fig,
        key="map_chart",
        on_select="rerun",
        selection_mode=("box", "lasso", "points"),
        width="stretch",
        config={"displaylogo": False, "scrollZoom": True},
    )
    rows = explore.selected_rows(event, fig)
    st.caption(
        "Each dot is a frame; pictures show the frame at their place. Drag to select with the "
        "lasso (box select is in the chart's toolbar), scroll to zoom, double-click to reset. "
        "The dashed red box is the poster window."
    )
    b1, b2, b3, _ = st.columns([1, 1, 1, 2])
    if b1.button("Zoom to the selection", disabled=not len(rows), icon=":material/zoom_in:"):
        st.session_state["map_view"] = explore.bounds(points, rows)
        st.rerun()
    if b2.button("Whole map", disabled=view is None, icon=":material/zoom_out_map:"):
        st.session_state["map_view"] = ()
        st.rerun()
    if b3.button("Clear search", disabled=search is None, icon=":material/close:"):
        st.session_state.pop("map_search", None)
        st.rerun()
    urlstate.sync_query(
        {
            **urlstate.query_written(),
            "color": color,
            "k": k if color == "cluster" else None,
            "dens": "1" if density else "0",
            "pics": "1" if pictures else "0",
            "view": ",".join(urlparams.fmt_num(round(x, 3)) for x in view) if view else None,
        }
    )

    with st.expander("Search", expanded=search is not None):
        text_search(map_id, videos)
    if search is not None and len(found):
        what = "this frame" if search[0] == "frame" else f"“{labels.plain(search[1])}”"
        st.markdown(f"**Most like {what}** (outlined on the map)")
        frame_grid(found, points, videos, "found")
    if len(rows):
        st.markdown(f"**Selected: {labels.plural(len(rows), 'frame')}**")
        order = np.lexsort((points.time_s[rows], points.video[rows]))
        frame_grid(rows[order], points, videos, "sel")
    elif search is None:
        st.caption("Select frames on the map (lasso or box) to see them here.")


def found_rows(search, points, map_id, videos) -> np.ndarray:
    """Rows of the frames most like the search (an example frame or a CLIP text prompt)."""
    if not search:
        return np.zeros(0, dtype=np.int64)
    emb = caches.map_embeddings(map_id, tuple(videos))
    if search[0] == "frame" and 0 <= int(search[1]) < len(emb):
        return explore.nearest(emb, emb[int(search[1])], top=GRID_TILES)
    if search[0] == "text" and search[1]:
        return explore.nearest(emb, caches.text_query(embed.model_id, search[1]), top=GRID_TILES)
    return np.zeros(0, dtype=np.int64)


def text_search(map_id, videos) -> None:
    """Search by text (CLIP maps only) or by an example frame (from the grid's buttons)."""
    clip_map = embed.model_id.startswith("clip:") and not caches.clip_problem()
    with st.form("map_text_search", border=False):
        text = st.text_input(
            "Find frames showing",
            placeholder="a bicycle on a forest path",
            disabled=not clip_map,
            help="Compares the text with every frame in CLIP's space.",
        )
        if (
            st.form_submit_button("Search", disabled=not clip_map, icon=":material/search:")
            and text
        ):
            st.session_state["map_search"] = ("text", text.strip())
            st.rerun()
    if not clip_map:
        st.caption(
            "Text search needs a map of CLIP embeddings (Embedder in the sidebar). Search by "
            "example works with any map: press *Similar frames* under a frame."
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
            trained = map_videos(videos, settings, store, progress=on_epoch)
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
    explorer = st.container()  # filled below, once the poster window is known

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
    with explorer:
        x0, y0, x1, y1 = poster.bounds
        explore_map(points, map_id, videos, (x0, x1, y0, y1))
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
