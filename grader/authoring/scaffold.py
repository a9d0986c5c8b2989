"""``grade new``: a new week, or a new exercise in a week, with a small working example.

Right after ``grade new week15 --title "Diffusion models"``, ``grade check week15`` passes and
``grade week15`` shows 0 points: the example solution, its stub, its test (with points and a
hint) and one mutant show every part of an exercise.  The week is registered in course.toml
with tomlkit, so the instructor's comments and formatting stay as they were.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from ..core.course import COURSE_FILE, Course, load_course
from ..core.errors import BuildError, MissingExtraError, UsageError
from .build import stub_source

_WEEK_ID: Final = re.compile(r"^week(\d+)$")
_EXERCISE: Final = re.compile(r"^[a-z_][a-z0-9_]*$")
_TOPIC: Final = re.compile(r"^[a-z0-9][a-z0-9_]*$")

SOLUTION_TEMPLATE: Final = '''\
"""{title}: {name}.

Replace this example with the exercise: the idea in a sentence or two, and the shapes involved.
"""

from __future__ import annotations

import torch


def scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply every entry of x by factor.

    x: any shape. Returns: a tensor of x's shape.
    """
    # TODO: one line of torch; the result keeps x's shape and dtype.
    ### BEGIN SOLUTION
    return x * factor
    ### END SOLUTION
'''

TEST_TEMPLATE: Final = '''\
"""Hidden tests of {folder}/{name}.py (an example: replace with the exercise's tests).

Expected values come from torch at test time; each test has points and a hint.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import SHAPES, assert_close, randn

pytestmark = pytest.mark.exercise("{name}")


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Multiplying a tensor by a number scales every entry.")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_scale_matches_torch_mul(student, shape):
    x = randn(*shape, seed=1)
    assert_close(student.scale(x, 2.5), torch.mul(x, 2.5), mistakes={{"added the factor instead of multiplying": x + 2.5}})


def _scale_grad(m, x):
    x = x.clone().requires_grad_()
    m.scale(x, 3.0).sum().backward()
    return x.grad


@pytest.mark.points(1)
@pytest.mark.hint("Build the result from torch operations so autograd can differentiate it.")
def test_scale_gradient_matches_reference(student, reference):
    x = randn(4, 3, seed=2)
    assert_close(student.run(_scale_grad, x), reference.run(_scale_grad, x))
'''

MUTANTS_TEMPLATE: Final = """\
# Mutants of the reference: one classic mistake each, which the suite must catch (grade check).
# See grader/mutants.py for the format.

[[mutants]]
name = "{name}_adds_instead_of_multiplying"
module = "{name}"
caught_by = "test_scale_matches_torch_mul"
message = "added the factor instead of multiplying"
[[mutants.replace]]
old = "return x * factor"
new = "return x + factor"
"""


def new_week(
    course: Course, *, week_id: str, title: str | None, after: str | None = None, folder: str | None = None
) -> list[Path]:
    """Create a week's three folders with an example exercise and register it in course.toml;
    the folder is ``weekNN_<topic>`` with ``folder``'s topic, or one made from the title."""
    match = _WEEK_ID.match(week_id)
    if not match:
        raise UsageError(f"'{week_id}' is not a week id; write it like week15")
    if not title or not title.strip():
        raise UsageError(f'a new week needs a title: grade new {week_id} --title "..."')
    number = int(match.group(1))
    for week in course.weeks:
        if week.id == week_id or week.number == number:
            raise UsageError(f"{week.id} already exists ({week.title}); add an exercise with grade new {week.id}/NAME")
    folder = _folder(number, title, topic=folder)
    position = _insert_position(course, after)
    created = _write_exercise(course.root, course, folder=folder, title=title.strip(), name="example")
    _register(course.root / COURSE_FILE, week_id=week_id, folder=folder, title=title.strip(), position=position)
    load_course(course.root)  # what was written must load
    return [course.root / COURSE_FILE, *created]


def new_exercise(course: Course, *, week: str, name: str) -> list[Path]:
    """Add an example exercise called ``name`` to an existing week."""
    chosen = course.resolve(week)
    if not _EXERCISE.match(name):
        raise UsageError(f"'{name}' is not a module name; use lowercase letters, digits and _")
    if (course.solutions_dir / chosen.folder / f"{name}.py").exists():
        raise UsageError(f"solutions/{chosen.folder}/{name}.py already exists")
    return _write_exercise(course.root, course, folder=chosen.folder, title=chosen.title, name=name)


def _write_exercise(root: Path, course: Course, *, folder: str, title: str, name: str) -> list[Path]:
    solution = SOLUTION_TEMPLATE.format(title=title, name=name)
    files = {
        course.solutions_dir / folder / f"{name}.py": solution,
        course.exercises_dir / folder / f"{name}.py": stub_source(
            solution, filename=f"{name}.py", stub=course.grading.stub
        ),
        course.tests_dir / folder / f"test_{name}.py": TEST_TEMPLATE.format(folder=folder, name=name),
    }
    mutants = course.solutions_dir / folder / "mutants.toml"
    if not mutants.exists():
        files[mutants] = MUTANTS_TEMPLATE.format(name=name)
    else:
        files[mutants] = (
            mutants.read_text(encoding="utf-8") + "\n" + MUTANTS_TEMPLATE.format(name=name).split("\n\n", 1)[1]
        )
    for path in files:
        if path.exists() and path.name != "mutants.toml":
            raise BuildError(f"{path} already exists; nothing was written")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def _insert_position(course: Course, after: str | None) -> int:
    if after is None:
        return len(course.weeks)
    anchor = course.resolve(after)
    return course.weeks.index(anchor) + 1


def _register(path: Path, *, week_id: str, folder: str, title: str, position: int) -> None:
    """Insert the week into course.toml's [[weeks]] at ``position``, keeping comments and layout."""
    try:
        import tomlkit
    except ImportError:
        raise MissingExtraError("tomlkit", for_what="grade new") from None
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    table = tomlkit.table()
    table.add("id", week_id)
    table.add("folder", folder)
    table.add("title", title)
    table.add(tomlkit.nl())
    if "weeks" not in document:
        document.append("weeks", tomlkit.aot())
    weeks = document["weeks"]
    weeks.insert(position, table)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


def _folder(number: int, title: str, *, topic: str | None) -> str:
    if topic is None:
        return f"week{number:02d}_{_slug(title)}"
    if not _TOPIC.match(topic):
        raise UsageError(
            f"--folder {topic!r}: give a folder name like week{number:02d}_generative (or just generative): "
            "lowercase letters, digits and _"
        )
    prefix = f"week{number:02d}_"
    named = topic if topic.startswith("week") else prefix + topic
    if not named.startswith(prefix):
        raise UsageError(f"--folder {topic!r} must start with {prefix} for {f'week{number}'}, or be just the topic")
    return named


def _slug(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "_".join(words)[:40].strip("_") or "week"
