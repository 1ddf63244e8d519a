"""Error types: every problem a user can fix is an `AtlasError` with a one-line message.

The CLI prints ``error: <message>`` and exits non-zero; the app shows the message in a box.
Anything that is not an `AtlasError` is a bug and keeps its traceback.
"""

from __future__ import annotations


class AtlasError(Exception):
    """Base class: a problem with the input, the settings or the environment."""


class InputError(AtlasError):
    """The video, image folder or file given cannot be used (missing, corrupt, empty)."""


class SettingsError(AtlasError, ValueError):
    """A setting has a value that makes no sense (fps <= 0, min > max, ...)."""


class ModelError(AtlasError):
    """Model weights cannot be found or loaded."""


class StoreError(AtlasError):
    """The result store cannot be used (not writable, ...)."""
