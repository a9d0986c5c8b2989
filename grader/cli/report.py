"""Rendering results: rich tables and lines for a person, JSON for a program, a live progress bar.

Every function takes the ``Console`` to draw on, so tests render into a fixed-width StringIO
console and compare text.  Anything a learner chose (ids, file names, the messages and tracebacks
of their code, notes about their submission) goes through ``Text`` (never read as markup) and
through ``core.text.shown`` (no control character or escape sequence reaches the terminal raw).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from ..core.text import points, shown

if TYPE_CHECKING:  # result types only: `grade week5` must not import batch, sqlite3, zipfile, nbformat…
    from ..authoring.build import BuiltFile
    from ..authoring.check import CourseCheck, WeekCheck
    from ..authoring.release import ReleaseSummary
    from ..core.course import Course, Week
    from ..learner.hints import UnfoldedHint
    from ..learner.history import StoredScore, WeekHistory

_MARKS: Final = {
    "passed": ("✓", "green"),
    "not_implemented": ("·", "yellow"),
    "timeout": ("⏱", "red"),
    "crashed": ("✗", "red"),
}


def render_week(console: Console, result: WeekResult, *, verbose: bool = False) -> None:
    """The table of exercises, then each failing test with why and a hint, then the total."""
    console.print()
    console.print(
        Text.assemble(
            (f"{result.week_id}: {result.week_title}", "bold"),
            (f"   {shown(result.submission)}/{result.week_folder}", "dim"),
        )
    )
    console.print(exercise_table(result))
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


def exercise_table(result: WeekResult, name: Callable[[ExerciseResult], Text] | None = None) -> Table:
    """A week's score per exercise with the total as footer; ``name`` labels an exercise's row
    (default: its file, green once every test passes); ★ marks an optional one."""
    table = Table(box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False)
    table.add_column("exercise", footer="total")
    table.add_column("tests", justify="right", footer=f"{result.tests_passed}/{result.tests_total}")
    table.add_column(
        "points", justify="right", footer=f"{points(result.points_earned)}/{points(result.points_possible)}"
    )
    for exercise in result.exercises:
        label = (name or _file_label)(exercise)
        if exercise.optional:
            label.append("  ★ optional", style="dim")
        table.add_row(
            label,
            f"{exercise.tests_passed}/{exercise.tests_total}",
            f"{points(exercise.points_earned)}/{points(exercise.points_possible)}",
        )
    return table


def _file_label(exercise: ExerciseResult) -> Text:
    return Text(shown(exercise.file), style="green" if exercise.tests_passed == exercise.tests_total else "")


_GROUPED: Final = ("not_implemented", "import_error")  # one line per message, however many tests share it
_SPECIFICITY: Final = {  # lower leads: a named mistake before a bare value mismatch
    "mistake": 0,
    "type": 1,
    "shape": 1,
    "dtype": 1,
    "non-finite": 3,
    "value": 4,
}
_OWN_CODE_FAILED: Final = 2  # an exception, a time-out or a crash in the learner's code
_UNSAID: Final = 5  # a failure that does not say what it found (a plain assert of the test)


def _render_failures(console: Console, exercise: ExerciseResult, *, verbose: bool) -> None:
    failures = [o for o in exercise.outcomes if not o.passed]
    if not failures:
        return
    console.print(Text(shown(exercise.file), style="bold"))
    grouped: dict[tuple[str, str], list[TestOutcome]] = {}
    hints_shown: set[str] = set()
    for outcome in _most_specific_first(o for o in failures if o.status not in _GROUPED):
        _render_failure(console, outcome, hints_shown, verbose=verbose)
    for outcome in failures:
        if outcome.status in _GROUPED:
            grouped.setdefault((outcome.status, outcome.message), []).append(outcome)
    for (status, message), outcomes in grouped.items():
        mark, style = _MARKS.get(status, ("✗", "red"))
        total = points(sum(o.info.points for o in outcomes))
        tests = "1 test" if len(outcomes) == 1 else f"{len(outcomes)} tests"
        short = shown(message.replace(f"{exercise.file}:", "line "))  # the file is the heading above
        line = Text.assemble((f"{mark} ", style), short, (f": {tests}, {total} pt", "dim"))
        console.print(Padding(line, (0, 0, 0, 2), expand=False))


def _most_specific_first(outcomes: Iterable[TestOutcome]) -> list[TestOutcome]:
    """The failures of each learner function together (in the order the suite first meets them),
    each function's most specific diagnosis first; the suite's order otherwise."""
    keyed = []
    group_of: dict[str, int] = {}
    for index, outcome in enumerate(outcomes):
        group = group_of.setdefault(outcome.function or f"#{index}", index)
        keyed.append((group, _specificity(outcome), index, outcome))
    return [outcome for *_, outcome in sorted(keyed, key=lambda k: k[:3])]


def _specificity(outcome: TestOutcome) -> int:
    if outcome.status != "failed":
        return _OWN_CODE_FAILED
    return _SPECIFICITY.get(outcome.diagnosis, _UNSAID)


def _render_failure(console: Console, outcome: TestOutcome, hints_shown: set[str], *, verbose: bool) -> None:
    mark, style = _MARKS.get(outcome.status, ("✗", "red"))
    line = Text.assemble((f"{mark} ", style), outcome.info.name, (f" ({points(outcome.info.points)} pt)", "dim"), ": ")
    line.append(shown(outcome.message) or outcome.status)
    console.print(Padding(line, (0, 0, 0, 2), expand=False))
    hint = outcome.shown_hint
    if hint and hint not in hints_shown:  # the same hint under each failing test of a function is noise
        hints_shown.add(hint)
        console.print(
            Padding(Text.assemble("hint: ", (shown(hint), "italic"), style="cyan"), (0, 0, 0, 6), expand=False)
        )
    if verbose and outcome.detail:
        detail = shown(outcome.detail.rstrip(), multiline=True)
        console.print(Padding(Text(detail, style="dim"), (0, 0, 0, 6), expand=False))
    if verbose and outcome.output:
        console.print(Padding(Text("your code printed (the last lines):", style="dim"), (0, 0, 0, 6), expand=False))
        console.print(
            Padding(Text(shown(outcome.output.rstrip(), multiline=True), style="dim"), (0, 0, 0, 8), expand=False)
        )


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
    runs: dict[str, WeekHistory],
) -> None:
    """Every week with its title, exercises, points possible, the learner's best and last score,
    then the course total and a progress bar (best scores over the required points)."""
    table = Table(title=course.title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for name, justify in (
        ("week", "left"),
        ("title", "left"),
        ("exercises", "right"),
        ("points", "right"),
        ("best", "right"),
        ("last", "right"),
        ("due", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    earned = possible = 0.0
    for week in course.weeks:
        tests = suites.get(week.id, ())
        found = runs.get(week.id)
        possible += sum(t.points for t in tests if t.exercise not in week.optional)
        earned += min(found.best.points_earned, found.best.points_possible) if found else 0.0
        table.add_row(
            week.id,
            week.title,
            str(len({t.exercise for t in tests})),
            _points_possible(tests, week.optional),
            _score_cell(found.best if found else None, with_date=False),
            _score_cell(found.last if found else None, with_date=True),
            week.due.strftime("%Y-%m-%d %H:%M") if week.due else "",
        )
    console.print(table)
    console.print(_course_progress(earned, possible))
    console.print(
        Text(
            "grade WEEK grades your exercises/ folder for that week, e.g. grade week5; grade history WEEK lists its runs",
            style="dim",
        )
    )


def _score_cell(score: StoredScore | None, *, with_date: bool) -> Text:
    if score is None:
        return Text("—", style="dim")
    text = f"{points(score.points_earned)}/{points(score.points_possible)}"
    if with_date:
        text += f"  ({score.graded_at[:10]})"
    return Text(text, style="green" if score.complete else "")


PROGRESS_WIDTH: Final = 40


def _course_progress(earned: float, possible: float) -> Text:
    """``course  ████████░░░░  123/1500 points (8%)``: the sum of every week's best score."""
    share = earned / possible if possible else 0.0
    filled = round(PROGRESS_WIDTH * share)
    return Text.assemble(
        ("course  ", "bold"),
        ("█" * filled, "green"),
        ("░" * (PROGRESS_WIDTH - filled), "dim"),
        f"  {points(earned)}/{points(possible)} points ({share:.0%}) from each week's best run",
    )


