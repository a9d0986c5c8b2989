"""The course's pytest markers: their usage text (registered by the plugin), and reading a
graded test's markers into a validated ``TestInfo``.  A broken marker becomes the test's
``problem`` (an error against its own test file), never a crash of the run."""

from __future__ import annotations

from typing import Final

import pytest

from ..core.results import TestInfo

MARKERS: Final = (
    "points(n): the points a test is worth (required on every graded test; a positive number)",
    "hint(text, *deeper): shown to the learner when the test fails (the first level; `grade hint` unfolds the "
    "next one each time it is asked); each level teaches more, none gives the answer",
    "timeout(seconds): this test's time limit, overriding [grading] timeout of course.toml",
    "exercise(module): the exercise module (file stem) that the student and reference fixtures stand for",
    "public: the test may be shipped to learners in a student release",
)
GRADED_FIXTURES: Final = frozenset({"student", "reference"})


def is_graded(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & GRADED_FIXTURES) or any(item.iter_markers("points")) or any(item.iter_markers("exercise"))


def read_test_info(item: pytest.Item, *, default_timeout: float) -> TestInfo:
    """A graded test's markers, validated; a broken marker becomes ``problem``, never a crash."""
    problems: list[str] = []
    points = _marker_number(item, "points", problems, required=True)
    timeout = _marker_number(item, "timeout", problems, required=False)
    exercise = _marker_text(item, "exercise", problems, required=True)
    hints = _hint_levels(item, problems)
    return TestInfo(
        id=item.nodeid,
        name=item.name,
        exercise=exercise or "?",
        points=points or 0.0,
        hint=hints[0] if hints else "",
        deeper_hints=hints[1:],
        timeout_s=timeout or default_timeout,
        public=item.get_closest_marker("public") is not None,
        problem="; ".join(f"{item.nodeid}: {p}" for p in problems),
    )


def _marker_number(item: pytest.Item, name: str, problems: list[str], *, required: bool) -> float | None:
    marker = item.get_closest_marker(name)
    if marker is None:
        if required:
            problems.append(f"has no @pytest.mark.{name}(...); every graded test must say what it is worth")
        return None
    value = marker.args[0] if len(marker.args) == 1 and not marker.kwargs else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        problems.append(
            f"@pytest.mark.{name} takes one positive number, e.g. @pytest.mark.{name}(2); got {marker.args!r}"
        )
        return None
    return float(value)


def _hint_levels(item: pytest.Item, problems: list[str]) -> tuple[str, ...]:
    """``@pytest.mark.hint("first", "deeper", ...)``: one non-empty string per level."""
    marker = item.get_closest_marker("hint")
    if marker is None:
        return ()
    levels = marker.args
    if marker.kwargs or not levels or not all(isinstance(level, str) and level.strip() for level in levels):
        problems.append(
            '@pytest.mark.hint takes one non-empty string per level, e.g. @pytest.mark.hint("first", "deeper"); '
            f"got {marker.args!r}"
        )
        return ()
    return tuple(level.strip() for level in levels)


def _marker_text(item: pytest.Item, name: str, problems: list[str], *, required: bool) -> str | None:
    marker = item.get_closest_marker(name)
    if marker is None:
        if required:
            problems.append(
                f'has no @pytest.mark.{name}("..."); add pytestmark = pytest.mark.{name}("module") to the file'
            )
        return None
    value = marker.args[0] if len(marker.args) == 1 and not marker.kwargs else None
    if not isinstance(value, str) or not value.strip():
        problems.append(
            f'@pytest.mark.{name} takes one non-empty string, e.g. @pytest.mark.{name}("..."); got {marker.args!r}'
        )
        return None
    return value.strip()
