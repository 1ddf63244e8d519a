"""Altair charts (seam timeline, latent map) and reading their selections; no Streamlit needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from summarizer.app.frames import image_data_url, spread_indices

SERIES_COLORS = {"distance": "#3559e0", "threshold": "#f08c00"}

SEAM_COLOR = "#e03131"


def curve_frame(seg: Any, images: Mapping[int, str] | None = None) -> Any:
    """The seam curve as a DataFrame for the timeline: one row per successor distance.

    ``frame`` is the frame after each step (what a seam there cuts to); ``image`` its data URL
    from `images` (frame -> URL; "" for frames without one).
    """
    import pandas as pd

    from summarizer.outputs.files import time_label

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


def latent_frame(
    lmap: Any, thumbnails: Sequence[np.ndarray], max_points: int = 6000, max_images: int = 600
) -> Any:
    """The map's points as a DataFrame for the scatter (a spread subsample when very large).

    thumbnails: one array per video of the map (its frames in the map's row order).
    """
    import pandas as pd

    from summarizer.outputs.files import time_label

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
    scale = alt.Scale(domain=square_domain(window), nice=False)
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


def square_domain(window: tuple[float, float, float, float] | None) -> list[float]:
    """One axis range for both axes of the square map chart: the map's [-1, 1] and the
    poster `window` (x0, y0, x1, y1) with a margin, so the whole window box shows."""
    lo, hi = -1.05, 1.05
    if window is not None:
        x0, y0, x1, y1 = window
        lo, hi = min(lo, x0 - 0.05, y0 - 0.05), max(hi, x1 + 0.05, y1 + 0.05)
    return [lo, hi]


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
