"""The pytest plugin: markers, the ``student`` and ``reference`` fixtures, per-test limits and
the collection of one outcome per test.

Loaded by the root ``conftest.py`` (plain ``pytest`` grades ``solutions/``) and by the grading
child that ``runner.py`` starts with ``-p grader.engine.plugin`` and the ``--grade-*`` options.  In
the child, every step is streamed to the parent as one JSON line on ``--grade-events-fd``:
``collected`` (what each test is worth), ``start`` (a test began: the parent starts its
kill timer), ``importing``/``imported`` (a learner module is being imported), ``result``
(how it ended) and ``done``.  The parent never needs to trust the child's exit: a test that
has no ``result`` line did not pass.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from ..core.course import DEFAULT_TIMEOUT_S, CourseError, find_course_root, load_course
from ..core.results import TestInfo, info_to_dict
from . import transport
from .events import EventStream
from .markers import MARKERS, is_graded, read_test_info
from .protocol import ConfinementEvent, Job, LoadRequest, ResultEvent, SandboxSettings
from .sandbox.backend import Backend, ExerciseProxy, InProcessBackend, ProcessBackend, Route
from .sandbox.student import StudentCodeError, Submission, TestTimeout
from .sandbox.zygote import Zygote, first_use_imports
from .verdicts import classify, merge_phases

STUDENT_PACKAGE: Final = "_grader_student"
REFERENCE_PACKAGE: Final = "_grader_reference"
COLLECTOR_NAME: Final = "grader-collector"


@dataclass
class Settings:
    """The plugin's configuration for one pytest run, read once from the command line."""

    student: Submission
    reference: Submission
    timeout_s: float
    grade_mode: bool
    skip: frozenset[str]
    exercise: str | None
    events: EventStream
    sandbox: str = "in-process"
    memory_mb: int = 4096
    zygote: Zygote | None = None
    hide: tuple[Path, ...] = ()
    jobs_fd: int | None = None
    exercise_order: tuple[tuple[str, str], ...] = ()  # (week folder, exercise) as the tests will need them
    backends: dict[str, Backend] = field(default_factory=dict)
    loaded: set[tuple[str, str]] = field(default_factory=set)
    modules_at_start: int = 0  # len(sys.modules) when the running test started
    lazy_imports: threading.Thread | None = None  # see _import_lazy_modules_aside

    def backend(self, role: str) -> Backend:
        """The reference always runs here (it is trusted); the student's code where --grade-sandbox says."""
        if role not in self.backends:
            if role == "student" and self.zygote is not None:
                self.backends[role] = ProcessBackend(self.zygote, self._sandbox_settings(), self.exercise_order)
            elif role == "student":
                self.backends[role] = InProcessBackend(self.student, STUDENT_PACKAGE)
            else:
                self.backends[role] = InProcessBackend(self.reference, REFERENCE_PACKAGE)
        return self.backends[role]

    def _sandbox_settings(self) -> SandboxSettings:
        return {
            "submission": str(self.student.root),
            "label": self.student.label,
            "package": STUDENT_PACKAGE,
            "memory_mb": self.memory_mb,
            "cpu_s": int(max(60, 10 * self.timeout_s)),
            "output_mb": 64,
            "max_processes": 256,
        }

    def printed(self, *, keep: bool) -> str:
        """The last lines the learner's code printed since this was last asked (its sandbox's
        output; nothing with the in-process backend, whose prints go to the grading child's)."""
        backend = self.backends.get("student")
        return backend.take_output(keep=keep) if isinstance(backend, ProcessBackend) else ""

    def switch_submission(self, student: Submission) -> None:
        """Grade another submission from now on (a warm worker's next job): nothing of the last
        learner's, neither a sandbox nor an imported module, carries over."""
        self.end_student()
        self.student = student

    def grading_the_reference(self) -> bool:
        """The submission is the reference itself (``grade check``'s first run, plain pytest)."""
        return self.student.root == self.reference.root

    def end_student(self) -> None:
        backend = self.backends.pop("student", None)
        if isinstance(backend, ProcessBackend):
            backend.close()
        self.loaded.clear()

    def close(self) -> None:
        self.end_student()
        if self.zygote is not None:
            self.zygote.close()


