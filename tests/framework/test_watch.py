"""grade watch: a save re-grades the exercise that changed on a warm worker, and nothing a saved
file does (a syntax error, an endless loop, os._exit) stops the watch; the next thing to fix is
the first failing test of the first unfinished exercise; Ctrl-C leaves with the last score saved."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.core.course import load_course
from grader.core.results import ExerciseResult, TestInfo, TestOutcome, WeekResult
from grader.learner import history
from grader.learner.watch import WHOLE_WEEK, WatchUpdate, changed_exercises, first_incomplete_week, next_to_fix, watch

from .conftest import SOLUTION, STUB, SUITE, MakeCourse
from .test_cli import grade

pytest.importorskip("watchfiles")

BROKEN = {  # each file's total() points when it defines total() right: only double() is hostile
    "syntax_error": "def double(x):\n    return 2 *\n",
    "endless_loop": "def double(x):\n    while True:\n        pass\n\n\ndef total(x):\n    return x.sum()\n",
    "os_exit": "import os\n\n\ndef double(x):\n    os._exit(3)\n\n\ndef total(x):\n    return x.sum()\n",
}


class Watching:
    """``watch`` running in a thread; ``save`` writes a file and returns the update it caused."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.course = load_course(root)
        self.updates: queue.Queue[WatchUpdate] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch,
            args=(self.course, self.course.weeks[0]),
            kwargs={"on_update": self.updates.put, "stop": self.stop},
        )

    def next(self) -> WatchUpdate:
        return self.updates.get(timeout=60)

    def save(self, name: str, source: str) -> WatchUpdate:
        time.sleep(0.3)  # saves seconds apart, as a learner's are
        (self.root / "exercises" / "week01_basics" / f"{name}.py").write_text(source)
        return self.next()


@pytest.fixture
def watching(make_course: MakeCourse) -> Iterator[Watching]:
    session = Watching(make_course({"basics": STUB, "other": SOLUTION}, timeout=1))
    session.thread.start()
    yield session
    session.stop.set()
    session.thread.join(timeout=30)
    assert not session.thread.is_alive()


def _points(update: WatchUpdate) -> dict[str, float]:
    assert update.result is not None, update.error
    return {e.name: e.points_earned for e in update.result.exercises}


def test_a_save_regrades_only_its_exercise_and_hostile_files_never_stop_the_watch(watching: Watching) -> None:
    first = watching.next()
    assert first.changed == () and _points(first) == {"basics": 0, "other": 3}
    for kind, source in BROKEN.items():
        update = watching.save("basics", source)
        assert update.error == "" and update.changed == ("basics",), kind
        assert _points(update) == {"basics": 0 if kind == "syntax_error" else 1, "other": 3}, kind
        statuses = {o.status for e in update.result.exercises if e.name == "basics" for o in e.outcomes}  # type: ignore[union-attr]
        assert statuses & {"import_error", "timeout", "crashed"}, (kind, statuses)
    fixed = watching.save("basics", SOLUTION)
    assert _points(fixed) == {"basics": 3, "other": 3} and fixed.next_to_fix is None
    runs = history.load_history(watching.root)["week1"]
    assert runs.last.points_earned == 6 and runs.last.source == "watch"  # saved as it went


def test_a_file_that_is_not_python_is_ignored_and_a_helper_module_regrades_the_week(tmp_path: Path) -> None:
    week = tmp_path / "week01_basics"
    assert changed_exercises([week / "notes.txt", week / "basics.py~"], week, ["basics"]) == set()
    assert changed_exercises([week / "basics.py"], week, ["basics", "other"]) == {"basics"}
    assert changed_exercises([week / "helpers.py", week / "basics.py"], week, ["basics"]) == {WHOLE_WEEK, "basics"}
    assert changed_exercises([tmp_path / "elsewhere" / "basics.py"], week, ["basics"]) == set()


