"""Exports of the gradebook (CSV, JSON, nbgrader) and the Gradescope autograder.

The gradebook holds three learners of one week: ada on time, bob two days late (10 % a day, so
his final score is 80 % of his raw score) and cleo, whose upload was rejected.  Both graded
learners earned 2 + 0.1 + 0.2 = 2.3 of 3.5 + 3.3 = 6.8 points; the float sums behind those
numbers (2.3000000000000003, 6.800000000000001) must not show in any export.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import export, gradescope
from grader.classroom.gradebook import Entry, Gradebook
from grader.core.course import Course, Grading, Week, load_course
from grader.core.errors import MissingExtraError, UsageError
from grader.core.late import LatePolicy, assess
from grader.core.results import ExerciseResult, Status, TestInfo, TestOutcome, WeekResult

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
DUE = dt.datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
WEEK = Week(id="week5", number=5, folder="week05_probability", title="Probability", due=DUE)
EMPTY_REASON = "empty submission: no .py or .ipynb file; expected information.py, sampling.py"


def outcome(
    exercise: str, name: str, points: float, status: Status = "passed", message: str = "", **info: Any
) -> TestOutcome:
    test_id = f"tests/week05_probability/test_{exercise}.py::{name}"
    return TestOutcome(TestInfo(test_id, name, exercise, points, **info), status, message)


RESULT = WeekResult(
    course="Tiny course",
    week_id="week5",
    week_title="Probability",
    week_folder="week05_probability",
    submission="submissions/ada",
    exercises=(
        ExerciseResult(
            "information",
            "submissions/ada/week05_probability/information.py",
            (
                outcome("information", "test_entropy", 2, public=True),
                outcome(
                    "information",
                    "test_kl[(1, 3)]",
                    1.5,
                    "failed",
                    "matches KL(q‖p), not KL(p‖q)",
                    hint="sum p log(p/q)",
                ),
            ),
        ),
        ExerciseResult(
            "sampling",
            "submissions/ada/week05_probability/sampling.py",
            (
                outcome("sampling", "test_bernoulli", 0.1),
                outcome("sampling", "test_categorical", 0.2),
                outcome(
                    "sampling", "test_normal", 3, "not_implemented", "sample_normal() is not implemented yet (line 76)"
                ),
            ),
        ),
    ),
)


def entry(learner: str, *, submitted_at: dt.datetime | None, result: WeekResult | None, reason: str = "") -> Entry:
    return Entry(
        week_id="week5",
        learner=learner,
        source=f"{learner}.zip",
        content_hash="0" * 64,
        suite_hash="1" * 64,
        submitted_at=submitted_at,
        graded_at=dt.datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        status="graded" if result else "rejected",
        reason=reason,
        result=result,
    )


@pytest.fixture
def course(tmp_path: Path) -> Course:
    return Course(
        root=tmp_path,
        title="Tiny course",
        weeks=(WEEK,),
        grading=Grading(late=LatePolicy(per_day=10)),
        exercises_dir=tmp_path / "exercises",
        solutions_dir=tmp_path / "solutions",
        tests_dir=tmp_path / "tests",
    )


@pytest.fixture
def entries(tmp_path: Path) -> list[Entry]:
    """The three learners, stored in a gradebook and read back as ``grade export`` will."""
    with Gradebook.open(tmp_path / "g.db", create=True) as gradebook:
        gradebook.record(entry("ada", submitted_at=dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC), result=RESULT))
        gradebook.record(entry("bob", submitted_at=dt.datetime(2026, 11, 22, 10, 0, tzinfo=UTC), result=RESULT))
        gradebook.record(entry("cleo", submitted_at=None, result=None, reason=EMPTY_REASON))
        return gradebook.current("week5")


# -- CSV ----------------------------------------------------------------------------------------


def csv_rows(course: Course, entries: list[Entry]) -> list[list[str]]:
    out = io.StringIO(newline="")
    export.to_csv(course, WEEK, entries, out)
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_csv_has_one_row_per_learner_with_points_per_exercise_and_the_late_penalty(
    course: Course, entries: list[Entry]
) -> None:
    assert csv_rows(course, entries) == [
        [
            "learner", "status", "source", "submitted_at", "information (3.5)", "sampling (3.3)",
            "raw", "possible", "days_late", "penalty_percent", "final", "late_note", "reason",
        ],
        ["ada", "graded", "ada.zip", "2026-11-20T12:00:00+00:00", "2", "0.3", "2.3", "6.8", "0", "0", "2.3", "on time", ""],
        [
            "bob", "graded", "bob.zip", "2026-11-22T10:00:00+00:00", "2", "0.3", "2.3", "6.8",
            "2", "20", "1.84", "2 days late (-20%)", "",
        ],
        [
            "cleo", "rejected", "cleo.zip", "", "", "", "0", "6.8",
            "0", "0", "0", "submission time unknown: counted on time", EMPTY_REASON,
        ],
    ]  # fmt: skip


def test_csv_of_a_week_nobody_handed_in_is_just_the_header(course: Course) -> None:
    assert csv_rows(course, []) == [[*export.CSV_FIXED_COLUMNS, *export.CSV_TOTAL_COLUMNS]]


def test_csv_quotes_a_reason_with_commas_and_escapes_its_newline_so_the_row_survives(course: Course) -> None:
    reason = 'bad zip, "really"\nask for a new copy'
    rows = csv_rows(course, [entry("dan", submitted_at=None, result=None, reason=reason)])
    assert rows[1][0] == "dan" and rows[1][-1] == 'bad zip, "really"\\nask for a new copy'  # issue #14


# -- JSON ---------------------------------------------------------------------------------------


def test_json_lists_each_learner_with_raw_late_final_and_the_full_result(course: Course, entries: list[Entry]) -> None:
    data = json.loads(json.dumps(export.to_json(course, {"week5": entries})))
    assert (data["schema_version"], data["course"]) == (1, "Tiny course")
    [week] = data["weeks"]
    assert (week["id"], week["title"], week["due"]) == ("week5", "Probability", "2026-11-20T23:59:00+00:00")
    ada, bob, cleo = week["learners"]
    assert (ada["raw"], ada["possible"], ada["final"], ada["late"]["note"]) == (2.3, 6.8, 2.3, "on time")
    assert bob["late"] == {"days_late": 2, "penalty_percent": 20.0, "note": "2 days late (-20%)"}
    assert bob["final"] == 1.84
    kl = bob["result"]["exercises"][0]["tests"][1]
    assert (kl["name"], kl["status"], kl["message"], kl["hint"]) == (
        "test_kl[(1, 3)]",
        "failed",
        "matches KL(q‖p), not KL(p‖q)",
        "sum p log(p/q)",
    )
    assert (cleo["status"], cleo["raw"], cleo["final"], cleo["result"]) == ("rejected", 0.0, 0.0, None)
    assert cleo["reason"] == EMPTY_REASON


def test_json_keeps_a_week_the_course_no_longer_lists_last_and_without_a_due_date(
    course: Course, entries: list[Entry]
) -> None:
    old = [dataclasses.replace(e, week_id="week9") for e in entries]
    data = export.to_json(course, {"week9": old, "week5": entries})
    assert [w["id"] for w in data["weeks"]] == ["week5", "week9"]
    assert data["weeks"][1]["due"] is None
    assert data["weeks"][1]["learners"][1]["late"]["note"] == "no due date"


# -- nbgrader -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_nbgrader_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new gradebook as nbgrader creates it, made once: nbgrader asks alembic for the schema
    version in a subprocess for each new database, which takes seconds."""
    from nbgrader.api import Gradebook as NbgraderGradebook

    path = tmp_path_factory.mktemp("nbgrader") / "gradebook.db"
    NbgraderGradebook(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def nbgrader_url(empty_nbgrader_db: Path, tmp_path: Path) -> str:
    shutil.copy(empty_nbgrader_db, tmp_path / "nbgrader.db")
    return f"sqlite:///{tmp_path / 'nbgrader.db'}"


def test_nbgrader_score_of_each_submission_equals_our_raw_points_and_the_penalty_is_recorded(
    course: Course, entries: list[Entry], nbgrader_url: str
) -> None:
    from nbgrader.api import Gradebook as NbgraderGradebook

    summary = export.to_nbgrader(course, WEEK, entries, nbgrader_url)
    assert summary == export.NbgraderSummary(
        nbgrader_url, "week5", ("information", "sampling"), ("ada", "bob"), (("cleo", EMPTY_REASON),)
    )
    with NbgraderGradebook(nbgrader_url) as gb:
        assignment = gb.find_assignment("week5")
        assert assignment.duedate == dt.datetime(2026, 11, 20, 23, 59)  # naive UTC, as nbgrader stores it
        assert assignment.max_score == pytest.approx(6.8)
        assert [n.name for n in assignment.notebooks] == ["information", "sampling"]
        ada, bob = gb.find_submission("week5", "ada"), gb.find_submission("week5", "bob")
        assert ada.score == pytest.approx(2.3) and bob.score == pytest.approx(2.3)
        assert ada.late_submission_penalty == 0 and bob.late_submission_penalty == pytest.approx(2.3 - 1.84)
        assert bob.timestamp == dt.datetime(2026, 11, 22, 10, 0)
        kl = gb.find_grade("test_kl[(1, 3)]", "information", "week5", "bob")
        assert (kl.auto_score, kl.max_score, kl.needs_manual_grade) == (0.0, 1.5, False)
        assert gb.find_grade("test_entropy", "information", "week5", "bob").auto_score == 2.0
        assert sorted(s.id for s in gb.students) == ["ada", "bob", "cleo"]
        with pytest.raises(ValueError, match="No such submission"):
            gb.find_submission("week5", "cleo")


def test_nbgrader_export_twice_updates_in_place_and_a_regrade_with_a_new_test_reaches_everyone(
    course: Course, entries: list[Entry], nbgrader_url: str
) -> None:
    from nbgrader.api import Gradebook as NbgraderGradebook

    export.to_nbgrader(course, WEEK, entries, nbgrader_url)
    export.to_nbgrader(course, WEEK, entries, nbgrader_url)
    entropy = RESULT.exercises[0].outcomes[0]
    kl_fixed = outcome("information", "test_kl[(1, 3)]", 1.5)
    added = outcome("information", "test_mutual_information", 1)  # the suite grew since the last export
    information = dataclasses.replace(RESULT.exercises[0], outcomes=(entropy, kl_fixed, added))
    regraded = dataclasses.replace(RESULT, exercises=(information, RESULT.exercises[1]))
    export.to_nbgrader(course, WEEK, [dataclasses.replace(entries[0], result=regraded), *entries[1:]], nbgrader_url)
    with NbgraderGradebook(nbgrader_url) as gb:
        assert len(gb.students) == 3 and len(gb.assignments) == 1
        assert len(gb.assignment_submissions("week5")) == 2
        assert len(gb.find_notebook("information", "week5").grade_cells) == 3
        assert gb.find_submission("week5", "ada").score == pytest.approx(2 + 1.5 + 1 + 0.3)
        assert gb.find_submission("week5", "bob").score == pytest.approx(2.3)
        assert gb.find_grade("test_mutual_information", "information", "week5", "bob").auto_score == 0.0


def test_nbgrader_keeps_a_manual_score_given_in_formgrader(
    course: Course, entries: list[Entry], nbgrader_url: str
) -> None:
    from nbgrader.api import Gradebook as NbgraderGradebook

    export.to_nbgrader(course, WEEK, entries, nbgrader_url)
    with NbgraderGradebook(nbgrader_url) as gb:
        gb.find_grade("test_kl[(1, 3)]", "information", "week5", "ada").manual_score = 1.0
        gb.db.commit()
    export.to_nbgrader(course, WEEK, entries, nbgrader_url)
    with NbgraderGradebook(nbgrader_url) as gb:
        grade = gb.find_grade("test_kl[(1, 3)]", "information", "week5", "ada")
        assert (grade.auto_score, grade.manual_score, grade.needs_manual_grade) == (0.0, 1.0, True)
        assert gb.find_submission("week5", "ada").score == pytest.approx(3.3)


def test_nbgrader_removes_the_submission_of_a_learner_whose_current_upload_is_rejected(
    course: Course, entries: list[Entry], nbgrader_url: str
) -> None:
    from nbgrader.api import Gradebook as NbgraderGradebook

    export.to_nbgrader(course, WEEK, entries, nbgrader_url)
    rejected = entry("ada", submitted_at=None, result=None, reason="not a readable zip file")
    summary = export.to_nbgrader(course, WEEK, [rejected, *entries[1:]], nbgrader_url)
    assert summary.removed == ("ada",)
    assert summary.rejected == (("ada", "not a readable zip file"), ("cleo", EMPTY_REASON))
    with NbgraderGradebook(nbgrader_url) as gb:
        assert [s.student.id for s in gb.assignment_submissions("week5")] == ["bob"]


def test_nbgrader_export_without_nbgrader_names_the_instructor_extra(
    course: Course, entries: list[Entry], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "nbgrader", None)
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[instructor\]"'):
        export.to_nbgrader(course, WEEK, entries, f"sqlite:///{tmp_path / 'nbgrader.db'}")


def test_nbgrader_export_to_a_bad_url_is_a_usage_error_naming_it(course: Course, entries: list[Entry]) -> None:
    with pytest.raises(UsageError, match="nosuchdb://x"):
        export.to_nbgrader(course, WEEK, entries, "nosuchdb://x")


# -- Gradescope results.json --------------------------------------------------------------------


def test_gradescope_has_one_test_per_hidden_test_with_message_and_hint_for_a_failure() -> None:
    tests = export.to_gradescope(RESULT)["tests"]
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in tests] == [
        ("information: test_entropy", 2.0, 2.0, "passed"),
        ("information: test_kl[(1, 3)]", 0.0, 1.5, "failed"),
        ("sampling: test_bernoulli", 0.1, 0.1, "passed"),
        ("sampling: test_categorical", 0.2, 0.2, "passed"),
        ("sampling: test_normal", 0.0, 3.0, "failed"),
    ]
    assert tests[1]["output"] == "matches KL(q‖p), not KL(p‖q)\nhint: sum p log(p/q)"
    assert tests[4]["output"] == "sample_normal() is not implemented yet (line 76)"
    assert tests[0]["output"] == ""


