"""Feedback for every learner: ``grade export feedback WEEK --out DIR``.

One Markdown file and one self-contained HTML page per learner, with what ``grade WEEK`` would
have shown that learner for the graded submission and nothing more of the hidden suite: the
points per exercise, each failing test's name, one-line message and hint (no traceback, no test
source, no test id), the notes on the run, the total and the late penalty.  An instructor can mail
or upload the files as they are.

It renders from the stored results (``gradebook.Entry``), in the classroom, beside the exports:
the terminal's ``grade WEEK`` (``cli/report.render_week``) draws the same content with rich, and
sharing one renderer across the two would mean moving the CLI's wording below it.  Both show the
same fields of the same ``WeekResult``; ``tests/framework/test_feedback.py`` checks that every line
of ``grade WEEK``'s output for a learner is in their feedback.

Learner ids are hostile: ``file_stem`` turns one into a file name that is safe on every system
(no separator, no ``..``, no control or reserved character, no device name, bounded length) and
unique within the export, and every piece of text goes through ``core.text.shown`` and, in HTML,
``html.escape``.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..core.course import Course, Week, late_of
from ..core.errors import ExportError
from ..core.late import LateAssessment
from ..core.results import ExerciseResult, TestOutcome, WeekResult
from ..core.text import points, shown
from .gradebook import Entry

_MARKS: Final = {"passed": "✓", "not_implemented": "·", "timeout": "⏱"}
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
_WINDOWS_DEVICES: Final = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)
MAX_STEM: Final = 80


@dataclass(frozen=True)
class FailureLine:
    """One line of a learner's feedback under an exercise: what failed, why, and the hint."""

    mark: str
    text: str  # "test_double (2 pt): max abs error 0.31 …" or "not implemented yet (line 14): 2 tests, 3 pt"
    hint: str = ""


@dataclass(frozen=True)
class ExerciseFeedback:
    file: str
    optional: bool
    tests: str  # "3/5"
    points: str  # "4/7"
    failures: tuple[FailureLine, ...]


@dataclass(frozen=True)
class Feedback:
    """What one learner is told about one week, as plain strings ready to render."""

    learner: str
    week_id: str
    week_title: str
    rejected: str  # why nothing could be graded ("" when graded)
    exercises: tuple[ExerciseFeedback, ...]
    notes: tuple[str, ...]
    table_total: tuple[str, str]  # the table's footer: tests passed ("3/5"), points ("4/7")
    total: str  # "5/7 points (71%, 3 of 5 tests passed)"
    late: str  # "on time", "2 days late (-20%)"
    final: str  # "final score: 4/7"


def learner_feedback(course: Course, week: Week, entry: Entry) -> Feedback:
    """The feedback of the entry's learner, from the stored result and the current late policy."""
    late = late_of(course, week, entry)
    result = entry.result
    if result is None:
        return Feedback(
            entry.learner, week.id, week.title, entry.reason or "not graded", (), (), ("", ""), "", late.note, ""
        )
    return Feedback(
        learner=entry.learner,
        week_id=week.id,
        week_title=week.title,
        rejected="",
        exercises=tuple(_exercise(e) for e in result.exercises),
        notes=result.notes,
        table_total=(
            f"{result.tests_passed}/{result.tests_total}",
            f"{points(result.points_earned)}/{points(result.points_possible)}",
        ),
        total=_total(result),
        late=late.note,
        final=_final(result, late),
    )


def _exercise(exercise: ExerciseResult) -> ExerciseFeedback:
    return ExerciseFeedback(
        file=exercise.file,
        optional=exercise.optional,
        tests=f"{exercise.tests_passed}/{exercise.tests_total}",
        points=f"{points(exercise.points_earned)}/{points(exercise.points_possible)}",
        failures=tuple(failure_lines(exercise)),
    )