def _outcome(name: str, status: str, exercise: str) -> TestOutcome:
    return TestOutcome(TestInfo(f"t::{name}", name, exercise, 1.0, hint=f"hint of {name}"), status, f"why {name}")  # type: ignore[arg-type]


def test_the_next_thing_to_fix_is_the_first_failing_test_of_the_first_unfinished_required_exercise() -> None:
    done = ExerciseResult("a", "exercises/w/a.py", (_outcome("t1", "passed", "a"),))
    star = ExerciseResult("b", "exercises/w/b.py", (_outcome("t2", "failed", "b"),), optional=True)
    todo = ExerciseResult(
        "c",
        "exercises/w/c.py",
        (_outcome("t3", "passed", "c"), _outcome("t4", "failed", "c"), _outcome("t5", "failed", "c")),
    )
    result = WeekResult("c", "week1", "W", "w", "exercises", (done, star, todo), 1.0)
    file, outcome = next_to_fix(result)  # type: ignore[misc]
    assert (file, outcome.info.name, outcome.message, outcome.info.hint) == (
        "exercises/w/c.py",
        "t4",
        "why t4",
        "hint of t4",
    )
    assert next_to_fix(WeekResult("c", "week1", "W", "w", "exercises", (done,), 1.0)) is None


def test_without_a_week_watch_follows_the_first_week_that_is_not_complete(make_course: MakeCourse) -> None:
    root = make_course({"basics": SOLUTION})
    course = load_course(root)
    assert first_incomplete_week(course).id == "week1"
    grade("week1", "--course", str(root))  # full marks
    with pytest.raises(Exception, match="every week of the course has full marks"):
        first_incomplete_week(course)


def test_ctrl_c_leaves_cleanly_saying_the_last_score_is_saved(
    make_course: MakeCourse, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.learner import watch as watch_module

    real = watch_module.watch

    def interrupted_after_the_first_grade(course, week, *, on_update, on_grading):  # type: ignore[no-untyped-def]
        def then_ctrl_c(update: WatchUpdate) -> None:
            on_update(update)
            raise KeyboardInterrupt

        return real(course, week, on_update=then_ctrl_c, on_grading=on_grading)

    monkeypatch.setattr(watch_module, "watch", interrupted_after_the_first_grade)
    root = make_course({"basics": SOLUTION.replace("2 * x", "3 * x")})
    code, out, _ = grade("watch", "week1", "--course", str(root))
    assert code == 0
    assert "next to fix: exercises/week01_basics/basics.py" in out and "hint: multiply every entry" in out
    assert "stopped watching; the last score, 1/3, is saved" in out
    assert history.load_history(root)["week1"].last.points_earned == 1


def test_a_warm_worker_asked_for_one_exercise_runs_only_that_exercises_tests(
    make_course: MakeCourse, tmp_path: Path
) -> None:
    from grader.engine.runner import GradeRequest
    from grader.engine.warm import WarmWorker

    ran = tmp_path / "ran.log"  # each test of the suite (trusted code, in the worker) notes its exercise
    logging = (
        SUITE
        + f"""

@pytest.fixture(autouse=True)
def _note_the_exercise():
    with open({str(ran)!r}, "a") as log:
        log.write("{{exercise}}\\n")
"""
    )
    root = make_course({"basics": SOLUTION, "other": STUB}, suite=logging)
    course = load_course(root)
    worker = WarmWorker(course, course.weeks[0], hide=(tmp_path / "scratch",))
    try:
        one = worker.grade(GradeRequest(course, course.weeks[0], course.exercises_dir, "exercises", exercise="other"))
        only_other = ran.read_text().split()
        everything = worker.grade(GradeRequest(course, course.weeks[0], course.exercises_dir, "exercises"))
    finally:
        worker.close()
    assert only_other == ["other", "other"]
    assert [e.name for e in one.exercises] == ["other"] and one.notes == ()  # no cold run was needed
    assert sorted(e.name for e in everything.exercises) == ["basics", "other"]
