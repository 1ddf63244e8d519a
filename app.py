"""The keyframe-atlas dashboard (``make app``, i.e. ``streamlit run app.py``).

The pages are in ``pages/`` (Home, Seams, Summary, Latent map); their list and the
navigation are in `summarizer.app.nav`.
"""

from summarizer.app import nav

nav.run()
