"""Grading a class on a Dask cluster: ``grade batch WEEK SUBS --scheduler tcp://HOST:8786``.

Dask distributed is the cluster engine (the ``cluster`` extra): it places the work, notices a
worker that is gone and runs its task again elsewhere.  Each Dask worker hosts one of our warm
workers (``engine.warm.WarmWorker``) through a ``WorkerPlugin``: its set-up loads the course
installed on that machine, checks the course's fingerprint, and starts the grading child (a new
process by ``subprocess``, which imports torch and starts the zygote; nothing is forked from the
Dask worker); its tear-down stops it.  Learner code runs there exactly as on one machine: in the
warm worker's sandboxes, never in the Dask worker.

A submission travels as a task argument: the intake's folder (already bounded by ``staging``:
size, file count, no links) packed as a tar archive; the result comes back as the same frozen
``WeekResult`` a local batch gets.  Only the coordinator (``batch.grade_batch``) writes the
gradebook, one transaction per submission, so resume, regrade, late policy and exports do not
know where a grade was computed.

Failures: a learner's time-out or crash is an outcome inside the ``WeekResult`` (a grade), never
an exception, so Dask never retries it.  A worker lost mid-submission (killed, out of memory, its
machine gone) makes the scheduler run the task on another worker, at most ``RETRIES`` more times
(the coordinator sets the scheduler's ``allowed-failures``); a submission that kills workers
every time ends as ``InfrastructureFailure``, which the batch stores as an infrastructure error
with its reason.  A worker whose course differs from the coordinator's refuses every task with
a ``WorkerRefusalError``, which stops the batch before anything is graded; so does a worker
whose grading process cannot start (a sandbox that cannot start there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..core.course import Course, Week
from ..core.errors import MissingExtraError, UsageError
from ..core.results import WeekResult
from ..engine.runner import threads_per_child
from .gradebook import INFRASTRUCTURE_ERROR
from .intake import Intake

if TYPE_CHECKING:
    from distributed import Client

CLUSTER_EXTRA: Final = 'pip install -e ".[cluster]"'
RETRIES: Final = 2  # a submission whose worker was lost runs again at most twice, on another worker
IN_FLIGHT_PER_WORKER: Final = 2  # archives held by the scheduler at once, per worker


@dataclass(frozen=True)
class InfrastructureFailure:
    """A submission that could not be graded for the cluster's sake, not the learner's."""

    reason: str


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingExtraError("Dask distributed", for_what="grade batch --scheduler", install=CLUSTER_EXTRA) from None
    return distributed


# -- the coordinator --------------------------------------------------------------------------


@contextmanager
def connect(scheduler: str, *, workers: int) -> Iterator[Client]:
    """A client of the scheduler at ``tcp://HOST:PORT``, or of a ``LocalCluster`` for ``local:N``
    (processes on 127.0.0.1 only, one thread each, no dashboard), closed afterwards."""
    distributed = _distributed()
    if scheduler.startswith("local:") or scheduler == "local":
        count = scheduler.partition(":")[2] or str(workers)
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--scheduler {scheduler}: give local:N with N at least 1, e.g. local:2")
        cluster = distributed.LocalCluster(
            n_workers=int(count),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"allowed_failures": RETRIES},
        )
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    if "://" not in scheduler:
        raise UsageError(f"--scheduler {scheduler}: give the scheduler's address, tcp://HOST:8786, or local:N")
    try:
        client = distributed.Client(scheduler, timeout="20s")
    except OSError as exc:
        raise UsageError(
            f"--scheduler {scheduler}: no Dask scheduler answers there ({exc}); start one with `dask scheduler`"
        ) from None
    with client:
        yield client


def dask_worker_count(client: Client) -> int:
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


def task_resources(scheduler: str, week: Week) -> dict[str, float]:
    """What each of the week's tasks asks of its worker: one GPU for a week marked ``gpu = true``
    on a running cluster (whose workers offer ``--resources GPU=1``, one per GPU, so that exactly
    one submission uses each GPU at a time); nothing on ``local:N``, which grades on this
    machine's own devices as ``--workers N`` does."""
    return {"GPU": 1} if week.gpu and not scheduler.startswith("local") else {}


