"""Deadlines: how late a submission is and what the course's late policy takes off.

The policy lives in ``course.toml`` (``[grading.late]``), the due date on each week (``due``) and
the submission time in the gradebook; ``assess`` combines them whenever a score is shown or
exported, so changing a due date or the policy never needs a regrade.  A due date written
without a UTC offset is in the local time of the machine running ``grade``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Protocol

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class LatePolicy:
    """``per_day`` percent off per day late (a started day counts), at most ``max_penalty``
    percent in all; submissions up to ``grace_minutes`` after the due time are on time."""

    per_day: float = 0.0
    max_penalty: float = 100.0
    grace_minutes: float = 0.0


@dataclass(frozen=True)
class LateAssessment:
    """A raw score, how late it came, and the score after the late policy."""

    raw: float
    days_late: int  # 0 when on time (or within the grace period) or when it cannot be told
    penalty_percent: float
    final: float
    note: str  # "on time", "2 days late (-20%)", "no due date", "submission time unknown"

    @property
    def late(self) -> bool:
        return self.days_late > 0


def assess(policy: LatePolicy, due: dt.datetime | None, submitted_at: dt.datetime | None, raw: float) -> LateAssessment:
    """Apply the policy to one raw score."""
    if due is None:
        return LateAssessment(raw, 0, 0.0, raw, "no due date")
    if submitted_at is None:
        return LateAssessment(raw, 0, 0.0, raw, "submission time unknown: counted on time")
    late_by = _aware(submitted_at) - _aware(due)
    if late_by <= dt.timedelta(minutes=policy.grace_minutes):
        return LateAssessment(raw, 0, 0.0, raw, "on time")
    days = math.ceil(late_by / DAY)
    penalty = min(policy.per_day * days, policy.max_penalty)
    final = raw * (1 - penalty / 100)
    unit = "day" if days == 1 else "days"
    return LateAssessment(raw, days, penalty, final, f"{days} {unit} late (-{penalty:g}%)")


class Submitted(Protocol):
    """What the late policy reads of a stored grade (a gradebook ``Entry``)."""

    @property
    def submitted_at(self) -> dt.datetime | None: ...

    @property
    def points_earned(self) -> float: ...


def _aware(moment: dt.datetime) -> dt.datetime:
    """A naive time is local time (as a due date in course.toml written without an offset)."""
    return moment if moment.tzinfo is not None else moment.astimezone()
