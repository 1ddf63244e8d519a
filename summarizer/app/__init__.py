"""The Streamlit dashboard's support code (`app.py`, `pages/`), one module per idea.

Only `caches`, `explorer`, `nav`, `panels`, `urlstate` and `ui` import Streamlit (`uploads` only
inside `release`); the rest is plain Python the tests and the library can import without a
Streamlit runtime. This file imports nothing on purpose.
"""
