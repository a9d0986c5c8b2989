"""The class statistics of a batch: mean and median scores, a histogram of final scores, the
pass rate of every test, lowest first (the cases of a parametrised test grouped under it), and
why a submission scored nothing.  Computed from a ``BatchSummary``; rendered by the CLI and the
HTML class report (``html_report.py``)."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..core.course import Course, Week, late_of
from .batch import BatchSummary
from .gradebook import Entry

HISTOGRAM_BINS: Final = 10


@dataclass(frozen=True)
class PassRate:
    """How many graded learners passed one test; for a parametrised test, over all its cases
    (5 cases and 100 learners: ``total`` is 500)."""

    test: str
    exercise: str
    passed: int
    total: int
    cases: int = 1  # parametrised cases grouped in this row
    message: str = ""  # the commonest failure message, as a learner saw it ("" if none failed)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class ClassStatistics:
    """Over graded submissions only: a rejected one (a corrupt zip) says nothing of the class."""

    graded: int
    rejected: int
    late: int
    points_possible: float
    mean_raw: float
    median_raw: float
    mean_final: float
    median_final: float
    histogram: tuple[int, ...]  # learners per band of final score: [0, 10) %, [10, 20) %, … [90, 100] %
    tests: tuple[PassRate, ...]  # the test most learners fail first; a parametrised test's cases in one row
    exercise_means: tuple[tuple[str, float, float], ...]  # (exercise, mean points earned, points possible)


def class_statistics(summary: BatchSummary) -> ClassStatistics:
    return statistics_of(summary.course, summary.week, summary.entries)


def statistics_of(course: Course, week: Week, entries: Sequence[Entry]) -> ClassStatistics:
    """The statistics of a week's current entries (a batch's, or the gradebook's for an export)."""
    graded = [e for e in entries if e.result is not None]
    assessments = [late_of(course, week, e) for e in graded]
    possible = max((e.result.points_possible for e in graded if e.result), default=0.0)
    raws = [a.raw for a in assessments] or [0.0]
    finals = [a.final for a in assessments] or [0.0]
    histogram = [0] * HISTOGRAM_BINS
    for final in (a.final for a in assessments):
        share = final / possible if possible else 0.0
        histogram[min(HISTOGRAM_BINS - 1, int(share * HISTOGRAM_BINS))] += 1
    return ClassStatistics(
        graded=len(graded),
        rejected=len(entries) - len(graded),
        late=sum(a.late for a in assessments),
        points_possible=possible,
        mean_raw=statistics.fmean(raws),
        median_raw=statistics.median(raws),
        mean_final=statistics.fmean(finals),
        median_final=statistics.median(finals),
        histogram=tuple(histogram),
        tests=grouped_pass_rates(graded),
        exercise_means=_exercise_means(graded),
    )


def _exercise_means(graded: list[Entry]) -> tuple[tuple[str, float, float], ...]:
    earned: dict[str, list[float]] = {}
    possible: dict[str, float] = {}
    for entry in graded:
        assert entry.result is not None
        for exercise in entry.result.exercises:
            earned.setdefault(exercise.name, []).append(exercise.points_earned)
            possible[exercise.name] = max(possible.get(exercise.name, 0.0), exercise.points_possible)
    return tuple((name, statistics.fmean(values), possible[name]) for name, values in earned.items())


def grouped_pass_rates(graded: list[Entry]) -> tuple[PassRate, ...]:
    """One row per test function, its parametrised cases (``test_x[a]``, ``test_x[b]``) grouped,
    with the commonest failure message; lowest pass rate first."""
    tallies: dict[tuple[str, str], list[int]] = {}
    cases: dict[tuple[str, str], set[str]] = {}
    messages: dict[tuple[str, str], Counter[str]] = {}
    for entry in graded:
        assert entry.result is not None
        for exercise in entry.result.exercises:
            for outcome in exercise.outcomes:
                case = outcome.info.id.rsplit("::", 1)[-1]
                key = (exercise.name, case.split("[", 1)[0])
                tally = tallies.setdefault(key, [0, 0])
                tally[0] += outcome.passed
                tally[1] += 1
                cases.setdefault(key, set()).add(case)
                if not outcome.passed:
                    messages.setdefault(key, Counter())[outcome.message or outcome.status] += 1
    rates = [
        PassRate(
            test,
            exercise,
            passed,
            total,
            cases=len(cases[(exercise, test)]),
            message=messages[(exercise, test)].most_common(1)[0][0] if (exercise, test) in messages else "",
        )
        for (exercise, test), (passed, total) in tallies.items()
    ]
    return tuple(sorted(rates, key=lambda r: (r.rate, r.exercise, r.test)))


_SYNTAX: Final = re.compile(r"^(?P<where>\S+:\d+): SyntaxError: (?P<what>[^;]*)")
_NO_MODULE: Final = re.compile(r"ModuleNotFoundError: No module named '(?P<name>[^']+)'")


def zero_reason(entry: Entry) -> str:
    """Why a graded submission earned nothing, in a few words for the class table ("" when it
    earned points): a syntax error at file:line, stubs left as handed out, a module the code
    imports that is not installed, a file that does not import, or what most of its tests did."""
    result = entry.result
    if result is None or result.points_earned > 0 or not result.tests_total:
        return ""
    outcomes = [o for e in result.exercises for o in e.outcomes]
    for outcome in outcomes:
        if outcome.status != "import_error":
            continue
        if found := _SYNTAX.search(outcome.message):
            return f"syntax error at {found['where']} ({found['what'].strip()})"
        if found := _NO_MODULE.search(outcome.message):
            return f"imports {found['name']}, which is not installed"
    statuses = Counter(o.status for o in outcomes)
    if statuses["not_implemented"] == len(outcomes):
        return "untouched stubs: every function still raises NotImplementedError"
    if statuses["import_error"]:
        first = next(o for o in outcomes if o.status == "import_error")
        return f"does not import: {first.message}"
    status, count = statuses.most_common(1)[0]
    return f"{count} of {len(outcomes)} tests: {status.replace('_', ' ')}"
