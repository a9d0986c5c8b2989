"""grade batch (issue #7): a class graded in one command, every grade stored as soon as it is
done, a killed batch resumed, each learner isolated from the next in the same warm worker."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.classroom.batch import BatchRequest, BatchSummary, grade_batch
from grader.classroom.gradebook import Entry, Gradebook
from grader.classroom.statistics import class_statistics
from grader.core.course import load_course

from .conftest import SOLUTION, MakeCourse

WRONG = SOLUTION.replace("return 2 * x", "return 3 * x")
HANGS = SOLUTION.replace("return 2 * x", "while True:\n        pass")
SEGFAULTS = "import ctypes\n" + SOLUTION.replace("return 2 * x", "return ctypes.string_at(0)")
EXITS = "import os\n" + SOLUTION.replace("return x.sum()", "os._exit(3)")
# Breaks torch for whoever imports torch next in the same process, if anything of it survived.
POISONS = "import torch\ntorch.Tensor.sum = lambda self, *a, **k: torch.tensor(42.0)\n" + SOLUTION


class Recorder:
    """A BatchListener that keeps what it hears."""

    def __init__(self) -> None:
        self.plans: list[tuple[int, int]] = []
        self.entries: list[Entry] = []

    def planned(self, to_grade: int, unchanged: int) -> None:
        self.plans.append((to_grade, unchanged))

    def recorded(self, entry: Entry) -> None:
        self.entries.append(entry)


def _hand_in(folder: Path, learners: dict[str, str]) -> Path:
    for learner, source in learners.items():
        week = folder / learner / "week01_basics"
        week.mkdir(parents=True, exist_ok=True)
        (week / "basics.py").write_text(source)
    return folder


def _batch(
    course_root: Path, submissions: Path, *, workers: int = 2, regrade: bool = False, exchange: bool = False
) -> BatchSummary:
    course = load_course(course_root)
    request = BatchRequest(
        course=course,
        week=course.resolve("week1"),
        submissions=submissions,
        gradebook=course_root / "grades.db",
        workers=workers,
        regrade=regrade,
        nbgrader_exchange=exchange,
    )
    return grade_batch(request, listener=Recorder())


def _by_learner(summary: BatchSummary) -> dict[str, Entry]:
    return {e.learner: e for e in summary.entries}


def _statuses(entry: Entry) -> dict[str, str]:
    assert entry.result is not None
    return {o.info.name: o.status for e in entry.result.exercises for o in e.outcomes}


def test_every_learner_is_graded_and_hostile_code_costs_only_its_own_tests(
    make_course: MakeCourse, tmp_path: Path
) -> None:
    root = make_course({"basics": SOLUTION}, timeout=4)  # dot's hang costs it once; room for a loaded machine
    subs = _hand_in(
        tmp_path / "subs",
        {"ada": SOLUTION, "ben": WRONG, "cy": SEGFAULTS, "dot": HANGS, "eli": EXITS},
    )
    summary = _batch(root, subs)
    entries = _by_learner(summary)
    assert sorted(entries) == ["ada", "ben", "cy", "dot", "eli"]
    assert {k: e.points_earned for k, e in entries.items()} == {"ada": 3, "ben": 1, "cy": 1, "dot": 1, "eli": 2}
    assert _statuses(entries["cy"])["test_double"] == "crashed"
    assert _statuses(entries["dot"])["test_double"] == "timeout"
    assert _statuses(entries["eli"])["test_total_gradient"] == "crashed"
    assert summary.graded == 5 and summary.unchanged == 0


def test_a_learner_cannot_reach_the_next_one_graded_by_the_same_warm_worker(
    make_course: MakeCourse, tmp_path: Path
) -> None:
    root = make_course({"basics": SOLUTION})
    subs = _hand_in(tmp_path / "subs", {"a_poisons": POISONS, "b_after": SOLUTION, "c_after": SOLUTION})
    entries = _by_learner(_batch(root, subs, workers=1))
    assert entries["a_poisons"].points_earned < 3  # the poison works where it was handed in
    assert entries["b_after"].points_earned == 3
    assert entries["c_after"].points_earned == 3


def test_a_rerun_skips_what_is_unchanged_and_regrades_what_changed(make_course: MakeCourse, tmp_path: Path) -> None:
    root = make_course({"basics": SOLUTION})
    subs = _hand_in(tmp_path / "subs", {"ada": SOLUTION, "ben": WRONG})
    first = _batch(root, subs)
    assert (first.graded, first.unchanged) == (2, 0)

    again = _batch(root, subs)
    assert (again.graded, again.unchanged) == (0, 2)

    _hand_in(subs, {"ben": SOLUTION})  # ben hands in a fix
    fixed = _batch(root, subs)
    assert (fixed.graded, fixed.unchanged) == (1, 1)
    assert _by_learner(fixed)["ben"].points_earned == 3
    with Gradebook.open(root / "grades.db", create=False) as book:
        assert [e.points_earned for e in book.history("week1", "ben")] == [1, 3]  # the old grade is kept

    forced = _batch(root, subs, regrade=True)
    assert (forced.graded, forced.unchanged) == (2, 0)


def test_a_changed_hidden_suite_makes_every_stored_grade_stale(make_course: MakeCourse, tmp_path: Path) -> None:
    root = make_course({"basics": SOLUTION})
    subs = _hand_in(tmp_path / "subs", {"ada": SOLUTION})
    _batch(root, subs)
    suite = root / "tests" / "week01_basics" / "test_basics.py"
    suite.write_text(suite.read_text().replace("points(2)", "points(4)"))
    summary = _batch(root, subs)
    assert summary.graded == 1
    assert _by_learner(summary)["ada"].points_earned == 5


def test_the_late_policy_gives_raw_and_final_scores(make_course: MakeCourse, tmp_path: Path) -> None:
    toml = (
        '[course]\ntitle = "Tiny"\n\n[grading]\ntimeout = 5\n\n[grading.late]\nper_day = 10\nmax_penalty = 50\n\n'
        '[[weeks]]\nid = "week1"\nfolder = "week01_basics"\ntitle = "Basics"\ndue = 2026-11-01T12:00:00Z\n'
    )
    root = make_course({"basics": SOLUTION}, course_toml=toml)
    subs = _hand_in(tmp_path / "subs", {"early": SOLUTION, "late": SOLUTION})
    due = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc).timestamp()
    os.utime(subs / "early" / "week01_basics" / "basics.py", (due - 60, due - 60))
    os.utime(subs / "late" / "week01_basics" / "basics.py", (due + 30 * 3600, due + 30 * 3600))  # 30 h: 2 days
    summary = _batch(root, subs)
    early, late = (summary.assessment(_by_learner(summary)[k]) for k in ("early", "late"))
    assert (early.raw, early.final, early.days_late) == (3, 3, 0)
    assert (late.raw, late.days_late, late.penalty_percent) == (3, 2, 20)
    assert late.final == pytest.approx(2.4)
    assert class_statistics(summary).late == 1


def test_nbgrader_exchange_layout_is_graded_with_its_timestamps(make_course: MakeCourse, tmp_path: Path) -> None:
    root = make_course({"basics": SOLUTION})
    exchange = tmp_path / "exchange"
    for learner, source in (("ada", SOLUTION), ("ben", WRONG)):
        folder = exchange / "submitted" / learner / "week1"
        folder.mkdir(parents=True)
        (folder / "basics.py").write_text(source)
        edited = dt.datetime(2026, 11, 20, 23, 0, tzinfo=dt.timezone.utc).timestamp()  # before the stamp
        os.utime(folder / "basics.py", (edited, edited))
        (folder / "timestamp.txt").write_text("2026-11-20 23:59:59.000000 UTC")
    (exchange / "submitted" / "cy").mkdir()  # a learner who submitted nothing for this week
    entries = _by_learner(_batch(root, exchange, exchange=True))
    assert entries["ada"].points_earned == 3 and entries["ben"].points_earned == 1
    assert entries["ada"].submitted_at == dt.datetime(2026, 11, 20, 23, 59, 59, tzinfo=dt.timezone.utc)
    assert entries["cy"].status == "rejected" and "week1" in entries["cy"].reason


def test_without_the_process_sandbox_each_submission_gets_a_cold_child(make_course: MakeCourse, tmp_path: Path) -> None:
    toml = (
        '[course]\ntitle = "Tiny"\n\n[grading]\ntimeout = 5\nsandbox = "in-process"\n\n'
        '[[weeks]]\nid = "week1"\nfolder = "week01_basics"\ntitle = "Basics"\n'
    )
    root = make_course({"basics": SOLUTION}, course_toml=toml)
    subs = _hand_in(tmp_path / "subs", {"a_poisons": POISONS, "b_after": SOLUTION})
    entries = _by_learner(_batch(root, subs, workers=1))
    assert entries["a_poisons"].points_earned < 3
    assert entries["b_after"].points_earned == 3


# -- the command, killed and resumed --------------------------------------------------------------


def _grade_command(root: Path, subs: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "grader.cli", "batch", "week1", str(subs), "--course", str(root), *extra]


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM submissions").fetchone()[0])
    except sqlite3.OperationalError:  # the batch has not created its tables yet
        return 0


def _wait_for(condition: object, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "Ctrl-C"])
def test_a_killed_batch_loses_no_finished_grade_and_the_same_command_resumes(
    make_course: MakeCourse, tmp_path: Path, how: signal.Signals
) -> None:
    root = make_course({"basics": SOLUTION})
    slow = "import time\ntime.sleep(0.4)\n" + SOLUTION  # each takes a moment: the signal lands mid-batch
    subs = _hand_in(tmp_path / "subs", {f"learner{i:02d}": slow for i in range(8)})
    db = root / "grades.db"
    batch = subprocess.Popen(
        _grade_command(root, subs, "--workers", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job (CI under `cmd &`) ignores SIGINT, and so would Python: undo that,
        # as a terminal's Ctrl-C would find it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for(lambda: _stored(db) >= 2, seconds=120)
    batch.send_signal(how)
    _, err = batch.communicate(timeout=60)
    stored = _stored(db)
    assert 2 <= stored < 8
    if how == signal.SIGINT:
        assert batch.returncode == 130
        assert "run the same command to resume" in err

    resumed = subprocess.run(_grade_command(root, subs), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"unchanged {stored}" in " ".join(resumed.stdout.split())
    with Gradebook.open(db, create=False) as book:
        current = book.current("week1")
    assert len(current) == 8 and all(e.points_earned == 3 for e in current)


def test_the_command_prints_each_learner_and_the_class_statistics(make_course: MakeCourse, tmp_path: Path) -> None:
    root = make_course({"basics": SOLUTION})
    subs = _hand_in(tmp_path / "subs", {"ada": SOLUTION, "ben": WRONG})
    (subs / "broken.zip").write_bytes(b"not a zip")
    done = subprocess.run(
        _grade_command(root, subs),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    out = done.stdout
    assert done.returncode == 1  # a submission could not be graded
    for expected in ("ada", "3/3", "ben", "1/3", "broken", "not a readable zip file", "mean 2.0/3", "median 2.0/3"):
        assert expected in out, expected
    assert "50% (1/2)" in out and "test_double" in out  # the test half the class fails

    exported = subprocess.run(
        [sys.executable, "-m", "grader.cli", "export", "csv", "week1", "--course", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = exported.stdout.splitlines()
    assert exported.returncode == 0, exported.stderr
    assert rows[0].startswith("learner,status,source,submitted_at,basics (3),raw,possible")
    assert [row.split(",")[:2] for row in rows[1:]] == [["ada", "graded"], ["ben", "graded"], ["broken", "rejected"]]


# A package the hidden suite imports lazily, in the trusted grading process, whose first import is
# slow (as torch's first `import sympy` is under load) and whose __init__ binds a submodule.
SLOW_PACKAGE = """\
import os, time
import slowpkg.printing
if not os.path.exists(os.environ["SLOWPKG_MARK"]):
    open(os.environ["SLOWPKG_MARK"], "w").close()
    time.sleep(8)