def _workers_offering(client: Client, resources: dict[str, float]) -> int:
    """How many workers offer ``resources``; a usage error, before anything is sent, if none does
    (the tasks would wait for ever)."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    offering = [
        address
        for address, info in workers.items()
        if all(info.get("resources", {}).get(name, 0) >= amount for name, amount in resources.items())
    ]
    if resources and not offering:
        wanted = ", ".join(f"{name}={amount:g}" for name, amount in resources.items())
        raise UsageError(
            f"this week's tasks need {wanted} (gpu = true in course.toml) and none of the cluster's "
            f"{len(workers)} worker(s) offers it: start one worker per GPU with "
            f"`CUDA_VISIBLE_DEVICES=i dask worker ... --nthreads 1 --resources {wanted}` (docs/cluster.md)"
        )
    return len(offering)


def grade_on_cluster(
    client: Client,
    *,
    course: Course,
    week: Week,
    intakes: Sequence[Intake],
    fingerprint: str,
    threads: int | None,
    resources: dict[str, float] | None = None,
    task: Callable[[bytes, str, str], object] | None = None,
) -> Iterator[tuple[Intake, WeekResult | InfrastructureFailure]]:
    """Results as they finish, from every worker of the client's cluster.

    Registers the grading plugin (on present and future workers; removed at the end) for the
    week's ``fingerprint`` (``fingerprint.suite_hash``, the batch's own), stops with a
    ``WorkerRefusalError`` if any worker has another course or cannot grade, then keeps a bounded
    number of submissions in flight, each asking for ``resources`` (``task_resources``).  A
    ``KilledWorker`` (the submission's workers died ``RETRIES + 1`` times) is an
    ``InfrastructureFailure`` for that submission; the batch goes on.  ``task`` (for tests)
    replaces ``cluster_worker.grade_submission`` with a function of the same arguments.
    """
    distributed = _distributed()
    from .cluster_worker import PLUGIN_NAME, GradingPlugin, WorkerRefusalError, grade_submission, pack, refusals

    if not intakes:
        return
    resources = resources or {}
    offering = _workers_offering(client, resources)
    plugin = GradingPlugin(course_root=str(course.root), week_id=week.id, fingerprint=fingerprint, threads=threads)
    client.register_plugin(plugin, name=PLUGIN_NAME)
    try:
        client.run_on_scheduler(_limit_retries, retries=RETRIES)  # type: ignore[no-untyped-call]
        refused = refusals(client)
        if refused:
            raise WorkerRefusalError("\n".join(refused))
        pending = list(reversed(intakes))
        by_future: dict[Any, Intake] = {}
        window = distributed.as_completed()

        def submit() -> None:
            intake = pending.pop()
            assert intake.root is not None
            future = client.submit(
                task or grade_submission,
                pack(intake.root),
                intake.learner,
                fingerprint,
                pure=False,
                resources=resources or None,
            )
            by_future[future] = intake
            window.add(future)

        for _ in range(min(len(pending), max(1, offering) * IN_FLIGHT_PER_WORKER)):
            submit()
        for future in window:
            intake = by_future.pop(future)
            if pending:
                submit()
            try:
                yield intake, future.result()
            except distributed.KilledWorker as exc:
                yield intake, InfrastructureFailure(_killed_reason(exc))
            finally:
                future.release()
    finally:  # the warm workers stop; an idle cluster keeps no grading process for this week
        client.unregister_worker_plugin(PLUGIN_NAME)  # type: ignore[no-untyped-call]


def _limit_retries(dask_scheduler: Any, retries: int) -> None:
    """Run on the scheduler: a task whose worker dies is run again at most ``retries`` times."""
    dask_scheduler.allowed_failures = retries


def _killed_reason(exc: BaseException) -> str:
    return (
        f"{INFRASTRUCTURE_ERROR}grading it ended the Dask worker {RETRIES + 1} times (last on "
        f"{getattr(getattr(exc, 'last_worker', None), 'address', 'a worker')}); it was not graded: "
        "see the workers' logs, then run the batch again to retry it"
    )


def local_threads(scheduler: str, workers: int) -> int | None:
    """Threads per grading child: a share of this machine's cores for ``local:N``; on a remote
    cluster the worker's own (one Dask worker per machine or per GPU, docs/cluster.md)."""
    if scheduler.startswith("local"):
        count = scheduler.partition(":")[2]
        return threads_per_child(int(count) if count.isdigit() else workers)
    return None
