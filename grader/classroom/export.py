"""Grades out of the gradebook, in the formats instructors already use: a CSV for a spreadsheet,
JSON for scripts, nbgrader's gradebook, and Gradescope's ``results.json``.

Every function takes the frozen values (``Entry``, ``WeekResult``, ``Course``) and returns or
writes a format; none prints.  Late penalties are computed here, from the stored raw score and
submission time and the current ``course.toml`` (``late.assess``), like everywhere else grades
are shown, so a corrected due date needs no regrade.  Numbers are rounded to six decimals so a
sum of float points reads ``12.5`` and not ``12.500000000000002``.
"""

from __future__ import annotations

import csv
import datetime as dt
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from ..core.course import Course, Week, late_of
from ..core.errors import ExportError, MissingExtraError, UsageError
from ..core.late import LateAssessment
from ..core.results import JSON_SCHEMA_VERSION, ExerciseResult, TestOutcome, WeekResult, week_to_json
from ..core.text import shown
from .gradebook import Entry

CSV_FIXED_COLUMNS: Final = ("learner", "status", "source", "submitted_at")
CSV_TOTAL_COLUMNS: Final = ("raw", "possible", "days_late", "penalty_percent", "final", "late_note", "reason")
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): such a text cell gets
# a leading single quote, which spreadsheets show as text and never evaluate.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


# -- numbers ----------------------------------------------------------------------------------


def _round(value: float) -> float:
    """Points without float noise: 0.1 + 0.2 is 0.3 here (six decimals is finer than any points)."""
    rounded = round(float(value), 6)
    return 0.0 if rounded == 0 else rounded  # never -0.0


def _number(value: float) -> str:
    """A number for a spreadsheet cell: ``24``, ``12.5``, ``0.3``; never ``1e+06`` or ``24.0``."""
    rounded = _round(value)
    return str(int(rounded)) if rounded.is_integer() else repr(rounded)


# -- CSV ----------------------------------------------------------------------------------------


def csv_cell(value: str | float) -> str:
    """One CSV cell, safe to open in a spreadsheet: every CSV writer passes each cell through here.

    A number (``float``/``int``, never text) is written as a number, ``-2`` included: it is data.
    Text (learner ids, file names, reasons) is shown escaped (``text.shown``: no control character,
    newline or escape sequence), and text that would start a formula (``=``, ``+``, ``-``, ``@``,
    a tab or a carriage return) gets a leading ``'``, as OWASP recommends, so ``=HYPERLINK(…)``,
    ``+1`` or ``-cmd`` handed in as a learner id stays text.
    """
    if isinstance(value, (int, float)):
        return _number(value)
    if value.startswith(_FORMULA_STARTS):
        return "'" + shown(value)
    return shown(value)


def to_csv(course: Course, week: Week, entries: Sequence[Entry], out: TextIO) -> None:
    """One row per learner of one week (the gradebook's current entries), for a spreadsheet.

    Columns: who and what was handed in, the points earned per exercise (headed ``name
    (points possible)``, in the order of the results), the raw score, the late penalty, the final
    score, and why a submission was rejected (or the notes on a graded one).  A rejected learner
    has empty exercise cells and a raw score of 0, so the column sums stay right.  Every cell goes
    through ``csv_cell`` (no formula, no control character).  Open ``out`` with ``newline=""``, as
    the csv module asks.
    """
    columns = _exercise_columns(entries)
    possible = sum(points for _, points in columns)
    writer = csv.writer(out)
    header = [*CSV_FIXED_COLUMNS, *(f"{name} ({_number(points)})" for name, points in columns), *CSV_TOTAL_COLUMNS]
    writer.writerow([csv_cell(name) for name in header])
    for entry in entries:
        late = late_of(course, week, entry)
        earned = {e.name: e.points_earned for e in entry.result.exercises} if entry.result else {}
        row: list[str | float] = [
            entry.learner,
            entry.status,
            entry.source,
            entry.submitted_at.isoformat() if entry.submitted_at else "",
            *(earned[name] if name in earned else "" for name, _ in columns),
            late.raw,
            entry.result.points_possible if entry.result else possible,
            late.days_late,
            late.penalty_percent,
            late.final,
            late.note,
            entry.reason,
        ]
        writer.writerow([csv_cell(value) for value in row])


