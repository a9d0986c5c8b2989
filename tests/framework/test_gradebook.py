"""The SQLite gradebook: what ``grade batch`` records comes back whole, and nothing is lost (issue #7).

Rows are only ever added: a regrade is a new entry that becomes the learner's current one while
the history keeps every earlier grade, and a grade committed before the process is killed is there
when the gradebook is opened again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.classroom.gradebook import SCHEMA_VERSION, Entry, Gradebook
from grader.core.errors import GradebookError
from grader.core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
NEW_YORK_WINTER = dt.timezone(dt.timedelta(hours=-5))
PARIS_WINTER = dt.timezone(dt.timedelta(hours=1))


def info(exercise: str, name: str, points: float, **extra: Any) -> TestInfo:
    return TestInfo(f"tests/week05_probability/test_{exercise}.py::{name}", name, exercise, points, **extra)


RESULT = WeekResult(
    course="Tiny course",
    week_id="week5",
    week_title="Probability",
    week_folder="week05_probability",
    submission="ada.zip",
    exercises=(
        ExerciseResult(
            "sampling",  # not in alphabetical order: the order handed to the gradebook is kept
            "week05_probability/sampling.py",
            (
                TestOutcome(info("sampling", "test_normal", 3, timeout_s=20.0), "timeout", "ran past 20 s", "", 20.0),
                TestOutcome(info("sampling", "test_bernoulli", 0.1, public=True), "passed", "", "", 0.25),
            ),
        ),
        ExerciseResult(
            "information",
            "week05_probability/information.py",
            (
                TestOutcome(info("information", "test_entropy", 2, hint="log base 2"), "passed", duration_s=0.5),
                TestOutcome(
                    info("information", "test_kl[(1, 3)]", 1.5, hint="sum p log(p/q)"),
                    "failed",
                    "matches KL(q‖p), not KL(p‖q)",
                    'File "information.py", line 12, in kl\n    return (q * (q / p).log()).sum()',
                    0.125,
                ),
                TestOutcome(info("information", "test_mutual", 1), "not_implemented", "mutual() is not implemented"),
            ),
        ),
    ),
    duration_s=23.5,
    confinement="process, 4096 MB",
)


def entry(
    learner: str = "ada",
    *,
    week_id: str = "week5",
    content_hash: str = "a" * 64,
    submitted_at: dt.datetime | None = dt.datetime(2026, 11, 20, 18, 59, 30, 250000, tzinfo=NEW_YORK_WINTER),
    result: WeekResult | None = RESULT,
    reason: str = "",
) -> Entry:
    return Entry(
        week_id=week_id,
        learner=learner,
        source=f"{learner}.zip",
        content_hash=content_hash,
        suite_hash="5" * 64,
        submitted_at=submitted_at,
        graded_at=dt.datetime(2026, 11, 23, 9, 0, 1, tzinfo=PARIS_WINTER),
        status="graded" if result else "rejected",
        reason=reason,
        # the gradebook keeps what was handed in once, as the entry's source
        result=dataclasses.replace(result, submission=f"{learner}.zip") if result else None,
    )


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Gradebook]:
    with Gradebook.open(tmp_path / "grades.db", create=True) as opened:
        yield opened


def test_a_recorded_entry_comes_back_with_every_field(book: Gradebook) -> None:
    recorded = entry(reason="ignored notes.txt")
    book.record(recorded)
    back = book.latest("week5", "ada")
    assert back == recorded
    assert back is not None and back.result is not None
    assert [e.name for e in back.result.exercises] == ["sampling", "information"]
    assert [o.info.name for o in back.result.exercises[1].outcomes] == [
        "test_entropy",
        "test_kl[(1, 3)]",
        "test_mutual",
    ]
    assert back.result.exercises[1].outcomes[1].message == "matches KL(q‖p), not KL(p‖q)"
    assert back.result.points_earned == 2.1
    assert back.result.points_possible == 7.6
    assert back.points_earned == 2.1


def test_times_come_back_with_their_utc_offsets(book: Gradebook) -> None:
    book.record(entry())
    back = book.latest("week5", "ada")
    assert back is not None and back.submitted_at is not None
    assert back.submitted_at == dt.datetime(2026, 11, 20, 23, 59, 30, 250000, tzinfo=UTC)
    assert back.submitted_at.utcoffset() == dt.timedelta(hours=-5)
    assert back.graded_at.utcoffset() == dt.timedelta(hours=1)


def test_an_unknown_submission_time_stays_unknown(book: Gradebook) -> None:
    book.record(entry(submitted_at=None))
    back = book.latest("week5", "ada")
    assert back is not None and back.submitted_at is None


def test_a_rejected_entry_has_its_reason_and_no_result(book: Gradebook) -> None:
    rejected = entry("cleo", result=None, reason="cleo.zip is not a readable zip file; ask for a new copy")
    book.record(rejected)
    back = book.latest("week5", "cleo")
    assert back == rejected
    assert back is not None
    assert back.status == "rejected"
    assert back.result is None
    assert back.points_earned == 0.0


def test_a_regrade_becomes_current_and_the_history_keeps_both(book: Gradebook) -> None:
    first = entry(result=None, reason="empty submission")
    second = entry(content_hash="b" * 64)
    book.record(first)
    book.record(second)
    assert book.latest("week5", "ada") == second
    assert book.current("week5") == [second]
    assert book.history("week5", "ada") == [first, second]


def test_current_gives_one_entry_per_learner_by_learner(book: Gradebook) -> None:
    bob_first, bob_again = entry("bob", result=None, reason="empty"), entry("bob", content_hash="b" * 64)
    ada = entry("ada")
    ada_week1 = entry("ada", week_id="week1", result=None, reason="empty")
    for each in (bob_first, ada, ada_week1, bob_again):
        book.record(each)
    assert book.current("week5") == [ada, bob_again]
    assert book.current() == [ada_week1, ada, bob_again]
    assert book.weeks() == ["week1", "week5"]


def test_a_learner_without_entries_has_no_latest_and_no_history(book: Gradebook) -> None:
    assert book.latest("week5", "nobody") is None
    assert book.history("week5", "nobody") == []
    assert book.current("week5") == []


def test_entries_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "grades.db"
    with Gradebook.open(path, create=True) as book:
        book.record(entry())
    with Gradebook.open(path, create=False) as book:
        assert book.current("week5") == [entry()]


def test_opening_a_missing_gradebook_without_create_says_grade_batch_makes_one(tmp_path: Path) -> None:
    path = tmp_path / "grades.db"
    with pytest.raises(GradebookError) as caught:
        Gradebook.open(path, create=False)
    assert str(caught.value) == f"{path}: no gradebook here; `grade batch WEEK SUBMISSIONS` creates one"
    assert not path.exists()


def test_a_file_that_is_not_sqlite_is_not_a_gradebook(tmp_path: Path) -> None:
    path = tmp_path / "grades.db"
    path.write_bytes(b"learner,points\nada,2.1\n" * 200)
    with pytest.raises(GradebookError) as caught:
        Gradebook.open(path, create=False)
    assert str(caught.value).startswith(f"{path} is not a gradebook this grader can open (")


def test_a_gradebook_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "grades.db"
    Gradebook.open(path, create=True).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.close()
    with pytest.raises(GradebookError) as caught:
        Gradebook.open(path, create=False)
    assert str(caught.value) == (
        f"{path}: gradebook schema {SCHEMA_VERSION + 1}, this grader reads schema {SCHEMA_VERSION}; "
        "use the grader version that wrote it"
    )


def test_another_tools_sqlite_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.db"  # what nbgrader calls its own SQLite gradebook
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE student (id TEXT PRIMARY KEY, first_name TEXT)")
        db.execute("INSERT INTO student VALUES ('ada', 'Ada')")
    db.close()
    before = path.read_bytes()
    with pytest.raises(GradebookError):
        Gradebook.open(path, create=False).close()
    assert path.read_bytes() == before


KILLED_MID_RECORD = textwrap.dedent(
    """\
    import datetime as dt, os, signal, sys
    from pathlib import Path

    from grader.classroom import gradebook
    from grader.classroom.gradebook import Entry, Gradebook
    from grader.core.results import WeekResult

    def entry(learner, result):
        return Entry(
            week_id="week5", learner=learner, source=learner + ".zip", content_hash="a" * 64,
            suite_hash="5" * 64, submitted_at=None, graded_at=dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc),
            status="graded" if result else "rejected", reason="empty" if result is None else "", result=result,
        )

    book = Gradebook.open(Path(sys.argv[1]), create=True)
    book.record(entry("ada", None))
    print("ada committed", flush=True)
    # bob's submission row is inserted, then the process dies before his outcomes and the COMMIT
    gradebook._outcome_rows = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
    book.record(entry("bob", WeekResult("c", "week5", "t", "week05_probability", "bob.zip", ())))
    print("not reached", flush=True)
    """
)


def test_a_committed_grade_survives_a_hard_kill_in_the_next_transaction(tmp_path: Path) -> None:
    path = tmp_path / "grades.db"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_RECORD, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == -9, killed.stderr
    assert killed.stdout == "ada committed\n"
    with Gradebook.open(path, create=False) as book:
        assert [e.learner for e in book.current("week5")] == ["ada"]
        assert book.latest("week5", "bob") is None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
