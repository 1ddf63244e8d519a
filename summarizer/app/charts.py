"""The seam timeline (Altair) and reading chart selections; no Streamlit needed (the latent
map is in `explore`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

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