"""
SUITE_USING_SLOWPKG = """\
import pytest
import torch

from grader.testing import assert_close

pytestmark = pytest.mark.exercise("{exercise}")


@pytest.mark.points(1)
def test_double(student):
    import slowpkg  # the first import runs into the time limit; later ones are quick

    x = torch.arange(3.0)
    assert_close(student.double(x), x * slowpkg.printing.TWO)
"""


def test_a_time_out_inside_the_suites_own_import_does_not_poison_the_next_learners(
    make_course: MakeCourse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #21 (found by bench/cluster_vs_local.py): a time-out raised in the middle of an import
    by the trusted side left a half-initialised package in the warm worker, and every later learner
    graded by it failed that test (AttributeError: module 'sympy' has no attribute 'printing')."""
    root = make_course({"basics": SOLUTION}, timeout=4, suite=SUITE_USING_SLOWPKG)
    (root / "slowpkg").mkdir()
    (root / "slowpkg" / "__init__.py").write_text(SLOW_PACKAGE)
    (root / "slowpkg" / "printing.py").write_text("TWO = 2\n")
    monkeypatch.setenv("SLOWPKG_MARK", str(tmp_path / "slowpkg-imported-once"))
    subs = _hand_in(tmp_path / "subs", {"a_first": SOLUTION, "b_next": SOLUTION, "c_next": SOLUTION})
    entries = _by_learner(_batch(root, subs, workers=1))
    assert _statuses(entries["a_first"])["test_double"] == "timeout"
    assert [_statuses(entries[k])["test_double"] for k in ("b_next", "c_next")] == ["passed", "passed"]


