"""grade new: a week or an exercise that checks out and grades to 0 right away; course.toml keeps its comments."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from grader.authoring.scaffold import new_week
from grader.cli import run
from grader.core.course import load_course
from grader.core.errors import UsageError

from .conftest import MakeCourse

COMMENTED = """\
# The course file, with comments that must survive.
[course]
title = "Tiny course"   # the title

[grading]
timeout = 5

# Weeks in order.
[[weeks]]
id = "week1"
folder = "week01_basics"
title = "Basics"
"""


def grade(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run(list(argv), console=Console(file=out, width=150), err_console=Console(file=out, width=150))
    return code, out.getvalue()


def test_a_new_week_is_registered_keeping_comments_and_checks_out(make_course: MakeCourse) -> None:
    root = make_course(course_toml=COMMENTED)
    code, out = grade("new", "week15", "--title", "Diffusion models", "--course", str(root))
    assert code == 0, out
    text = (root / "course.toml").read_text()
    assert text.startswith(COMMENTED)
    assert 'id = "week15"\nfolder = "week15_diffusion_models"\ntitle = "Diffusion models"' in text
    for kind in ("solutions", "exercises", "tests"):
        assert (root / kind / "week15_diffusion_models").is_dir()
    code, out = grade("check", "week15", "--course", str(root))
    assert code == 0, out
    assert "1/1 mutants caught" in out
    code, out = grade("week15", "--course", str(root))
    assert code == 1
    assert "0/4 points" in out and "scale() is not implemented yet" in out


@pytest.mark.parametrize("folder", ["week12_generative", "generative"])
def test_folder_names_the_new_week_instead_of_its_title(make_course: MakeCourse, folder: str) -> None:
    root = make_course(course_toml=COMMENTED)
    code, out = grade(
        "new",
        "week12",
        "--title",
        "Generative models: autoencoders and VAEs",
        "--folder",
        folder,
        "--course",
        str(root),
    )
    assert code == 0, out
    assert load_course(root).resolve("week12").folder == "week12_generative"
    assert (root / "tests" / "week12_generative" / "test_example.py").is_file()


def test_after_inserts_the_week_in_order(make_course: MakeCourse) -> None:
    root = make_course(course_toml=COMMENTED)
    course = load_course(root)
    new_week(course, week_id="week9", title="Last", after=None)
    new_week(load_course(root), week_id="week2", title="Second", after="week1")
    assert [w.id for w in load_course(root).weeks] == ["week1", "week2", "week9"]


def test_a_new_exercise_joins_an_existing_week(make_course: MakeCourse) -> None:
    root = make_course(course_toml=COMMENTED)
    grade("new", "week3", "--title", "Third", "--course", str(root))
    code, out = grade("new", "week3/noise_schedule", "--course", str(root))
    assert code == 0, out
    assert (root / "exercises" / "week03_third" / "noise_schedule.py").is_file()
    code, out = grade("check", "week3", "--course", str(root))
    assert code == 0, out
    assert "2/2 mutants caught" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["new", "week1", "--title", "Again"], "week1 already exists (Basics)"),
        (["new", "fifteen", "--title", "X"], "'fifteen' is not a week id; write it like week15"),
        (["new", "week15"], 'a new week needs a title: grade new week15 --title "..."'),
        (["new", "week1/Bad-Name"], "'Bad-Name' is not a module name"),
        (["new", "week12", "--title", "X", "--folder", "week13_vae"], "--folder 'week13_vae' must start with week12_"),
        (["new", "week12", "--title", "X", "--folder", "../out"], "--folder '../out': give a folder name like"),
    ],
)
def test_bad_requests_are_usage_errors(make_course: MakeCourse, argv: list[str], message: str) -> None:
    root = make_course(course_toml=COMMENTED)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    code, out = grade(*argv, "--course", str(root))
    assert code == 2
    assert message in " ".join(out.split())
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_new_week_validates_before_writing(tmp_path: Path, make_course: MakeCourse) -> None:
    root = make_course(course_toml=COMMENTED)
    with pytest.raises(UsageError):
        new_week(load_course(root), week_id="week1", title="dup")
