"""Grading a class on Dask workers against `grade batch --workers 2` on this machine, in one run.

Why: the cluster path (``grade batch --scheduler``, issue #21) adds packing each submission, the
scheduler's round trips and Dask's worker processes around the same warm workers; this measures
what that costs on one machine, where it can only cost (target: within 15 % of the local
throughput).  The class is the one ``batch_vs_nbgrader.py`` builds from week 5 (``--n``, default
100: about 55 % correct, 25 % partly wrong, 12 % broken, 8 % hanging, deterministic from
``--seed``), graded with a 3 s per-test limit (a copy of the course, as there).

Three runs of ``grade batch week5 SUBS`` into fresh gradebooks, in this order:

* ``--workers 2``: the default engine, two warm workers on this machine;
* ``--scheduler tcp://127.0.0.1:PORT``: a ``dask scheduler`` and two ``dask worker --nthreads 1``
  processes (``GRADE_THREADS=1``: they share the cores, as the local run's workers do) started
  before the timer (a cluster that is already up, as in a course);
* ``--scheduler local:2``: a ``LocalCluster`` started by ``grade batch`` itself (inside the timer).

Each run's wall-clock time and submissions per second, the ratios to the local run, and whether
every learner got the same score in all three.  The machine's load (``os.getloadavg``) is printed
before and after: on a shared machine the timings are noisy, so quote ratios from one run.

    python bench/cluster_vs_local.py            # 100 learners
    python bench/cluster_vs_local.py --n 20     # quickly
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import batch_vs_nbgrader as classes  # noqa: E402 - the class generator of the other benchmark

WEEK = "week5"
RUNS = ("local", "tcp", "localcluster")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="learners in the class (default 100)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--timeout", default="3", help="per-test limit in seconds (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (gradebooks, logs)")
    return parser.parse_args()


def batch(course: classes.Course, subs: Path, book: Path, engine: list[str], log: Path) -> float:
    command = [sys.executable, "-m", "grader.cli", "batch", WEEK, str(subs), "--gradebook", str(book), *engine]
    command += ["--course", str(course.root)]
    return classes.run(command, cwd=course.root, what=f"grade batch {' '.join(engine)}", ok=(0, 1), log=log)


def scores(book: Path) -> dict[str, float]:
    with sqlite3.connect(book) as db:
        rows = db.execute(
            "SELECT learner, points_earned FROM submissions WHERE id IN (SELECT MAX(id) FROM submissions GROUP BY learner)"
        )
        return {learner: points for learner, points in rows}


def start_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    info = tmp / "scheduler.json"
    local = ["--host", "127.0.0.1", "--no-dashboard"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", *local, "--port", "0", "--scheduler-file", str(info)],
            stdout=subprocess.DEVNULL, stderr=(tmp / "scheduler.log").open("w"),
        )
    ]  # fmt: skip
    deadline = time.monotonic() + 60
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    from distributed import Client

    with Client(scheduler_file=str(info), timeout="30s") as client:
        address = client.scheduler.address
        for name in ("w0", "w1"):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address, *local, "--nthreads", "1",
                     "--name", name],
                    stdout=subprocess.DEVNULL, stderr=(tmp / f"{name}.log").open("w"),
                    env={**os.environ, "GRADE_THREADS": "1"},  # two workers share this machine's 2 cores
                )
            )  # fmt: skip
        client.wait_for_workers(2, timeout=120)
    return address, processes


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cluster-vs-local-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        course = classes.prepare_course(tmp, args.timeout)
        subs = classes.make_class(args.n, args.seed, course, classes.collect_tests(course))
        folder = classes.write_submissions(subs, tmp / "subs", course.folder)
        print(f"class of {args.n} (week 5, {args.timeout} s per test); load before: {os.getloadavg()}", flush=True)
        local = batch(course, folder, tmp / "local.db", ["--workers", "2"], tmp / "local.log")
        print(f"  grade batch --workers 2          : {local:6.1f} s  {args.n / local:5.2f} submissions/s", flush=True)
        address, processes = start_cluster(tmp)
        remote = batch(course, folder, tmp / "tcp.db", ["--scheduler", address], tmp / "tcp.log")
        print(
            f"  --scheduler tcp:// (2 workers up) : {remote:6.1f} s  {args.n / remote:5.2f} submissions/s"
            f"  throughput {local / remote:.2f}x local",
            flush=True,
        )
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        processes = []
        started = batch(course, folder, tmp / "localcluster.db", ["--scheduler", "local:2"], tmp / "lc.log")
        print(
            f"  --scheduler local:2 (incl. start) : {started:6.1f} s  {args.n / started:5.2f} submissions/s"
            f"  throughput {local / started:.2f}x local",
            flush=True,
        )
        found = [scores(tmp / f"{name}.db") for name in RUNS]
        same = found[0] == found[1] == found[2] and len(found[0]) == args.n
        differ = sorted(k for k in found[0] if not found[0][k] == found[1].get(k) == found[2].get(k))
        print(f"  same score for every learner in all three: {same}")
        for learner in differ:
            print(f"    {learner}: " + ", ".join(f"{name} {run.get(learner)}" for name, run in zip(RUNS, found, strict=True)))
        print(f"load after: {os.getloadavg()}")
        return 0
    finally:
        for process in processes:
            process.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
