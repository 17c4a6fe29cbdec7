"""skimlock: resolve Python requirements into a pinned lock without downloading wheels."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
