"""Rendering results: rich tables and lines for a person, JSON for a program, a live progress bar.

Every function takes the ``Console`` to draw on, so tests render into a fixed-width StringIO
console and compare text.  Anything a learner chose (ids, file names, the messages and tracebacks
of their code, notes about their submission) goes through ``Text`` (never read as markup) and
through ``core.text.shown`` (no control character or escape sequence reaches the terminal raw).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from ..core.text import shown

if TYPE_CHECKING:  # result types only: `grade week5` must not import batch, sqlite3, zipfile, nbformat…
    from ..authoring.build import BuiltFile
    from ..authoring.check import CourseCheck, WeekCheck
    from ..authoring.release import ReleaseSummary
    from ..core.course import Course
    from ..learner.history import StoredScore

_MARKS: Final = {
    "passed": ("✓", "green"),
    "not_implemented": ("·", "yellow"),
    "timeout": ("⏱", "red"),
    "crashed": ("✗", "red"),
}


def points(value: float) -> str:
    return f"{value:g}"


def render_week(console: Console, result: WeekResult, *, verbose: bool = False) -> None:
    """The table of exercises, then each failing test with why and a hint, then the total."""
    console.print()
    console.print(
        Text.assemble(
            (f"{result.week_id}: {result.week_title}", "bold"),
            (f"   {shown(result.submission)}/{result.week_folder}", "dim"),
        )
    )
    console.print(_exercise_table(result))
    for exercise in result.exercises:
        _render_failures(console, exercise, verbose=verbose)
    for note in result.notes:
        console.print(Text(f"note: {shown(note)}", style="dim"))
    if verbose and result.confinement:
        console.print(Text(f"your code ran under: {result.confinement}", style="dim"))
    console.print(_total_line(result))
    if result.held_back_tests:
        console.print(
            Text(
                f"+ {points(result.held_back_points)} more points in {result.held_back_tests} hidden tests, "
                "graded by your instructor",
                style="dim",
            )
        )


def _exercise_table(result: WeekResult) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False)
    table.add_column("exercise", footer="total")
    table.add_column("tests", justify="right", footer=f"{result.tests_passed}/{result.tests_total}")
    table.add_column(
        "points", justify="right", footer=f"{points(result.points_earned)}/{points(result.points_possible)}"
    )
    for exercise in result.exercises:
        style = "green" if exercise.tests_passed == exercise.tests_total else ""
        name = Text(shown(exercise.file), style=style)
        if exercise.optional:
            name.append("  ★ optional", style="dim")
        table.add_row(
            name,
            f"{exercise.tests_passed}/{exercise.tests_total}",
            f"{points(exercise.points_earned)}/{points(exercise.points_possible)}",
        )
    return table


def _render_failures(console: Console, exercise: ExerciseResult, *, verbose: bool) -> None:
    failures = [o for o in exercise.outcomes if not o.passed]
    if not failures:
        return
    console.print(Text(shown(exercise.file), style="bold"))
    not_started: dict[str, list[TestOutcome]] = {}
    for outcome in failures:
        if outcome.status == "not_implemented":
            not_started.setdefault(outcome.message, []).append(outcome)
            continue
        mark, style = _MARKS.get(outcome.status, ("✗", "red"))
        line = Text.assemble(
            (f"{mark} ", style), outcome.info.name, (f" ({points(outcome.info.points)} pt)", "dim"), ": "
        )
        line.append(shown(outcome.message) or outcome.status)
        console.print(Padding(line, (0, 0, 0, 2), expand=False))
        if outcome.info.hint:
            console.print(
                Padding(
                    Text.assemble("hint: ", (outcome.info.hint, "italic"), style="cyan"), (0, 0, 0, 6), expand=False
                )
            )
        if verbose and outcome.detail:
            detail = shown(outcome.detail.rstrip(), multiline=True)
            console.print(Padding(Text(detail, style="dim"), (0, 0, 0, 6), expand=False))
    for message, outcomes in not_started.items():
        mark, style = _MARKS["not_implemented"]
        total = points(sum(o.info.points for o in outcomes))
        tests = "1 test" if len(outcomes) == 1 else f"{len(outcomes)} tests"
        short = shown(message.replace(f"({exercise.file}:", "(line "))  # the file is the heading above
        line = Text.assemble((f"{mark} ", style), short, (f": {tests}, {total} pt", "dim"))
        console.print(Padding(line, (0, 0, 0, 2), expand=False))


def _total_line(result: WeekResult) -> Text:
    share = result.points_earned / result.points_possible if result.points_possible else 0.0
    style = "bold green" if result.all_passed else "bold"
    text = Text(f"{points(result.points_earned)}/{points(result.points_possible)} points", style=style)
    if result.optional_points_possible:
        text.append(
            f" + {points(result.optional_points_earned)}/{points(result.optional_points_possible)} optional ★",
            style="dim" if not result.optional_points_earned else "",
        )
    text.append(
        f"  ({share:.0%}, {result.tests_passed} of {result.tests_total} tests passed, {result.duration_s:.1f} s)",
        style="dim",
    )
    return text


def render_course(
    console: Console,
    course: Course,
    suites: dict[str, tuple[TestInfo, ...]],
    scores: dict[str, StoredScore],
) -> None:
    """Every week with its title, exercises, points possible and the learner's last score."""
    table = Table(title=course.title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for name, justify in (
        ("week", "left"),
        ("title", "left"),
        ("exercises", "right"),
        ("points", "right"),
        ("your last score", "right"),
        ("due", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for week in course.weeks:
        tests = suites.get(week.id, ())
        score = scores.get(week.id)
        last = (
            "—"
            if score is None
            else f"{points(score.points_earned)}/{points(score.points_possible)}  ({score.graded_at[:10]})"
        )
        table.add_row(
            week.id,
            week.title,
            str(len({t.exercise for t in tests})),
            _points_possible(tests, week.optional),
            Text(last, style="green" if score and score.points_earned == score.points_possible else ""),
            week.due.strftime("%Y-%m-%d %H:%M") if week.due else "",
        )
    console.print(table)
    console.print(Text("grade WEEK grades your exercises/ folder for that week, e.g. grade week5", style="dim"))


def _points_possible(tests: tuple[TestInfo, ...], optional: tuple[str, ...]) -> str:
    """A week's points, with those of its ★ exercises apart: ``64 + 8 ★``."""
    required = points(sum(t.points for t in tests if t.exercise not in optional))
    extra = sum(t.points for t in tests if t.exercise in optional)
    return f"{required} + {points(extra)} ★" if extra else required


def render_built(console: Console, root: Path, built: BuiltFile) -> None:
    shown = built.path.relative_to(root).as_posix()
    if not built.changed:
        console.print(Text(f"  unchanged {shown}", style="dim"))
        return
    console.print(Text(f"  wrote     {shown}", style="green"))
    if built.backup is not None:
        console.print(
            Text(
                f"            (the previous version is kept in {built.backup.relative_to(root).as_posix()})",
                style="yellow",
            )
        )


def render_week_check(console: Console, week: WeekCheck) -> None:
    """One week's line as soon as it is checked (a log when the output is not a terminal), then
    its problems: a mutant's names itself, the test it names and what happened instead."""
    mark, style = ("✓", "green") if not week.problems else ("✗", "red")
    caught = f"{week.mutants_caught}/{len(week.mutants)} mutants caught" if week.mutants else "no mutants"
    problems = f"{len(week.problems)} problem(s)" if week.problems else "ok"
    console.print(
        Text.assemble(
            (f"{mark} {week.week_id}", f"bold {style}"),
            f": {problems}, ",
            (f"{caught}, {week.duration_s:.0f} s", "dim"),
        )
    )
    for problem in week.problems:
        console.print(Padding(Text(f"- {problem}"), (0, 0, 0, 4), expand=False))


def render_check(console: Console, result: CourseCheck) -> None:
    """The course's own problems and the verdict (each week was shown as it finished)."""
    for problem in result.problems:
        console.print(Text.assemble(("✗ ", "red"), problem))
    total = sum(len(w.problems) for w in result.weeks) + len(result.problems)
    console.print(
        Text(
            "the course checks out" if result.ok else f"{total} problem(s) found",
            style="bold green" if result.ok else "bold red",
        )
    )


def render_release(console: Console, summary: ReleaseSummary) -> None:
    kind = "self-study release (hidden tests included)" if summary.with_hidden else "student release"
    console.print(Text(f"wrote a {kind} to {summary.out}", style="bold green"))
    for week_id, shipped in summary.shipped_tests.items():
        held = summary.held_back[week_id]
        extra = f", {held.tests} held back ({points(held.points)} pt)" if held.tests else ""
        console.print(Text(f"  {week_id}: {shipped} tests shipped{extra}"))
