"""grade release: a learner's repository with stubs, the grader and public tests; no solution text."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from grader.authoring.build import build_week
from grader.authoring.release import ReleaseSummary, find_leaks, write_release
from grader.core.course import load_course
from grader.core.errors import BuildError, UsageError

from .test_check import SOLUTION

SUITE = """\
import pytest
import torch

from grader.testing import assert_close

pytestmark = pytest.mark.exercise("basics")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("multiply every entry")
def test_double_is_public(student):
    assert_close(student.double(torch.ones(3)), torch.full((3,), 2.0))


@pytest.mark.points(3)
@pytest.mark.hint("sum every entry")
def test_total_is_hidden(student):
    assert_close(student.total(torch.ones(3)), torch.tensor(3.0))


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("compare with the reference")
def test_needs_the_reference(student, reference):
    assert_close(student.total(torch.ones(2)), reference.total(torch.ones(2)))
"""

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def course_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("source")
    (root / "course.toml").write_text(
        '[course]\ntitle = "Released"\n\n[[weeks]]\nid = "week1"\nfolder = "week01_basics"\ntitle = "Basics"\n'
    )
    for kind in ("solutions", "exercises", "tests"):
        (root / kind / "week01_basics").mkdir(parents=True)
    (root / "solutions" / "week01_basics" / "basics.py").write_text(SOLUTION)
    (root / "tests" / "week01_basics" / "test_basics.py").write_text(SUITE)
    (root / "tests" / "framework").mkdir()
    (root / "tests" / "framework" / "test_internal.py").write_text("def test_x():\n    pass\n")
    for name in ("pyproject.toml", "conftest.py", "README.md"):
        (root / name).write_text((ROOT / name).read_text())
    course = load_course(root)
    build_week(course, course.weeks[0])
    return root


@pytest.fixture(scope="module")
def release(course_root: Path, tmp_path_factory: pytest.TempPathFactory) -> ReleaseSummary:
    return write_release(load_course(course_root), out=tmp_path_factory.mktemp("release") / "out")


def test_the_release_holds_stubs_grader_and_public_tests_only(release: ReleaseSummary) -> None:
    out = release.out
    assert not (out / "solutions").exists()
    assert not (out / "tests" / "framework").exists()
    assert (
        (out / "grader" / "cli" / "main.py").is_file() and (out / "course.toml").is_file() and (out / "pyproject.toml").is_file()
    )
    assert "raise NotImplementedError" in (out / "exercises" / "week01_basics" / "basics.py").read_text()
    tests = (out / "tests" / "week01_basics" / "test_basics.py").read_text()
    assert "def test_double_is_public" in tests
    assert "test_total_is_hidden" not in tests
    assert "test_needs_the_reference" not in tests  # no solutions in a release: it could not run


def test_the_release_records_what_it_holds_back(release: ReleaseSummary) -> None:
    assert release.shipped_tests == {"week1": 1}
    assert (release.held_back["week1"].tests, release.held_back["week1"].points) == (2, 4)
    assert "[held_back.week1]\ntests = 2\npoints = 4" in (release.out / "release.toml").read_text()
    assert "held back" in (release.out / "README.md").read_text()


def test_no_line_of_any_solution_region_is_in_the_release(course_root: Path, release: ReleaseSummary) -> None:
    assert find_leaks(load_course(course_root), release.out) == []
    everything = "\n".join(
        p.read_text(errors="ignore") for p in release.out.rglob("*") if p.is_file() and "grader" not in p.parts
    )
    for line in ("return 2 * x", "return x.sum()"):
        assert line not in everything


def test_with_hidden_ships_every_test_that_can_run_without_solutions(course_root: Path, tmp_path: Path) -> None:
    summary = write_release(load_course(course_root), out=tmp_path / "self-study", with_hidden=True)
    assert summary.shipped_tests == {"week1": 2}
    assert (summary.held_back["week1"].tests, summary.held_back["week1"].points) == (1, 1)


def test_a_leaking_public_test_stops_the_release_and_writes_nothing(course_root: Path, tmp_path: Path) -> None:
    leaky = tmp_path / "leaky"
    import shutil

    shutil.copytree(course_root, leaky)
    test_file = leaky / "tests" / "week01_basics" / "test_basics.py"
    test_file.write_text(
        test_file.read_text().replace(
            "def test_double_is_public(student):",
            "def test_double_is_public(student):\n    # return x.sum()  is the answer",
        )
    )
    # "return x.sum()" is short; a long solution line is what leaks:
    (leaky / "solutions" / "week01_basics" / "basics.py").write_text(
        SOLUTION.replace("return x.sum()", "return x.sum(dim=None, keepdim=False) + 0.0")
    )
    course = load_course(leaky)
    build_week(course, course.weeks[0])
    test_file.write_text(
        test_file.read_text().replace("# return x.sum()  is the answer", "return x.sum(dim=None, keepdim=False) + 0.0")
    )
    with pytest.raises(BuildError, match="would show solution code"):
        write_release(course, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_the_release_refuses_a_non_empty_folder(course_root: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(UsageError, match="is not empty"):
        write_release(load_course(course_root), out=tmp_path / "full")


def test_the_release_installs_and_grades_on_its_own(release: ReleaseSummary, tmp_path: Path) -> None:
    # A fresh venv that sees this environment's packages (torch, rich...) but installs the release's
    # own grader: a plain path line in a .pth (only the site folder's own .pth files run, so this
    # environment's editable-install hook for the course's grader/ does not).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    (site_packages / "outer-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(release.out)]
    subprocess.run(pip, check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = [str(venv / "bin" / "python"), "-c", "import grader; print(grader.__file__)"]
    assert str(site_packages) in subprocess.run(where, capture_output=True, text=True, env=env, cwd=tmp_path).stdout
    done = subprocess.run(
        [str(venv / "bin" / "grade"), "week1"], cwd=release.out, capture_output=True, text=True, env=env
    )
    assert done.returncode == 1, done.stderr
    assert "0/2 points" in done.stdout
    assert "+ 4 more points in 2 hidden tests, graded by your instructor" in done.stdout
    assert "double() is not implemented yet" in done.stdout


def test_plain_pytest_in_the_release_runs_the_public_tests_against_the_learners_exercises(
    release: ReleaseSummary,
) -> None:
    """What an editor's test panel does: ``pytest`` at the release's root (its own grader first on
    the path).  No solutions/ there, so the learner's exercises/ are tested; hidden tests are absent."""
    exercise = release.out / "exercises" / "week01_basics" / "basics.py"
    stub = exercise.read_text()
    pytest_here = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"]
    try:
        on_stubs = subprocess.run(pytest_here, cwd=release.out, capture_output=True, text=True)
        exercise.write_text(SOLUTION)
        solved = subprocess.run(pytest_here, cwd=release.out, capture_output=True, text=True)
    finally:
        exercise.write_text(stub)
    assert "does not exist" not in on_stubs.stdout + on_stubs.stderr
    assert on_stubs.returncode == 1 and "1 failed" in on_stubs.stdout, on_stubs.stdout
    assert "double() is not implemented yet" in on_stubs.stdout
    assert "test_total_is_hidden" not in on_stubs.stdout + solved.stdout
    assert solved.returncode == 0 and "1 passed" in solved.stdout, solved.stdout