def _exercise_columns(entries: Iterable[Entry]) -> list[tuple[str, float]]:
    """Each exercise once, in the order the results list them, with its points possible."""
    columns: dict[str, float] = {}
    for entry in entries:
        for exercise in entry.result.exercises if entry.result else ():
            columns.setdefault(exercise.name, exercise.points_possible)
    return list(columns.items())


# -- JSON ---------------------------------------------------------------------------------------


def to_json(course: Course, entries_by_week: Mapping[str, Sequence[Entry]]) -> dict[str, Any]:
    """Every week's learners with raw, late and final scores and, for a graded one, the full result
    in ``grade --json``'s schema (``results.week_to_json``).  Weeks come in the course's order; a
    week the gradebook has but course.toml no longer lists comes last, without a due date."""
    known = [w for w in course.weeks if w.id in entries_by_week]
    unknown = sorted(set(entries_by_week) - {w.id for w in known})
    weeks: list[dict[str, Any]] = []
    for week_id in [w.id for w in known] + unknown:
        week = next((w for w in known if w.id == week_id), None)
        weeks.append(
            {
                "id": week_id,
                "title": week.title if week else "",
                "due": week.due.isoformat() if week and week.due else None,
                "learners": [_learner_json(course, week, e) for e in entries_by_week[week_id]],
            }
        )
    return {"schema_version": JSON_SCHEMA_VERSION, "course": course.title, "weeks": weeks}


def _learner_json(course: Course, week: Week | None, entry: Entry) -> dict[str, Any]:
    late = late_of(course, week, entry)
    return {
        "learner": entry.learner,
        "status": entry.status,
        "source": entry.source,
        "submitted_at": entry.submitted_at.isoformat() if entry.submitted_at else None,
        "graded_at": entry.graded_at.isoformat(),
        "reason": entry.reason,
        "raw": _round(late.raw),
        "possible": _round(entry.result.points_possible) if entry.result else None,
        "late": {"days_late": late.days_late, "penalty_percent": _round(late.penalty_percent), "note": late.note},
        "final": _round(late.final),
        "result": week_to_json(entry.result) if entry.result else None,
    }


# -- nbgrader -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NbgraderSummary:
    """What ``to_nbgrader`` wrote: the assignment, its notebooks (one per exercise) and learners."""

    db_url: str
    assignment: str
    notebooks: tuple[str, ...]
    graded: tuple[str, ...]  # learners with a submission and grades
    rejected: tuple[tuple[str, str], ...]  # (learner, why): a student without a submission
    removed: tuple[str, ...] = ()  # learners whose earlier submission was removed: their current one is rejected


def to_nbgrader(course: Course, week: Week, entries: Sequence[Entry], db_url: str) -> NbgraderSummary:
    """Write one week's grades into nbgrader's gradebook (``sqlite:///gradebook.db`` or any URL
    nbgrader takes), so formgrader, ``nbgrader export`` and the LMS sync see them.

    The week is an assignment named by its id (due date included), each exercise a notebook, each
    test a code grade cell worth its points, each learner a student.  A graded learner gets a
    submission (with its time) whose grades' ``auto_score`` are the points earned; a manual score
    already entered in formgrader is kept and still wins, as after ``nbgrader autograde``.  The late
    penalty goes into ``late_submission_penalty`` of each submitted notebook, in points (nbgrader's
    unit: ``nbgrader export`` shows raw score minus penalty).  A rejected learner is a student
    without a submission; one exported earlier is removed, since it is no longer their grade.
    Running it again updates everything in place.
    """
    api, sqlalchemy_exc = _nbgrader()
    with warnings.catch_warnings():
        # nbgrader's own add_submission builds rows before adding them to its session, which
        # SQLAlchemy 2 warns about on every submission; the rows are stored all the same.
        warnings.simplefilter("ignore", sqlalchemy_exc.SAWarning)
        try:
            gradebook = api.Gradebook(db_url)
        except sqlalchemy_exc.SQLAlchemyError as exc:
            raise UsageError(
                f"{db_url}: nbgrader cannot open this gradebook ({exc}); give a URL like sqlite:///gradebook.db"
            ) from None
        try:
            return _export(gradebook, api, course, week, entries, db_url)
        except (sqlalchemy_exc.SQLAlchemyError, api.InvalidEntry, api.MissingEntry) as exc:
            raise UsageError(f"{db_url}: nbgrader's gradebook refused the export of {week.id} ({exc})") from None
        finally:
            gradebook.close()