def test_gradescope_shows_public_tests_at_once_and_the_others_after_grades_are_published() -> None:
    tests = export.to_gradescope(RESULT)["tests"]
    assert [t["visibility"] for t in tests] == ["visible"] + ["after_published"] * 4


def test_gradescope_score_is_the_sum_of_the_tests_or_the_score_after_the_late_penalty() -> None:
    data = export.to_gradescope(RESULT)
    assert data["score"] == 2.3 == pytest.approx(sum(t["score"] for t in data["tests"]))
    assert data["output"] == "2.3/6.8 points (3 of 5 tests passed)"
    late = assess(LatePolicy(per_day=10), DUE, dt.datetime(2026, 11, 22, 10, 0, tzinfo=UTC), RESULT.points_earned)
    data = export.to_gradescope(RESULT, late=late)
    assert data["score"] == 1.84
    assert data["output"] == "2.3/6.8 points (3 of 5 tests passed)\nlate: 2 days late (-20%); score 1.84 of 2.3"


def test_gradescope_problem_scores_zero_and_says_why_at_the_top_and_in_its_one_test() -> None:
    data = export.gradescope_problem(EMPTY_REASON, notes=("skipped notes.txt",))
    assert data["score"] == 0
    assert data["output"] == f"{EMPTY_REASON}\nskipped notes.txt"
    [test] = data["tests"]
    assert (test["score"], test["output"], test["visibility"]) == (0, data["output"], "visible")


