"""Issue #21: grade batch on a Dask cluster, tested on one machine.  A scheduler and two worker
processes on 127.0.0.1 (each worker under its nanny, so a killed one comes back), started once
for the module; a class of 20 (correct, partly wrong, broken, hanging, stubs) graded on it while
one worker is SIGKILLed, against a local `grade batch` of the same class."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

distributed = pytest.importorskip("distributed", reason="the cluster extra: pip install -e '.[cluster]'")

from grader.classroom import cluster, cluster_worker  # noqa: E402
from grader.classroom.batch import BatchRequest, BatchSummary, grade_batch  # noqa: E402
from grader.classroom.fingerprint import suite_hash  # noqa: E402
from grader.classroom.gradebook import Entry, Gradebook  # noqa: E402
from grader.classroom.intake import discover  # noqa: E402
from grader.core.course import load_course  # noqa: E402
from grader.core.errors import UsageError  # noqa: E402

from .conftest import COURSE_TOML, SOLUTION, STUB, SUITE  # noqa: E402

HERE = Path(__file__).parent
WRONG = SOLUTION.replace("return 2 * x", "return 3 * x")
BROKEN = SOLUTION.replace("def total(x):", "def total(x)")
HANGS = SOLUTION.replace("return 2 * x", "while True:\n        pass")
CLASS = {
    **{f"correct{i}": SOLUTION for i in range(7)},
    **{f"wrong{i}": WRONG for i in range(5)},
    **{f"broken{i}": BROKEN for i in range(4)},
    **{f"hangs{i}": HANGS for i in range(2)},
    **{f"stubs{i}": STUB for i in range(2)},
}


def _write_course(root: Path, *, timeout: float) -> Path:
    for part in ("tests", "solutions", "exercises"):
        (root / part / "week01_basics").mkdir(parents=True)
    (root / "course.toml").write_text(COURSE_TOML.format(timeout=timeout))
    (root / "solutions" / "week01_basics" / "basics.py").write_text(SOLUTION)
    (root / "exercises" / "week01_basics" / "basics.py").write_text(STUB)
    (root / "tests" / "week01_basics" / "test_basics.py").write_text(SUITE.format(exercise="basics"))
    return root


def _hand_in(folder: Path, learners: dict[str, str]) -> Path:
    for learner, source in learners.items():
        (folder / learner / "week01_basics").mkdir(parents=True)
        (folder / learner / "week01_basics" / "basics.py").write_text(source)
    return folder


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dask scheduler` and two `dask worker`s (one thread each) on 127.0.0.1; the address."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    local = ["--host", "127.0.0.1", "--no-dashboard"]
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "GRADE_THREADS": "1"}  # two workers share the machine's cores
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", *local, "--port", "0", "--scheduler-file", str(info)],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=(folder / "scheduler.log").open("w"),
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written whole before the scheduler listens: give it a moment
        with distributed.Client(scheduler_file=str(info), timeout="30s") as client:
            address = client.scheduler.address
            for name in ("w0", "w1"):
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "distributed.cli.dask_worker", address, *local, "--nthreads", "1",
                         "--name", name, "--death-timeout", "60"],
                        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=(folder / f"{name}.log").open("w"),
                    )
                )  # fmt: skip
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class KillsAWorker:
    """A BatchListener that, once a few grades are stored, SIGKILLs a Dask worker process (not its
    nanny) that is grading a submission, while the rest of the class is in flight.

    The killing is done by a thread of its own: the batch's loop calls ``recorded`` and sends the
    next submissions only when it returns, so waiting there for a busy worker could wait for ever."""

    def __init__(self, scheduler: str, after: int) -> None:
        self.scheduler, self.after = scheduler, after
        self.recorded_learners: list[str] = []
        self.killed: int | None = None
        self.in_flight_when_killed = 0
        self.thread = threading.Thread(target=self._kill_a_busy_worker, daemon=True)

    def planned(self, to_grade: int, unchanged: int) -> None:
        pass

    def recorded(self, entry: Entry) -> None:
        self.recorded_learners.append(entry.learner)
        if len(self.recorded_learners) == self.after:
            self.thread.start()

    def _kill_a_busy_worker(self) -> None:
        with distributed.Client(self.scheduler, timeout="10s") as client:
            pids = client.run(os.getpid)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                processing = client.processing()
                busy = [address for address, tasks in processing.items() if tasks]
                if busy:
                    self.in_flight_when_killed = len(processing[busy[0]])
                    self.killed = pids[busy[0]]
                    os.kill(self.killed, signal.SIGKILL)
                    return
                time.sleep(0.02)


def _batch(root: Path, subs: Path, book: Path, listener: object, *, scheduler: str | None = None) -> BatchSummary:
    course = load_course(root)
    request = BatchRequest(
        course=course, week=course.resolve("week1"), submissions=subs, gradebook=book, workers=2, scheduler=scheduler
    )
    return grade_batch(request, listener=listener)  # type: ignore[arg-type]


class Quiet:
    def planned(self, to_grade: int, unchanged: int) -> None:
        pass

    def recorded(self, entry: Entry) -> None:
        pass


def test_a_class_graded_on_the_cluster_with_a_worker_killed_scores_as_a_local_batch(
    scheduler: str, tmp_path: Path
) -> None:
    root = _write_course(tmp_path / "course", timeout=4)  # the hanging tests' limit: each costs 4 s
    subs = _hand_in(tmp_path / "subs", CLASS)
    killer = KillsAWorker(scheduler, after=4)
    on_cluster = _batch(root, subs, tmp_path / "cluster.db", killer, scheduler=scheduler)
    local = _batch(root, subs, tmp_path / "local.db", Quiet())

    killer.thread.join()
    assert killer.killed is not None and killer.in_flight_when_killed >= 1  # killed mid-submission
    assert sorted(killer.recorded_learners) == sorted(CLASS)  # every learner exactly once
    with Gradebook.open(tmp_path / "cluster.db", create=False) as book:
        assert all(len(book.history("week1", learner)) == 1 for learner in CLASS)
    scores = {e.learner: (e.status, e.points_earned) for e in on_cluster.entries}
    assert scores == {e.learner: (e.status, e.points_earned) for e in local.entries}
    assert {learner: points for learner, (_, points) in scores.items() if learner.startswith("correct")} == {
        f"correct{i}": 3 for i in range(7)
    }
    assert {scores[f"hangs{i}"] for i in range(2)} == {("graded", 1.0)}  # a time-out is a grade, not a retry
    assert on_cluster.engine == f"dask {scheduler}" and (on_cluster.graded, on_cluster.rejected) == (20, 0)


def test_a_submission_that_kills_its_worker_every_time_is_an_infrastructure_error_not_a_zero(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.cli import run as grade_cli

    root = _write_course(tmp_path / "course", timeout=20)  # nothing hangs: no time-out under load
    subs = _hand_in(tmp_path / "subs", {"ada": SOLUTION, "kills": SOLUTION})
    monkeypatch.syspath_prepend(str(HERE))
    import cluster_faults  # as the scheduler and the workers import it

    monkeypatch.setattr(cluster_worker, "grade_submission", cluster_faults.kills_its_worker)
    out = io.StringIO()
    book = tmp_path / "grades.db"
    args = ["batch", "week1", str(subs), "--course", str(root), "--scheduler", scheduler, "--gradebook", str(book)]
    code = grade_cli(args, console=Console(file=out, width=300))
    with distributed.Client(scheduler) as client:
        client.wait_for_workers(2, timeout=60)  # the nannies brought the killed workers back
    with Gradebook.open(book, create=False) as stored:
        ada, kills = (stored.latest("week1", learner) for learner in ("ada", "kills"))
    assert ada is not None and ada.points_earned == 3
    assert kills is not None and kills.not_graded and kills.result is None
    assert kills.reason.startswith("infrastructure error: grading it ended the Dask worker 3 times")
    text = out.getvalue()
    assert code == 1  # not a clean batch
    assert "graded 1, rejected 0, unchanged 0, not graded 1 (infrastructure errors: run the batch again" in text
    assert "infrastructure error: grading it ended the Dask worker 3 times" in text  # kills' row says why


def _start_worker(scheduler: str, folder: Path, name: str, *options: str) -> subprocess.Popen[bytes]:
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--host", "127.0.0.1"]
    command += ["--no-dashboard", "--nthreads", "1", "--name", name, "--no-nanny", *options]
    env = {**os.environ, "PYTHONPATH": path, "GRADE_THREADS": "1"}
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_gpu_week_is_graded_only_on_workers_that_offer_a_gpu(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/cluster.md, "GPU weeks": one worker per GPU started with --resources GPU=1, and each
    task of a week marked gpu = true asks for one, so only those workers grade it, one at a time."""
    root = _write_course(tmp_path / "course", timeout=20)
    toml = root / "course.toml"
    toml.write_text(toml.read_text() + "gpu = true\n")
    course = load_course(root)
    week = course.resolve("week1")
    assert cluster.task_resources(scheduler, week) == {"GPU": 1} and cluster.task_resources("local:2", week) == {}
    found = discover(_hand_in(tmp_path / "subs", CLASS), course=course, week=week, work=tmp_path / "work")
    monkeypatch.syspath_prepend(str(HERE))
    import cluster_faults

    with distributed.Client(scheduler) as client:
        with pytest.raises(
            UsageError, match="none of the cluster's 2 worker\\(s\\) offers it: start one worker per GPU"
        ):
            next(cluster.grade_on_cluster(client, course=course, week=week, intakes=found.intakes, threads=1,
                                          fingerprint=suite_hash(course, week), resources={"GPU": 1}))  # fmt: skip
        gpu = _start_worker(scheduler, tmp_path, "gpu0", "--resources", "GPU=1")
        try:
            client.wait_for_workers(3, timeout=60)
            where = {
                intake.learner: worker
                for intake, worker in cluster.grade_on_cluster(
                    client, course=course, week=week, intakes=found.intakes[:6], threads=1,
                    fingerprint=suite_hash(course, week), resources={"GPU": 1}, task=cluster_faults.graded_where,
                )
            }  # fmt: skip
        finally:
            gpu.terminate()
            gpu.wait(timeout=30)
    assert where == {intake.learner: "gpu0" for intake in found.intakes[:6]}


