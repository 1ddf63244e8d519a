"""The one place that chooses the Keras backend and imports Keras for the atlas package.

Keras reads its backend once, when it is first imported, from ``KERAS_BACKEND`` (or
``~/.keras/keras.json``). The map runs on **torch** unless the user chose otherwise: `keras()`
sets ``KERAS_BACKEND=torch`` only when the variable is unset *and* Keras is not imported yet,
right before the first import; a user's ``KERAS_BACKEND`` (e.g. ``tensorflow`` or ``jax``) and
a Keras imported earlier by the host program are honoured as they are. Importing
`summarizer.atlas` changes nothing: this runs only when a model is built, trained or loaded.

Known cost, measured on this machine (2 cores): Keras' saving code asks whether TensorFlow is
available, which imports TensorFlow when it is installed, even on the torch backend (about
4 s and 0.8 GB once per process that *saves* a model; loading and training do not import it).
The map avoids `keras.utils.set_random_seed` (which imports it too) by seeding its own
generators and the initialisers.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

DEFAULT_BACKEND = "torch"


def keras() -> Any:
    """Import Keras (torch backend unless ``KERAS_BACKEND`` or an earlier import chose)."""
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
    import keras as k

    return k


def backend_name() -> str:
    """The Keras backend in use ("torch", "tensorflow", "jax"); imports Keras."""
    return keras().backend.backend()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the NumPy 2 ``__array__ copy`` deprecation warning that Keras' torch backend
    raises on every batch (thousands of lines in a log, nothing to act on)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation", category=DeprecationWarning
        )
        yield


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block on `n` torch intra-op threads and restore the count after (None: leave
    the process' setting alone). Only for callers that ask: the entry points own the runtime
    settings; a tiny network gains nothing from a second thread on a shared CPU."""
    if n is None or backend_name() != "torch":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
