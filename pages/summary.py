"""Summary: a few keyframes that stand for the whole video (KMeans over frame embeddings).

Before clustering, a dedup buffer and a gate (blur or CLIP prompts) can remove frames.
Everything runs from the cached embeddings; the URL holds the settings.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from summarizer.app import caches, downloads, labels, processing, ui, urlparams, urlstate
from summarizer.config import default
from summarizer.outputs.files import time_label, video_stem
from summarizer.summary.dedup import BUFFERS, DedupSettings
from summarizer.summary.gates import BLUR_DEFAULTS, GATES, GateSettings
from summarizer.summary.kmeans import SummarySettings

ui.page_setup("Summary", ":material/grid_view:")
store = caches.get_store()
embed = ui.sidebar_embedder()
sample = processing.sample_settings()
row = ui.pick_video(store)
d = SummarySettings()
K_MODES = ("auto", "fixed", "budget")
K_LABELS = {"auto": "automatic (silhouette)", "fixed": "fixed k", "budget": "per minute"}
# The page's defaults come from the settings (summarizer.config), never copied here. The
# dedup buffer starts at "passthrough" (keep every frame): the page adds filters on request.
K_FIXED = 8  # the fixed-k slider's start when the default k is "auto" or "budget"
DEDUP_OFF = "passthrough"
BLUR = BLUR_DEFAULTS[default("gate", "blur_method")]
PMG, NMG = default("gate", "positive_margin"), default("gate", "negative_margin")
GATE_OFF = default("gate", "gate")

with st.sidebar:
    st.subheader("Summary settings")
    k_mode = st.radio(
        "Number of keyframes",
        K_MODES,
        format_func=K_LABELS.get,
        **urlstate.bound(
            "sum_kmode",
            "n",
            lambda qp: (
                "fixed"
                if str(urlparams.qp_get(qp, "n", "auto")).isdigit()
                else urlparams.qp_choice(qp, "n", K_MODES, "auto")
            ),
        ),
    )
    if k_mode == "fixed":
        st.slider(
            "k",
            1,
            48,
            **urlstate.bound("sum_k", "n", lambda qp: urlparams.qp_int(qp, "n", K_FIXED, 1, 48)),
        )
    elif k_mode == "budget":
        st.slider(
            "Keyframes per minute",
            0.5,
            30.0,
            step=0.5,
            **urlstate.bound(
                "sum_pm", "pm", lambda qp: urlparams.qp_float(qp, "pm", d.per_minute, 0.5, 30.0)
            ),
        )
    st.slider(
        "Drop near-duplicate picks above similarity",
        0.5,
        1.0,
        step=0.01,
        help="A pick whose cosine similarity to an earlier pick is higher is dropped (1: off).",
        **urlstate.bound(
            "sum_sim", "sim", lambda qp: urlparams.qp_float(qp, "sim", d.max_similarity, 0.5, 1.0)
        ),
    )
    st.checkbox(
        "Skip flat, dark, bright and blurred frames",
        **urlstate.bound(
            "sum_info", "info", lambda qp: urlparams.qp_bool(qp, "info", d.drop_uninformative)
        ),
    )
    st.subheader("Before clustering")
    st.selectbox(
        "Dedup buffer",
        BUFFERS,
        help="hash: perceptual-hash ring buffer. grid: per-cell hashes. entropy / gzip: keep "
        "the most detailed frames of each window. passthrough: keep everything.",
        **urlstate.bound(
            "sum_dedup",
            "dedup",
            lambda qp: urlparams.qp_choice(qp, "dedup", BUFFERS, DEDUP_OFF),
        ),
    )
    # The CLIP gate compares frames with text prompts in CLIP's space: only with CLIP frames.
    clip_on = embed.embedder == "clip" and not caches.clip_problem()
    gates = GATES if clip_on else tuple(g for g in GATES if g != "clip")
    gate = st.selectbox(
        "Gate",
        gates,
        help="blur: drop blurred frames. clip: keep frames that match a positive prompt and no "
        "negative one. pass: keep everything.",
        **urlstate.bound(
            "sum_gate",
            "gate",
            lambda qp: urlparams.qp_choice(qp, "gate", gates, GATE_OFF),
            choices=gates,
        ),
    )
    if not clip_on:
        st.caption(
            "The clip gate (keep frames that match text prompts) needs the CLIP embedder: "
            + (
                "choose CLIP ViT-B-32 under Embedder above."
                if not caches.clip_problem()
                else "CLIP is not available on this server; see *Why, and how to add CLIP* above."
            ),
        )
    if gate == "blur":
        st.slider(
            "Sharpness threshold (Laplacian variance)",
            0.0,
            1000.0,
            step=5.0,
            **urlstate.bound(
                "sum_blur", "blur", lambda qp: urlparams.qp_float(qp, "blur", BLUR, 0.0, 1000.0)
            ),
        )
    elif gate == "clip":
        st.text_input(
            "Positive prompts (comma separated)",
            placeholder="a person, a landscape",
            **urlstate.bound(
                "sum_pos", "pos", lambda qp: str(urlparams.qp_get(qp, "pos", "") or "")
            ),
        )
        st.text_input(
            "Negative prompts (comma separated)",
            placeholder="a black screen, text",
            **urlstate.bound(
                "sum_neg", "neg", lambda qp: str(urlparams.qp_get(qp, "neg", "") or "")
            ),
        )
        st.slider(
            "Positive margin",
            -1.0,
            1.0,
            step=0.01,
            **urlstate.bound(
                "sum_pmg", "pmg", lambda qp: urlparams.qp_float(qp, "pmg", PMG, -1.0, 1.0)
            ),
        )
        st.slider(
            "Negative margin",
            -1.0,
            1.0,
            step=0.01,
            **urlstate.bound(
                "sum_nmg", "nmg", lambda qp: urlparams.qp_float(qp, "nmg", NMG, -1.0, 1.0)
            ),
        )

k_value = {"auto": "auto", "budget": "budget", "fixed": int(urlstate.kept("sum_k", K_FIXED))}[
    k_mode
]
positive = [p.strip() for p in str(urlstate.kept("sum_pos", "")).split(",") if p.strip()]
negative = [p.strip() for p in str(urlstate.kept("sum_neg", "")).split(",") if p.strip()]
urlstate.sync_query(
    {
        "video": row["sha256"],
        "emb": embed.embedder,
        "n": k_value,
        "pm": urlparams.fmt_num(urlstate.kept("sum_pm", d.per_minute))
        if k_mode == "budget"
        else None,
        "sim": urlparams.fmt_num(urlstate.kept("sum_sim", d.max_similarity)),
        "info": "1" if urlstate.kept("sum_info", d.drop_uninformative) else "0",
        "dedup": urlstate.kept("sum_dedup", DEDUP_OFF),
        "gate": gate,
        "blur": urlparams.fmt_num(urlstate.kept("sum_blur", BLUR)) if gate == "blur" else None,
        "pos": ", ".join(positive) if gate == "clip" else None,
        "neg": ", ".join(negative) if gate == "clip" else None,
        "pmg": urlparams.fmt_num(urlstate.kept("sum_pmg", PMG)) if gate == "clip" else None,
        "nmg": urlparams.fmt_num(urlstate.kept("sum_nmg", NMG)) if gate == "clip" else None,
    }
)

st.title(f"Summary · {labels.plain(row['name'])}")
with st.spinner("Opening the embeddings..."):
    ev = caches.load_embedded_cached(store, row["sha256"], sample, embed)
if ev is None:
    ui.embed_here(store, row, sample, embed)

with ui.friendly_errors():
    settings = SummarySettings(
        k=k_value,
        per_minute=urlstate.kept("sum_pm", d.per_minute),
        max_similarity=urlstate.kept("sum_sim", d.max_similarity),
        drop_uninformative=bool(urlstate.kept("sum_info", d.drop_uninformative)),
    )
    dedup_settings = DedupSettings(buffer=urlstate.kept("sum_dedup", DEDUP_OFF))
    if gate == "clip" and not (positive or negative):
        st.info("Type at least one positive or negative prompt for the CLIP gate.")
        gate_settings = GateSettings()
    else:
        gate_settings = GateSettings(
            gate=gate,
            blur_threshold=urlstate.kept("sum_blur", BLUR) if gate == "blur" else None,
            positive=tuple(positive),
            negative=tuple(negative),
            positive_margin=urlstate.kept("sum_pmg", PMG),
            negative_margin=urlstate.kept("sum_nmg", NMG),
        )
    bar = st.progress(0.0, text="Clustering frames (dedup, gate, KMeans)...")
    fs = caches.cached_summary(
        row["sha256"], ev.model_id, settings, dedup_settings, gate_settings, ev
    )
    bar.progress(0.6, text=f"Reading {labels.plural(len(fs.picks), 'keyframe')} at full size...")
    images = caches.frames_at(ev, fs.picks)
    bar.empty()
    summary = fs.summary
    c = st.columns(4)
    c[0].metric("Keyframes", len(fs.picks))
    c[1].metric("k (clusters)", summary.k, help=f"mode: {summary.mode}")
    c[2].metric("Frames clustered", f"{len(fs.kept):,} of {len(ev.times_s):,}")
    c[3].metric("Near-duplicate picks dropped", summary.merged)
    removed = {**fs.dropped, **{f"set aside: {k}": v for k, v in summary.set_aside.items() if v}}
    if removed:
        st.caption(
            "Not clustered: "
            + ", ".join(f"{k} ({labels.plural(v, 'frame')})" for k, v in removed.items())
        )
    for note in summary.notes:
        st.caption(note)

    cols_n = 4
    for start in range(0, len(fs.picks), cols_n):
        cols = st.columns(cols_n)
        for col, j in zip(cols, range(start, min(start + cols_n, len(fs.picks))), strict=False):
            pick = summary.picks[j]
            col.image(
                images[j],
                caption=f"{time_label(pick.time_s)} · stands for "
                f"{labels.plural(pick.cluster_size, 'frame')}",
                width="stretch",
            )

    if summary.silhouette:
        with st.expander("How k was chosen"):
            sil = pd.DataFrame(
                {"k": list(summary.silhouette), "silhouette": list(summary.silhouette.values())}
            )
            st.altair_chart(
                alt.Chart(sil)
                .mark_line(point=True)
                .encode(x="k:Q", y=alt.Y("silhouette:Q", title="silhouette score"))
                .properties(height=200),
                width="stretch",
            )

    st.subheader("Downloads")
    stem = video_stem(row["name"])
    d1, d2, d3, _ = st.columns([1, 1, 1, 2])

    def deferred(what: str):
        return lambda: downloads.summary_downloads(ev, fs, what)

    d1.download_button(
        "Keyframes (ZIP)",
        deferred("zip"),
        f"{stem}-summary.zip",
        "application/zip",
        on_click="ignore",
        icon=":material/photo_library:",
    )
    d2.download_button(
        "Summary (JSON)",
        deferred("json"),
        f"{stem}-summary.json",
        "application/json",
        on_click="ignore",
        icon=":material/data_object:",
    )
    d3.download_button(
        "Summary (CSV)",
        deferred("csv"),
        f"{stem}-summary.csv",
        "text/csv",
        on_click="ignore",
        icon=":material/table:",
    )
