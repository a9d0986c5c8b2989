"""Grade integrity in class mode (issue #14, items 6 to 8): hostile submissions in a batch.

6. Intake reads each learner on its own: no folder or file name switches the batch into nbgrader's
   layout, and a tree too deep or too wide, a stamp or a notebook too big is a rejection with its
   reason while the batch goes on.
7. nbgrader's time stamps are evidence: bounded, with a real UTC offset, not before 2000 nor after
   the grading started, and checked against the files' time; a forged one cannot dodge the late
   penalty.
8. Nothing a learner named reaches a spreadsheet as a formula, nor a terminal or a CSV cell as a
   control character or escape sequence; the gradebook keeps the original.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from grader.classroom import export, staging, stamps
from grader.classroom.batch import BatchRequest, BatchSummary
from grader.classroom.gradebook import Entry, Gradebook
from grader.classroom.intake import Intake, discover
from grader.cli import class_summary, report
from grader.cli import run as grade_cli
from grader.core.course import Course, load_course
from grader.core.errors import UsageError
from grader.core.late import LatePolicy, assess
from grader.core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from grader.core.text import shown

from .conftest import SOLUTION, STUB, MakeCourse

UTC = dt.timezone.utc
FOLDER = "week01_basics"
GOOD = {"information.py": "def entropy(p):\n    return 1.0\n", "losses.py": "def mse(a, b):\n    return 0.0\n"}
DUE = dt.datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
STARTED = dt.datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # when the batch started grading
ESC_ID = "\x1b[2J\x1b[31mmallory\nrow"


@pytest.fixture
def course(make_course: MakeCourse) -> Course:
    return load_course(make_course({"information": STUB, "losses": STUB}))


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    return folder


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def at(moment: dt.datetime, *paths: Path) -> None:
    for path in paths:
        os.utime(path, (moment.timestamp(), moment.timestamp()))


def intakes(course: Course, submissions: Path, tmp_path: Path, *, exchange: bool = False) -> dict[str, Intake]:
    found = discover(
        submissions,
        course=course,
        week=course.weeks[0],
        work=tmp_path / "work",
        nbgrader_exchange=exchange,
        started_at=STARTED,
    )
    learners = [each.learner for each in found.intakes]
    assert len(learners) == len(set(learners)), learners  # every learner exactly once
    return {each.learner: each for each in found.intakes}


def graded_files(one: Intake) -> dict[str, str]:
    assert one.gradable, one.problem
    assert one.root is not None
    return {p.name: p.read_text() for p in sorted((one.root / FOLDER).iterdir())}


# -- 6. the layout is the instructor's choice, never a learner's ---------------------------------


def test_a_learner_folder_named_submitted_is_one_learner_and_the_class_is_read_as_usual(
    course: Course, submissions: Path, tmp_path: Path
) -> None:
    write_files(submissions / "alice", GOOD)
    write_files(submissions / "bob" / FOLDER, GOOD)
    # mallory's folder looks like nbgrader's exchange, claiming alice's id and a stamp
    write_files(submissions / "submitted" / "alice" / "week1", {**GOOD, "timestamp.txt": "2026-11-01 00:00:00 UTC"})
    found = intakes(course, submissions, tmp_path)
    assert sorted(found) == ["alice", "bob", "submitted"]
    assert found["alice"].source == "alice" and graded_files(found["alice"]) == GOOD
    assert found["bob"].source == "bob" and graded_files(found["bob"]) == GOOD
    assert found["submitted"].source == "submitted"


def test_a_learner_folder_holding_a_timestamp_switches_nothing(
    course: Course, submissions: Path, tmp_path: Path
) -> None:
    write_files(submissions / "alice", GOOD)
    stamped = write_files(submissions / "timestamp.txt-holder", {**GOOD, "timestamp.txt": "2000-01-01 00:00:00 UTC"})
    at(dt.datetime(2026, 12, 1, tzinfo=UTC), *stamped.glob("*.py"))
    found = intakes(course, submissions, tmp_path)
    assert sorted(found) == ["alice", "timestamp.txt-holder"]
    assert found["timestamp.txt-holder"].submitted_at == dt.datetime(2026, 12, 1, tzinfo=UTC)


def test_nbgraders_layout_is_read_only_when_asked_for(course: Course, submissions: Path, tmp_path: Path) -> None:
    write_files(submissions / "submitted" / "erin" / "week1", GOOD)
    found = intakes(course, submissions, tmp_path, exchange=True)
    assert list(found) == ["erin"] and graded_files(found["erin"]) == GOOD


def test_asking_for_nbgraders_layout_without_a_submitted_folder_is_a_usage_error(
    course: Course, submissions: Path, tmp_path: Path
) -> None:
    write_files(submissions / "alice", GOOD)
    with pytest.raises(UsageError, match="no submitted/ folder; with --nbgrader-exchange"):
        intakes(course, submissions, tmp_path, exchange=True)


def test_a_hidden_learner_folder_is_listed_as_ignored_not_lost(
    course: Course, submissions: Path, tmp_path: Path
) -> None:
    write_files(submissions / ".bob", GOOD)
    (submissions / ".DS_Store").write_bytes(b"\0")
    found = discover(submissions, course=course, week=course.weeks[0], work=tmp_path / "work")
    assert found.intakes == ()
    assert found.ignored == (".bob: hidden (its name starts with a dot), not read; rename it to grade it",)


# -- 6. bounds: every rejection keeps the batch going ---------------------------------------------


@pytest.fixture(autouse=True)
def _unnest_afterwards() -> Iterator[None]:
    """Remove what ``nest`` made one level at a time: rmtree recurses, and a 1200-deep tree
    would leave pytest a RecursionError at clean-up."""
    yield
    while NESTED:
        folder = NESTED.pop()
        while (folder / "d" / "d").is_dir():
            os.rename(folder / "d" / "d", folder / "up")
            os.rmdir(folder / "d")
            os.rename(folder / "up", folder / "d")
        if (folder / "d").is_dir():
            os.rmdir(folder / "d")


NESTED: list[Path] = []


def nest(folder: Path, depth: int) -> Path:
    """``folder/d/d/…/d`` ``depth`` folders deep, made one level at a time (no path too long)."""
    NESTED.append(folder)
    here = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=here)
            below = os.open("d", os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = below
    finally:
        os.close(here)
    return folder


@pytest.mark.parametrize("depth", [staging.MAX_DEPTH + 1, 1200], ids=["just past the bound", "1200 deep"])
def test_a_tree_deeper_than_the_bound_is_a_rejection_with_its_reason_and_the_others_are_read(
    course: Course, submissions: Path, tmp_path: Path, depth: int
) -> None:
    write_files(submissions / "alice", GOOD)
    nest(write_files(submissions / "deep", GOOD), depth)
    write_files(submissions / "zed", GOOD)
    found = intakes(course, submissions, tmp_path)
    assert sorted(found) == ["alice", "deep", "zed"]
    assert not found["deep"].gradable
    assert found["deep"].problem.startswith(f"the submission's folders are nested more than {staging.MAX_DEPTH} deep")
    assert found["alice"].gradable and found["zed"].gradable


def test_a_tree_exactly_as_deep_as_the_bound_is_read(course: Course, submissions: Path, tmp_path: Path) -> None:
    nest(write_files(submissions / "alice", GOOD), staging.MAX_DEPTH)
    assert intakes(course, submissions, tmp_path)["alice"].gradable


def test_a_tree_wider_than_the_bound_is_a_rejection_with_its_reason(
    course: Course, submissions: Path, tmp_path: Path
) -> None:
    wide = write_files(submissions / "wide", GOOD)
    for number in range(staging.MAX_ENTRIES):
        (wide / f"junk{number}.txt").touch()  # not .py: the file count alone would not stop it
    write_files(submissions / "zed", GOOD)
    found = intakes(course, submissions, tmp_path)
    assert found["wide"].problem == (
        f"the submission has more than {staging.MAX_ENTRIES} files and folders; hand in only the exercise files"
    )
    assert found["zed"].gradable


def test_a_zip_deeper_or_wider_than_the_bound_is_a_rejection(course: Course, submissions: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(submissions / "deep.zip", "w") as archive:
        archive.writestr("/".join(["d"] * (staging.MAX_DEPTH + 1)) + "/information.py", GOOD["information.py"])
    with zipfile.ZipFile(submissions / "wide.zip", "w") as archive:
        for number in range(staging.MAX_ENTRIES + 1):
            archive.writestr(f"junk{number}.txt", "")
    write_files(submissions / "zed", GOOD)
    found = intakes(course, submissions, tmp_path)
    assert found["deep"].problem.startswith(f"deep.zip holds folders nested more than {staging.MAX_DEPTH} deep")
    assert found["wide"].problem == (
        f"wide.zip holds more than {staging.MAX_ENTRIES} files and folders; zip only the exercise files"
    )
    assert found["zed"].gradable


def test_an_oversized_notebook_is_a_rejection_naming_it(course: Course, submissions: Path, tmp_path: Path) -> None:
    (submissions / "alice.ipynb").write_bytes(b" " * (staging.MAX_BYTES + 1))
    write_files(submissions / "zed", GOOD)
    found = intakes(course, submissions, tmp_path)
    assert found["alice"].problem.startswith("alice.ipynb is 20.0 MB, more than the 20 MB a submission may be;")
    assert found["zed"].gradable


def test_an_oversized_timestamp_is_a_rejection_and_is_not_read_whole(
    course: Course, submissions: Path, tmp_path: Path
) -> None:
    stamped = write_files(submissions / "submitted" / "alice" / "week1", GOOD)
    (stamped / "timestamp.txt").write_bytes(b"2026-11-20 23:59:59 UTC" + b" " * (10 << 20))
    write_files(submissions / "submitted" / "zed" / "week1", GOOD)
    found = intakes(course, submissions, tmp_path, exchange=True)
    assert found["alice"].problem == (
        f"timestamp.txt is larger than {stamps.MAX_STAMP_BYTES} bytes, not the one line nbgrader writes; "
        "nothing was graded: collect the submission again with nbgrader"
    )
    assert found["zed"].gradable


# -- 7. time stamps are evidence ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20 23:59:59.123456 UTC",
        "2026-11-20T23:59:59Z",
        "2026-11-20 11:59:59-12:00",
        "2026-11-21 13:59:59+14:00",
    ],
)
def test_a_stamp_with_a_real_utc_offset_is_read(text: str) -> None:
    stamp = stamps.parse_stamp(text, not_after=STARTED)
    assert stamp.problem == ""
    assert stamp.moment is not None and stamp.moment.utcoffset() is not None


FORGED = {
    "no offset": ("2026-11-20 23:59:59", "which is not a date and time with a UTC offset"),
    "offset +15:00": ("2026-11-20 23:59:59+15:00", "whose UTC offset no clock has"),
    "offset -13:00": ("2026-11-20 23:59:59-13:00", "whose UTC offset no clock has"),
    "year 1970": ("1970-01-01 00:00:00 UTC", "before 2000-01-01"),
    "after the batch started": ("2027-01-05 00:00:00 UTC", "after the grading started"),
    "two lines": ("2026-11-20 23:59:59 UTC\n2026-11-21 00:00:00 UTC", "which is not a date and time"),
}


@pytest.mark.parametrize("text, why", FORGED.values(), ids=FORGED.keys())
def test_a_forged_stamp_names_no_moment_and_says_why(text: str, why: str) -> None:
    stamp = stamps.parse_stamp(text, not_after=STARTED)
    assert stamp.moment is None
    assert why in stamp.problem


@pytest.mark.parametrize("text, why", FORGED.values(), ids=FORGED.keys())
def test_a_forged_stamp_is_flagged_and_cannot_dodge_the_late_penalty(
    course: Course, submissions: Path, tmp_path: Path, text: str, why: str
) -> None:
    handed_in = write_files(submissions / "submitted" / "alice" / "week1", {**GOOD, "timestamp.txt": text})
    really = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # three days late
    at(really, *handed_in.glob("*.py"))
    alice = intakes(course, submissions, tmp_path, exchange=True)["alice"]
    assert alice.submitted_at == really
    (note,) = alice.notes
    assert why in note and note.endswith("; the file time was used")
    assert assess(LatePolicy(per_day=10), DUE, alice.submitted_at, 10).days_late == 3


def test_a_stamp_earlier_than_the_files_is_flagged_and_the_later_time_counts(
    course: Course, submissions: Path, tmp_path: Path
) -> None:
    handed_in = write_files(
        submissions / "submitted" / "alice" / "week1", {**GOOD, "timestamp.txt": "2026-11-20 23:00:00 UTC"}
    )
    really = dt.datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    at(really, *handed_in.glob("*.py"))
    alice = intakes(course, submissions, tmp_path, exchange=True)["alice"]
    assert alice.submitted_at == really
    assert alice.notes == (
        "timestamp.txt says 2026-11-20T23:00:00+00:00, but a file was changed later, at "
        f"{really.astimezone().isoformat(timespec='seconds')}; the later time was used",
    )
    assert assess(LatePolicy(per_day=10), DUE, alice.submitted_at, 10).late


def test_a_stamp_later_than_the_files_is_the_submission_time(course: Course, submissions: Path, tmp_path: Path) -> None:
    handed_in = write_files(
        submissions / "submitted" / "alice" / "week1", {**GOOD, "timestamp.txt": "2026-11-20 23:00:00 UTC"}
    )
    at(dt.datetime(2026, 11, 20, 22, 0, tzinfo=UTC), *handed_in.glob("*.py"))
    alice = intakes(course, submissions, tmp_path, exchange=True)["alice"]
    assert alice.submitted_at == dt.datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert alice.notes == ()


# -- 8. exports and the terminal ------------------------------------------------------------------

HOSTILE_IDS = ['=HYPERLINK("http://evil.example","click")', "+1", "-cmd", "@x", "\tx", "\rx"]


def result(points_earned: float) -> WeekResult:
    info = TestInfo("tests/week01_basics/test_information.py::test_entropy", "test_entropy", "information", 2)
    status = "passed" if points_earned else "failed"
    outcome = TestOutcome(info, status, "" if points_earned else "\x1b]8;;http://evil\x07click\x1b]8;;\x07")
    return WeekResult(
        "Tiny", "week1", "Basics", FOLDER, "s", (ExerciseResult("information", "information.py", (outcome,)),)
    )


def entry(learner: str, *, reason: str = "", graded: bool = True) -> Entry:
    return Entry(
        week_id="week1",
        learner=learner,
        source=f"{learner}.zip",
        content_hash="0" * 64,
        suite_hash="1" * 64,
        submitted_at=None,
        graded_at=dt.datetime(2026, 11, 25, tzinfo=UTC),
        status="graded" if graded else "rejected",
        reason=reason,
        result=result(2) if graded else None,
    )


def csv_rows(course: Course, entries: list[Entry]) -> list[list[str]]:
    out = io.StringIO(newline="")
    export.to_csv(course, course.weeks[0], entries, out)
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def test_csv_cells_that_would_start_a_formula_are_neutralised_and_numbers_stay_numbers(course: Course) -> None:
    rows = csv_rows(course, [entry(learner) for learner in HOSTILE_IDS])
    assert [row[0] for row in rows[1:]] == [
        "'=HYPERLINK(\"http://evil.example\",\"click\")", "'+1", "'-cmd", "'@x", "'\\tx", "'\\rx",
    ]  # fmt: skip
    assert [row[2] for row in rows[1:]] == ["'" + shown(f"{learner}.zip") for learner in HOSTILE_IDS]
    raw, possible = rows[0].index("raw"), rows[0].index("possible")
    assert {(row[raw], row[possible]) for row in rows[1:]} == {("2", "2")}


def test_csv_cell_keeps_a_negative_number_a_number_and_quotes_negative_looking_text() -> None:
    assert export.csv_cell(-2.5) == "-2.5"
    assert export.csv_cell(-3) == "-3"
    assert export.csv_cell("-3") == "'-3"  # text that a spreadsheet would compute: a learner id, say
    assert export.csv_cell("alice") == "alice"


def test_csv_escapes_escape_sequences_and_newlines_in_ids_and_reasons(course: Course) -> None:
    rows = csv_rows(course, [entry(ESC_ID, reason="bad\x1b[31m zip\r\nsecond line", graded=False)])
    assert len(rows) == 2
    assert rows[1][0] == "\\x1b[2J\\x1b[31mmallory\\nrow"
    assert rows[1][-1] == "bad\\x1b[31m zip\\r\\nsecond line"
    assert not any(ord(char) < 32 for row in rows for cell in row for char in cell)


def render(course: Course, entries: list[Entry], ignored: tuple[str, ...] = ()) -> str:
    summary = BatchSummary(
        course=course,
        week=course.weeks[0],
        gradebook=Path("grades.db"),
        graded=1,
        unchanged=0,
        rejected=1,
        ignored=ignored,
        entries=tuple(entries),
        duration_s=1.0,
        workers=1,
    )
    out = io.StringIO()
    class_summary.render_batch(Console(file=out, width=200, color_system=None), summary)
    return out.getvalue()


def test_the_terminal_table_shows_ids_reasons_and_ignored_names_escaped(course: Course) -> None:
    text = render(
        course,
        [entry(ESC_ID, reason="note\x1b[8m hidden\rover"), entry("\u202eevil", reason="x\nforged row", graded=False)],
        ignored=("\x1b[31mnotes.txt: not a submission",),
    )
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert "\\x1b[2J\\x1b[31mmallory\\nrow" in text
    assert "note\\x1b[8m hidden\\rover" in text
    assert "\\u202eevil" in text and "x\\nforged row" in text
    assert "ignored \\x1b[31mnotes.txt" in text


def test_a_learners_failure_message_reaches_the_terminal_escaped(course: Course) -> None:
    out = io.StringIO()
    report.render_week(Console(file=out, width=200, color_system=None), result(0))
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "\\x1b]8;;http://evil\\x07click" in out.getvalue()


def test_the_gradebook_keeps_the_original_id(course: Course, tmp_path: Path) -> None:
    with Gradebook.open(tmp_path / "grades.db", create=True) as book:
        book.record(entry(ESC_ID, reason="\x1b[31m"))
        (stored,) = book.current("week1")
    assert (stored.learner, stored.reason) == (ESC_ID, "\x1b[31m")
    assert (
        json.loads(json.dumps(export.to_json(course, {"week1": [stored]})))["weeks"][0]["learners"][0]["learner"]
        == ESC_ID
    )


def test_shown_escapes_controls_and_invisible_formatting_and_keeps_text() -> None:
    assert shown("ünïcödé ok: (1, 2) [x]") == "ünïcödé ok: (1, 2) [x]"
    assert shown("a\x00b\x7fc\x9bd\u200be\u2028f") == "a\\x00b\\x7fc\\x9bd\\u200be\\u2028f"
    assert shown("line 1\nline 2\x1b", multiline=True) == "line 1\nline 2\\x1b"


# -- the whole batch, from the command line -------------------------------------------------------


def test_a_hostile_class_is_graded_each_learner_once_under_its_own_id_and_exits_1(
    make_course: MakeCourse, tmp_path: Path
) -> None:
    root = make_course({"basics": SOLUTION})
    subs = tmp_path / "subs"
    for learner in ("ada", "submitted", "=cmd", "\x1b[31mred"):
        write_files(subs / learner / FOLDER, {"basics.py": SOLUTION})
    write_files(subs / "submitted" / "ada" / "week1", {"basics.py": SOLUTION, "timestamp.txt": "1970-01-01 UTC"})
    nest(write_files(subs / "deep", {"basics.py": SOLUTION}), 1200)
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    argv = ["batch", "week1", str(subs), "--course", str(root), "--workers", "1"]
    code = grade_cli(argv, console=console, err_console=console)
    assert code == 1, out.getvalue()
    with Gradebook.open(root / "grades.db", create=False) as book:
        entries = {e.learner: e for e in book.current("week1")}
    assert sorted(entries) == sorted(["ada", "submitted", "=cmd", "\x1b[31mred", "deep"])
    assert {k: e.points_earned for k, e in entries.items() if e.result} == {
        "ada": 3, "submitted": 3, "=cmd": 3, "\x1b[31mred": 3,
    }  # fmt: skip
    assert entries["deep"].status == "rejected" and "nested more than" in entries["deep"].reason
    assert "\x1b" not in out.getvalue() and "\\x1b[31mred" in out.getvalue()


def test_the_nbgrader_exchange_option_reaches_the_batch(
    make_course: MakeCourse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[BatchRequest] = []

    def fake_grade_batch(request: BatchRequest, *, listener: object) -> BatchSummary:
        seen.append(request)
        raise KeyboardInterrupt

    monkeypatch.setattr("grader.classroom.batch.grade_batch", fake_grade_batch)
    root = make_course({"basics": SOLUTION})
    console = Console(file=io.StringIO(), width=120)
    grade_cli(["batch", "week1", str(tmp_path), "--course", str(root), "--nbgrader-exchange"], console=console)
    grade_cli(["batch", "week1", str(tmp_path), "--course", str(root)], console=console)
    assert [r.nbgrader_exchange for r in seen] == [True, False]