def render_history(console: Console, week: Week, found: WeekHistory | None) -> None:
    """Every stored run of a week, oldest first, the best one marked."""
    if found is None:
        console.print(Text(f"{week.id} has no stored run yet: grade {week.id} grades your exercises/", style="yellow"))
        return
    table = Table(title=f"{week.id}: {week.title}", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for name, justify in (("graded at", "left"), ("points", "right"), ("tests", "right"), ("by", "left"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    best = found.best
    for run in found.runs:
        table.add_row(
            run.graded_at.replace("T", " "),
            Text(f"{points(run.points_earned)}/{points(run.points_possible)}", style="green" if run.complete else ""),
            f"{run.tests_passed}/{run.tests_total}",
            shown(run.source),
            Text("best", style="bold") if run is best else "",
        )
    console.print(table)
    console.print(
        Text(
            f"{len(found.runs)} run(s); best {points(best.points_earned)}/{points(best.points_possible)}, "
            f"last {points(found.last.points_earned)}/{points(found.last.points_possible)}",
            style="dim",
        )
    )


def _points_possible(tests: tuple[TestInfo, ...], optional: tuple[str, ...]) -> str:
    """A week's points, with those of its ★ exercises apart: ``64 + 8 ★``."""
    required = points(sum(t.points for t in tests if t.exercise not in optional))
    extra = sum(t.points for t in tests if t.exercise in optional)
    return f"{required} + {points(extra)} ★" if extra else required


def render_hint(console: Console, unfolded: UnfoldedHint) -> None:
    """One level of a test's hint, and whether a deeper one is left."""
    test = unfolded.test
    levels = len(test.hint_levels)
    console.print(Text.assemble((test.name.split("[")[0], "bold"), (f"  hint {unfolded.level} of {levels}", "dim")))
    console.print(Padding(Text(shown(unfolded.text), style="italic cyan"), (0, 0, 0, 2), expand=False))
    if unfolded.deepest:
        console.print(Text("this is its deepest hint; the test's message says what your result got wrong", style="dim"))
    else:
        target = test.name.split("[")[0]
        console.print(Text(f"ask again for the next level: grade hint {unfolded.week_id} {target}", style="dim"))
    if unfolded.also:
        console.print(Text(f"other tests it names: {', '.join(unfolded.also)}", style="dim"))


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
    if week.notes:
        console.print(Padding(Text(f"{len(week.notes)} note(s), not problems:", style="dim"), (0, 0, 0, 4)))
    for note in week.notes:
        console.print(Padding(Text(f"- {note}", style="dim"), (0, 0, 0, 4), expand=False))


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
