"""The course framework: load a course, grade a week, read the result.

The names below are the library's public surface; ``grader.testing`` (for suite authors) and the
``grade`` command are the other two.  Importing ``grader`` stays light (no torch, no rich): each
name is imported from its module on first use, and torch is imported only by the grading child,
the sandbox and test helpers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.version import __version__

if TYPE_CHECKING:
    from .core.course import Course, Week, load_course
    from .core.errors import GraderError
    from .core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
    from .engine.runner import GradeRequest
    from .learner.grading import grade, open_course, overview, plan

_HOMES = {
    "Course": ".core.course",
    "Week": ".core.course",
    "load_course": ".core.course",
    "GraderError": ".core.errors",
    "ExerciseResult": ".core.results",
    "TestInfo": ".core.results",
    "TestOutcome": ".core.results",
    "WeekResult": ".core.results",
    "GradeRequest": ".engine.runner",
    "grade": ".learner.grading",
    "open_course": ".learner.grading",
    "overview": ".learner.grading",
    "plan": ".learner.grading",
}

__all__ = [
    "Course",
    "ExerciseResult",
    "GradeRequest",
    "GraderError",
    "TestInfo",
    "TestOutcome",
    "Week",
    "WeekResult",
    "__version__",
    "grade",
    "load_course",
    "open_course",
    "overview",
    "plan",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext grader`` in Jupyter: adds the ``%grade`` magic (grader/cli/notebook_magic.py)."""
    from .cli.notebook_magic import register

    register(ipython)