# -- the Gradescope autograder ------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = load_course(ROOT)
    return gradescope.build_gradescope_autograder(course, course.resolve("week5"), tmp_path_factory.mktemp("zip"))


def unpack(autograder_zip: Path, tmp_path: Path, upload: dict[str, str]) -> Path:
    """An /autograder folder as Gradescope lays it out: source/ from the zip, the learner's upload."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    for name, text in upload.items():
        (root / "submission" / name).write_text(text, encoding="utf-8")
    return root


def reference_upload() -> dict[str, str]:
    """The week's reference solutions, flat, as a learner uploads them."""
    folder = ROOT / "solutions" / "week05_probability"
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))}


def test_autograder_zip_holds_the_scripts_the_grader_and_only_this_weeks_hidden_tests(autograder_zip: Path) -> None:
    assert autograder_zip.name == "gradescope-week5.zip"
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        config = json.loads(archive.read("gradescope.json"))
    assert {"setup.sh", "run_autograder", "course.toml", "pyproject.toml", "README.md"} <= names
    assert {"grader/classroom/gradescope.py", "grader/classroom/intake.py", "grader/engine/plugin.py"} <= names
    assert {"tests/week05_probability/test_information.py", "solutions/week05_probability/sampling.py"} <= names
    assert "tests/week01_tensors/" in names  # empty: course.toml names it, loading checks it exists
    assert not [n for n in names if n.startswith(("tests/week01", "solutions/week01")) and not n.endswith("/")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert config == {"schema_version": 1, "week": "week5"}


def test_autograder_scripts_are_valid_bash(autograder_zip: Path, tmp_path: Path) -> None:
    root = unpack(autograder_zip, tmp_path, {})
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(root / "source" / script)], check=True)
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in gradescope.SETUP_SH


