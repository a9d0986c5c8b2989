"""Reading what learners hand in: folders, zips, notebooks and nbgrader's exchange, safely (issue #7).

The course has one week (``week1``, folder ``week01_basics``) with two exercises, information and
losses.  Every submission is copied under ``work`` and graded from there.  Whatever is wrong with
what a learner handed in is a ``problem`` or a note on their intake: discovery never raises for
it, and never writes anything outside ``work``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import os
import random
import stat
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from grader.classroom import intake, staging
from grader.classroom.intake import Discovery, Intake, discover, read_submission
from grader.core.course import Course, Week, load_course

from .conftest import STUB, MakeCourse

UTC = dt.timezone.utc
FOLDER = "week01_basics"
INFORMATION = "def entropy(p):\n    return 1.0\n"
LOSSES = "def mse(a, b):\n    return 0.0\n"
BOTH = {"information.py": INFORMATION, "losses.py": LOSSES}
EXPECTED = "expected information.py, losses.py"


@pytest.fixture
def course(make_course: MakeCourse) -> Course:
    return load_course(make_course({"information": STUB, "losses": STUB}))


@pytest.fixture
def week(course: Course) -> Week:
    return course.weeks[0]


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    return folder


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


# -- helpers --------------------------------------------------------------------------------------


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def zip_bytes(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    path.write_bytes(zip_bytes(members))
    return path


def write_notebook(path: Path, *cells: str) -> Path:
    """An nbformat 4 notebook with a markdown title, then one code cell per source (JSON-escaped)."""
    code = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c} for c in cells]
    notebook = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Week 1"}, *code],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1))
    return path


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(course: Course, submissions: Path, work: Path) -> Discovery:
    return discover(submissions, course=course, week=course.weeks[0], work=work)


GRADING_STARTED = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.timezone.utc)


def run_exchange(course: Course, submissions: Path, work: Path) -> Discovery:
    """Discover with ``--nbgrader-exchange``, the grading started at ``GRADING_STARTED``."""
    return discover(
        submissions, course=course, week=course.weeks[0], work=work, nbgrader_exchange=True, started_at=GRADING_STARTED
    )


def by_learner(discovery: Discovery) -> dict[str, Intake]:
    return {each.learner: each for each in discovery.intakes}


def everything_outside(tmp_path: Path, work: Path) -> set[Path]:
    return {p for p in tmp_path.rglob("*") if not p.is_relative_to(work)}


def discover_safely(course: Course, submissions: Path, work: Path) -> dict[str, Intake]:
    """Discover, checking that nothing was created, changed or removed outside ``work``."""
    tmp_path = submissions.parent
    before = {p: p.lstat().st_mtime_ns for p in everything_outside(tmp_path, work)}
    intakes = by_learner(run(course, submissions, work))
    after = {p: p.lstat().st_mtime_ns for p in everything_outside(tmp_path, work)}
    assert after == before
    return intakes


def graded_files(graded: Intake) -> dict[str, str]:
    assert graded.gradable, graded.problem
    assert graded.root is not None
    week_dir = graded.root / FOLDER
    return {p.name: p.read_text() for p in sorted(week_dir.iterdir())}


def at(moment: dt.datetime, *paths: Path) -> dt.datetime:
    for path in paths:
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    return moment


# -- the week's exercises -------------------------------------------------------------------------


def test_the_exercises_are_the_modules_of_the_weeks_reference_solution(course: Course, week: Week) -> None:
    (course.solutions_dir / FOLDER / "_helpers.py").write_text("")
    assert intake.exercise_names(course, week) == ("information", "losses")


# -- layouts --------------------------------------------------------------------------------------


def test_a_folder_laid_out_like_exercises_is_graded(course: Course, submissions: Path, work: Path) -> None:
    write_files(submissions / "alice" / FOLDER, BOTH)
    alice = by_learner(run(course, submissions, work))["alice"]
    assert graded_files(alice) == BOTH
    assert alice.source == "alice"
    assert alice.root is not None and alice.root.is_relative_to(work)
    assert alice.notes == ()


def test_a_flat_folder_is_graded(course: Course, submissions: Path, work: Path) -> None:
    write_files(submissions / "bob", BOTH)
    assert graded_files(by_learner(run(course, submissions, work))["bob"]) == BOTH


def test_a_learners_own_helper_module_beside_the_exercises_is_kept(
    course: Course, submissions: Path, work: Path
) -> None:
    write_files(submissions / "bob", {**BOTH, "plotting.py": "X = 1\n"})
    assert graded_files(by_learner(run(course, submissions, work))["bob"]) == {**BOTH, "plotting.py": "X = 1\n"}


def test_a_zip_with_a_wrapping_folder_is_graded(course: Course, submissions: Path, work: Path) -> None:
    write_zip(submissions / "carol.zip", {f"carol-week1/{name}": text for name, text in BOTH.items()})
    carol = by_learner(run(course, submissions, work))["carol"]
    assert graded_files(carol) == BOTH
    assert carol.source == "carol.zip"


def test_a_flat_zip_is_graded(course: Course, submissions: Path, work: Path) -> None:
    write_zip(submissions / "dan.zip", dict(BOTH))
    assert graded_files(by_learner(run(course, submissions, work))["dan"]) == BOTH


def test_read_submission_reads_one_submission_into_its_work_folder(
    course: Course, week: Week, tmp_path: Path, work: Path
) -> None:
    handed_in = write_zip(tmp_path / "upload.zip", dict(BOTH))
    one = read_submission(handed_in, learner="erin", course=course, week=week, work=work / "erin")
    assert (one.learner, one.source) == ("erin", "upload.zip")
    assert graded_files(one) == BOTH
    assert one.root == work / "erin" / "graded"
    assert not (work / "erin" / "raw").exists()  # the staging copy is removed


def test_a_stray_file_at_the_top_is_ignored_not_an_intake(course: Course, submissions: Path, work: Path) -> None:
    write_files(submissions, {"notes.txt": "grade kindly", "alice/information.py": INFORMATION})
    discovery = run(course, submissions, work)
    assert [each.learner for each in discovery.intakes] == ["alice"]
    assert discovery.ignored == ("notes.txt: not a submission (a folder, .zip or .ipynb per learner)",)


# -- nbgrader's exchange layout -------------------------------------------------------------------

NBGRADER_STAMP = "2026-11-20 23:59:59.123456 UTC"


@pytest.mark.parametrize("assignment", ["week1", FOLDER])
def test_nbgraders_exchange_layout_is_read_with_the_assignment_named_by_the_week(
    course: Course, submissions: Path, work: Path, assignment: str
) -> None:
    write_files(submissions / "submitted" / "alice" / assignment, {**BOTH, "timestamp.txt": NBGRADER_STAMP})
    alice = by_learner(run_exchange(course, submissions, work))["alice"]
    assert graded_files(alice) == BOTH
    assert alice.source == f"submitted/alice/{assignment}"


def test_nbgraders_timestamp_is_the_submission_time(course: Course, submissions: Path, work: Path) -> None:
    handed_in = write_files(
        submissions / "submitted" / "alice" / "week1", {**BOTH, "timestamp.txt": NBGRADER_STAMP + "\n"}
    )
    at(dt.datetime(2026, 11, 20, 23, 50, tzinfo=UTC), handed_in / "information.py", handed_in / "losses.py")
    submitted_at = by_learner(run_exchange(course, submissions, work))["alice"].submitted_at
    assert submitted_at == dt.datetime(2026, 11, 20, 23, 59, 59, 123456, tzinfo=UTC)
    assert submitted_at.utcoffset() == dt.timedelta(0)


def test_an_unreadable_nbgrader_timestamp_falls_back_to_the_file_time_with_a_note(
    course: Course, submissions: Path, work: Path
) -> None:
    handed_in = write_files(submissions / "submitted" / "alice" / "week1", {**BOTH, "timestamp.txt": "yesterday"})
    moment = at(dt.datetime(2026, 11, 19, 10, 0, tzinfo=UTC), handed_in / "information.py", handed_in / "losses.py")
    alice = by_learner(run_exchange(course, submissions, work))["alice"]
    assert alice.submitted_at == moment
    assert alice.notes == (
        "timestamp.txt says 'yesterday', which is not a date and time with a UTC offset; the file time was used",
    )


def test_a_learner_without_the_assignment_folder_is_rejected_naming_it(
    course: Course, submissions: Path, work: Path
) -> None:
    write_files(submissions / "submitted", {"alice/week1/information.py": INFORMATION, "bob/week2/information.py": ""})
    bob = by_learner(run_exchange(course, submissions, work))["bob"]
    assert not bob.gradable
    assert bob.problem == "nothing handed in: week1 does not exist"
    assert bob.source == "submitted/bob/week1"


# -- when it was handed in ------------------------------------------------------------------------


def test_a_folders_time_is_its_newest_exercise_file(course: Course, submissions: Path, work: Path) -> None:
    folder = write_files(submissions / "alice", {**BOTH, "notes.txt": "done!"})
    at(dt.datetime(2026, 11, 18, 12, 0, tzinfo=UTC), folder / "information.py")
    newest = at(dt.datetime(2026, 11, 19, 12, 0, tzinfo=UTC), folder / "losses.py")
    at(dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC), folder / "notes.txt", folder)
    assert by_learner(run(course, submissions, work))["alice"].submitted_at == newest


def test_a_folders_time_ignores_files_that_are_not_read(course: Course, submissions: Path, work: Path) -> None:
    folder = write_files(submissions / "alice", {**BOTH, ".ipynb_checkpoints/information-checkpoint.ipynb": "{}"})
    newest = at(dt.datetime(2026, 11, 19, 12, 0, tzinfo=UTC), folder / "information.py", folder / "losses.py")
    at(dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC), folder / ".ipynb_checkpoints/information-checkpoint.ipynb")
    assert by_learner(run(course, submissions, work))["alice"].submitted_at == newest


def test_a_zip_skips_the_hidden_folders_a_folder_skips(course: Course, submissions: Path, work: Path) -> None:
    checkpointed = {"week1.ipynb", ".ipynb_checkpoints/week1-checkpoint.ipynb"}
    for name in checkpointed:
        write_notebook(submissions / "alice" / name, "def entropy(p):\n    return 1.0")
    write_zip(submissions / "bob.zip", {name: (submissions / "alice" / name).read_text() for name in checkpointed})
    intakes = by_learner(run(course, submissions, work))
    assert intakes["alice"].gradable
    assert intakes["bob"].gradable
    assert intakes["bob"].content_hash == intakes["alice"].content_hash


def test_a_timestamp_inside_a_zip_is_the_learners_and_the_zips_own_time_is_used(
    course: Course, submissions: Path, work: Path
) -> None:
    handed_in = write_zip(submissions / "alice.zip", {**BOTH, "timestamp.txt": "2000-01-01 00:00:00 UTC"})
    uploaded = at(dt.datetime(2026, 11, 21, 8, 30, tzinfo=UTC), handed_in)
    submitted_at = by_learner(run(course, submissions, work))["alice"].submitted_at
    assert submitted_at == uploaded
    assert submitted_at.tzinfo is not None


def test_a_timestamp_in_a_learners_own_folder_is_not_trusted(course: Course, submissions: Path, work: Path) -> None:
    folder = write_files(submissions / "alice", {**BOTH, "timestamp.txt": "2000-01-01 00:00:00 UTC"})
    newest = at(dt.datetime(2026, 11, 21, 8, 30, tzinfo=UTC), *folder.glob("*.py"))
    assert by_learner(run(course, submissions, work))["alice"].submitted_at == newest


# -- notebooks ------------------------------------------------------------------------------------


def test_an_exercise_notebook_becomes_its_module_with_definitions_only(
    course: Course, week: Week, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handed_in = tmp_path / "alice"
    write_files(handed_in, {"losses.py": LOSSES})
    write_notebook(
        handed_in / "information.ipynb",
        "%matplotlib inline\nimport math",
        "!pip install torch",
        "def entropy(p):\n    return -sum(x * math.log2(x) for x in p if x)\n\n\nprint(entropy([0.5, 0.5]))",
        "assert entropy([1.0]) == 99, 'the notebook checks itself'",
        "plt.plot([1, 2, 3])",
        "from __future__ import annotations\n\n\ndef bits(p: Distribution) -> float:\n    return entropy(p)",
    )
    alice = read_submission(handed_in, learner="alice", course=course, week=week, work=tmp_path / "work")
    assert alice.gradable
    assert alice.notes == ("information.ipynb: 3 top-level statement(s) that are not definitions were left out",)
    assert alice.root is not None
    module = load_module(alice.root / FOLDER / "information.py")
    assert module.entropy([0.5, 0.5]) == 1.0
    assert module.bits([0.25] * 4) == 2.0
    assert module.bits.__annotations__ == {"p": "Distribution", "return": "float"}
    assert capsys.readouterr().out == ""  # the print was left out


def test_one_notebook_for_the_whole_week_stands_for_every_exercise(
    course: Course, submissions: Path, work: Path
) -> None:
    write_notebook(
        submissions / "alice.ipynb",
        "def entropy(p):\n    return 1.0",
        "def mse(a, b):\n    return (a - b) ** 2",
    )
    alice = by_learner(run(course, submissions, work))["alice"]
    assert alice.gradable
    assert alice.notes == ("alice.ipynb graded as information.py, losses.py",)
    assert alice.root is not None
    for exercise in ("information", "losses"):
        module = load_module(alice.root / FOLDER / f"{exercise}.py")
        assert module.entropy([0.5]) == 1.0
        assert module.mse(3, 1) == 4


def test_a_notebook_cell_with_a_syntax_error_is_kept_so_the_module_reports_it(
    course: Course, week: Week, tmp_path: Path
) -> None:
    handed_in = write_files(tmp_path / "alice", {"losses.py": LOSSES})
    write_notebook(handed_in / "information.ipynb", "def entropy(p):\n    return 1.0", "def broken(:\n    pass")
    alice = read_submission(handed_in, learner="alice", course=course, week=week, work=tmp_path / "work")
    assert alice.gradable
    assert alice.root is not None
    with pytest.raises(SyntaxError) as caught:
        load_module(alice.root / FOLDER / "information.py")
    assert caught.value.text is not None and "def broken(:" in caught.value.text


def test_a_corrupt_notebook_costs_only_its_own_exercise(course: Course, submissions: Path, work: Path) -> None:
    write_files(submissions / "alice", {"information.ipynb": '{"cells": [', "losses.py": LOSSES})
    alice = discover_safely(course, submissions, work)["alice"]
    assert alice.gradable
    assert any(note.startswith("information.ipynb is not a readable notebook (") for note in alice.notes)
    assert any(note.startswith("missing information.py") for note in alice.notes)


def test_a_corrupt_notebook_for_the_whole_week_is_a_problem(course: Course, submissions: Path, work: Path) -> None:
    (submissions / "alice.ipynb").write_text('{"cells": [')
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem.startswith("alice.ipynb is not a readable notebook (")


@pytest.mark.parametrize(
    "cell",
    ["total = 0" + " + 1" * 5000, 'name = "\ud800"'],
    ids=["a 5000-term sum", "a lone surrogate"],
)
def test_a_notebook_cell_the_parser_cannot_take_does_not_stop_discovery(
    course: Course, submissions: Path, work: Path, cell: str
) -> None:
    write_notebook(submissions / "alice" / "information.ipynb", "def entropy(p):\n    return 1.0", cell)
    write_files(submissions, {"bob/information.py": INFORMATION})
    intakes = discover_safely(course, submissions, work)
    assert sorted(intakes) == ["alice", "bob"]
    assert intakes["bob"].gradable


# -- what a submission's files are called ---------------------------------------------------------


def test_an_empty_folder_is_a_problem_naming_the_expected_files(course: Course, submissions: Path, work: Path) -> None:
    (submissions / "alice").mkdir()
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem == f"empty submission: no .py or .ipynb file; {EXPECTED}"


def test_only_misnamed_files_is_a_problem_naming_the_expected_files_and_the_near_miss(
    course: Course, submissions: Path, work: Path
) -> None:
    write_files(submissions / "alice", {"Information.py": INFORMATION, "informaton.py": INFORMATION})
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem == (
        f"no exercise file found: {EXPECTED}; found informaton.py (should be named information.py?)"
    )


def test_a_partly_misnamed_submission_is_graded_with_a_note(course: Course, submissions: Path, work: Path) -> None:
    write_files(submissions / "alice", {"information.py": INFORMATION, "loses.py": LOSSES})
    alice = discover_safely(course, submissions, work)["alice"]
    assert alice.gradable
    assert alice.notes == ("missing losses.py; found loses.py (should be named losses.py?)",)


def test_two_submissions_for_one_learner_are_one_rejected_entry_naming_both(
    course: Course, submissions: Path, work: Path
) -> None:
    write_files(submissions / "alice", BOTH)
    write_zip(submissions / "alice.zip", dict(BOTH))
    discovery = run(course, submissions, work)
    assert len(discovery.intakes) == 1
    (alice,) = discovery.intakes
    assert (alice.learner, alice.source, alice.root) == ("alice", "alice and alice.zip", None)
    assert alice.problem == "learner id 'alice' is given by alice and alice.zip; keep one and run again"


# -- content hash ---------------------------------------------------------------------------------


def test_the_same_files_as_a_folder_or_a_zip_have_one_content_hash_and_one_byte_changes_it(
    course: Course, submissions: Path, work: Path
) -> None:
    write_files(submissions / "alice", BOTH)
    write_zip(submissions / "bob.zip", {f"bob/{FOLDER}/{name}": text for name, text in BOTH.items()})
    write_files(submissions / "carol", {**BOTH, "losses.py": LOSSES.replace("0.0", "0.1")})
    intakes = by_learner(run(course, submissions, work))
    assert intakes["alice"].content_hash == intakes["bob"].content_hash
    assert intakes["carol"].content_hash != intakes["alice"].content_hash


# -- hostile input --------------------------------------------------------------------------------


def test_random_bytes_named_zip_are_a_problem(course: Course, submissions: Path, work: Path) -> None:
    (submissions / "alice.zip").write_bytes(random.Random(7).randbytes(4096))
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem == "alice.zip is not a readable zip file (File is not a zip file); ask for a new copy"


def test_a_truncated_zip_is_a_problem(course: Course, submissions: Path, work: Path) -> None:
    whole = zip_bytes({**BOTH, "data.py": "X = " + repr(list(range(2000)))})
    (submissions / "alice.zip").write_bytes(whole[: len(whole) // 2])
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem.startswith("alice.zip is not a readable zip file (")


def test_a_zip_bomb_stops_at_max_bytes(course: Course, submissions: Path, work: Path) -> None:
    # _Budget takes MAX_BYTES as a dataclass default when the module is imported, so patching
    # staging.MAX_BYTES would not shrink it: the bomb is a real one, 1 MB past the 20 MB limit,
    # about 21 kB compressed.
    assert staging.MAX_BYTES == 20 << 20
    write_zip(submissions / "alice.zip", {**BOTH, "weights.py": b"#" * (staging.MAX_BYTES + (1 << 20))})
    assert (submissions / "alice.zip").stat().st_size < 100_000
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem == "the submission expands to more than 20 MB (a zip bomb?); nothing was graded"
    assert not (work / "s00000" / "raw").exists()


EVIL = ("../../evil.py", "../../../evil.py", "../../../../evil.py", "/abs/evil.py", "C:\\evil.py")


def test_zip_members_whose_path_leaves_the_folder_are_skipped_with_a_note(
    course: Course, submissions: Path, work: Path, tmp_path: Path
) -> None:
    write_zip(submissions / "alice.zip", {**BOTH, **{name: "import os; os.remove('~')" for name in EVIL}})
    alice = discover_safely(course, submissions, work)["alice"]
    assert graded_files(alice) == BOTH
    assert alice.notes == tuple(f"skipped {name!r}: its path would leave the extraction folder" for name in EVIL)
    # where extracting them naively would have written (the zip is staged in work/s00000/raw):
    for target in (work / "evil.py", tmp_path / "evil.py", tmp_path.parent / "evil.py", Path("/abs/evil.py")):
        assert not target.exists()
    assert list(tmp_path.rglob("*evil*")) == []


def test_a_symbolic_link_inside_a_zip_is_skipped_with_a_note(course: Course, submissions: Path, work: Path) -> None:
    link = zipfile.ZipInfo("information.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(submissions / "alice.zip", "w") as archive:
        archive.writestr(link, "/etc/passwd")
        archive.writestr("losses.py", LOSSES)
    alice = discover_safely(course, submissions, work)["alice"]
    assert graded_files(alice) == {"losses.py": LOSSES}
    assert alice.notes == ("skipped information.py: a symbolic link inside the zip", "missing information.py")


def test_a_symbolic_link_inside_a_folder_is_not_followed_and_noted(
    course: Course, submissions: Path, work: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.py"
    secret.write_text("ANSWERS = 'the reference solution'\n")
    folder = write_files(submissions / "alice", {"losses.py": LOSSES})
    (folder / "information.py").symlink_to(secret)
    alice = discover_safely(course, submissions, work)["alice"]
    assert graded_files(alice) == {"losses.py": LOSSES}
    assert alice.notes == (
        "skipped information.py: a symbolic link or special file, not a regular file",
        "missing information.py",
    )
    assert not any("reference solution" in p.read_text() for p in work.rglob("*.py"))


def test_a_learner_folder_that_is_a_symbolic_link_is_rejected(
    course: Course, submissions: Path, work: Path, tmp_path: Path
) -> None:
    elsewhere = write_files(tmp_path / "elsewhere", BOTH)
    (submissions / "alice").symlink_to(elsewhere, target_is_directory=True)
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem == "alice is a symbolic link; hand in the file itself"
    assert list(work.rglob("*.py")) == []


def test_a_learner_folder_whose_name_is_not_utf8_is_rejected_with_a_readable_reason(
    course: Course, submissions: Path, work: Path
) -> None:
    os.mkdir(os.fsencode(str(submissions)) + b"/g\xffh")
    (only,) = discover_safely(course, submissions, work).values()
    assert not only.gradable
    assert only.learner == "g\\xffh"
    assert only.problem == "the name 'g\\\\xffh' is not valid UTF-8; rename it"
    only.problem.encode("utf-8")  # printable and storable as it is
    only.source.encode("utf-8")


def test_a_file_whose_name_is_not_utf8_inside_a_folder_is_skipped_with_a_note(
    course: Course, submissions: Path, work: Path
) -> None:
    folder = write_files(submissions / "alice", BOTH)
    (Path(os.fsdecode(os.fsencode(str(folder)) + b"/l\xffsses.py"))).write_text(LOSSES)
    alice = discover_safely(course, submissions, work)["alice"]
    assert graded_files(alice) == BOTH
    assert alice.notes == ("skipped a file whose name is not valid UTF-8: l\\xffsses.py",)


def test_a_file_whose_name_is_not_utf8_inside_a_zip_is_skipped_with_a_note(
    course: Course, submissions: Path, work: Path
) -> None:
    # zipfile flags every non-ASCII name as UTF-8 (0x800), so the name is patched into the bytes;
    # unflagged, it reads back as cp437 "l\xa0sses.py", whose bytes are not UTF-8.
    raw = zip_bytes({**BOTH, "lXsses.py": LOSSES}).replace(b"lXsses.py", b"l\xffsses.py")
    (submissions / "alice.zip").write_bytes(raw)
    with zipfile.ZipFile(submissions / "alice.zip") as archive:
        assert archive.getinfo("l\xa0sses.py").flag_bits & 0x800 == 0
    alice = discover_safely(course, submissions, work)["alice"]
    assert graded_files(alice) == BOTH
    assert alice.notes == ("skipped a file whose name is not valid UTF-8: 'l\\xa0sses.py'",)


def test_more_than_max_files_is_a_problem(course: Course, submissions: Path, work: Path) -> None:
    folder = write_files(submissions / "alice", BOTH)
    for number in range(staging.MAX_FILES - 1):
        (folder / f"helper_{number}.py").touch()
    alice = discover_safely(course, submissions, work)["alice"]
    assert not alice.gradable
    assert alice.problem == f"the submission has more than {staging.MAX_FILES} files; hand in only the exercise files"


def test_exactly_max_files_is_still_graded(course: Course, submissions: Path, work: Path) -> None:
    folder = write_files(submissions / "alice", BOTH)
    for number in range(staging.MAX_FILES - 2):
        (folder / f"helper_{number}.py").touch()
    assert discover_safely(course, submissions, work)["alice"].gradable