def _nbgrader() -> tuple[Any, Any]:
    """nbgrader's API module and SQLAlchemy's exceptions (an instructor's extra, imported only
    when exporting to nbgrader)."""
    try:
        import sqlalchemy.exc
        from nbgrader import api
    except ImportError:
        raise MissingExtraError("nbgrader", for_what="exporting to nbgrader") from None
    return api, sqlalchemy.exc


def _export(
    gradebook: Any, api: Any, course: Course, week: Week, entries: Sequence[Entry], db_url: str
) -> NbgraderSummary:
    notebooks = _write_assignment(gradebook, week, entries)
    graded, rejected, removed = [], [], []
    for entry in entries:
        gradebook.update_or_create_student(entry.learner)
        if entry.result is None:
            rejected.append((entry.learner, entry.reason))
            if _remove_submission(gradebook, api, week.id, entry.learner):
                removed.append(entry.learner)
        else:
            _write_submission(gradebook, api, entry, entry.result, late_of(course, week, entry))
            graded.append(entry.learner)
    return NbgraderSummary(db_url, week.id, notebooks, tuple(graded), tuple(rejected), tuple(removed))


def _write_assignment(gradebook: Any, week: Week, entries: Sequence[Entry]) -> tuple[str, ...]:
    """The assignment, a notebook per exercise and a grade cell per test, from every graded result."""
    gradebook.update_or_create_assignment(week.id, duedate=_utc(week.due))
    cells: dict[str, dict[str, float]] = {}
    for entry in entries:
        for exercise in entry.result.exercises if entry.result else ():
            for name, outcome in _cells(exercise):
                cells.setdefault(exercise.name, {}).setdefault(name, outcome.info.points)
    for notebook, tests in cells.items():
        gradebook.update_or_create_notebook(notebook, week.id)
        for name, points in tests.items():
            gradebook.update_or_create_grade_cell(name, notebook, week.id, max_score=points, cell_type="code")
    return tuple(cells)


def _cells(exercise: ExerciseResult) -> list[tuple[str, TestOutcome]]:
    """Grade cell names: the test's name, or its full id where two tests of the file share a name
    (one cell per test, so no test's points are merged into another's)."""
    names = [o.info.name for o in exercise.outcomes]
    return [(o.info.name if names.count(o.info.name) == 1 else o.info.id, o) for o in exercise.outcomes]


def _write_submission(gradebook: Any, api: Any, entry: Entry, result: WeekResult, late: LateAssessment) -> None:
    assignment = result.week_id
    when = {"timestamp": _utc(entry.submitted_at)} if entry.submitted_at else {}
    submission = gradebook.update_or_create_submission(assignment, entry.learner, **when)
    _mirror_assignment(gradebook, api, submission)
    for notebook in submission.notebooks:  # a test missing from this result earns nothing
        for grade in notebook.grades:
            grade.auto_score = 0.0
            grade.needs_manual_grade = grade.manual_score is not None
        notebook.late_submission_penalty = None
    for exercise in result.exercises:
        notebook = gradebook.find_submission_notebook(exercise.name, assignment, entry.learner)
        for name, outcome in _cells(exercise):
            grade = gradebook.find_grade(name, exercise.name, assignment, entry.learner)
            grade.auto_score = outcome.points_earned
        if late.penalty_percent:
            notebook.late_submission_penalty = _round(exercise.points_earned * late.penalty_percent / 100)
    gradebook.db.commit()


def _mirror_assignment(gradebook: Any, api: Any, submission: Any) -> None:
    """Give a submission made before the suite grew the notebooks and grades it lacks, as
    nbgrader's ``add_submission`` does for a new one."""
    present = {notebook.notebook_id: notebook for notebook in submission.notebooks}
    for notebook in submission.assignment.notebooks:
        submitted = present.get(notebook.id)
        if submitted is None:
            submitted = api.SubmittedNotebook(notebook=notebook, assignment=submission)
            gradebook.db.add(submitted)
        graded = {grade.cell_id for grade in submitted.grades}
        for cell in notebook.grade_cells:
            if cell.id not in graded:
                gradebook.db.add(api.Grade(cell_id=cell.id, notebook=submitted))
    gradebook.db.commit()


