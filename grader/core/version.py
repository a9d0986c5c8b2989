"""The grader's version, at the bottom so that every layer may read it."""

from __future__ import annotations

__version__ = "0.1.0"
