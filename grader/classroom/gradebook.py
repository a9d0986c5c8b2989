"""The gradebook: every grade ``grade batch`` produced, kept in one SQLite file (``grades.db``).

Each graded (or rejected) submission is one row of ``submissions`` plus one row of ``outcomes``
per test, written in a single transaction the moment that submission is done, so killing a
batch (Ctrl-C, ``kill -9``, a power cut) loses no finished grade.  Rows are only ever added:
a regrade adds a new row and the newest row of a learner is their current grade, so no grade
that was once stored is lost.  The late penalty is not stored; it is a function of the stored
raw score, the stored submission time and the current ``course.toml`` (``late.py``), so a
corrected due date needs no regrade.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from ..core.errors import GradebookError
from ..core.results import STATUSES, ExerciseResult, Status, TestInfo, TestOutcome, WeekResult

SCHEMA_VERSION: Final = 1
DEFAULT_NAME: Final = "grades.db"
EntryStatus = Literal["graded", "rejected"]
INFRASTRUCTURE_ERROR: Final = "infrastructure error: "  # how the reason of a submission not graded begins

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    week TEXT NOT NULL,
    learner TEXT NOT NULL,
    source TEXT NOT NULL,              -- what was handed in, relative to the submissions folder
    content_hash TEXT NOT NULL,        -- sha256 of the files graded (of the raw file when rejected)
    suite_hash TEXT NOT NULL,          -- the hidden suite graded against: a change means regrade
    submitted_at TEXT,                 -- ISO 8601 with offset; NULL when unknown
    graded_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('graded', 'rejected')),
    reason TEXT NOT NULL,              -- why rejected; for a graded one, notes (unexpected files, ...)
    points_earned REAL NOT NULL,
    points_possible REAL NOT NULL,
    duration_s REAL NOT NULL,
    confinement TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_by_learner ON submissions (week, learner, id);
CREATE TABLE IF NOT EXISTS outcomes (
    submission_id INTEGER NOT NULL REFERENCES submissions (id),
    position INTEGER NOT NULL,
    test_id TEXT NOT NULL,
    name TEXT NOT NULL,
    exercise TEXT NOT NULL,
    file TEXT NOT NULL,
    points REAL NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    hint TEXT NOT NULL,
    detail TEXT NOT NULL,
    duration_s REAL NOT NULL,
    timeout_s REAL NOT NULL,
    public INTEGER NOT NULL,
    PRIMARY KEY (submission_id, position)
);
"""


@dataclass(frozen=True)
class Entry:
    """One submission of one learner for one week, as stored."""

    week_id: str
    learner: str
    source: str
    content_hash: str
    suite_hash: str
    submitted_at: dt.datetime | None
    graded_at: dt.datetime
    status: EntryStatus
    reason: str  # why it was rejected, or notes on a graded one ("" if none)
    result: WeekResult | None  # None when rejected

    @property
    def points_earned(self) -> float:
        return self.result.points_earned if self.result else 0.0

    @property
    def not_graded(self) -> bool:
        """The grader could not grade it, for its own sake (a cluster's lost workers): stored as a
        rejection whose reason says so, and graded again by the next batch."""
        return self.status == "rejected" and self.reason.startswith(INFRASTRUCTURE_ERROR)


