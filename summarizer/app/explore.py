"""The explorable latent map: points, colours, density, thumbnails on the map, selections,
search; plain Python and Plotly (no Streamlit), so tests can build and read it directly.

The map is a Plotly ``scattergl`` trace (WebGL: 100,000 frames pan and zoom smoothly), with
box and lasso selection, which `st.plotly_chart(on_select=...)` hands back to the page.
Arrays travel as base64 typed arrays (Plotly >= 6), about 30 bytes per frame, far below
Streamlit's websocket message limit. Thumbnails are layout images placed at their frames'
coordinates, one per cell of a grid over the current view, so they never overlap; they grow
with the zoom, and zooming the view in (to a selection) picks finer ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from summarizer.app.frames import image_data_url

COLOR_BY = ("video", "segment", "cluster")
COLOR_LABELS = {"video": "video", "segment": "segment (seams)", "cluster": "KMeans cluster"}
PALETTE = (
    "#3559e0", "#f08c00", "#2f9e44", "#e03131", "#7048e8", "#0c8599", "#d6336c", "#5c940d",
    "#1971c2", "#e8590c", "#862e9c", "#087f5b", "#c2255c", "#495057", "#f59f00", "#364fc7",
)  # fmt: skip
MAX_THUMBS = 400  # layout images on the map at most (each a small JPEG data URL)
GRID_MAX = 100  # the tile picker's largest columns or rows


@dataclass(frozen=True)
class MapPoints:
    """Every frame on a map, row-aligned: coordinates, video, time and position in the video.

    video: index into `names` / `hashes`; position: index into that video's embedding arrays
    (thumbnails, embeddings); segment: the frame's segment in its video (-1 when unknown).
    """

    x: np.ndarray
    y: np.ndarray
    video: np.ndarray
    time_s: np.ndarray
    position: np.ndarray
    segment: np.ndarray
    names: tuple[str, ...]
    hashes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.x)


def map_points(lmap: Any, segmentations: Sequence[Any] | None = None) -> MapPoints:
    """`MapPoints` of a `LatentMap` whose rows are its videos' frames in order, video after
    video (`segmentations`: one `Segmentation` per video in `lmap.hashes` order, optional)."""
    vidx = np.asarray(lmap.video_index, dtype=np.int32)
    position = np.zeros(len(vidx), dtype=np.int64)
    segment = np.full(len(vidx), -1, dtype=np.int32)
    for v in range(len(lmap.names)):
        rows = np.flatnonzero(vidx == v)
        position[rows] = np.arange(len(rows))
        if segmentations is not None and segmentations[v] is not None:
            for s in segmentations[v].segments:
                segment[rows[(position[rows] >= s.first) & (position[rows] < s.stop)]] = s.index
    coords = np.asarray(lmap.coords, dtype=np.float32)
    return MapPoints(
        x=coords[:, 0],
        y=coords[:, 1],
        video=vidx,
        time_s=np.asarray(lmap.times_s, dtype=np.float32),
        position=position,
        segment=segment,
        names=tuple(lmap.names),
        hashes=tuple(lmap.hashes),
    )


def cluster_labels(embeddings: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """KMeans labels of the frames' embeddings (MiniBatchKMeans: seconds for 100,000)."""
    from sklearn.cluster import MiniBatchKMeans

    x = np.asarray(embeddings, dtype=np.float32)
    k = int(max(1, min(k, len(x))))
    model = MiniBatchKMeans(k, batch_size=4096, n_init=3, random_state=seed)
    return model.fit_predict(x).astype(np.int32)


def colour_codes(points: MapPoints, by: str, clusters: np.ndarray | None = None) -> np.ndarray:
    """One small integer per frame for `by` (video, segment or cluster), for the palette."""
    if by == "segment":
        # neighbouring segments of a video get different colours, videos are offset
        return (points.segment.astype(np.int64) + 5 * points.video).astype(np.int32)
    if by == "cluster" and clusters is not None:
        return np.asarray(clusters, dtype=np.int32)
    return points.video.astype(np.int32)


def _colorscale(n: int) -> list[list[Any]]:
    """A stepped Plotly colorscale: code c in [0, n) -> PALETTE[c % len]."""
    n = max(n, 1)
    scale = []
    for c in range(n):
        col = PALETTE[c % len(PALETTE)]
        scale += [[c / n, col], [(c + 1) / n, col]]
    return scale


