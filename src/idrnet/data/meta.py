"""Deprecated module of idrnet 0.1 (removed in 0.3): its DataMeta is now
:class:`idrnet.data.description.DataDescription`."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from . import description

    if name == "DataMeta":
        return description.__getattr__("DataMeta")  # warns
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
