"""The Latent map page's explorer (Streamlit widgets): controls, the WebGL map, the grid of
selected or found frames with links to the Seams page, and search by frame or text.

The figure and everything computed for it come from `explore` (plain Python) through the
per-server caches in `caches`; the page only places this explorer and the poster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from summarizer.app import caches, explore, labels, nav, urlparams, urlstate
from summarizer.outputs.files import time_label

GRID_TILES = 24  # frames shown under the map at most (selection or search results)


def frame_grid(rows: np.ndarray, points: Any, videos: Any, key: str, embedder: str) -> None:
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
                        "emb": embedder,
                        "t": f"{t:.2f}",
                    },
                )
                if st.button("Similar frames", key=f"{key}_{r}", icon=":material/search:"):
                    st.session_state["map_search"] = ("frame", int(r))
                    st.rerun()
    if len(rows) > len(shown):
        st.caption(f"Showing {len(shown)} of {labels.plural(len(rows), 'frame')}, in time order.")


def explore_map(points: Any, map_id: tuple, videos: Any, box: Any, embed: Any) -> None:
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
        found = found_rows(search, map_id, videos, embed.model_id)
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
        text_search(embed.model_id)
    if search is not None and len(found):
        what = "this frame" if search[0] == "frame" else f"“{labels.plain(search[1])}”"
        st.markdown(f"**Most like {what}** (outlined on the map)")
        frame_grid(found, points, videos, "found", embed.embedder)
    if len(rows):
        st.markdown(f"**Selected: {labels.plural(len(rows), 'frame')}**")
        order = np.lexsort((points.time_s[rows], points.video[rows]))
        frame_grid(rows[order], points, videos, "sel", embed.embedder)
    elif search is None:
        st.caption("Select frames on the map (lasso or box) to see them here.")


def found_rows(search: Any, map_id: tuple, videos: Any, model_id: str) -> np.ndarray:
    """Rows of the frames most like the search (an example frame or a CLIP text prompt)."""
    if not search:
        return np.zeros(0, dtype=np.int64)
    emb = caches.map_embeddings(map_id, tuple(videos))
    if search[0] == "frame" and 0 <= int(search[1]) < len(emb):
        return explore.nearest(emb, emb[int(search[1])], top=GRID_TILES)
    if search[0] == "text" and search[1]:
        return explore.nearest(emb, caches.text_query(model_id, search[1]), top=GRID_TILES)
    return np.zeros(0, dtype=np.int64)


def text_search(model_id: str) -> None:
    """Search by text (CLIP maps only) or by an example frame (from the grid's buttons)."""
    clip_map = model_id.startswith("clip:") and not caches.clip_problem()
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
