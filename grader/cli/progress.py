"""Live progress bars: one test at a time for ``grade WEEK``, one submission at a time for
``grade batch``.  Each takes the console it draws on, and hears the engine through its
``Listener`` (or the batch's ``BatchListener``) protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..core.results import TestInfo, TestOutcome
from ..core.text import points, shown

if TYPE_CHECKING:
    from ..classroom.gradebook import Entry


class LiveProgress:
    """A progress bar while tests run: a ``runner.Listener`` that draws on a console."""

    def __init__(self, console: Console, title: str) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[points]}"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[current]}"),
            console=console,
            transient=True,
        )
        self.title = title
        self.task: TaskID | None = None
        self.earned = 0.0
        self.possible = 0.0

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        self.task = self.progress.add_task(self.title, total=None, points="", current="starting…")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def collected(self, tests: tuple[TestInfo, ...]) -> None:
        assert self.task is not None
        self.possible = sum(t.points for t in tests)
        self.progress.update(self.task, total=len(tests), points=f"0/{points(self.possible)} pts")

    def started(self, test: TestInfo) -> None:
        assert self.task is not None
        self.progress.update(self.task, current=test.name)

    def finished(self, outcome: TestOutcome) -> None:
        assert self.task is not None
        self.earned += outcome.points_earned
        self.progress.update(self.task, advance=1, points=f"{points(self.earned)}/{points(self.possible)} pts")


class BatchProgress:
    """A progress bar with an ETA over a batch's submissions: a ``batch.BatchListener``."""

    def __init__(self, console: Console, title: str) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("[dim]{task.fields[last]}"),
            console=console,
            transient=True,
        )
        self.title = title
        self.task: TaskID | None = None

    def __enter__(self) -> BatchProgress:
        self.progress.start()
        self.task = self.progress.add_task(self.title, total=None, last="reading the submissions…")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def planned(self, to_grade: int, unchanged: int) -> None:
        assert self.task is not None
        skipped = f"{unchanged} unchanged since the last batch; " if unchanged else ""
        self.progress.update(self.task, total=to_grade, last=f"{skipped}starting the workers…")

    def recorded(self, entry: Entry) -> None:
        assert self.task is not None
        learner = escape(shown(entry.learner))  # the column is read as markup
        outcome = points(entry.points_earned) if entry.result else "not graded" if entry.not_graded else "rejected"
        last = f"{learner}: {outcome}"
        self.progress.update(self.task, advance=1, last=last)