class Gradebook:
    """A SQLite gradebook file; open it with ``Gradebook.open`` and close it (or use ``with``)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: Path, *, create: bool) -> Gradebook:
        """Open ``path``; with ``create`` a missing file becomes a new, empty gradebook."""
        if not create and not path.is_file():
            raise GradebookError(f"{path}: no gradebook here; `grade batch WEEK SUBMISSIONS` creates one")
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            _check_is_gradebook(connection, path, create=create)
            connection.execute("PRAGMA journal_mode = WAL")  # readers never block the batch's writes
            connection.execute("PRAGMA synchronous = FULL")  # a committed grade survives a power cut
            connection.executescript(_SCHEMA)
            connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise GradebookError(f"{path} is not a gradebook this grader can open ({exc})") from None
        except GradebookError:
            connection.close()
            raise
        return cls(path, connection)

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def record(self, entry: Entry) -> None:
        """Store one submission and its outcomes, all or nothing."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO submissions (week, learner, source, content_hash, suite_hash, submitted_at, graded_at,"
                " status, reason, points_earned, points_possible, duration_s, confinement)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.week_id, entry.learner, entry.source, entry.content_hash, entry.suite_hash,
                    entry.submitted_at.isoformat() if entry.submitted_at else None,
                    entry.graded_at.isoformat(), entry.status, entry.reason, entry.points_earned,
                    entry.result.points_possible if entry.result else 0.0,
                    entry.result.duration_s if entry.result else 0.0,
                    entry.result.confinement if entry.result else "",
                ),
            )  # fmt: skip
            if entry.result is not None:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", _week_context(entry.result))
                self._db.executemany(
                    "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _outcome_rows(cursor.lastrowid or 0, entry.result),
                )

    def latest(self, week_id: str, learner: str) -> Entry | None:
        """The learner's current entry for the week (their newest), or None."""
        row = self._db.execute(
            "SELECT * FROM submissions WHERE week = ? AND learner = ? ORDER BY id DESC LIMIT 1", (week_id, learner)
        ).fetchone()
        return self._entry(row) if row else None

    def current(self, week_id: str | None = None) -> list[Entry]:
        """Every learner's current entry (for one week, or all), by week then learner."""
        where, args = ("WHERE week = ?", (week_id,)) if week_id else ("", ())
        rows = self._db.execute(
            f"SELECT * FROM submissions WHERE id IN (SELECT MAX(id) FROM submissions {where} GROUP BY week, learner)"
            " ORDER BY week, learner",
            args,
        ).fetchall()
        return [self._entry(row) for row in rows]

    def weeks(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT week FROM submissions ORDER BY week")]

    def history(self, week_id: str, learner: str) -> list[Entry]:
        """Every entry ever stored for the learner and week, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM submissions WHERE week = ? AND learner = ? ORDER BY id", (week_id, learner)
        ).fetchall()
        return [self._entry(row) for row in rows]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _entry(self, row: tuple[object, ...]) -> Entry:
        (id_, week, learner, source, content_hash, suite_hash, submitted_at, graded_at, status, reason) = row[:10]
        duration, confinement = row[12], row[13]
        result = None
        if status == "graded":
            result = self._result(int(str(id_)), str(source), str(week), float(str(duration)), str(confinement))
        return Entry(
            week_id=str(week),
            learner=str(learner),
            source=str(source),
            content_hash=str(content_hash),
            suite_hash=str(suite_hash),
            submitted_at=dt.datetime.fromisoformat(str(submitted_at)) if submitted_at else None,
            graded_at=dt.datetime.fromisoformat(str(graded_at)),
            status="graded" if status == "graded" else "rejected",
            reason=str(reason),
            result=result,
        )

    def _result(self, submission_id: int, source: str, week: str, duration: float, confinement: str) -> WeekResult:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (f"week:{week}",)).fetchone()
        context = json.loads(found[0]) if found else {}
        exercises: dict[str, tuple[str, list[TestOutcome]]] = {}
        for row in self._db.execute(
            "SELECT test_id, name, exercise, file, points, status, message, hint, detail, duration_s, timeout_s, public"
            " FROM outcomes WHERE submission_id = ? ORDER BY position",
            (submission_id,),
        ):
            test_id, name, exercise, file, points, status, message, hint, detail, took, timeout, public = row
            info = TestInfo(test_id, name, exercise, points, hint, timeout, bool(public))
            known: Status = status if status in STATUSES else "error"
            exercises.setdefault(exercise, (file, []))[1].append(TestOutcome(info, known, message, detail, took))
        return WeekResult(
            course=context.get("course", ""),
            week_id=week,
            week_title=context.get("title", ""),
            week_folder=context.get("folder", ""),
            submission=source,
            exercises=tuple(
                ExerciseResult(name, file, tuple(outs), optional=name in context.get("optional", ()))
                for name, (file, outs) in exercises.items()
            ),
            duration_s=duration,
            confinement=confinement,
        )


def _check_is_gradebook(connection: sqlite3.Connection, path: Path, *, create: bool) -> None:
    """Refuse any SQLite file that is not one of ours (nbgrader's gradebook.db, say) rather than
    add tables to it; an empty file is a new gradebook only when creating."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        if not create:
            raise GradebookError(f"{path} is empty, not a gradebook; `grade batch WEEK SUBMISSIONS` fills one")
        return
    version = (
        connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if "meta" in tables and "submissions" in tables
        else None
    )
    if version is None:
        raise GradebookError(
            f"{path} is a SQLite file of another program (tables: {', '.join(sorted(tables)[:5])}), "
            "not a grade gradebook; give another --gradebook path"
        )
    if int(version[0]) != SCHEMA_VERSION:
        raise GradebookError(
            f"{path}: gradebook schema {version[0]}, this grader reads schema {SCHEMA_VERSION}; "
            "use the grader version that wrote it"
        )


def _week_context(result: WeekResult) -> tuple[str, str]:
    """The course and week titles, kept once per week for rebuilding results from rows."""
    context = {
        "course": result.course,
        "title": result.week_title,
        "folder": result.week_folder,
        "optional": [e.name for e in result.exercises if e.optional],
    }
    return f"week:{result.week_id}", json.dumps(context)


def _outcome_rows(submission_id: int, result: WeekResult) -> Iterator[tuple[object, ...]]:
    position = 0
    for exercise in result.exercises:
        for outcome in exercise.outcomes:
            info = outcome.info
            yield (
                submission_id, position, info.id, info.name, exercise.name, exercise.file, info.points,
                outcome.status, outcome.message, outcome.shown_hint, outcome.detail, outcome.duration_s, info.timeout_s,
                int(info.public),
            )  # fmt: skip
            position += 1
