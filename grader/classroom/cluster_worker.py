"""The worker side of grading on a Dask cluster (``cluster.py`` is the coordinator's side).

``GradingPlugin`` is a ``distributed.WorkerPlugin`` hosting one warm worker
(``engine.warm.WarmWorker``) per Dask worker: its set-up loads the course installed on that
machine, checks the course's fingerprint against the coordinator's, and starts the grading child
(a new process by ``subprocess``: it imports torch and starts the zygote; nothing is forked from
the Dask worker); its tear-down stops it.  ``grade_submission`` is the task: it unpacks one
submission's archive into the worker's scratch folder and grades it with that warm worker.
Imported only where the ``cluster`` extra is installed.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Final

from distributed import Client, Worker, WorkerPlugin, get_worker

from ..core.course import Course, Week, load_course
from ..core.errors import GraderError
from ..core.results import WeekResult
from ..engine.runner import GradeRequest, threads_per_child
from ..engine.warm import WarmWorker
from .fingerprint import suite_hash

PLUGIN_NAME: Final = "grader-warm-worker"
COURSE_ENV: Final = "GRADE_COURSE"  # on a worker: where the course is installed, if not where the coordinator has it
THREADS_ENV: Final = "GRADE_THREADS"  # on a worker: CPU threads of its grading process (default: every core)


class WorkerRefusalError(GraderError):
    """A cluster worker cannot grade the week: it has another version of the course than the
    coordinator (or none), or learner code cannot be confined there (its sandbox does not start)."""


# -- the plugin and the task --------------------------------------------------------------------------


class GradingPlugin(WorkerPlugin):
    """Hosts one warm worker in a Dask worker (registered as a ``distributed.WorkerPlugin``).

    Plain attributes only: the scheduler pickles the plugin to every worker, present and future.
    """

    name = PLUGIN_NAME

    def __init__(self, *, course_root: str, week_id: str, fingerprint: str, threads: int | None) -> None:
        self.course_root = course_root
        self.week_id = week_id
        self.fingerprint = fingerprint
        self.threads = threads
        self._warm: WarmWorker | None = None
        self._course: Course | None = None
        self._week: Week | None = None
        self._scratch: Path | None = None
        self._refusal = ""
        self._jobs = 0

    def setup(self, worker: Worker) -> None:
        self._lock = threading.Lock()  # one submission at a time per warm worker, whatever --nthreads says
        root = Path(os.environ.get(COURSE_ENV) or self.course_root)
        try:
            course = load_course(root)
            week = course.resolve(self.week_id)
            found = suite_hash(course, week)
        except GraderError as exc:
            self._refusal = f"worker {worker.address}: cannot load the course at {root}: {exc.message}"
            return
        if found != self.fingerprint:
            self._refusal = (
                f"worker {worker.address}: the course at {root} is another version of {self.week_id} "
                f"(fingerprint {found[:12]}, the coordinator's {self.fingerprint[:12]}): install the same course, "
                "suites and reference on every worker and restart it"
            )
            return
        self._course, self._week = course, week
        if self.threads is None:  # a remote worker: its machine's cores (Dask's nanny set OMP_NUM_THREADS=1)
            self.threads = int(os.environ.get(THREADS_ENV) or threads_per_child(1))
        self._scratch = Path(tempfile.mkdtemp(prefix="grade-dask-"))
        self._warm = WarmWorker(course, week, hide=(self._scratch,))
        try:
            self._warm.start(self.threads)  # torch and the zygote now, not on the first submission
        except GraderError as exc:  # e.g. a sandbox that cannot start on this machine
            self._refusal = f"worker {worker.address}: {exc.message}"

    def teardown(self, worker: Worker) -> None:
        if self._warm is not None:
            self._warm.close()
            self._warm = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def grade(self, archive: bytes, learner: str, fingerprint: str) -> WeekResult:
        if self._refusal:
            raise WorkerRefusalError(self._refusal)
        if fingerprint != self.fingerprint:
            raise WorkerRefusalError(f"this worker grades {self.week_id} fingerprint {self.fingerprint[:12]}")
        assert self._warm is not None and self._course is not None and self._week is not None
        assert self._scratch is not None
        with self._lock:
            self._jobs += 1
            folder = self._scratch / f"j{self._jobs:06d}"
            try:
                unpack(archive, folder)
                request = GradeRequest(
                    course=self._course, week=self._week, submission=folder, label=learner, threads=self.threads
                )
                return self._warm.grade(request)
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    def refusal(self) -> str:
        return self._refusal


def grade_submission(archive: bytes, learner: str, fingerprint: str) -> WeekResult:
    """The task run on a Dask worker: grade one packed submission with the worker's warm worker."""
    plugin = get_worker().plugins[PLUGIN_NAME]
    assert isinstance(plugin, GradingPlugin)
    return plugin.grade(archive, learner, fingerprint)


def refusals(client: Client) -> list[str]:
    """Why workers of the client's cluster refuse to grade (another course, none): empty if none does."""
    return [text for text in client.run(_worker_refusal).values() if text]


def _worker_refusal(dask_worker: Worker) -> str:
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    return plugin.refusal() if isinstance(plugin, GradingPlugin) else f"worker {dask_worker.address}: no grader"


# -- archives ---------------------------------------------------------------------------------


def pack(folder: Path) -> bytes:
    """The intake's folder as a tar archive (regular files and folders only: staging made it so)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack(archive: bytes, folder: Path) -> None:
    """Unpack under ``folder`` with tarfile's ``data`` filter: no absolute path, no ``..``, no link
    or device leaves it, whoever built the archive."""
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        tar.extractall(folder, filter="data")
