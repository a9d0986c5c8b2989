"""The course framework: load a course, grade a week, render the result.

Importing ``grader`` stays light (no torch): the ``grade`` command starts fast, and torch is
imported only by the grading child and by test helpers (``grader.testing``).
"""

from __future__ import annotations

from .core.version import __version__

__all__ = ["__version__"]
