"""Results as frozen values: what a test is worth, how it ended, and the sum for a week.

Rendering (``report.py``) and storage take these values; nothing here prints or writes.
A crash, a hang or an unreadable result is a ``TestOutcome`` like any other: zero points and a
one-line message, so every way grading can go wrong is a value the report can show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Final, Literal

Status = Literal[
    "passed",  # every phase passed: the test's points are earned
    "failed",  # a wrong answer (an assertion of the test failed)
    "not_implemented",  # the stub's NotImplementedError is still there
    "missing",  # the function the test calls is not defined in the learner's file
    "import_error",  # the learner's file does not import (syntax error, exception at import)
    "bad_return",  # the learner's code returned something that is not plain data
    "error",  # the learner's code (or the test) raised an exception
    "timeout",  # the test ran past its time limit
    "crashed",  # the grading process died during the test (segfault, os._exit, killed)
    "skipped",  # the test skipped itself; no points
]
STATUSES: Final = frozenset(Status.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TestInfo:
    """What collection says of one hidden test: where it is, what it is worth, how to help."""

    __test__ = False  # a dataclass, not a pytest test class

    id: str
    name: str
    exercise: str
    points: float
    hint: str = ""  # the first level of the test's hint: what the report shows
    timeout_s: float = 10.0
    public: bool = False
    problem: str = ""  # a broken marker or missing points: the suite's fault, not the learner's
    deeper_hints: tuple[str, ...] = ()  # the hint's further levels, for `grade hint`, one at a time

    @property
    def hint_levels(self) -> tuple[str, ...]:
        return ((self.hint,) if self.hint else ()) + self.deeper_hints

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestInfo:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "deeper_hints" in fields:
            fields["deeper_hints"] = tuple(str(h) for h in fields["deeper_hints"])
        return cls(**fields)


@dataclass(frozen=True)
class Curve:
    """A failed comparison of a function of one variable (``assert_close(..., at=x)``): the
    learner's and the expected values at the test's inputs, for ``grade WEEK --plot``."""

    what: str
    x: tuple[float, ...]
    got: tuple[float, ...]
    want: tuple[float, ...]
    worst: int  # index of the point farthest from the expected value

    MAX_POINTS: ClassVar[int] = 1000  # a stream's curve may be no longer (testing sends at most 400)

    @classmethod
    def from_event(cls, data: Any) -> Curve | None:
        """The curve of a result event, or None when it is missing or not a well-formed, bounded curve."""
        try:
            x, got, want = (tuple(float(v) for v in data[key]) for key in ("x", "got", "want"))
            worst, what = int(data["worst"]), str(data["what"])[:200]
        except (TypeError, KeyError, ValueError):
            return None
        if not 0 < len(x) == len(got) == len(want) <= cls.MAX_POINTS or not 0 <= worst < len(x):
            return None
        return cls(what, x, got, want, worst)


@dataclass(frozen=True)
class TestOutcome:
    """How one test ended for one submission."""

    __test__ = False

    info: TestInfo
    status: Status
    message: str = ""  # one line, in the learner's terms
    detail: str = ""  # the learner's frames of a traceback, for grade -v
    duration_s: float = 0.0
    curve: Curve | None = None  # a failed comparison of a function of one variable, for grade --plot
    hint: str = ""  # the failure's own hint (that of the mistake found); "" leaves the test's
    diagnosis: str = ""  # what the failure found: "mistake", "type", "shape", "dtype", "non-finite", "value"
    function: str = ""  # the learner's function the test called first, to group a function's failures
    findings: tuple[str, ...] = ()  # for the course's authors: named mistakes that cannot be told apart
    output: str = ""  # the last lines the learner's code printed during the test, for grade -v

    @property
    def shown_hint(self) -> str:
        """The hint for this outcome: the mistake's own, else the first level of the test's."""
        return self.hint or self.info.hint

    @property
    def points_earned(self) -> float:
        return self.info.points if self.status == "passed" else 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class ExerciseResult:
    """The outcomes of one exercise module's tests."""

    name: str
    file: str  # as shown to the learner: exercises/week05_probability/information.py
    outcomes: tuple[TestOutcome, ...]
    optional: bool = False  # a ★ exercise: graded and shown, but not part of the week's total

    @property
    def points_earned(self) -> float:
        return sum(o.points_earned for o in self.outcomes)

    @property
    def points_possible(self) -> float:
        return sum(o.info.points for o in self.outcomes)

    @property
    def tests_passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def tests_total(self) -> int:
        return len(self.outcomes)


