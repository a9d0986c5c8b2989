"""The one screen of ``grade watch``, redrawn after every save: the score per exercise, the
total, and the next thing to fix (the first failing test of the first unfinished exercise, with
its message and hint)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..core.text import points, shown
from .report import exercise_table

if TYPE_CHECKING:
    from ..core.course import Week
    from ..core.results import ExerciseResult
    from ..learner.watch import WatchUpdate


def render_grading(console: Console, week: Week, changed: tuple[str, ...]) -> None:
    what = ", ".join(f"{name}.py" for name in changed if name != "*") or "every exercise"
    console.print(Text(f"{week.id}: grading {what}…", style="dim"))


def render_update(console: Console, update: WatchUpdate) -> None:
    """Clear the terminal and draw the week as it stands after this save."""
    console.clear()
    week = update.week
    if update.moved_on_from:
        console.print(Text(f"{update.moved_on_from} is complete: watching {week.id} now", style="bold green"))
    console.print(Text.assemble((f"{week.id}: {week.title}", "bold"), ("   watching for saves", "dim")))
    if update.result is not None:
        console.print(_table(update))
    if update.error:
        console.print(Text(f"could not grade this save: {shown(update.error)}", style="red"))
        console.print(Text("still watching; save again to retry", style="dim"))
    _render_next(console, update)
    stored = "" if update.stored is None else "; saved in .grade/"
    regraded = ", ".join(f"{n}.py" for n in update.changed) or "every exercise"
    console.print(Text(f"graded {regraded} in {update.seconds:.2f} s{stored}.  Ctrl-C to stop.", style="dim"))


def _table(update: WatchUpdate) -> Table:
    assert update.result is not None

    def name(exercise: ExerciseResult) -> Text:
        done = exercise.tests_passed == exercise.tests_total
        label = Text(("✓ " if done else "  ") + shown(exercise.file), style="green" if done else "")
        if exercise.name in update.changed:
            label.append("  (just graded)", style="cyan")
        return label

    return exercise_table(update.result, name)


def _render_next(console: Console, update: WatchUpdate) -> None:
    found = update.next_to_fix
    if update.result is None:
        return
    if found is None:
        console.print(Text("every test passes: the week is complete", style="bold green"))
        return
    file, outcome = found
    console.print(Text.assemble(("next to fix: ", "bold"), shown(file)))
    line = Text.assemble(outcome.info.name, (f" ({points(outcome.info.points)} pt)", "dim"), ": ")
    line.append(shown(outcome.message) or outcome.status)
    console.print(Padding(line, (0, 0, 0, 2), expand=False))
    if outcome.info.hint:
        hint = Text.assemble("hint: ", (shown(outcome.info.hint), "italic"), style="cyan")
        console.print(Padding(hint, (0, 0, 0, 6), expand=False))
