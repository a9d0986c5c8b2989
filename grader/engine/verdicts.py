"""Verdicts: what a test raised, and its setup, call and teardown reports, turned into one status
and one line for the learner.  A test is passed only if all three phases passed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ..core.results import Status
from . import transport
from .sandbox.student import StudentCodeError, TestTimeout


@dataclass(frozen=True)
class Verdict:
    """Why one phase of a test failed, in the learner's terms."""

    status: Status
    message: str
    detail: str = ""
    hint: str = ""  # the failure's own hint (grader.testing.Diagnosis), shown instead of the test's
    diagnosis: str = ""  # what it found (grader.testing.FailureKind), "" if it does not say


def classify(exc: BaseException) -> Verdict:
    """Turn what a test raised into a status and one line for the learner."""
    if isinstance(exc, StudentCodeError):
        return Verdict(exc.status, exc.message, exc.traceback_text)
    if isinstance(exc, TestTimeout):
        where = f"; your code was at {exc.where} when it was stopped" if exc.where else ""
        return Verdict("timeout", f"timed out after {exc.seconds:g} s{where}")
    if isinstance(exc, pytest.fail.Exception):  # a grader.testing.Diagnosis says its kind and hint
        hint, diagnosis = getattr(exc, "hint", ""), getattr(exc, "kind", "")
        return Verdict(
            "failed",
            _first_line(exc.msg or ""),
            hint=hint if isinstance(hint, str) else "",
            diagnosis=diagnosis if isinstance(diagnosis, str) else "",
        )
    if isinstance(exc, AssertionError):
        return Verdict("failed", _first_line(str(exc)) or "an assertion of the test failed")
    if isinstance(exc, transport.MalformedMessage):
        return Verdict("error", f"your code sent back a value that could not be read ({exc})")
    if isinstance(exc, pytest.skip.Exception):
        return Verdict("skipped", _first_line(exc.msg or ""))
    return Verdict("error", f"the test could not check your result: {type(exc).__name__}: {_first_line(str(exc))}")


def merge_phases(reports: list[pytest.TestReport]) -> Verdict:
    """One verdict from setup, call and teardown: passed only if all three passed."""
    for report in reports:
        if report.failed:
            verdict = getattr(report, "grade_verdict", None) or Verdict("error", _first_line(str(report.longrepr)))
            if report.when != "call" and verdict.status in ("failed", "error"):
                verdict = Verdict("error", f"during {report.when}: {verdict.message}", verdict.detail, verdict.hint)
            return verdict
    for report in reports:
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            return Verdict("skipped", _first_line(str(reason)) or "skipped")
    if not any(r.when == "call" and r.passed for r in reports):
        return Verdict("error", "the test did not run")
    return Verdict("passed", "")


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