def test_autograder_source_loads_as_a_course_with_the_configured_week(autograder_zip: Path, tmp_path: Path) -> None:
    source = unpack(autograder_zip, tmp_path, {}) / "source"
    course = load_course(source)
    assert course.resolve("week5").folder == "week05_probability"
    assert [w.id for w in course.weeks] == [w.id for w in load_course(ROOT).weeks]


def test_an_empty_upload_gets_a_zero_with_the_reason_not_a_blank_failure(autograder_zip: Path, tmp_path: Path) -> None:
    root = unpack(autograder_zip, tmp_path, {"notes.txt": "I did my best"})
    assert gradescope.main(root) == 0
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0 and "empty submission" in data["output"]
    assert [t["output"] for t in data["tests"]] == [data["output"]]


def test_a_broken_autograder_still_writes_results_that_explain(autograder_zip: Path, tmp_path: Path) -> None:
    root = unpack(autograder_zip, tmp_path, reference_upload())
    (root / "source" / "gradescope.json").unlink()
    assert gradescope.main(root) == 0
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0
    assert "gradescope.json" in data["output"] and "tell your instructor" in data["output"]


def run_autograder(root: Path) -> dict[str, Any]:
    """``bash run_autograder`` as Gradescope runs it, with this interpreter as ``python``."""
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(root),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env, check=True, timeout=600)
    data: dict[str, Any] = json.loads((root / "results" / "results.json").read_text())
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test), test
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    return data