def failure_lines(exercise: ExerciseResult) -> Iterable[FailureLine]:
    """Each failing test with its message and hint, as ``grade WEEK`` lists them: tests still
    raising the stub's NotImplementedError are one line per stub message."""
    not_started: dict[str, list[TestOutcome]] = {}
    for outcome in exercise.outcomes:
        if outcome.passed:
            continue
        if outcome.status == "not_implemented":
            not_started.setdefault(outcome.message, []).append(outcome)
            continue
        info = outcome.info
        yield FailureLine(
            _MARKS.get(outcome.status, "✗"),
            f"{info.name} ({points(info.points)} pt): {outcome.message or outcome.status}",
            outcome.shown_hint,  # the named mistake's own hint, as grade WEEK shows it
        )
    for message, outcomes in not_started.items():
        tests = "1 test" if len(outcomes) == 1 else f"{len(outcomes)} tests"
        short = message.replace(f"({exercise.file}:", "(line ")
        yield FailureLine(
            _MARKS["not_implemented"], f"{short}: {tests}, {points(sum(o.info.points for o in outcomes))} pt"
        )


def _total(result: WeekResult) -> str:
    share = result.points_earned / result.points_possible if result.points_possible else 0.0
    text = f"{points(result.points_earned)}/{points(result.points_possible)} points"
    if result.optional_points_possible:
        text += f" + {points(result.optional_points_earned)}/{points(result.optional_points_possible)} optional ★"
    return text + f" ({share:.0%}, {result.tests_passed} of {result.tests_total} tests passed)"


def _final(result: WeekResult, late: LateAssessment) -> str:
    return f"final score: {points(round(late.final, 6))}/{points(result.points_possible)}"


# -- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>#|~])")  # brackets escaped: no link can form


def _md(text: str) -> str:
    """Learner text as literal Markdown: escaped, no control character, no HTML tag, one line."""
    return _MD_SPECIAL.sub(r"\\\1", shown(text))


def to_markdown(feedback: Feedback) -> str:
    lines = [f"# {_md(feedback.week_id)}: {_md(feedback.week_title)}", "", f"Learner: {_md(feedback.learner)}", ""]
    if feedback.rejected:
        lines += [f"**Your submission could not be graded:** {_md(feedback.rejected)}", ""]
        return "\n".join(lines)
    lines += ["| exercise | tests | points |", "| --- | ---: | ---: |"]
    for exercise in feedback.exercises:
        star = " ★ optional" if exercise.optional else ""
        lines.append(f"| {_md(exercise.file)}{star} | {exercise.tests} | {exercise.points} |")
    lines += [f"| **total** | {feedback.table_total[0]} | {feedback.table_total[1]} |", ""]
    for exercise in feedback.exercises:
        if not exercise.failures:
            continue
        lines += [f"## {_md(exercise.file)}", ""]
        for failure in exercise.failures:
            lines.append(f"- {failure.mark} {_md(failure.text)}")
            if failure.hint:
                lines.append(f"  - hint: *{_md(failure.hint)}*")
        lines.append("")
    lines += [f"note: {_md(note)}  " for note in feedback.notes]
    lines += [f"**{_md(feedback.total)}**", "", f"Late policy: {_md(feedback.late)}; {_md(feedback.final)}", ""]
    return "\n".join(lines)


# -- HTML ---------------------------------------------------------------------------------------

_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse}td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd}"
    "td.n,th.n{text-align:right}.fail{color:#b00}.nyi{color:#a70}.hint{color:#066;font-style:italic}"
    "ul{list-style:none;padding-left:1rem}.dim{color:#666}"
)


def _h(text: str) -> str:
    return html.escape(shown(text), quote=True)