@dataclass(frozen=True)
class WeekResult:
    """One submission graded against one week's suite."""

    course: str
    week_id: str
    week_title: str
    week_folder: str
    submission: str
    exercises: tuple[ExerciseResult, ...]
    duration_s: float = 0.0
    notes: tuple[str, ...] = field(default=())  # e.g. "the grading process was restarted 2 times"
    held_back_tests: int = 0  # in a student release: hidden tests not shipped, graded by the instructor
    held_back_points: float = 0.0
    confinement: str = ""  # how the learner's code was confined (shown by grade -v)

    @property
    def points_earned(self) -> float:
        """Points of the required exercises: a ★ exercise never lowers the share of a week done."""
        return sum(e.points_earned for e in self.exercises if not e.optional)

    @property
    def points_possible(self) -> float:
        return sum(e.points_possible for e in self.exercises if not e.optional)

    @property
    def optional_points_earned(self) -> float:
        return sum(e.points_earned for e in self.exercises if e.optional)

    @property
    def optional_points_possible(self) -> float:
        return sum(e.points_possible for e in self.exercises if e.optional)

    @property
    def tests_passed(self) -> int:
        return sum(e.tests_passed for e in self.exercises)

    @property
    def tests_total(self) -> int:
        return sum(e.tests_total for e in self.exercises)

    @property
    def all_passed(self) -> bool:
        return self.tests_total > 0 and self.tests_passed == self.tests_total


def info_to_dict(info: TestInfo) -> dict[str, Any]:
    return asdict(info)


# -- the JSON form (grade --json, export json) ---------------------------------------------------

JSON_SCHEMA_VERSION: Final = 1


def week_to_json(result: WeekResult) -> dict[str, Any]:
    """The result as plain JSON (schema in README.md, 'grade --json')."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "course": result.course,
        "week": {"id": result.week_id, "title": result.week_title, "folder": result.week_folder},
        "submission": result.submission,
        "points_earned": result.points_earned,
        "points_possible": result.points_possible,
        "optional_points_earned": result.optional_points_earned,
        "optional_points_possible": result.optional_points_possible,
        "tests_passed": result.tests_passed,
        "tests_total": result.tests_total,
        "duration_s": round(result.duration_s, 3),
        "notes": list(result.notes),
        "confinement": result.confinement,
        "held_back": {"tests": result.held_back_tests, "points": result.held_back_points},
        "exercises": [
            {
                "name": e.name,
                "file": e.file,
                "optional": e.optional,
                "points_earned": e.points_earned,
                "points_possible": e.points_possible,
                "tests_passed": e.tests_passed,
                "tests_total": e.tests_total,
                "tests": [_outcome_to_json(o) for o in e.outcomes],
            }
            for e in result.exercises
        ],
    }


def _outcome_to_json(outcome: TestOutcome) -> dict[str, Any]:
    return {
        "id": outcome.info.id,
        "name": outcome.info.name,
        "status": outcome.status,
        "points_earned": outcome.points_earned,
        "points_possible": outcome.info.points,
        "message": outcome.message,
        "hint": outcome.shown_hint,
        "diagnosis": outcome.diagnosis,
        "detail": outcome.detail,
        "duration_s": round(outcome.duration_s, 3),
        "public": outcome.info.public,
    }