def test_a_learner_s_time_out_costs_no_new_grading_process(make_course: MakeCourse, tmp_path: Path) -> None:
    """The time-out of a learner's hanging code fires while the grading process waits on the
    sandbox: nothing of the trusted process was cut short, so the next learner is graded by the
    same warm process (a new one costs torch's import and the suite's collection again)."""
    from grader.engine.runner import GradeRequest
    from grader.engine.warm import WarmWorker

    root = make_course({"basics": SOLUTION}, timeout=5)  # a cold first sandbox under load stays well inside it
    course = load_course(root)
    subs = _hand_in(tmp_path / "subs", {"hangs": HANGS, "ada": SOLUTION})
    worker = WarmWorker(course, course.weeks[0], hide=(tmp_path / "work",))
    try:
        statuses, processes = {}, []
        for learner in ("ada", "hangs", "ada"):
            request = GradeRequest(course, course.weeks[0], subs / learner, learner, threads=1)
            result = worker.grade(request)
            statuses.setdefault(learner, []).append(
                {o.info.name: o.status for e in result.exercises for o in e.outcomes}
            )
            assert worker._child is not None
            processes.append(worker._child.process.pid)
    finally:
        worker.close()
    assert statuses["hangs"][0]["test_double"] == "timeout"
    assert [s["test_double"] for s in statuses["ada"]] == ["passed", "passed"]
    assert len(set(processes)) == 1