def _remove_submission(gradebook: Any, api: Any, assignment: str, learner: str) -> bool:
    try:
        gradebook.find_submission(assignment, learner)
    except api.MissingEntry:
        return False
    gradebook.remove_submission(assignment, learner)
    return True


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """nbgrader stores naive UTC times; ours without an offset are local time (as in late.py)."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return aware.astimezone(dt.timezone.utc).replace(tzinfo=None)


# -- Gradescope ---------------------------------------------------------------------------------

# Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
# "visible" is shown at once; "after_published" once the instructor publishes the grades.
VISIBLE: Final = "visible"
AFTER_PUBLISHED: Final = "after_published"


def to_gradescope(
    result: WeekResult, *, late: LateAssessment | None = None, notes: Sequence[str] = ()
) -> dict[str, Any]:
    """The result as Gradescope's ``results.json``: one Gradescope test per hidden test, named
    ``exercise: test name``, whose output is our one-line message and, for a failure, the hint.

    Public tests (``@pytest.mark.public``, shipped in the learner's release) are ``visible``: the
    learner can run them anyway, and seeing them at once guides the work.  The other tests are
    ``after_published``: their names and messages say what the hidden suite checks, which should
    not leak while the assignment is open, so they appear when the instructor publishes grades.
    Gradescope hides the total score while any test is hidden, so a learner sees the public tests
    at once and the total after publication.  With ``late``, the top-level score (which Gradescope
    takes over the tests' sum) is the score after the late penalty, and the output says why.
    """
    lines = [
        f"{_number(result.points_earned)}/{_number(result.points_possible)} points "
        f"({result.tests_passed} of {result.tests_total} tests passed)"
    ]
    if late is not None and late.late:
        lines.append(f"late: {late.note}; score {_number(late.final)} of {_number(late.raw)}")
    lines += [*notes, *result.notes]
    return {
        "score": _round(late.final if late is not None else result.points_earned),
        "execution_time": round(result.duration_s),
        "output": "\n".join(lines),
        "output_format": "text",
        "visibility": VISIBLE,
        "stdout_visibility": "hidden",  # the grader's own log: for the instructor only
        "tests": [_gradescope_test(e, o) for e in result.exercises for o in e.outcomes],
    }


def _gradescope_test(exercise: ExerciseResult, outcome: TestOutcome) -> dict[str, Any]:
    output = ""
    if not outcome.passed:
        message = outcome.message or outcome.status.replace("_", " ")
        output = f"{message}\nhint: {outcome.shown_hint}" if outcome.shown_hint else message
    return {
        "name": f"{exercise.name}: {outcome.info.name}",
        "name_format": "text",
        "score": _round(outcome.points_earned),
        "max_score": _round(outcome.info.points),
        "status": "passed" if outcome.passed else "failed",
        "output": output,
        "output_format": "text",
        "visibility": VISIBLE if outcome.info.public else AFTER_PUBLISHED,
        "extra_data": {"id": outcome.info.id, "status": outcome.status},
    }


def gradescope_problem(problem: str, *, notes: Sequence[str] = ()) -> dict[str, Any]:
    """A ``results.json`` for a submission that could not be graded: score 0 and one visible test
    saying why, at the top level too, so the learner reads the reason rather than a blank failure."""
    output = "\n".join([problem, *notes])
    return {
        "score": 0.0,
        "output": output,
        "output_format": "text",
        "visibility": VISIBLE,
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": "submission",
                "name_format": "text",
                "score": 0.0,
                "max_score": 0.0,
                "status": "failed",
                "output": output,
                "output_format": "text",
                "visibility": VISIBLE,
            }
        ],
    }


# -- writing an export ---------------------------------------------------------------------------


def write_export(out: Path, text: str) -> None:
    """Write an export's text to ``out``; a missing folder or a folder in the way is an ExportError."""
    if not out.parent.is_dir():
        raise ExportError(f"--out {out}: the folder {out.parent} does not exist; create it, or give another --out")
    if out.is_dir():
        raise ExportError(f"--out {out} is a folder; give a file name, e.g. --out {out / 'grades.csv'}")
    try:
        out.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise ExportError(f"--out {out}: cannot write it ({exc.strerror or exc}); give another --out") from None