def test_short_common_lines_leak_only_as_a_run(tmp_path: Path) -> None:
    from grader.authoring.release import leaks_in

    secret = {
        "if reduction == 'mean':",
        "return loss.mean()",
        "return loss.sum()",
        "denominator = keep.sum().clamp(min=1)",
    }
    alone = tmp_path / "alone.py"
    alone.write_text("if reduction == 'mean':\n    pass\n")
    assert leaks_in(alone, secret) == []
    run = tmp_path / "run.py"
    run.write_text("if reduction == 'mean':\n    return loss.mean()\nreturn loss.sum()\n")
    assert [n for n, _ in leaks_in(run, secret)] == [1, 2, 3]
    long_line = tmp_path / "long.py"
    long_line.write_text("x = 1\ndenominator = keep.sum().clamp(min=1)\n")
    assert leaks_in(long_line, secret) == [(2, "denominator = keep.sum().clamp(min=1)")]


def test_a_grader_helper_that_repeats_a_solution_stops_the_release_and_fails_the_check(
    course_root: Path, tmp_path: Path
) -> None:
    # Issue #15: grader/ ships in every release, so its helpers are searched like everything else
    # (numerical_gradient once repeated week 2's central-difference solution line for line).
    import shutil

    from grader.authoring.check import check_course

    helper_line = "base = x.detach().clone().contiguous()"
    assert helper_line in (ROOT / "grader" / "testing.py").read_text()
    leaky = tmp_path / "leaky"
    shutil.copytree(course_root, leaky)
    (leaky / "solutions" / "week01_basics" / "basics.py").write_text(
        SOLUTION.replace("return x.sum()", f"{helper_line}\n    return base.sum()")
    )
    course = load_course(leaky)
    build_week(course, course.weeks[0])
    with pytest.raises(BuildError, match=r"grader/testing.py:\d+: base = x.detach"):
        write_release(course, out=tmp_path / "never")
    problems = check_course(course).problems
    assert any(p.startswith("grader/testing.py:") and "which every release would show" in p for p in problems)