def test_a_worker_with_another_version_of_the_course_refuses_work(tmp_path: Path) -> None:
    root = _write_course(tmp_path / "course", timeout=4)
    plugin = cluster_worker.GradingPlugin(course_root=str(root), week_id="week1", fingerprint="0" * 64, threads=1)
    plugin.setup(SimpleNamespace(address="tcp://127.0.0.1:4242"))  # type: ignore[arg-type]
    assert "is another version of week1" in plugin.refusal() and "tcp://127.0.0.1:4242" in plugin.refusal()
    with pytest.raises(cluster_worker.WorkerRefusalError, match="install the same course"):
        plugin.grade(b"", "ada", "0" * 64)


def test_a_worker_where_the_sandbox_cannot_start_refuses_work(tmp_path: Path, bwrap_that_cannot_mount: None) -> None:
    root = _write_course(tmp_path / "course", timeout=30)
    course = load_course(root)
    fingerprint = suite_hash(course, course.resolve("week1"))
    plugin = cluster_worker.GradingPlugin(course_root=str(root), week_id="week1", fingerprint=fingerprint, threads=1)
    plugin.setup(SimpleNamespace(address="tcp://127.0.0.1:4242"))  # type: ignore[arg-type]
    try:
        assert plugin.refusal().startswith(
            "worker tcp://127.0.0.1:4242: the sandbox for learner code cannot start on this machine"
        )
        with pytest.raises(cluster_worker.WorkerRefusalError, match="Can't bind mount"):
            plugin.grade(b"", "ada", fingerprint)
    finally:
        plugin.teardown(SimpleNamespace())  # type: ignore[arg-type]


def test_a_scheduler_that_is_not_an_address_is_a_usage_error(tmp_path: Path) -> None:
    from grader.cli import run as grade_cli

    root = _write_course(tmp_path / "course", timeout=4)
    subs = _hand_in(tmp_path / "subs", {"ada": SOLUTION})
    errors = io.StringIO()
    args = ["batch", "week1", str(subs), "--course", str(root), "--scheduler", "my-cluster"]
    assert grade_cli(args, err_console=Console(file=errors, width=300)) == 2
    assert "--scheduler my-cluster: give the scheduler's address, tcp://HOST:8786, or local:N" in errors.getvalue()
