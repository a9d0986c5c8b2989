"""The ``grade`` command: argument parsing, one library call, rendering and an exit code.

    grade                      every week, its points, your best and last score (same as grade list)
    grade WEEK [options]       grade your exercises/ for a week: week5, 5, week05, probability
    grade watch [WEEK]         grade again on every save; the score, the total and the next thing to fix
    grade history WEEK         every stored run of a week: its score and time, the best marked
    grade hint WEEK NAME       the next level of the hint of a test (or of your function's tests)

Instructors:
    grade build [WEEK]         regenerate exercises/ from solutions/ (nbgrader's ClearSolutions)
    grade check [WEEK]         validate the course: reference 100%, stubs 0, mutants caught, …
    grade new week15 --title T create a week (or grade new week15/exercise: add an exercise)
    grade release --out DIR    write a student release (public tests only, no solutions)
    grade batch WEEK SUBS      grade every learner's submission into the gradebook (grades.db)
    grade export FORMAT [WEEK] the gradebook as csv, json or into nbgrader; a Gradescope autograder;
                               feedback pages per learner; the class report as one HTML page

Exit codes: 0 every test passed, 1 some test failed, 2 a usage or configuration error,
130 interrupted.  Errors are rendered here and nowhere else.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from rich.console import Console
from rich.text import Text

from ..core.errors import GraderError, UsageError
from ..core.platforms import check_platform, platform_note
from ..core.results import week_to_json
from ..core.text import points, shown
from ..core.version import __version__
from . import report
from .progress import BatchProgress, LiveProgress

if TYPE_CHECKING:
    from ..classroom.gradebook import Entry
    from ..core.course import Course, Week
    from ..core.results import WeekResult
    from ..learner.watch import WatchUpdate

COMMANDS: Final = ("list", "history", "hint", "build", "check", "new", "release", "batch", "export")
EXPORT_FORMATS: Final = ("csv", "json", "nbgrader", "gradescope", "feedback", "html")
WEEK_EXPORTS: Final = ("csv", "gradescope", "feedback", "html")
EXIT_PASSED: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


def _week_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade your exercises for one week of the course against its hidden tests.",
        epilog="Other commands: 'grade list' (or plain 'grade') shows every week with your last score.",
    )
    parser.add_argument("week", help="the week: week5, 5, week05 or its topic (probability)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--solutions", action="store_true", help="grade the reference solutions instead of exercises/")
    what.add_argument(
        "--path",
        type=Path,
        metavar="PATH",
        help="grade a folder laid out like exercises/, a notebook (work.ipynb) or a folder of notebooks",
    )
    parser.add_argument("--exercise", metavar="NAME", help="grade one exercise of the week, e.g. information")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (schema in README.md)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks of your code for failures")
    parser.add_argument(
        "--plot",
        action="store_true",
        help="draw each failed comparison of a function of one variable to .grade/plots/ (needs the plot extra)",
    )
    _common(parser)
    return parser


def _instructor_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"grade {command}", description=_DESCRIPTIONS[command])
    if command in ("build", "check"):
        parser.add_argument("week", nargs="?", help="one week (default: every week)")
    if command == "hint":
        parser.add_argument("week", help="the week: week5, 5, week05 or its topic (probability)")
        parser.add_argument("target", metavar="TEST_OR_FUNCTION", help="a test's name, or your function's (entropy)")
    if command == "new":
        parser.add_argument(
            "what", metavar="WEEK[/EXERCISE]", help="week15 to add a week, week15/name to add an exercise"
        )
        parser.add_argument("--title", help="the new week's title (required for a new week)")
        parser.add_argument("--after", metavar="WEEK", help="insert the week after this one (default: last)")
        parser.add_argument(
            "--folder",
            metavar="NAME",
            help="the new week's folder, week15_diffusion or just diffusion (default: from the title)",
        )
    if command == "batch":
        parser.add_argument("week", help="the week: week5, 5, week05 or its topic (probability)")
        parser.add_argument(
            "submissions",
            type=Path,
            help="a folder of per-learner folders, .zip files or notebooks (with --nbgrader-exchange: nbgrader's "
            "course folder, the one holding submitted/)",
        )
        parser.add_argument(
            "--nbgrader-exchange",
            action="store_true",
            help="read SUBMISSIONS/submitted/<learner>/<assignment>/ as nbgrader lays it out, with its timestamp.txt",
        )
        parser.add_argument(
            "--gradebook", type=Path, metavar="FILE", help="the SQLite gradebook (default: grades.db in the course)"
        )
        parser.add_argument(
            "--workers", type=int, metavar="N", help="submissions graded at once (default: the number of cores)"
        )
        parser.add_argument(
            "--regrade", action="store_true", help="grade again even what is unchanged since the last batch"
        )
        parser.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="grade on a Dask cluster: tcp://HOST:8786, or local:N for N local Dask workers (docs/cluster.md)",
        )
        parser.add_argument(
            "--all", action="store_true", help="list every test in the summary (default: the 15 passed least)"
        )
    if command == "export":
        parser.add_argument(
            "format",
            choices=EXPORT_FORMATS,
            help="csv, json, nbgrader, gradescope; feedback (a folder of per-learner pages), html (the class report)",
        )
        parser.add_argument(
            "week", nargs="?", help="the week (required but for json and nbgrader; default: every week)"
        )
        parser.add_argument(
            "--gradebook", type=Path, metavar="FILE", help="the SQLite gradebook (default: grades.db in the course)"
        )
        parser.add_argument(
            "--out",
            type=Path,
            metavar="PATH",
            help="where to write (csv, json: default standard output; gradescope: default here; "
            "feedback: a folder; html: a file)",
        )
        parser.add_argument("--db", type=Path, metavar="PATH", help="nbgrader: its gradebook.db to write into")
    if command == "release":
        parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="an empty or new folder to write")
        parser.add_argument("--with-hidden", action="store_true", help="include the hidden suites (self-study)")
    _common(parser)
    return parser


_DESCRIPTIONS: Final = {
    "hint": "Show the next level of a test's hint: each ask goes one level deeper, and is remembered.",
    "build": "Regenerate exercises/ from solutions/: each solution region becomes the stub line.",
    "check": "Validate the course and exit 1 with every problem found.",
    "new": "Create a week, or add an exercise to a week, with a small working example.",
    "release": "Write a repository a learner can use on their own: stubs, grader, public tests.",
    "batch": "Grade every submission of a class for one week and store each grade in the gradebook as it is done.",
    "export": "Write the gradebook where grades live: csv, json, nbgrader's gradebook; or build a Gradescope autograder.",
}


def _list_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grade list", description="Show every week, its points and your last score.")
    parser.add_argument("-v", "--verbose", action="store_true", help="also say how your code is confined here")
    _common(parser)
    return parser


def _watch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade watch",
        description="Grade a week again each time you save one of its exercise files; Ctrl-C to stop.",
    )
    parser.add_argument("week", nargs="?", help="the week (default: the first week that is not complete)")
    _common(parser)
    return parser


def _history_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade history", description="Show every stored run of a week, its score and time."
    )
    parser.add_argument("week", help="the week: week5, 5, week05 or its topic (probability)")
    _common(parser)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, metavar="DIR", help="the course folder (default: found from here)")
    parser.add_argument("--version", action="version", version=f"grade {__version__}")


def main(argv: list[str] | None = None) -> None:
    raise SystemExit(run(sys.argv[1:] if argv is None else argv))


def run(argv: list[str], *, console: Console | None = None, err_console: Console | None = None) -> int:
    """Run the command line ``argv``; returns the exit code."""
    console = console or Console()
    err_console = err_console or Console(stderr=True)
    try:
        check_platform()
        if not argv or argv[0] == "list":
            return _list(_list_parser().parse_args(argv[1:]), console)
        if argv[0] in ("-v", "--verbose"):  # grade -v: the course and how your code is confined here
            return _list(_list_parser().parse_args(argv[1:] + ["--verbose"]), console)
        if argv[0] == "watch":
            return _watch(_watch_parser().parse_args(argv[1:]), console)
        if argv[0] == "history":
            return _history(_history_parser().parse_args(argv[1:]), console)
        if argv[0] in COMMANDS:
            args = _instructor_parser(argv[0]).parse_args(argv[1:])
            return _INSTRUCTOR_COMMANDS[argv[0]](args, console)
        if argv[0] in ("-h", "--help", "--version"):
            _week_parser().parse_args(argv)
        return _week(_week_parser().parse_args(argv), console)
    except GraderError as exc:
        err_console.print(f"[bold red]error:[/] {_escape(shown(exc.message, multiline=True))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        err_console.print(Text(str(exc) or "interrupted; nothing was graded or stored", style="yellow"))
        return EXIT_INTERRUPTED


def _list(args: argparse.Namespace, console: Console) -> int:
    from ..learner.grading import open_course, overview

    course = open_course(args.course)
    with console.status("reading the test suites…"):
        found = overview(course=course)
    report.render_course(console, found.course, found.suites, found.history)
    if args.verbose:
        console.print(Text(platform_note(), style="dim"))
    return EXIT_PASSED


def _watch(args: argparse.Namespace, console: Console) -> int:
    from ..learner.grading import open_course
    from ..learner.watch import watch
    from . import watch_view

    course = open_course(args.course)
    week = course.resolve(args.week) if args.week else None
    last = None

    def updated(update: WatchUpdate) -> None:
        nonlocal last
        last = update
        watch_view.render_update(console, update)

    try:
        watch(
            course,
            week,
            on_update=updated,
            on_grading=lambda week, names: watch_view.render_grading(console, week, names),
        )
    except KeyboardInterrupt:
        pass
    stored = last.stored if last is not None else None
    saved = (
        f"; the last score, {points(stored.points_earned)}/{points(stored.points_possible)}, is saved" if stored else ""
    )
    console.print(Text(f"stopped watching{saved}", style="dim"))
    return EXIT_PASSED


def _history(args: argparse.Namespace, console: Console) -> int:
    from ..learner.grading import open_course, week_history

    week, found = week_history(course=open_course(args.course), week=args.week)
    report.render_history(console, week, found)
    return EXIT_PASSED


def _week(args: argparse.Namespace, console: Console) -> int:
    from ..learner.grading import grade, open_course, plan

    course = open_course(args.course)
    if args.plot:
        from ..learner.plots import require_matplotlib

        require_matplotlib()
    request = plan(course=course, week=args.week, path=args.path, solutions=args.solutions, exercise=args.exercise)
    if args.json:
        result = grade(request)
        console.file.write(json.dumps(week_to_json(result), indent=2) + "\n")
    else:
        with LiveProgress(console, f"grading {request.week.id}") as live:
            result = grade(request, listener=live)
        report.render_week(console, result, verbose=args.verbose)
        if args.verbose:
            console.print(Text(platform_note(), style="dim"))
    if args.plot:
        _plots(console, course.root, result, quiet=args.json)
    return EXIT_PASSED if result.all_passed else EXIT_FAILED


def _plots(console: Console, root: Path, result: WeekResult, *, quiet: bool) -> None:
    from ..learner.plots import PLOTS_DIR, write_plots

    written = write_plots(result, root / PLOTS_DIR)
    if quiet:  # --json: standard output is the JSON document alone
        return
    if not written:
        console.print(Text("no failed comparison of a function of one variable to plot", style="dim"))
    for path in written:
        console.print(Text(f"plot: {path}", style="cyan"), highlight=False)


def _hint(args: argparse.Namespace, console: Console) -> int:
    from ..learner.grading import open_course
    from ..learner.hints import next_hint

    report.render_hint(console, next_hint(course=open_course(args.course), week=args.week, target=args.target))
    return EXIT_PASSED


def _build(args: argparse.Namespace, console: Console) -> int:
    from ..authoring.build import build_week
    from ..learner.grading import open_course

    course = open_course(args.course)
    weeks = (course.resolve(args.week),) if args.week else course.weeks
    for week in weeks:
        for built in build_week(course, week):
            report.render_built(console, course.root, built)
    return EXIT_PASSED


def _check(args: argparse.Namespace, console: Console) -> int:
    from ..authoring.check import check_course
    from ..learner.grading import open_course

    course = open_course(args.course)
    weeks = (course.resolve(args.week),) if args.week else None
    with console.status("checking the course…") as status:
        result = check_course(
            course,
            weeks=weeks,
            progress=lambda text: status.update(text),
            week_done=lambda week: report.render_week_check(console, week),
        )
    report.render_check(console, result)
    return EXIT_PASSED if result.ok else EXIT_FAILED


def _new(args: argparse.Namespace, console: Console) -> int:
    from ..authoring.scaffold import new_exercise, new_week
    from ..learner.grading import open_course

    course = open_course(args.course)
    if "/" in args.what:
        week, exercise = args.what.split("/", 1)
        created = new_exercise(course, week=week, name=exercise)
    else:
        created = new_week(course, week_id=args.what, title=args.title, after=args.after, folder=args.folder)
    for path in created:
        console.print(Text(f"created {path.relative_to(course.root)}", style="green"))
    return EXIT_PASSED


def _release(args: argparse.Namespace, console: Console) -> int:
    from ..authoring.release import write_release
    from ..learner.grading import open_course

    course = open_course(args.course)
    with console.status("writing the release…"):
        summary = write_release(course, out=args.out, with_hidden=args.with_hidden)
    report.render_release(console, summary)
    return EXIT_PASSED


def _batch(args: argparse.Namespace, console: Console) -> int:
    from ..classroom.batch import BatchRequest, default_gradebook, default_workers, grade_batch
    from ..learner.grading import open_course
    from . import class_summary

    course = open_course(args.course)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: give at least 1")
    request = BatchRequest(
        course=course,
        week=course.resolve(args.week),
        submissions=args.submissions.expanduser(),
        gradebook=(args.gradebook or default_gradebook(course)).expanduser().resolve(),
        workers=args.workers or default_workers(),
        regrade=args.regrade,
        nbgrader_exchange=args.nbgrader_exchange,
        scheduler=args.scheduler,
    )
    try:
        with BatchProgress(console, f"grading {request.week.id}") as bar:
            summary = grade_batch(request, listener=bar)
    except KeyboardInterrupt:
        raise BatchInterrupted(request.gradebook) from None
    class_summary.render_batch(console, summary, all_tests=args.all)
    return EXIT_FAILED if summary.rejected or summary.not_graded else EXIT_PASSED


def _export(args: argparse.Namespace, console: Console) -> int:
    from ..classroom.batch import default_gradebook
    from ..learner.grading import open_course

    course = open_course(args.course)
    week = course.resolve(args.week) if args.week else None
    if args.format in WEEK_EXPORTS and week is None:
        raise UsageError(f"grade export {args.format} needs a week, e.g. grade export {args.format} week5")
    if args.format == "gradescope":
        from ..classroom.gradescope import build_gradescope_autograder

        assert week is not None
        written = build_gradescope_autograder(course, week, (args.out or Path.cwd()).expanduser())
        console.print(Text(f"wrote {written}: upload it as the autograder of {week.id} on Gradescope", style="green"))
        return EXIT_PASSED
    from ..classroom import export
    from ..classroom.gradebook import Gradebook

    with Gradebook.open((args.gradebook or default_gradebook(course)).expanduser(), create=False) as book:
        weeks = [week.id] if week else book.weeks()
        entries = {week_id: book.current(week_id) for week_id in weeks}
    if args.format in ("feedback", "html"):
        assert week is not None
        return _export_pages(args, console, course, week, entries[week.id])
    if args.format == "nbgrader":
        if args.db is None:
            raise UsageError("grade export nbgrader needs --db PATH, the nbgrader gradebook.db to write into")
        url = f"sqlite:///{args.db.expanduser().resolve()}"
        for week_id, found in entries.items():
            summary = export.to_nbgrader(course, course.resolve(week_id), found, url)
            console.print(
                Text(
                    f"{week_id}: {len(summary.graded)} graded and {len(summary.rejected)} rejected learners in {args.db}"
                )
            )
        return EXIT_PASSED
    if args.format == "csv":
        assert week is not None
        text = io.StringIO(newline="")
        export.to_csv(course, week, entries[week.id], text)
        _write(console, args.out, text.getvalue())
    else:
        _write(console, args.out, json.dumps(export.to_json(course, entries), indent=2) + "\n")
    return EXIT_PASSED


def _export_pages(args: argparse.Namespace, console: Console, course: Course, week: Week, entries: list[Entry]) -> int:
    if args.out is None:
        what = "a folder, e.g. --out feedback/" if args.format == "feedback" else "a file, e.g. --out report.html"
        raise UsageError(f"grade export {args.format} needs --out: {what}")
    out = args.out.expanduser()
    if args.format == "feedback":
        from ..classroom.feedback import write_feedback

        written = write_feedback(course, week, entries, out)
        console.print(
            Text(f"wrote feedback for {len(written.files)} learner(s) to {out} (index.tsv lists them)", style="green"),
            highlight=False,
        )
        return EXIT_PASSED
    from ..classroom.html_report import class_report_html

    _write(console, out, class_report_html(course, week, entries))
    return EXIT_PASSED


def _write(console: Console, out: Path | None, text: str) -> None:
    if out is None:
        console.file.write(text)
        return
    from ..classroom.export import write_export

    write_export(out.expanduser(), text)
    console.print(Text(f"wrote {out}", style="green"), highlight=False)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch: every grade finished before it is in the gradebook."""

    def __init__(self, gradebook: Path) -> None:
        super().__init__(
            f"interrupted; every grade finished so far is stored in {gradebook}: run the same command to resume"
        )


_INSTRUCTOR_COMMANDS: Final = {
    "hint": _hint,
    "build": _build,
    "check": _check,
    "new": _new,
    "release": _release,
    "batch": _batch,
    "export": _export,
}


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
