"""The class statistics of a batch: mean and median scores, a histogram of final scores, and the
pass rate of every test, lowest first.  Computed from a ``BatchSummary``; rendered by the CLI."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Final

from .batch import BatchSummary
from .gradebook import Entry

HISTOGRAM_BINS: Final = 10


@dataclass(frozen=True)
class PassRate:
    """How many graded learners passed one test."""

    test: str
    exercise: str
    passed: int
    total: int

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
    pass_rates: tuple[PassRate, ...]  # the test most learners fail first


def class_statistics(summary: BatchSummary) -> ClassStatistics:
    graded = [e for e in summary.entries if e.result is not None]
    assessments = [summary.assessment(e) for e in graded]
    possible = max((e.result.points_possible for e in graded if e.result), default=0.0)
    raws = [a.raw for a in assessments] or [0.0]
    finals = [a.final for a in assessments] or [0.0]
    histogram = [0] * HISTOGRAM_BINS
    for final in (a.final for a in assessments):
        share = final / possible if possible else 0.0
        histogram[min(HISTOGRAM_BINS - 1, int(share * HISTOGRAM_BINS))] += 1
    return ClassStatistics(
        graded=len(graded),
        rejected=len(summary.entries) - len(graded),
        late=sum(a.late for a in assessments),
        points_possible=possible,
        mean_raw=statistics.fmean(raws),
        median_raw=statistics.median(raws),
        mean_final=statistics.fmean(finals),
        median_final=statistics.median(finals),
        histogram=tuple(histogram),
        pass_rates=_pass_rates(graded),
    )


def _pass_rates(graded: list[Entry]) -> tuple[PassRate, ...]:
    counts: dict[str, list[int]] = {}
    exercises: dict[str, str] = {}
    for entry in graded:
        assert entry.result is not None
        for exercise in entry.result.exercises:
            for outcome in exercise.outcomes:
                test = outcome.info.id.rsplit("::", 1)[-1]  # with its parameters: test_x[(2, 3)]
                tally = counts.setdefault(test, [0, 0])
                tally[0] += outcome.passed
                tally[1] += 1
                exercises[test] = exercise.name
    rates = [PassRate(name, exercises[name], passed, total) for name, (passed, total) in counts.items()]
    return tuple(sorted(rates, key=lambda r: (r.rate, r.exercise, r.test)))
