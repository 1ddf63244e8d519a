"""Opening the Streamlit app in `streamlit.testing.v1.AppTest` for the app tests: a page
with its share-link parameters, as a fresh browser session would."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 180  # seconds a run may take (a first run embeds; the machine may be busy)


def open_app(params: dict | None = None, page: str | None = None) -> AppTest:
    """The app run once on Home with `params`, then switched to `page` (a path such as
    ``pages/seams.py``) with the same parameters, as a share link opens it."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params = dict(params or {})
    at.run()
    if page:
        at.switch_page(page)
        at.query_params = dict(params or {})
        at.run()
    return at
