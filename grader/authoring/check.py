"""``grade check``: everything an instructor must be able to trust about a course, checked at once.

For each week: the reference scores 100%; the untouched stubs import and score 0 with every
failure "not implemented yet"; ``exercises/`` is exactly what ``grade build`` would write; every
test has points and every exercise has tests; no test imports exercises/ or solutions/; no level
of a hint quotes a line of the solution; on the reference's run, every named mistake of an
``assert_close`` differs from the right answer and from the other named mistakes of that assertion
(else the first listed is named for a mistake the learner did not make); and every mutant (one classic mistake) loses points and fails the
test it names.  For the course: course.toml and the folders on disk agree.  Every problem is
collected and reported; nothing stops at the first.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import functools
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..core.course import Course, Week
from ..core.errors import GraderError
from ..core.results import WeekResult
from ..engine.runner import GradeRequest, grade_week, threads_per_child
from ..engine.warm import WarmWorker
from .build import expected_stubs, solution_regions
from .mutants import Mutant, apply_mutant, load_mutants
from .release import framework_leaks, leaks_in, secret_lines

_WEEK_FOLDER: Final = re.compile(r"^week\d+")
_MIN_HINT_LINE: Final = 12  # solution lines shorter than this (e.g. "return h") may appear in a hint


@dataclass(frozen=True)
class MutantResult:
    name: str
    caught: bool  # the mutant lost points and its named test failed (with its message, if given)
    problem: str = ""


@dataclass(frozen=True)
class WeekCheck:
    week_id: str
    problems: tuple[str, ...]
    mutants: tuple[MutantResult, ...]
    duration_s: float = 0.0
    notes: tuple[str, ...] = ()  # worth an author's look, not wrong: a named mistake a case cannot show

    @property
    def mutants_caught(self) -> int:
        return sum(m.caught for m in self.mutants)


@dataclass(frozen=True)
class CourseCheck:
    problems: tuple[str, ...]  # course-level: course.toml against the folders
    weeks: tuple[WeekCheck, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and not any(w.problems for w in self.weeks)


# How grader.testing words a named mistake that equals the right answer (not imported: it loads torch).
RIGHT_ANSWER_FINDING: Final = "gives the right answer, so it can never be named"

Progress = Callable[[str], None]


def check_course(
    course: Course,
    *,
    weeks: tuple[Week, ...] | None = None,
    workers: int = 2,
    progress: Progress | None = None,
    week_done: Callable[[WeekCheck], None] | None = None,
) -> CourseCheck:
    """Check the given weeks (all by default) and the course file against the folders;
    ``week_done`` hears of each week as soon as it is checked."""
    chosen = weeks if weeks is not None else course.weeks
    say = progress or (lambda _: None)
    results = []
    for week in chosen:
        say(f"checking {week.id}")
        started = time.perf_counter()
        checked = dataclasses.replace(
            _WeekChecker(course, week, workers, say).run(), duration_s=time.perf_counter() - started
        )
        results.append(checked)
        if week_done is not None:
            week_done(checked)
    course_problems = _folder_problems(course) + _framework_problems(course) if weeks is None else []
    return CourseCheck(problems=tuple(course_problems), weeks=tuple(results))


def _framework_problems(course: Course) -> list[str]:
    try:
        return framework_leaks(course)
    except GraderError:
        return []  # bad delimiters: reported by each week's build check


def _folder_problems(course: Course) -> list[str]:
    """Week folders on disk that course.toml does not list."""
    known = {w.folder for w in course.weeks}
    problems = []
    for kind in (course.exercises_dir, course.solutions_dir, course.tests_dir):
        if not kind.is_dir():
            continue
        for folder in sorted(p for p in kind.iterdir() if p.is_dir() and _WEEK_FOLDER.match(p.name)):
            if folder.name not in known:
                problems.append(
                    f"{folder.relative_to(course.root)}/ is not a week of course.toml; "
                    "add a [[weeks]] entry for it or remove the folder"
                )
    return problems


_Job = Callable[["_Grader"], "WeekResult | MutantResult | None"]  # one submission graded by a checking thread


class _WeekChecker:
    def __init__(self, course: Course, week: Week, workers: int, say: Progress) -> None:
        self.course = course
        self.week = week
        self.workers = workers
        self._threads = threads_per_child(workers)
        self.say = say
        self.problems: list[str] = []
        self.notes: list[str] = []

    def run(self) -> WeekCheck:
        mutants = self._load_mutants()
        with tempfile.TemporaryDirectory(prefix="grade-check-") as scratch:
            jobs: list[_Job] = [
                functools.partial(self._grade, root=self.course.solutions_dir, label="solutions"),
                functools.partial(self._grade, root=self.course.exercises_dir, label="exercises"),
            ]
            jobs += [functools.partial(self._run_mutant, mutant=m, into=Path(scratch) / m.name) for m in mutants]
            solved, stubs, *mutant_results = self._run_jobs(jobs, Path(scratch))
        if isinstance(stubs, WeekResult):
            self._check_stubs(stubs)
        if isinstance(solved, WeekResult):
            self._check_reference(solved)
            self._check_named_mistakes(solved)
            self._check_exercises_have_tests(solved)
            self._check_hints(solved)
        self._check_build_in_sync()
        self._check_test_imports()
        self._check_tests_do_not_repeat_solutions()
        done = tuple(m for m in mutant_results if isinstance(m, MutantResult))
        self.problems += [f"mutant {m.name}: {m.problem}" for m in done if not m.caught]
        return WeekCheck(self.week.id, tuple(self.problems), done, notes=tuple(self.notes))

    # -- grading runs -----------------------------------------------------------------------

    def _run_jobs(self, jobs: list[_Job], scratch: Path) -> list[WeekResult | MutantResult | None]:
        """Run every job on ``self.workers`` warm workers (one pytest session each, a fresh
        sandbox per submission), in order of the list; each thread owns one worker."""
        results: list[WeekResult | MutantResult | None] = [None] * len(jobs)
        queue = collections.deque(enumerate(jobs))

        def work() -> None:
            grader = _Grader(self.course, self.week, scratch=scratch, threads=self._threads)
            try:
                while True:
                    try:
                        index, job = queue.popleft()
                    except IndexError:
                        return
                    results[index] = job(grader)
            finally:
                grader.close()

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for future in [pool.submit(work) for _ in range(min(self.workers, len(jobs)))]:
                future.result()
        return results

    def _grade(self, grader: _Grader, *, root: Path, label: str) -> WeekResult | None:
        try:
            return grader.grade(root, label)
        except GraderError as exc:
            self.problems.append(f"grading {label}: {exc.message}")
            return None

    def _check_reference(self, result: WeekResult) -> None:
        for exercise in result.exercises:
            for outcome in exercise.outcomes:
                if not outcome.passed:
                    self.problems.append(f"the reference fails {outcome.info.id}: {outcome.status}: {outcome.message}")

    def _check_named_mistakes(self, result: WeekResult) -> None:
        """Named mistakes that cannot be told apart on a test's own inputs (recorded by
        ``assert_close`` during the reference's run): one line per test function and finding.

        Two mistakes with one value are a problem: the first is named for both, and sends a learner
        who made the second the wrong way.  A mistake that gives the right answer on a case is a
        note: that case cannot show it (the test's other cases may), and it never names anything
        wrongly."""
        cases: dict[tuple[str, str], list[str]] = {}
        for outcome in (o for e in result.exercises for o in e.outcomes):
            test = outcome.info.id.split("[")[0]
            for finding in outcome.findings:
                cases.setdefault((test, finding), []).append(outcome.info.id[len(test) :])
        for (test, finding), params in cases.items():
            found = self.notes if finding.endswith(RIGHT_ANSWER_FINDING) else self.problems
            found.append(f"{test}: {finding}{_cases(params)}")

    def _check_stubs(self, result: WeekResult) -> None:
        for exercise in result.exercises:
            for outcome in exercise.outcomes:
                if outcome.status != "not_implemented":
                    what = "passes" if outcome.passed else f"ends with {outcome.status}: {outcome.message}"
                    self.problems.append(
                        f"on the untouched stubs {outcome.info.id} {what}; it must fail with 'not implemented yet'"
                    )

    def _load_mutants(self) -> list[Mutant]:
        try:
            return load_mutants(self.course.solutions_dir / self.week.folder)
        except GraderError as exc:
            self.problems.append(exc.message)
            return []

    def _run_mutant(self, grader: _Grader, *, mutant: Mutant, into: Path) -> MutantResult:
        try:
            root = apply_mutant(mutant, solutions=self.course.solutions_dir, week_folder=self.week.folder, into=into)
            result = grader.grade(root, f"mutants/{mutant.name}", exercise=mutant.module)
            if not any(o.info.name.split("[")[0] == mutant.caught_by for e in result.exercises for o in e.outcomes):
                result = grader.grade(root, f"mutants/{mutant.name}")  # caught elsewhere: the whole week
        except GraderError as exc:
            return MutantResult(mutant.name, False, exc.message)
        self.say(f"{self.week.id}: mutant {mutant.name}")
        if result.all_passed:
            return MutantResult(mutant.name, False, f"scores full marks ({mutant.module}); the suite does not catch it")
        failing: dict[str, list[str]] = {}  # test function -> the messages of its failing items
        for outcome in (o for e in result.exercises for o in e.outcomes if not o.passed):
            failing.setdefault(outcome.info.name.split("[")[0], []).append(outcome.message)
        messages = failing.get(mutant.caught_by)
        if messages is None:
            failed = ", ".join(sorted(failing)) or "none"
            return MutantResult(
                mutant.name, False, f"loses points but {mutant.caught_by} passes (tests that fail: {failed})"
            )
        if mutant.message and not any(mutant.message in m for m in messages):
            return MutantResult(
                mutant.name,
                False,
                f"{mutant.caught_by} fails with {messages[0]!r}, not the expected {mutant.message!r}",
            )
        return MutantResult(mutant.name, True)

    # -- static checks ----------------------------------------------------------------------

    def _check_build_in_sync(self) -> None:
        try:
            expected = expected_stubs(self.course, self.week)
        except GraderError as exc:
            self.problems.append(exc.message)
            return
        for path, text in expected.items():
            shown = path.relative_to(self.course.root).as_posix()
            if not path.exists():
                self.problems.append(f"{shown} is missing; run grade build {self.week.id}")
            elif path.read_text(encoding="utf-8") != text:
                self.problems.append(f"{shown} differs from what grade build writes; run grade build {self.week.id}")
        folder = self.course.exercises_dir / self.week.folder
        for extra in sorted(set(folder.glob("*.py")) - set(expected)):
            self.problems.append(f"{extra.relative_to(self.course.root).as_posix()} has no solution in solutions/")

    def _check_exercises_have_tests(self, result: WeekResult) -> None:
        tested = {e.name for e in result.exercises}
        solutions = list((self.course.solutions_dir / self.week.folder).glob("*.py"))
        exercises = {p.stem for p in solutions if _has_regions(p)}
        for module in sorted(exercises - tested):
            self.problems.append(f"exercise {self.week.folder}/{module}.py has no test in tests/{self.week.folder}/")
        for module in sorted(tested - {p.stem for p in solutions}):
            self.problems.append(
                f"tests name the exercise '{module}', but solutions/{self.week.folder}/{module}.py does not exist"
            )
        if result.tests_total == 0:
            self.problems.append(f"tests/{self.week.folder}/ has no tests")

    def _check_test_imports(self) -> None:
        for path in sorted((self.course.tests_dir / self.week.folder).glob("*.py")):
            shown = path.relative_to(self.course.root).as_posix()
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except SyntaxError as exc:
                self.problems.append(f"{shown}:{exc.lineno}: does not parse: {exc.msg}")
                continue
            forbidden = {self.course.exercises_dir.name, self.course.solutions_dir.name}
            for node in ast.walk(tree):
                names: list[str] = []
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] in forbidden:
                        self.problems.append(
                            f"{shown}:{node.lineno}: imports {name}; tests reach code only through the student and reference fixtures"
                        )

    def _check_tests_do_not_repeat_solutions(self) -> None:
        """A test file that repeats a solution line would show it in a release."""
        try:
            secret = secret_lines(self.course)
        except GraderError:
            return  # bad delimiters: reported by the build check
        for path in sorted((self.course.tests_dir / self.week.folder).glob("*.py")):
            for number, line in leaks_in(path, secret):
                shown = path.relative_to(self.course.root).as_posix()
                self.problems.append(
                    f"{shown}:{number} repeats a line of a solution, which a release would show: {line!r}"
                )

    def _check_hints(self, result: WeekResult) -> None:
        solution_lines = set()
        for path in (self.course.solutions_dir / self.week.folder).glob("*.py"):
            try:
                regions = solution_regions(path.read_text(encoding="utf-8"), filename=path.name)
            except GraderError:
                continue  # reported by the build check
            for region in regions:
                solution_lines |= {line.strip() for line in region.lines if len(line.strip()) >= _MIN_HINT_LINE}
        for exercise in result.exercises:
            for outcome in exercise.outcomes:
                for level, hint in enumerate(outcome.info.hint_levels, start=1):
                    for line in solution_lines:
                        if line in hint:
                            which = f"level {level} of the hint" if level > 1 else "the hint"
                            self.problems.append(f"{which} of {outcome.info.id} quotes the solution: {line!r}")


class _Grader:
    """Grades whole-week submissions for one checking thread: on a warm worker (one pytest session,
    a fresh sandbox per submission) where the course runs learner code in the process sandbox,
    else one cold run each.  A submission that crashes, hangs or kills the worker ends with those
    tests failed (the worker's own rule), so it can never make the check pass."""

    def __init__(self, course: Course, week: Week, *, scratch: Path, threads: int) -> None:
        self.course, self.week, self.threads = course, week, threads
        warm = course.grading.sandbox == "process"
        self.worker = WarmWorker(course, week, hide=(scratch,)) if warm else None

    def grade(self, root: Path, label: str, *, exercise: str | None = None) -> WeekResult:
        """The week's suite on ``root``, or only the tests of ``exercise``: a mutant changes one
        module, and the tests of the other modules would only run the reference again."""
        request = GradeRequest(self.course, self.week, root, label, exercise=exercise, threads=self.threads)
        return self.worker.grade(request) if self.worker is not None else grade_week(request)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def _cases(params: list[str]) -> str:
    """`` (case [1])`` or `` (in 4 cases: [1], [2], [3], …)`` for a parametrized test; nothing otherwise."""
    if not any(params):
        return ""
    if len(params) == 1:
        return f" (case {params[0]})"
    return f" (in {len(params)} cases: {', '.join(params[:3])}{', …' if len(params) > 3 else ''})"


def _has_regions(path: Path) -> bool:
    try:
        return bool(solution_regions(path.read_text(encoding="utf-8"), filename=path.name))
    except GraderError:
        return True
