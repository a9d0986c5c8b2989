"""The class report as one self-contained HTML page: ``grade export html WEEK --out report.html``.

What an instructor wants at a glance, for a class of any size: the score histogram (an inline
SVG chart), each exercise's mean, the tests most learners fail with the message they most often
fail with (a parametrised test's cases grouped), and the learner table, sortable by any column
(a few lines of inline JavaScript).  No external resource: it opens from a mail attachment or a
file share.  Every piece of learner text goes through ``core.text.shown`` and ``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Final

from ..core.course import Course, Week, late_of
from ..core.text import points, shown
from .gradebook import Entry
from .statistics import ClassStatistics, statistics_of, zero_reason

WORST_TESTS: Final = 15

_STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.9rem}td,th{padding:.25rem .7rem;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right}th[data-sort]{cursor:pointer;user-select:none;background:#f4f4f4}
th[data-sort]:after{content:" \\2195";color:#999}.low{color:#b00}.mid{color:#a60}.ok{color:#070}
.dim{color:#666}.why{color:#b00}svg text{font-size:11px;fill:#333}
"""

# Sort the learner table by a clicked header: numbers by value, text by locale; again to reverse.
_SCRIPT: Final = """
document.querySelectorAll("th[data-sort]").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var numeric = th.dataset.sort === "number", up = th.dataset.dir !== "asc";
    table.querySelectorAll("th").forEach(function (o) { delete o.dataset.dir; });
    th.dataset.dir = up ? "asc" : "desc";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
      var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _h(text: str) -> str:
    return html.escape(shown(text), quote=True)


def class_report_html(course: Course, week: Week, entries: Sequence[Entry]) -> str:
    """The page for one week's current entries (the gradebook's, as every export reads them)."""
    stats = statistics_of(course, week, entries)
    due = f", due {week.due:%Y-%m-%d %H:%M}" if week.due else ""
    title = f"{_h(week.id)}: {_h(week.title)}"
    parts = [
        f"<h1>{title}{_h(due)} <span class='dim'>({_h(course.title)})</span></h1>",
        _headline(stats, len(entries)),
        "<h2>Final scores</h2>",
        histogram_svg(stats.histogram),
        _exercise_means(stats),
        _worst_tests(stats),
        _learner_table(course, week, entries),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}: class report</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def _headline(stats: ClassStatistics, learners: int) -> str:
    if not stats.graded:
        return f"<p class='why'>{learners} learner(s), no submission could be graded.</p>"
    possible = points(stats.points_possible)
    return (
        f"<p id='headline'><strong>{stats.graded} graded</strong> ({stats.rejected} rejected, {stats.late} late): "
        f"mean {stats.mean_final:.1f}/{possible}, median {stats.median_final:.1f}/{possible} after the late policy "
        f"<span class='dim'>(raw: mean {stats.mean_raw:.1f}, median {stats.median_raw:.1f})</span></p>"
    )


def histogram_svg(histogram: Sequence[int], *, width: int = 520, height: int = 180) -> str:
    """Learners per band of final score as an inline SVG bar chart, each bar labelled with its count."""
    bins = len(histogram) or 1
    top = max(histogram, default=0) or 1
    chart, base, slot = height - 40, height - 22, (width - 20) / bins
    bars = []
    for band, count in enumerate(histogram):
        x = 10 + band * slot
        bar = round(chart * count / top)
        low, high = band * 100 // bins, (band + 1) * 100 // bins
        bars.append(
            f'<g class="bar" data-count="{count}"><title>{low}–{high}%: {count} learner(s)</title>'
            f'<rect x="{x + 3:.1f}" y="{base - bar}" width="{slot - 6:.1f}" height="{bar}" fill="#4a7bd0"></rect>'
            f'<text x="{x + slot / 2:.1f}" y="{base - bar - 4}" text-anchor="middle">{count}</text>'
            f'<text x="{x + slot / 2:.1f}" y="{height - 6}" text-anchor="middle">{low}%</text></g>'
        )
    return (
        f'<svg id="histogram" role="img" aria-label="histogram of final scores" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#999"></line>' + "".join(bars) + "</svg>"
    )


def _exercise_means(stats: ClassStatistics) -> str:
    if not stats.exercise_means:
        return ""
    rows = "".join(
        f"<tr><td>{_h(name)}</td><td class='n'>{mean:.2f}</td><td class='n'>{points(possible)}</td>"
        f"<td class='n'>{(mean / possible if possible else 0):.0%}</td></tr>"
        for name, mean, possible in stats.exercise_means
    )
    return (
        "<h2>Exercises</h2><table id='exercises'><thead><tr><th>exercise</th><th class='n'>mean</th>"
        f"<th class='n'>possible</th><th class='n'>share</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _worst_tests(stats: ClassStatistics) -> str:
    failed = [rate for rate in stats.tests if rate.passed < rate.total][:WORST_TESTS]
    if not failed:
        return "<h2>Tests</h2><p class='ok'>Every graded submission passed every test.</p>" if stats.graded else ""
    rows = []
    for rate in failed:
        css = "low" if rate.rate < 0.5 else "mid" if rate.rate < 0.9 else "ok"
        cases = f" <span class='dim'>({rate.cases} cases)</span>" if rate.cases > 1 else ""
        rows.append(
            f"<tr><td class='n {css}'>{rate.rate:.0%} ({rate.passed}/{rate.total})</td><td>{_h(rate.exercise)}</td>"
            f"<td>{_h(rate.test)}{cases}</td><td>{_h(rate.message)}</td></tr>"
        )
    return (
        f"<h2>The {len(failed)} tests passed least</h2><table id='tests'><thead><tr><th class='n'>passed</th>"
        "<th>exercise</th><th>test</th><th>most common failure</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _learner_table(course: Course, week: Week, entries: Sequence[Entry]) -> str:
    rows = []
    for entry in entries:
        late = late_of(course, week, entry)
        result = entry.result
        if result is None:
            cells = [(entry.learner, entry.learner), ("-", -1), ("", ""), ("-", -1), ("", -1)]
            notes, css = entry.reason, "why"
        else:
            why = zero_reason(entry)
            cells = [
                (entry.learner, entry.learner),
                (f"{points(late.raw)}/{points(result.points_possible)}", late.raw),
                (late.note if late.late else "", late.days_late),
                (points(late.final), late.final),
                (f"{result.tests_passed}/{result.tests_total}", result.tests_passed),
            ]
            notes, css = "; ".join(n for n in (why, entry.reason) if n), "why" if why else "dim"
        tds = "".join(
            f"<td{' class=n' if i in (1, 3, 4) else ''} data-value='{_h(str(value))}'>{_h(text)}</td>"
            for i, (text, value) in enumerate(cells)
        )
        rows.append(f"<tr>{tds}<td class='{css}' data-value='{_h(notes)}'>{_h(notes)}</td></tr>")
    head = "".join(
        f"<th{' class=n' if kind == 'number' else ''} data-sort='{kind}'>{name}</th>"
        for name, kind in (
            ("learner", "text"),
            ("raw", "number"),
            ("late", "number"),
            ("final", "number"),
            ("tests", "number"),
            ("notes", "text"),
        )
    )
    return (
        f"<h2>Learners ({len(entries)})</h2><p class='dim'>Click a column to sort.</p>"
        f"<table id='learners'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