def density_grid(points: MapPoints, bins: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x centres, y centres, log counts (bins, bins)) of a 2-D histogram of the frames."""
    lo = float(min(points.x.min(), points.y.min())) if len(points) else -1.0
    hi = float(max(points.x.max(), points.y.max())) if len(points) else 1.0
    pad = 0.05 * max(hi - lo, 1e-3)
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    h, _, _ = np.histogram2d(points.y, points.x, bins=[edges, edges])
    centres = (edges[:-1] + edges[1:]) / 2
    z = np.log1p(h)
    z[h == 0] = np.nan  # no shading where there is no frame
    return centres, centres, z


def view_rows(points: MapPoints, view: Sequence[float] | None) -> np.ndarray:
    """Rows inside `view` = (x0, x1, y0, y1); every row when None."""
    if view is None:
        return np.arange(len(points))
    x0, x1, y0, y1 = view
    inside = (points.x >= x0) & (points.x <= x1) & (points.y >= y0) & (points.y <= y1)
    return np.flatnonzero(inside)


def thumbnail_rows(
    points: MapPoints, view: Sequence[float] | None, cells: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Frames to draw as pictures: in each cell of a `cells` x `cells` grid over the view
    that holds frames, the frame nearest the cell's centre, drawn at that centre (a mosaic,
    as on the poster: pictures never overlap). Returns (rows, centres (n, 2), cell size)."""
    rows = view_rows(points, view)
    if not len(rows) or cells < 1:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2)), 0.0
    x, y = points.x[rows].astype(np.float64), points.y[rows].astype(np.float64)
    if view is None:
        x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    else:
        x0, x1, y0, y1 = (float(v) for v in view)
    size = max(x1 - x0, y1 - y0, 1e-6) / cells
    cx = np.clip(np.floor((x - x0) / size), 0, cells - 1).astype(np.int64)
    cy = np.clip(np.floor((y - y0) / size), 0, cells - 1).astype(np.int64)
    mx, my = x0 + (cx + 0.5) * size, y0 + (cy + 0.5) * size
    dist = (x - mx) ** 2 + (y - my) ** 2
    cell = cy * cells + cx
    order = np.lexsort((dist, cell))
    first = order[np.r_[True, cell[order][1:] != cell[order][:-1]]]
    if len(first) > MAX_THUMBS:
        first = first[np.linspace(0, len(first) - 1, MAX_THUMBS).round().astype(np.int64)]
    return rows[first], np.stack([mx[first], my[first]], axis=1), size


