"""How fast `grade check` is, measured in one run (issue #15's targets).

(1) The cost of one mutant: week WEEK's check with ONE warm worker, timed between consecutive
    mutants (the median gap: each mutant is a whole-week submission graded on that worker),
    against one cold `grade WEEK --path DIR` of the same week (a fresh Python that imports torch,
    collects the suite and grades it; the median of --repeat runs).  Target: ratio <= 0.15.
(2) The whole check of weeks 1-5 (or --weeks) as CI runs it: `grade check WEEK` for each week
    with the default two workers, wall time.  Target: <= 120 s on 2 cores.

    python bench/check_speed.py [--week week5] [--weeks week1,week2,week3,week4,week5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cold_grade_seconds(week: str, folder: str, repeat: int) -> list[float]:
    """`grade WEEK --path COPY` on a copy of the reference, as a learner's submission would be graded."""
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as scratch:
        copy = Path(scratch) / "submission"
        shutil.copytree(ROOT / "solutions" / folder, copy / folder)
        command = [sys.executable, "-m", "grader.cli", week, "--path", str(copy), "--json"]
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - started)
    return times


def mutant_gaps(week: str) -> tuple[list[float], int, float]:
    """The seconds between consecutive mutants of a one-worker check, the mutant count, the wall time."""
    sys.path.insert(0, str(ROOT))
    from grader.authoring.check import check_course
    from grader.core.course import load_course

    course = load_course(ROOT)
    stamps: list[float] = []

    def heard(text: str) -> None:
        if ": mutant " in text:
            stamps.append(time.perf_counter())

    started = time.perf_counter()
    result = check_course(course, weeks=(course.resolve(week),), workers=1, progress=heard)
    wall = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"the check of {week} found problems: {[w.problems for w in result.weeks]}")
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)], len(stamps), wall


def whole_check_seconds(weeks: list[str]) -> float:
    started = time.perf_counter()
    for week in weeks:
        done = subprocess.run([sys.executable, "-m", "grader.cli", "check", week], cwd=ROOT, capture_output=True)
        if done.returncode != 0:
            raise SystemExit(f"grade check {week} failed:\n{done.stdout.decode()[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", default="week5")
    parser.add_argument("--weeks", default="week1,week2,week3,week4,week5")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from grader.core.course import load_course

    folder = load_course(ROOT).resolve(args.week).folder
    cold = cold_grade_seconds(args.week, folder, args.repeat)
    gaps, count, wall = mutant_gaps(args.week)
    cold_s, mutant_s = statistics.median(cold), statistics.median(gaps)
    print(
        f"(1) {args.week}: one cold `grade {args.week} --path DIR`: {cold_s:.2f} s (runs: {', '.join(f'{t:.2f}' for t in cold)})"
    )
    print(
        f"    one mutant on a warm worker: {mutant_s:.3f} s (median of {len(gaps)} gaps; {count} mutants, check {wall:.1f} s with 1 worker)"
    )
    print(f"    ratio mutant / cold grade: {mutant_s / cold_s:.3f}   (target <= 0.15)")
    weeks = args.weeks.split(",")
    total = whole_check_seconds(weeks)
    print(f"(2) grade check of {', '.join(weeks)} (2 workers): {total:.1f} s   (target <= 120 s)")


if __name__ == "__main__":
    main()
