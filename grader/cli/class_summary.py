"""The terminal summary of ``grade batch``: a class an instructor can read at 400 learners.

The learner table (whose notes say why a submission scored 0), the scores' statistics and
histogram, then the tests with the lowest pass rate first, a parametrised test's cases grouped
in one row with the commonest failure message (the 15 worst; ``--all`` for every test).  Learner
text goes through ``Text`` and ``shown``, as everywhere in the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.text import points, shown

if TYPE_CHECKING:
    from ..classroom.batch import BatchSummary
    from ..classroom.statistics import ClassStatistics

WORST_TESTS: Final = 15


def render_batch(console: Console, summary: BatchSummary, *, all_tests: bool = False) -> None:
    """The class's grades for the week, then the statistics and the tests most learners fail."""
    from ..classroom.statistics import class_statistics

    console.print(_learner_table(summary))
    for line in summary.ignored:
        console.print(Text(f"ignored {shown(line)}", style="yellow"))
    stats = class_statistics(summary)
    if stats.graded:
        _render_scores(console, stats)
        _render_tests(console, stats, all_tests=all_tests)
    else:
        console.print(Text("no submission could be graded", style="red"))
    ran = f"graded {summary.graded}, rejected {summary.rejected}, unchanged {summary.unchanged}"
    if summary.not_graded:
        ran += f", not graded {summary.not_graded} (infrastructure errors: run the batch again to grade them)"
    where = f" on {summary.engine}" if summary.engine else ""
    console.print(
        Text(
            f"{ran} in {summary.duration_s:.1f} s with {summary.workers} worker(s){where}; "
            f"stored in {summary.gradebook}",
            style="dim",
        )
    )


def _learner_table(summary: BatchSummary) -> Table:
    from ..classroom.statistics import zero_reason

    week = summary.week
    due = f", due {week.due:%Y-%m-%d %H:%M}" if week.due else ""
    table = Table(title=f"{week.id}: {week.title}{due}", box=box.SIMPLE_HEAD, title_justify="left")
    for column, justify in (("learner", "left"), ("raw", "right"), ("late", "left"), ("final", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("tests", justify="right")
    table.add_column("notes", overflow="fold")
    for entry in summary.entries:
        late = summary.assessment(entry)
        if entry.result is None:
            table.add_row(Text(shown(entry.learner)), "-", "", "-", "", Text(shown(entry.reason), style="red"))
            continue
        result = entry.result
        why_zero = zero_reason(entry)
        notes = "; ".join(note for note in (why_zero, entry.reason) if note)
        table.add_row(
            Text(shown(entry.learner)),
            f"{points(late.raw)}/{points(result.points_possible)}",
            Text(late.note if late.late else "", style="yellow"),
            f"{points(late.final)}",
            f"{result.tests_passed}/{result.tests_total}",
            Text(shown(notes), style="red" if why_zero else "dim"),
        )
    return table


def _render_scores(console: Console, stats: ClassStatistics) -> None:
    possible = points(stats.points_possible)
    console.print(
        Text(
            f"{stats.graded} graded ({stats.rejected} rejected, {stats.late} late): "
            f"mean {stats.mean_final:.1f}/{possible}, median {stats.median_final:.1f}/{possible} after the late policy "
            f"(raw: mean {stats.mean_raw:.1f}, median {stats.median_raw:.1f})",
            style="bold",
        )
    )
    widest = max(stats.histogram) or 1
    for band, count in enumerate(stats.histogram):
        low, high = band * 100 // len(stats.histogram), (band + 1) * 100 // len(stats.histogram)
        label = f"{low:3d}–{high}%" if high < 100 else f"{low:3d}–100%"
        console.print(Text(f"  {label:>9} {'█' * round(24 * count / widest):<24} {count}"))


def _render_tests(console: Console, stats: ClassStatistics, *, all_tests: bool) -> None:
    failed_by_some = [rate for rate in stats.tests if rate.passed < rate.total]
    shown_rates = failed_by_some if all_tests else failed_by_some[:WORST_TESTS]
    if shown_rates:
        title = "pass rate per test (lowest first)" if all_tests else f"the {len(shown_rates)} tests passed least"
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("passed", justify="right")
        table.add_column("exercise")
        table.add_column("test", overflow="fold")
        table.add_column("most common failure", overflow="fold")
        for rate in shown_rates:
            style = "red" if rate.rate < 0.5 else "yellow" if rate.rate < 0.9 else "green"
            cases = f" ({rate.cases} cases)" if rate.cases > 1 else ""
            table.add_row(
                Text(f"{rate.rate:4.0%} ({rate.passed}/{rate.total})", style=style),
                Text(shown(rate.exercise)),
                Text(shown(rate.test) + cases),
                Text(shown(rate.message), style="dim"),
            )
        console.print(table)
    hidden = len(failed_by_some) - len(shown_rates)
    if hidden:
        console.print(Text(f"{hidden} more test(s) failed by some learners: --all shows every test", style="dim"))
    passed_by_all = len(stats.tests) - len(failed_by_some)
    if passed_by_all:
        console.print(Text(f"{passed_by_all} test(s) passed by every graded submission", style="green"))