def week5_size() -> tuple[float, int]:
    """Week 5's points and number of tests, from the course's own suite."""
    from grader.core.course import load_course
    from grader.engine.runner import collect_tests

    course = load_course(Path(__file__).resolve().parents[2])
    week = course.resolve("week5")
    tests = collect_tests(course, (week,))[week.id]
    return sum(t.points for t in tests), len(tests)


def test_run_autograder_gives_the_reference_solutions_full_marks(autograder_zip: Path, tmp_path: Path) -> None:
    data = run_autograder(unpack(autograder_zip, tmp_path, reference_upload()))
    points, count = week5_size()
    assert data["score"] == points
    assert data["output"].startswith(f"{points:g}/{points:g} points ({count} of {count} tests passed)")
    assert len(data["tests"]) == count and all(t["status"] == "passed" for t in data["tests"])


def test_run_autograder_fails_only_the_tests_of_a_broken_file_and_says_why(
    autograder_zip: Path, tmp_path: Path
) -> None:
    upload = {**reference_upload(), "sampling.py": "def sample_normal(:\n    pass\n"}
    data = run_autograder(unpack(autograder_zip, tmp_path, upload))
    sampling = [t for t in data["tests"] if t["name"].startswith("sampling: ")]
    others = [t for t in data["tests"] if not t["name"].startswith("sampling: ")]
    assert sampling and all(t["score"] == 0 and "SyntaxError" in t["output"] for t in sampling)
    assert all(t["score"] == t["max_score"] for t in others)
    assert data["score"] == week5_size()[0] - sum(t["max_score"] for t in sampling)


def _nobody_can_read(path: Path) -> bool:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgid(65534)
            os.setuid(65534)
            path.read_bytes()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="the autograder locks the answers as root only"
)
def test_as_root_the_autograder_locks_solutions_and_tests_away_from_learner_code(autograder_zip: Path) -> None:
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="autograder-"))
    try:
        base.chmod(0o755)  # as open as Gradescope's /autograder: only the lock may keep nobody out
        course = load_course(unpack(autograder_zip, base, {}) / "source")
        answers = [next(course.solutions_dir.rglob("*.py")), next(course.tests_dir.rglob("test_*.py"))]
        assert all(_nobody_can_read(p) for p in answers), "the unpacked autograder should start readable"
        gradescope.lock_answers(course)
        assert not any(_nobody_can_read(p) for p in answers), "learner code running as nobody can read the answers"
        assert all(p.read_bytes() for p in answers), "the grading process (root) must still read them"
    finally:
        shutil.rmtree(base, ignore_errors=True)
