"""The dashboard's pages and navigation, in one place (app.py only calls `run`).

Streamlit treats a ``pages/`` folder next to the main script as an old-style (v1)
multipage app until `st.navigation` has been called once in the server process. So the
very first request to a fresh server runs a page script directly, without app.py; the page
files are named like their URL paths so that this first run still finds the right page (no
"Page not found" modal), and `ensure` then registers this navigation and reruns through
app.py, so the page's widgets belong to the app's page from the first interaction on.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

HOME = "pages/home.py"
SEAMS = "pages/seams.py"
SUMMARY = "pages/summary.py"
MAP = "pages/latent-map.py"

# file -> (title, icon, url path); a file's name is its url path (see the module docstring)
PAGES = {
    HOME: ("Home", ":material/home:", "home"),
    SEAMS: ("Seams", ":material/timeline:", "seams"),
    SUMMARY: ("Summary", ":material/grid_view:", "summary"),
    MAP: ("Latent map", ":material/scatter_plot:", "latent-map"),
}
_MARK = "_atlas_navigated"  # set by `run` for the page it runs in the same script run
_REGISTERED = "_atlas_nav_registered"  # this session has registered the navigation


def pages() -> list[Any]:
    """The `st.Page`s of the dashboard, Home first (the default)."""
    return [
        st.Page(path, title=title, icon=icon, url_path=url, default=path == HOME)
        for path, (title, icon, url) in PAGES.items()
    ]


def apply_runtime() -> None:
    """The process settings every entry point applies once (`summarizer.embed.runtime`:
    torch's threads, OpenMP's passive wait); again: a no-op."""
    from summarizer.embed import runtime

    runtime.apply()


def run() -> None:
    """Set up the app-wide page config and run the page the URL names (app.py's body)."""
    apply_runtime()
    st.set_page_config(page_title="keyframe-atlas", page_icon=":material/movie:", layout="wide")
    page = st.navigation(pages())
    st.session_state[_MARK] = True
    st.session_state[_REGISTERED] = True
    page.run()


def ensure() -> None:
    """Called first by every page. When Streamlit ran the page file directly (the first
    request to a fresh server, see the module docstring), register the navigation and rerun
    through app.py: the sidebar and links are the app's, and the page's widgets (e.g. a
    selection on the map) keep their state from the first interaction on. At most once per
    session, and never on a run that app.py started, so no click is ever lost (Streamlit's
    AppTest runs every later page directly: there the session is already registered)."""
    if st.session_state.pop(_MARK, False) or st.session_state.get(_REGISTERED):
        return
    st.session_state[_REGISTERED] = True
    apply_runtime()
    st.navigation(pages())
    st.rerun()
