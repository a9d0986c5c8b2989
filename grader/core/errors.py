"""The one exception tree of the grader.

Every error the grader raises on purpose is a ``GraderError``; ``grader.cli`` is the only place
that turns one into printed output and an exit code (``cli.main.run``).  Messages say what is wrong, where
(file:line, week or test id) and what to do about it::

    GraderError                     exit 2  something the user must fix before grading
    ├── UsageError                  exit 2  bad command-line input (unknown week, bad path)
    ├── CourseError                 exit 2  course.toml is missing, malformed or disagrees with disk
    ├── SuiteError                  exit 2  a hidden suite is broken (collection error, no points)
    ├── GradingError                exit 2  the grading child could not be started or talked to
    ├── BuildError                  exit 2  solutions cannot be turned into stubs or a release
    ├── MissingExtraError           exit 2  an optional extra is not installed (says the pip command)
    ├── GradebookError              exit 2  the SQLite gradebook is missing, unreadable or too new
    └── ExportError                 exit 2  an export target cannot be written (a missing folder, a file in the way)

Errors in *student* code are not in this tree: they are values (a failed ``TestOutcome``),
never exceptions that reach the user, so one broken exercise cannot stop the others.
"""

from __future__ import annotations

from typing import ClassVar, Final


class GraderError(Exception):
    """Base of every error the grader reports to the user."""

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(GraderError):
    """The command line names something that does not exist or cannot be used."""


class CourseError(GraderError):
    """course.toml cannot be loaded, or says something the folders on disk contradict."""


class SuiteError(GraderError):
    """A hidden test suite cannot be collected or breaks the test contract."""


class GradingError(GraderError):
    """The grading child process failed in a way that is the grader's fault, not the learner's."""


class BuildError(GraderError):
    """Solutions cannot be turned into stubs, a new week or a release (bad delimiters, missing tools)."""


INSTRUCTOR_EXTRA: Final = 'pip install -e ".[instructor]"'


class MissingExtraError(GraderError):
    """A command needs an optional extra that is not installed; the message names the install command."""

    def __init__(
        self, needed: str, *, for_what: str, install: str = INSTRUCTOR_EXTRA, tools: str = "the instructor tools"
    ) -> None:
        super().__init__(f"{for_what} needs {needed}, which is not installed; install {tools} with: {install}")


class GradebookError(GraderError):
    """The SQLite gradebook is missing, is not a gradebook, or was written by a newer grader."""


class ExportError(GraderError):
    """An export cannot be written where it was asked to go (a folder that does not exist, a file in the way)."""
