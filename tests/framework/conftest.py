"""Fixtures for the framework's own tests: small throwaway courses written into tmp_path."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.core.results import WeekResult

COURSE_TOML = """\
[course]
title = "Tiny course"

[grading]
timeout = {timeout}

[[weeks]]
id = "week1"
folder = "week01_basics"
title = "Basics"
"""

SOLUTION = """\
def double(x):
    return 2 * x


def total(x):
    return x.sum()
"""

STUB = """\
def double(x):
    raise NotImplementedError("double() is not implemented yet")


def total(x):
    raise NotImplementedError("total() is not implemented yet")
"""

SUITE = """\
import pytest
import torch

from grader.testing import assert_close

pytestmark = pytest.mark.exercise("{exercise}")


@pytest.mark.points(2)
@pytest.mark.hint("multiply every entry")
def test_double(student):
    x = torch.arange(6.0).reshape(2, 3)
    assert_close(student.double(x), 2 * x)


def _total_grad(m, x):
    x = x.clone().requires_grad_()
    m.total(x).backward()
    return x.grad


@pytest.mark.points(1)
@pytest.mark.hint("sum every entry")
def test_total_gradient(student, reference):
    x = torch.ones(2, 2)
    assert_close(student.run(_total_grad, x), reference.run(_total_grad, x))
"""

MakeCourse = Callable[..., Path]


def outcomes(result: WeekResult, exercise: str) -> dict[str, tuple[str, str]]:
    """test name -> (status, message) for one exercise of a graded week."""
    (found,) = [e for e in result.exercises if e.name == exercise]
    return {o.info.name: (o.status, o.message) for o in found.outcomes}


@pytest.fixture
def make_course(tmp_path: Path) -> MakeCourse:
    """Write a course with one week; ``exercises`` maps exercise name to learner source."""
    return course_writer(tmp_path)


def course_writer(tmp_path: Path) -> MakeCourse:
    """``make_course`` for a folder of one's own (a module-scoped course)."""

    def make(
        exercises: dict[str, str] | None = None,
        *,
        timeout: float = 5,
        suite: str = SUITE,
        course_toml: str | None = None,
    ) -> Path:
        root = tmp_path / "course"
        exercises = exercises if exercises is not None else {"basics": STUB}
        (root / "tests" / "week01_basics").mkdir(parents=True)
        (root / "solutions" / "week01_basics").mkdir(parents=True)
        (root / "exercises" / "week01_basics").mkdir(parents=True)
        (root / "course.toml").write_text(course_toml or COURSE_TOML.format(timeout=timeout))
        for name, source in exercises.items():
            (root / "solutions" / "week01_basics" / f"{name}.py").write_text(SOLUTION)
            (root / "exercises" / "week01_basics" / f"{name}.py").write_text(textwrap.dedent(source))
            (root / "tests" / "week01_basics" / f"test_{name}.py").write_text(suite.format(exercise=name))
        return root

    return make


_BWRAP_THAT_CANNOT_MOUNT = """\
#!/bin/sh
# passes the grader's probe (bwrap --ro-bind / / --unshare-net true), fails every real start
for last; do :; done
[ "$last" = true ] && exit 0
echo "bwrap: Can't bind mount /oldroot/nowhere on /newroot/nowhere: No such file or directory" >&2
exit 1
"""


@pytest.fixture
def bwrap_that_cannot_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``bwrap`` first on PATH that passes the grader's probe and fails every real start, as a
    bubblewrap given a path it cannot mount does: the sandbox cannot start on this machine."""
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "bwrap").write_text(_BWRAP_THAT_CANNOT_MOUNT)
    (fake / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
