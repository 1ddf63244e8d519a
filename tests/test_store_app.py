"""The app on a damaged store (issue 15, item 5): a manifest of the wrong shape and random
bytes inside the catalog's pages give no traceback on any of the four pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from apptest import TIMEOUT, open_app  # noqa: E402

from summarizer.store import Store  # noqa: E402

PAGES = (None, "pages/seams.py", "pages/summary.py", "pages/latent-map.py")


def _garble_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for start in range(4096, len(data), 4096):
        data[start + 100 : start + 600] = np.random.default_rng(start).bytes(500)
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def test_every_page_survives_a_damaged_store(tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_HOME", str(tmp_path))
    monkeypatch.setenv("ATLAS_OFFLINE", "1")
    at = open_app({"emb": "pixels"})
    next(b for b in at.button if b.label == "Try the sample video").click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    store = Store(tmp_path)
    (sha,) = [v["sha256"] for v in store.videos()]
    for row in store.results(sha):
        entry = store.entry_path(
            store.key(sha, row["stage"], row["settings_hash"], row["model_id"])
        )
        (entry / "manifest.json").write_text("[1, 2]")
    _garble_pages(store.catalog_path)
    params = {"emb": "pixels", "video": sha}
    for page in PAGES:
        at = open_app(params, page)
        assert not at.exception, (page, at.exception)
        shown = " ".join(str(e.value) for e in at.error)
        assert "Traceback" not in shown and "DatabaseError" not in shown, (page, shown)
    assert [v["sha256"] for v in Store(tmp_path).videos()] == [sha]  # the catalog came back
