"""Issue #21: feedback for every learner, and a class report an instructor can read at 400
learners (the terminal summary of grade batch and `grade export html`)."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from grader.classroom.batch import BatchSummary
from grader.classroom.feedback import file_stem, learner_feedback, to_html, to_markdown, write_feedback
from grader.classroom.gradebook import Entry
from grader.classroom.html_report import class_report_html
from grader.classroom.statistics import statistics_of, zero_reason
from grader.cli import class_summary, report
from grader.core.course import Course, load_course
from grader.core.results import ExerciseResult, Status, TestInfo, TestOutcome, WeekResult

from .conftest import MakeCourse

UTC = dt.timezone.utc
FILE = "exercises/week01_basics/basics.py"
CASES = ("a", "b", "c", "d", "e")


def outcome(name: str, status: Status = "passed", message: str = "", *, points: float = 1, hint: str = "") -> TestOutcome:
    info = TestInfo(f"tests/week01_basics/test_basics.py::{name}", name, "basics", points, hint)
    return TestOutcome(info, status, message, detail="SECRET traceback of the hidden suite")


def result(*outcomes: TestOutcome) -> WeekResult:
    return WeekResult("Tiny", "week1", "Basics", "week01_basics", "subs/x", (ExerciseResult("basics", FILE, outcomes),))


def entry(learner: str, graded: WeekResult | None, *, reason: str = "", late_hours: float = 0) -> Entry:
    due = dt.datetime(2026, 11, 1, 12, tzinfo=UTC)
    return Entry(
        "week1", learner, f"{learner}/", "0" * 64, "1" * 64, due + dt.timedelta(hours=late_hours),
        dt.datetime(2026, 11, 25, tzinfo=UTC), "graded" if graded else "rejected", reason, graded,
    )  # fmt: skip


def gradient_cases(passing: int) -> list[TestOutcome]:
    return [
        outcome(f"test_gradients[{c}]", "passed" if i < passing else "failed", "max abs error 0.5 at index [0]")
        for i, c in enumerate(CASES)
    ]


@pytest.fixture
def course(make_course: MakeCourse) -> Course:
    toml = (
        '[course]\ntitle = "Tiny"\n\n[grading]\ntimeout = 5\n\n[grading.late]\nper_day = 10\n\n'
        '[[weeks]]\nid = "week1"\nfolder = "week01_basics"\ntitle = "Basics"\ndue = 2026-11-01T12:00:00Z\n'
    )
    return load_course(make_course(course_toml=toml))


SYNTAX = f"{FILE}:7: SyntaxError: invalid syntax; the file cannot be imported, so none of its functions can be graded"
NO_MODULE = (
    f"{FILE}:1: ModuleNotFoundError: No module named 'seaborn' while importing {FILE}; none of its functions can be graded"
)


def a_class() -> list[Entry]:
    return [
        entry("ada", result(outcome("test_double", hint="multiply every entry"), *gradient_cases(5))),
        entry(
            "ben",
            result(outcome("test_double", "failed", "expected 2x, got 3x", hint="multiply every entry"), *gradient_cases(2)),
            late_hours=30,
        ),
        entry("cy", result(*(outcome(n, "import_error", SYNTAX) for n in ("test_double", *map("test_gradients[{}]".format, CASES))))),
        entry("dot", result(*(outcome(n, "not_implemented", f"double() is not implemented yet ({FILE}:2)") for n in ("test_double", "test_x")))),
        entry("eve", result(outcome("test_double", "import_error", NO_MODULE))),
        entry("fay", None, reason="fay.zip: not a zip file"),
    ]  # fmt: skip


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_says_everything_grade_week_shows_and_no_traceback_of_the_hidden_suite(course: Course) -> None:
    ben = a_class()[1]
    assert ben.result is not None
    terminal = io.StringIO()
    report.render_week(Console(file=terminal, width=300, color_system=None), ben.result)
    markdown = to_markdown(learner_feedback(course, course.weeks[0], ben))
    plain = markdown.replace("\\", "")
    header, duration = f"{ben.result.submission}/{ben.result.week_folder}", f"{ben.result.duration_s:.1f}"
    shown_by_grade = terminal.getvalue().replace(header, "").replace(f", {duration} s)", ")").split()
    missing = [word for word in shown_by_grade if word not in plain and set(word) - set("─")]
    assert missing == []
    assert "expected 2x, got 3x" in plain and "hint: *multiply every entry*" in markdown
    assert "2 days late (-20%)" in plain and "final score: 1.6/6" in plain  # 2 of 6 points, -20%
    assert "SECRET" not in markdown and "test_basics.py" not in markdown


def test_feedback_of_a_rejected_submission_says_why(course: Course) -> None:
    text = to_markdown(learner_feedback(course, course.weeks[0], a_class()[-1]))
    assert "could not be graded" in text and "fay.zip: not a zip file" in text


HOSTILE = ["../../etc/passwd", "a/b", "a?b", "con", ".hidden", "x\x1b[31m\nrow", "Ada", "ada", "", "é" * 200]


def test_file_names_from_hostile_ids_stay_inside_the_folder_and_never_collide(course: Course, tmp_path: Path) -> None:
    out = tmp_path / "feedback"
    entries = [entry(learner, result(outcome("test_double"))) for learner in HOSTILE]
    written = write_feedback(course, course.weeks[0], entries, out)
    stems = [stem for _, stem in written.files]
    assert len({s.lower() for s in stems}) == len(HOSTILE)
    for stem in stems:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", stem), stem
        assert ".." not in stem and stem.split(".")[0].lower() != "con"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{s}.md" for s in stems), *(f"{s}.html" for s in stems), "index.tsv"]
    )
    assert not (tmp_path / "etc").exists()
    assert file_stem("ada", set()) == "ada"  # a plain id is kept as it is


def test_feedback_html_escapes_what_the_learner_chose(course: Course) -> None:
    evil = entry("<script>alert(1)</script>", result(outcome("test_double", "failed", "<img src=x onerror=alert(2)>")))
    page = to_html(learner_feedback(course, course.weeks[0], evil))
    assert "<script" not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "http" not in page.replace("http://www.w3.org", "")  # nothing to fetch: it can be mailed as it is


def test_feedback_markdown_shows_learner_text_literally(course: Course) -> None:
    evil = entry("eve\n# forged", result(outcome("test_double", "failed", "[click](http://evil) <b>*x*</b>")))
    text = to_markdown(learner_feedback(course, course.weeks[0], evil))
    assert "Learner: eve\\\\n\\# forged" in text  # the newline shown as \\n (its backslash escaped): no heading
    assert "\\[click\\](http://evil) \\<b\\>\\*x\\*\\</b\\>" in text  # no link, no tag, no emphasis


# -- the terminal summary -----------------------------------------------------------------------------


def summary_text(course: Course, entries: list[Entry], *, all_tests: bool = False) -> str:
    summary = BatchSummary(course, course.weeks[0], Path("grades.db"), 5, 0, 1, (), tuple(entries), 1.0, 2)
    out = io.StringIO()
    class_summary.render_batch(Console(file=out, width=250, color_system=None), summary, all_tests=all_tests)
    return out.getvalue()


def test_parametrised_cases_are_one_row_with_their_pass_rate_over_cases(course: Course) -> None:
    text = summary_text(course, a_class())
    (row,) = [line for line in text.splitlines() if "test_gradients" in line]
    assert "(5 cases)" in row and "47% (7/15)" in row  # ada 5, ben 2, cy 0 of 5 cases each
    assert "SyntaxError: invalid syntax" in row  # cy's 5 failures outnumber ben's 3
    assert "test_gradients[" not in text


def test_the_notes_say_why_a_submission_scored_zero(course: Course) -> None:
    by_learner = {e.learner: zero_reason(e) for e in a_class()}
    assert by_learner["ada"] == by_learner["ben"] == ""
    assert by_learner["cy"] == f"syntax error at {FILE}:7 (invalid syntax)"
    assert by_learner["dot"].startswith("untouched stubs")
    assert by_learner["eve"] == "imports seaborn, which is not installed"
    text = summary_text(course, a_class())
    assert f"syntax error at {FILE}:7" in text and "imports seaborn, which is not installed" in text


def test_only_the_15_tests_passed_least_are_listed_unless_all_is_asked(course: Course) -> None:
    many = [outcome(f"test_{i:02d}", "failed" if i < 20 else "passed", f"wrong {i}") for i in range(25)]
    entries = [entry("ada", result(*many)), entry("ben", result(*many[:19], *(outcome(o.info.name) for o in many[19:])))]
    short, full = summary_text(course, entries), summary_text(course, entries, all_tests=True)
    assert sum("wrong " in line for line in short.splitlines()) == 15
    assert "5 more test(s) failed by some learners: --all shows every test" in short
    assert sum("wrong " in line for line in full.splitlines()) == 20


# -- the HTML class report ----------------------------------------------------------------------------


def test_the_html_report_has_the_chart_the_means_the_worst_tests_and_every_learner(course: Course) -> None:
    page = class_report_html(course, course.weeks[0], a_class())
    stats = statistics_of(course, course.weeks[0], a_class())
    assert page.count('<g class="bar"') == len(stats.histogram) == 10
    assert [int(n) for n in re.findall(r'data-count="(\d+)"', page)] == list(stats.histogram)
    assert sum(stats.histogram) == 5  # every graded learner is in one bar
    assert "<td>basics</td><td class='n'>1.60</td>" in page  # (6 + 2 + 0 + 0 + 0) / 5
    assert "47% (7/15)" in page and "SyntaxError: invalid syntax" in page
    assert page.count("<tr><td data-value=") == 6
    assert "src=" not in page and "href=" not in page  # self-contained


def test_the_html_report_escapes_learner_text(course: Course) -> None:
    evil = entry("<b onmouseover=alert(1)>x</b>", result(outcome("test_double", "failed", "</script><script>alert(2)")))
    page = class_report_html(course, course.weeks[0], [evil])
    assert "<b onmouseover" not in page and "</script><script>alert(2)" not in page
    assert page.count("<script>") == 1


def test_grade_export_feedback_writes_every_learner_from_the_gradebook(course: Course, tmp_path: Path) -> None:
    from grader.classroom.gradebook import Gradebook
    from grader.cli import run as grade_cli

    book = tmp_path / "grades.db"
    with Gradebook.open(book, create=True) as gradebook:
        for graded in a_class():
            gradebook.record(graded)
    out, console = tmp_path / "feedback", io.StringIO()
    args = ["export", "feedback", "week1", "--course", str(course.root), "--gradebook", str(book), "--out", str(out)]
    assert grade_cli(args, console=Console(file=console, width=200)) == 0
    assert "wrote feedback for 6 learner(s)" in console.getvalue()
    assert sorted(p.name for p in out.glob("*.md")) == [f"{n}.md" for n in ("ada", "ben", "cy", "dot", "eve", "fay")]
    assert "2 days late (-20%); final score: 1.6/6" in (out / "ben.md").read_text()
    errors = io.StringIO()
    no_out = ["export", "feedback", "week1", "--course", str(course.root), "--gradebook", str(book)]
    assert grade_cli(no_out, err_console=Console(file=errors, width=200)) == 2
    assert "needs --out" in errors.getvalue()
