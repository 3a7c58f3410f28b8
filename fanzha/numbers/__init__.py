"""Number intelligence (issue 4). Re-exports the bring-your-own-labels entry points.

Imported lazily so that the stream detectors do not pay for scipy/LightGBM at import.
"""

from __future__ import annotations

from typing import Any

_BYOD = ("ByodError", "ByodModel", "TrainConfig", "load", "save", "score", "train")
__all__ = list(_BYOD)


def __getattr__(name: str) -> Any:
    if name in _BYOD:
        from fanzha.numbers import byod

        return getattr(byod, name)
    raise AttributeError(f"module 'fanzha.numbers' has no attribute {name!r}")
