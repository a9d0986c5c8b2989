"""Faults and probes for the cluster tests (test_cluster.py), in a module of its own so that the Dask
scheduler and workers, started with this folder on their PYTHONPATH, can import them."""

from __future__ import annotations

import os
import signal

from grader.classroom import cluster_worker


def kills_its_worker(archive: bytes, learner: str, fingerprint: str) -> object:
    """A task that ends its Dask worker process for one learner (what an out-of-memory kill or a
    lost machine does), and grades the others as usual."""
    if learner == "kills":
        os.kill(os.getpid(), signal.SIGKILL)
    return cluster_worker.grade_submission(archive, learner, fingerprint)


def graded_where(archive: bytes, learner: str, fingerprint: str) -> object:
    """A task that grades as usual and says which Dask worker it ran on (its name)."""
    from distributed import get_worker

    cluster_worker.grade_submission(archive, learner, fingerprint)
    return get_worker().name