_settings_key: Final = pytest.StashKey[Settings]()
_info_key: Final = pytest.StashKey[TestInfo]()
_FUNCTION: Final = "grade_function"  # user_properties: the learner's function a test called first
_FINDINGS: Final = "grade_findings"  # user_properties: its named mistakes that cannot be told apart


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "grading with the course framework")
    group.addoption(
        "--submission", metavar="DIR", help="folder laid out like exercises/ to grade (default: solutions/)"
    )
    group.addoption("--submission-label", metavar="NAME", help="how the submission folder is named in messages")
    group.addoption("--reference", metavar="DIR", help="the reference solutions folder (default: solutions/)")
    group.addoption("--grade-mode", action="store_true", help="every collected test must carry points")
    group.addoption("--grade-timeout", type=float, metavar="S", help="default per-test time limit in seconds")
    group.addoption("--grade-events-fd", type=int, metavar="FD", help="stream JSON events to this file descriptor")
    group.addoption(
        "--grade-bell-fd", type=int, metavar="FD", help="write a byte here after an event the parent must see at once"
    )
    group.addoption("--grade-skip", metavar="FILE", help="JSON list of test ids already graded")
    group.addoption("--grade-exercise", metavar="NAME", help="grade only this exercise")
    group.addoption(
        "--grade-sandbox",
        choices=("in-process", "process"),
        default="in-process",
        help="where student code runs: here, or in a confined process forked from a zygote",
    )
    group.addoption("--grade-memory-mb", type=int, default=4096, metavar="MB", help="the sandbox's memory limit")
    group.addoption(
        "--grade-jobs-fd",
        type=int,
        metavar="FD",
        help="warm worker: read submissions to grade (JSON lines) from this file descriptor until it closes",
    )
    group.addoption(
        "--grade-hide", action="append", default=[], metavar="DIR", help="a folder the sandbox must not see"
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    settings = _read_settings(config)
    if settings.sandbox == "process":  # the zygote imports torch in parallel with collection
        hide = [config.rootpath, settings.reference.root, settings.student.root, *settings.hide]
        settings.zygote = Zygote.start(hide=hide, preload=first_use_imports(_week_folders(config, settings)))
    config.stash[_settings_key] = settings
    config.pluginmanager.register(Collector(settings), COLLECTOR_NAME)
    settings.lazy_imports = _import_lazy_modules_aside()


def _import_lazy_modules_aside() -> threading.Thread:
    """Import what torch imports on first use (sympy, for its symbolic shapes: 0.5 s) in a thread
    of its own, now, while the suite is collected.  Imported by a test instead, under the test's
    alarm, the import can be cut short by the time-out and leave a half-made module (``module
    'sympy' has no attribute 'printing'``) that fails every later test of this process.  A signal
    never interrupts this thread; the first test waits for it before its alarm is armed, so that
    any module imported during a test was imported by that test (see ``imports_cut``)."""

    def warm() -> None:
        try:
            import torch

            torch.broadcast_shapes((3, 1), (4,))  # type: ignore[no-untyped-call]
        except Exception:  # noqa: BLE001 - a warm-up; the test that needs it will say what fails
            pass

    thread = threading.Thread(target=warm, name="grade-lazy-imports", daemon=True)
    thread.start()
    return thread


def _week_folders(config: pytest.Config, settings: Settings) -> list[Path]:
    """The folders of the suites being graded and of their reference solutions."""
    suites = {path if path.is_dir() else path.parent for path in (Path(arg.split("::")[0]) for arg in config.args)}
    return sorted(suites | {settings.reference.root / suite.name for suite in suites if suite.name})


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.pluginmanager.get_plugin(COLLECTOR_NAME)
    if collector is not None:
        collector.settings.close()
        collector.settings.events.emit({"event": "done"})
        config.pluginmanager.unregister(collector)


def _read_settings(config: pytest.Config) -> Settings:
    solutions, exercises, timeout = _course_defaults(config.rootpath)
    student = Path(config.getoption("submission") or _plain_pytest_student(solutions, exercises)).resolve()
    reference = Path(config.getoption("reference") or solutions).resolve()
    skip_file = config.getoption("grade_skip")
    skip = frozenset(json.loads(Path(skip_file).read_text())) if skip_file else frozenset()
    return Settings(
        student=Submission(student, config.getoption("submission_label") or student.name),
        reference=Submission(reference, reference.name),
        timeout_s=config.getoption("grade_timeout") or timeout,
        grade_mode=config.getoption("grade_mode"),
        skip=skip,
        exercise=config.getoption("grade_exercise"),
        events=EventStream(config.getoption("grade_events_fd"), config.getoption("grade_bell_fd")),
        sandbox=config.getoption("grade_sandbox"),
        memory_mb=config.getoption("grade_memory_mb"),
        hide=tuple(Path(p).resolve() for p in config.getoption("grade_hide")),
        jobs_fd=config.getoption("grade_jobs_fd"),
    )


def _plain_pytest_student(solutions: Path, exercises: Path) -> Path:
    """What plain ``pytest`` (or an editor's test panel) runs the suites against: solutions/ in the
    course's own repository; in a learner's release, which has none, the learner's exercises/."""
    return solutions if solutions.is_dir() else exercises


def _course_defaults(rootpath: Path) -> tuple[Path, Path, float]:
    """solutions/, exercises/ and the per-test timeout from the course.toml above rootpath, if any."""
    try:
        root = find_course_root(rootpath)
    except CourseError:
        return rootpath / "solutions", rootpath / "exercises", DEFAULT_TIMEOUT_S
    try:
        course = load_course(root)
    except CourseError as exc:
        raise pytest.UsageError(str(exc)) from None
    return course.solutions_dir, course.exercises_dir, course.grading.timeout_s


# -- collection -------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[_settings_key]
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        if not (settings.grade_mode or is_graded(item)):
            keep.append(item)
            continue
        info = read_test_info(item, default_timeout=settings.timeout_s)
        item.stash[_info_key] = info
        skipped = info.id in settings.skip or (settings.exercise and info.exercise != settings.exercise)
        (drop if skipped else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    settings.exercise_order = _exercise_order(keep)


def _exercise_order(items: list[pytest.Item]) -> tuple[tuple[str, str], ...]:
    """The student's exercises in the order the tests will need them (a sandbox starts ahead)."""
    order: list[tuple[str, str]] = []
    for item in items:
        info = item.stash.get(_info_key, None)
        if info is not None and "student" in getattr(item, "fixturenames", ()):
            exercise = (Path(str(item.path)).parent.name, info.exercise)
            if not order or order[-1] != exercise:
                order.append(exercise)
    return tuple(order)


class Collector:
    """Gathers phase reports into one outcome per test and streams events to the parent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.phases: dict[str, list[pytest.TestReport]] = {}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.settings.events.emit(
                {"event": "collect_error", "id": report.nodeid, "message": str(report.longrepr)[-4000:]}
            )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        infos = [item.stash[_info_key] for item in session.items if _info_key in item.stash]
        zygote = self.settings.zygote
        if zygote is not None:  # it says how it confines once torch is imported: after collection
            failure = zygote.start_failure()
            said: ConfinementEvent = {"event": "confinement", "text": zygote.confinement}
            if failure is not None:
                said["failure"] = failure
            self.settings.events.emit(said)
        self.settings.events.emit({"event": "collected", "tests": [info_to_dict(i) for i in infos]})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport | None:
        """In a grading child, a failed graded test's report is its verdict, not pytest's traceback
        rendering (which parses the source of every frame: most of a warm worker's time on a
        submission that fails many tests).  Plain pytest runs keep pytest's full report."""
        excinfo = call.excinfo
        if self.settings.events.fd is None or excinfo is None or _info_key not in item.stash or call.when == "collect":
            return None
        if isinstance(excinfo.value, (pytest.skip.Exception, BaseExceptionGroup)):
            return None
        verdict = classify(excinfo.value)
        return pytest.TestReport(
            item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed",
            f"{verdict.status}: {verdict.message}", call.when, [], call.duration, call.start, call.stop,
            user_properties=item.user_properties,
        )  # fmt: skip

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.phases.setdefault(report.nodeid, []).append(report)
        if report.when != "teardown":
            return
        reports = self.phases.pop(report.nodeid)
        verdict = merge_phases(reports)
        recorded = dict(report.user_properties)
        result: ResultEvent = {
            "event": "result",
            "id": report.nodeid,
            "status": verdict.status,
            "message": verdict.message,
            "detail": verdict.detail,
            "duration": sum(r.duration for r in reports),
            "hint": verdict.hint,
            "diagnosis": verdict.diagnosis,
            "function": str(recorded.get(_FUNCTION, "")),
            "findings": _strings(recorded.get(_FINDINGS)),
            "output": self.settings.printed(keep=verdict.status != "passed"),
        }
        curve = next((c for r in reports if r.failed and (c := getattr(r, "grade_curve", None))), None)
        if curve is not None and verdict.status == "failed":
            result["curve"] = curve
        if verdict.status == "timeout" and len(sys.modules) != self.settings.modules_at_start:
            # The alarm may have cut an import of this trusted process short (torch's lazy
            # `import sympy`): a half-made package would fail this test for every later learner.
            result["imports_cut"] = True
        self.settings.events.emit(result)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


# -- running ----------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """A warm worker (``--grade-jobs-fd``) runs the collected suite once per submission it is sent.

    Torch, the suite and the reference are imported once; for each job the student side starts
    afresh (``Settings.switch_submission``) and the last test of a pass tears every fixture down,
    session-scoped ones included, so nothing of one learner's run reaches the next.
    """
    settings = session.config.stash[_settings_key]
    if settings.jobs_fd is None:
        return None
    if session.testsfailed:  # collection errors: the parent has been told; grade nothing
        return True
    with os.fdopen(settings.jobs_fd, "r", encoding="utf-8") as jobs:
        for line in jobs:
            job: Job = json.loads(line)
            settings.switch_submission(Submission(Path(job["submission"]).resolve(), job["label"]))
            items = _job_items(session.items, job.get("exercise"))
            settings.exercise_order = _exercise_order(items)
            settings.events.emit({"event": "job", "id": job["id"]})
            for index, item in enumerate(items):
                nextitem = items[index + 1] if index + 1 < len(items) else None
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            settings.end_student()
            settings.events.emit({"event": "job_done", "id": job["id"]})
    return True


def _job_items(items: list[pytest.Item], exercise: str | None) -> list[pytest.Item]:
    """The tests of one job: every collected test, or those of the one exercise it names."""
    if exercise is None:
        return items
    return [
        item for item in items if (info := item.stash.get(_info_key, None)) is not None and info.exercise == exercise
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    info = item.stash.get(_info_key, None)
    if info is None:
        return (yield)
    settings = item.config.stash[_settings_key]
    if settings.lazy_imports is not None:
        settings.lazy_imports.join(timeout=120)  # before the test's time starts; done long before in general
        settings.lazy_imports = None
    settings.events.emit({"event": "start", "id": info.id, "timeout": info.timeout_s})
    settings.printed(keep=False)  # what earlier tests printed is not this test's
    item.user_properties[:] = [p for p in item.user_properties if p[0] not in (_FUNCTION, _FINDINGS)]  # a warm
    # worker runs the item again for each submission: nothing of the last one's run carries over
    settings.modules_at_start = len(sys.modules)
    previous = _arm_timer(info.timeout_s)
    try:
        return (yield)
    finally:
        _disarm_timer(previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Around a graded test of the reference: its named mistakes that cannot be told apart on its
    own inputs are recorded (``grade check`` reports them).  Not for a learner's submission, whose
    findings nobody reads: looking cost about 40 ms of a week-5 submission's 270."""
    if _info_key not in item.stash or not item.config.stash[_settings_key].grading_the_reference():
        return (yield)
    from ..testing import collisions_recorded  # imports torch: the suites import it anyway

    with collisions_recorded() as found:
        try:
            return (yield)
        finally:
            if found:
                item.user_properties.append((_FINDINGS, list(dict.fromkeys(found))))


def pytest_runtest_setup(item: pytest.Item) -> None:
    info = item.stash.get(_info_key, None)
    if info is not None and info.problem:
        pytest.fail(f"broken test: {info.problem}", pytrace=False)


def _arm_timer(seconds: float) -> Any:
    """Raise TestTimeout in the main thread after ``seconds`` (the parent's kill is the backstop)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return None

    def on_alarm(signum: int, frame: Any) -> None:
        raise TestTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return previous


def _disarm_timer(previous: Any) -> None:
    if previous is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _info_key in item.stash and report.failed and call.excinfo is not None:
        verdict = classify(call.excinfo.value)
        report.grade_verdict = verdict  # type: ignore[attr-defined]
        report.grade_curve = getattr(call.excinfo.value, "grade_curve", None)  # type: ignore[attr-defined]
        if isinstance(call.excinfo.value, (StudentCodeError, TestTimeout)):
            detail = f"\n{verdict.detail}" if verdict.detail else ""
            report.longrepr = f"{verdict.status}: {verdict.message}{detail}"
    return report


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def student(request: pytest.FixtureRequest) -> ExerciseProxy:
    """The learner's module for this test file's exercise; calls cross through the transport."""
    return _proxy(request, "student")


@pytest.fixture
def reference(request: pytest.FixtureRequest) -> ExerciseProxy:
    """The reference solution's module for this test file's exercise; same interface as student."""
    return _proxy(request, "reference")


def _proxy(request: pytest.FixtureRequest, role: str) -> ExerciseProxy:
    settings = request.config.stash[_settings_key]
    info = request.node.stash.get(_info_key, None)
    if info is None or info.exercise == "?":
        raise pytest.UsageError(f'{request.node.nodeid}: uses {role} but has no @pytest.mark.exercise("module")')
    week = Path(str(request.node.path)).parent.name
    backend = settings.backend(role)
    if role == "student" and (week, info.exercise) not in settings.loaded:
        settings.loaded.add((week, info.exercise))
        settings.events.emit({"event": "importing", "exercise": info.exercise})
        load: LoadRequest = {"op": "load", "week": week, "exercise": info.exercise}
        backend.execute(transport.encode(load), Route(week, info.exercise, "load"))
        settings.events.emit({"event": "imported", "exercise": info.exercise})
    if role == "student":
        return _CallRecorder(backend, week=week, exercise=info.exercise, label="student", item=request.node)
    return ExerciseProxy(backend, week=week, exercise=info.exercise, label="reference")


class _CallRecorder(ExerciseProxy):
    """The student proxy that notes the first learner function a test calls: the report groups a
    function's failures and leads with their most specific diagnosis."""

    def __init__(self, backend: Backend, *, week: str, exercise: str, label: str, item: pytest.Item) -> None:
        super().__init__(backend, week=week, exercise=exercise, label=label)
        self._item = item

    def __getattr__(self, name: str) -> Callable[..., Any]:
        function = super().__getattr__(name)
        if not any(key == _FUNCTION for key, _ in self._item.user_properties):
            self._item.user_properties.append((_FUNCTION, name))
        return function