def figure(
    points: MapPoints,
    codes: np.ndarray,
    *,
    legend: Mapping[int, str] | None = None,
    density: bool = False,
    thumbnails: Mapping[int, np.ndarray] | None = None,
    thumb_at: np.ndarray | None = None,
    thumb_size: float = 0.0,
    highlight: np.ndarray | None = None,
    view: Sequence[float] | None = None,
    path: np.ndarray | None = None,
    box: Sequence[float] | None = None,
    height: int = 720,
) -> Any:
    """The map as a Plotly figure: frames (scattergl, coloured by `codes`), optional density
    shading, pictures (`thumbnails`: row -> image, drawn `thumb_size` wide at `thumb_at`,
    one (x, y) per picture, else at their frames), highlighted rows
    (search results), one video's path, a dashed `box` (x0, x1, y0, y1: the poster window)
    and the `view` range. The frames' trace is named
    "frames" (selections on it are read by `selected_rows`)."""
    import plotly.graph_objects as go

    n_codes = int(codes.max()) + 1 if len(codes) else 1
    fig = go.Figure()
    if density and len(points):
        xs, ys, z = density_grid(points)
        fig.add_trace(
            go.Heatmap(
                x=xs, y=ys, z=z, showscale=False, hoverinfo="skip", name="density",
                zsmooth="best", colorscale=[[0, "rgba(53,89,224,0.06)"], [1, "rgba(53,89,224,0.55)"]],
            )
        )  # fmt: skip
    if path is not None and len(path) > 1:
        fig.add_trace(
            go.Scattergl(
                x=points.x[path], y=points.y[path], mode="lines", name="path",
                line={"color": "#e03131", "width": 2}, hoverinfo="skip",
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scattergl(
            x=points.x,
            y=points.y,
            mode="markers",
            name="frames",
            marker={
                "size": 5 if len(points) < 20_000 else 3,
                "color": codes.astype(np.float32) + 0.5,
                "colorscale": _colorscale(n_codes),
                "cmin": 0,
                "cmax": n_codes,
                "opacity": 0.85,
            },
            customdata=np.stack([points.video + 1, points.time_s], axis=1).astype(np.float32),
            hovertemplate="video %{customdata[0]} · %{customdata[1]:.1f} s<extra></extra>",
            showlegend=False,
        )
    )
    for code, label in (legend or {}).items():  # empty traces: a legend of the colours
        fig.add_trace(
            go.Scattergl(
                x=[None], y=[None], mode="markers", name=label,
                marker={"color": PALETTE[code % len(PALETTE)], "size": 9},
            )
        )  # fmt: skip
    if highlight is not None and len(highlight):
        fig.add_trace(
            go.Scattergl(
                x=points.x[highlight], y=points.y[highlight], mode="markers", name="search",
                marker={"size": 12, "color": "rgba(0,0,0,0)",
                        "line": {"color": "#000000", "width": 2}},
                hoverinfo="skip",
            )
        )  # fmt: skip
    images = []
    for i, (row, img) in enumerate((thumbnails or {}).items()):
        at = thumb_at[i] if thumb_at is not None else (points.x[row], points.y[row])
        images.append(
            {
                "source": image_data_url(img, width=96, quality=70),
                "xref": "x", "yref": "y", "x": float(at[0]), "y": float(at[1]),
                "sizex": thumb_size * 0.92, "sizey": thumb_size * 0.92,
                "xanchor": "center", "yanchor": "middle", "sizing": "contain", "layer": "above",
            }
        )  # fmt: skip
    shapes = []
    if box is not None:
        x0, x1, y0, y1 = (float(v) for v in box)
        shapes.append(
            {"type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y1, "xref": "x", "yref": "y",
             "line": {"color": "#e03131", "width": 2, "dash": "dash"}}
        )  # fmt: skip
    fig.update_layout(
        images=images,
        shapes=shapes,
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        dragmode="lasso",
        legend={"orientation": "h", "y": -0.02, "itemclick": False, "itemdoubleclick": False},
        plot_bgcolor="#ffffff",
        uirevision=str(view),  # keep the user's zoom across reruns, until the view changes
    )
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False}
    shown = view or bounds(points, np.arange(len(points)), pad=0.04)  # the frames fill it
    fig.update_xaxes(**axis, range=list(shown[:2]) if shown else None)
    fig.update_yaxes(
        **axis, range=list(shown[2:]) if shown else None, scaleanchor="x", scaleratio=1
    )
    return fig


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """`obj[key]` for dicts and Streamlit's dict-like states (attribute or item access)."""
    if obj is None:
        return default
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        return getattr(obj, key, default)


def selected_rows(event: Any, fig: Any) -> np.ndarray:
    """Rows of `MapPoints` selected (box, lasso or click) in `st.plotly_chart`'s event."""
    points = _get(_get(event, "selection"), "points") or []
    frames = next(i for i, t in enumerate(fig.data) if t.name == "frames")
    rows = []
    for p in points:
        if int(_get(p, "curve_number", -1)) != frames:
            continue
        r = _get(p, "point_index", _get(p, "point_number", -1))
        if r is not None and int(r) >= 0:
            rows.append(int(r))
    return np.unique(np.asarray(rows, dtype=np.int64))


def bounds(points: MapPoints, rows: np.ndarray, pad: float = 0.08) -> tuple[float, ...] | None:
    """A square view (x0, x1, y0, y1) around `rows`, `pad` wider (None for no rows)."""
    if not len(rows):
        return None
    x, y = points.x[rows], points.y[rows]
    cx, cy = (float(x.min()) + float(x.max())) / 2, (float(y.min()) + float(y.max())) / 2
    half = max(float(x.max() - x.min()), float(y.max() - y.min()), 0.02) * (0.5 + pad)
    return (cx - half, cx + half, cy - half, cy + half)


def nearest(embeddings: np.ndarray, query: np.ndarray, top: int = 24) -> np.ndarray:
    """Rows of the `top` frames most like `query` (cosine on L2-normalised embeddings)."""
    e = np.asarray(embeddings, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    scores = e @ q
    top = int(min(top, len(scores)))
    if top <= 0:
        return np.zeros(0, dtype=np.int64)
    best = np.argpartition(-scores, top - 1)[:top]
    return best[np.argsort(-scores[best])]