def to_html(feedback: Feedback) -> str:
    """A page with no external resource (inline style, no script), to mail or upload as it is."""
    title = f"{_h(feedback.week_id)}: {_h(feedback.week_title)}"
    body = [f"<h1>{title}</h1>", f'<p class="dim">Learner: {_h(feedback.learner)}</p>']
    if feedback.rejected:
        body.append(
            f'<p class="fail"><strong>Your submission could not be graded:</strong> {_h(feedback.rejected)}</p>'
        )
    else:
        body.append("<table><tr><th>exercise</th><th>tests</th><th>points</th></tr>")
        for exercise in feedback.exercises:
            star = ' <span class="dim">★ optional</span>' if exercise.optional else ""
            body.append(
                f'<tr><td>{_h(exercise.file)}{star}</td><td class="n">{exercise.tests}</td>'
                f'<td class="n">{exercise.points}</td></tr>'
            )
        body.append(
            f'<tr><th>total</th><th class="n">{feedback.table_total[0]}</th>'
            f'<th class="n">{feedback.table_total[1]}</th></tr></table>'
        )
        for exercise in feedback.exercises:
            if exercise.failures:
                body.append(f"<h2>{_h(exercise.file)}</h2><ul>")
                for failure in exercise.failures:
                    css = "nyi" if failure.mark == _MARKS["not_implemented"] else "fail"
                    hint = f'<div class="hint">hint: {_h(failure.hint)}</div>' if failure.hint else ""
                    body.append(f'<li><span class="{css}">{failure.mark}</span> {_h(failure.text)}{hint}</li>')
                body.append("</ul>")
        body += [f'<p class="dim">note: {_h(note)}</p>' for note in feedback.notes]
        body.append(f"<p><strong>{_h(feedback.total)}</strong></p>")
        body.append(f"<p>Late policy: {_h(feedback.late)}; {_h(feedback.final)}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


# -- files --------------------------------------------------------------------------------------


def file_stem(learner: str, taken: set[str]) -> str:
    """A file name for a learner id that is safe anywhere and not yet in ``taken`` (lower-cased,
    since macOS and Windows fold case): ASCII letters, digits, ``.``, ``_`` and ``-`` only, no
    leading dot, no device name, at most ``MAX_STEM`` characters.  An id changed on the way gets a
    short hash of the original, so ``a/b`` and ``a?b`` do not collide; a remaining collision gets
    a counter."""
    ascii_id = unicodedata.normalize("NFKD", learner).encode("ascii", "ignore").decode()
    stem = _UNSAFE.sub("_", ascii_id).strip("._-")[:MAX_STEM] or "learner"
    if stem.lower().split(".")[0] in _WINDOWS_DEVICES:
        stem = f"learner_{stem}"
    if stem != learner:
        stem = f"{stem}-{hashlib.sha256(learner.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
    candidate, count = stem, 1
    while candidate.lower() in taken:
        count += 1
        candidate = f"{stem}-{count}"
    taken.add(candidate.lower())
    return candidate


@dataclass(frozen=True)
class FeedbackExport:
    """What ``write_feedback`` wrote: per learner, the two files' stem under ``out``."""

    out: Path
    files: tuple[tuple[str, str], ...]  # (learner, stem): stem.md and stem.html


def write_feedback(course: Course, week: Week, entries: Sequence[Entry], out: Path) -> FeedbackExport:
    """One ``.md`` and one ``.html`` per learner into the folder ``out`` (created if missing; its
    parent must exist), plus ``index.tsv`` mapping each learner id to its files."""
    if not out.parent.is_dir():
        raise ExportError(f"--out {out}: the folder {out.parent} does not exist; create it, or give another --out")
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file; give a folder for the feedback files")
    taken: set[str] = {"index"}
    files = []
    try:
        out.mkdir(exist_ok=True)
        for entry in entries:
            stem = file_stem(entry.learner, taken)
            feedback = learner_feedback(course, week, entry)
            (out / f"{stem}.md").write_text(to_markdown(feedback), encoding="utf-8")
            (out / f"{stem}.html").write_text(to_html(feedback), encoding="utf-8")
            files.append((entry.learner, stem))
        index = "".join(f"{shown(learner)}\t{stem}.md\t{stem}.html\n" for learner, stem in files)
        (out / "index.tsv").write_text("learner\tmarkdown\thtml\n" + index, encoding="utf-8")
    except OSError as exc:
        raise ExportError(
            f"--out {out}: cannot write the feedback ({exc.strerror or exc}); give another --out"
        ) from None
    return FeedbackExport(out, tuple(files))
