"""Widgets bound to the URL and the session: links reopen a view, choices survive pages."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from summarizer.app.urlparams import qp_get


def _keep_widget(key: str) -> None:
    st.session_state["_keep_" + key] = st.session_state[key]


def bound(
    key: str,
    params: str | Sequence[str],
    from_url: Callable[[Mapping[str, Any]], Any],
    choices: Sequence[Any] | None = None,
) -> dict:
    """Keyword arguments that bind widget `key` to the URL and keep it across pages.

    The value comes from the URL (`from_url(query_params)`, which gives the default when the
    parameter is missing or junk) the first time, and whenever the URL says something this
    session did not write there itself (a shared link, a link from another page); otherwise
    the session keeps the user's last choice, even after visiting another page.
    """
    ss = st.session_state
    keep = "_keep_" + key
    names = [params] if isinstance(params, str) else list(params)
    written = ss.get("_qp_written", {})
    from_link = any(
        qp_get(st.query_params, n) is not None and qp_get(st.query_params, n) != written.get(n)
        for n in names
    )
    if keep not in ss or from_link or (choices is not None and ss[keep] not in choices):
        ss[keep] = from_url(st.query_params)
    ss[key] = ss[keep]
    return {"key": key, "on_change": _keep_widget, "args": (key,)}


def kept(key: str, default: Any) -> Any:
    """The last value of a `bound` widget, also on runs where it is not shown."""
    return st.session_state.get("_keep_" + key, default)


def query_written() -> dict[str, str]:
    """What this run last wrote to the URL (to add parameters to it)."""
    return dict(st.session_state.get("_qp_written", {}))


def sync_query(params: Mapping[str, Any]) -> None:
    """Make the URL hold exactly `params` (None values dropped), so the link reopens this view."""
    want = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    have = {k: qp_get(st.query_params, k) for k in st.query_params}
    st.session_state["_qp_written"] = want
    if want != have:
        st.query_params.from_dict(want)


def follow_defaults(group: str, defaults: Mapping[str, Any]) -> None:
    """Let `bound` widgets still at their computed default follow it when it changes.

    `defaults`: widget key -> today's default (computed from the data, e.g. the poster grid
    from the number of frames). A widget whose kept value is the default given last time
    (the user has not changed it) takes the new one; a user's or a link's value stays.
    Call it before the widgets are made.
    """
    ss = st.session_state
    memo = "_defaults_" + group
    before = ss.get(memo, {})
    for key, value in defaults.items():
        keep = "_keep_" + key
        if key in before and keep in ss and ss[keep] == before[key]:
            ss[keep] = value
    ss[memo] = dict(defaults)
