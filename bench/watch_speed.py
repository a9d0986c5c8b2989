"""How fast `grade watch` turns a save into a new score (issue #20's target: <= 1 s for a week-5
exercise on 2 cores), against a plain `grade WEEK --exercise NAME` run in the same session.

On a copy of the course (its exercises/ never touched), the library's watch loop (watchfiles and
one warm worker, exactly what `grade watch` runs) follows the week; the exercise's file is then
saved --saves times, alternating the reference and the stub, and each save is timed from the
write to the new score's arrival (the score is checked to be the one that file earns: full marks
or none).  Then `grade WEEK --exercise NAME` is run --repeat times as a fresh process.

    python bench/watch_speed.py [--week week5] [--exercise losses] [--saves 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copy_course(scratch: Path) -> Path:
    copy = scratch / "course"
    copy.mkdir()
    shutil.copy(ROOT / "course.toml", copy)
    for folder in ("exercises", "solutions", "tests"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def save_times(course_root: Path, week: str, exercise: str, saves: int) -> tuple[list[float], float]:
    """Seconds from each save to its new score, and the first (cold) grade of the week."""
    sys.path.insert(0, str(ROOT))
    from grader.core.course import load_course
    from grader.learner.watch import WatchUpdate, watch

    course = load_course(course_root)
    chosen = course.resolve(week)
    target = course.exercises_dir / chosen.folder / f"{exercise}.py"
    versions = [(course.solutions_dir / chosen.folder / f"{exercise}.py").read_text(), target.read_text()]
    updates: queue.Queue[tuple[float, WatchUpdate]] = queue.Queue()
    stop = threading.Event()

    def heard(update: WatchUpdate) -> None:
        updates.put((time.perf_counter(), update))

    started = time.perf_counter()
    thread = threading.Thread(target=watch, args=(course, chosen), kwargs={"on_update": heard, "stop": stop})
    thread.start()
    try:
        first_at, first = updates.get(timeout=300)
        if first.error:
            raise SystemExit(f"the first grade failed: {first.error}")
        times = []
        for number in range(saves):
            time.sleep(0.5)  # a learner's saves are seconds apart; let the watcher settle
            full = number % 2 == 0
            written = time.perf_counter()
            target.write_text(versions[0] if full else versions[1])
            at, update = updates.get(timeout=120)
            (graded,) = [e for e in update.result.exercises if e.name == exercise] if update.result else [None]
            if update.error or graded is None or (graded.points_earned == graded.points_possible) != full:
                raise SystemExit(f"save {number + 1}: unexpected result: {update.error or graded}")
            times.append(at - written)
            print(f"  save {number + 1:2d}: {at - written:.3f} s ({'reference' if full else 'stub'})", flush=True)
    finally:
        stop.set()
        thread.join(timeout=30)
    return times, first_at - started


def plain_grade_times(course_root: Path, week: str, exercise: str, repeat: int) -> list[float]:
    command = [sys.executable, "-m", "grader.cli", week, "--exercise", exercise, "--json", "--course", str(course_root)]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, cwd=course_root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", default="week5")
    parser.add_argument("--exercise", default="losses")
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, cores: {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as scratch:
        course_root = copy_course(Path(scratch))
        saves, first = save_times(course_root, args.week, args.exercise, args.saves)
        plain = plain_grade_times(course_root, args.week, args.exercise, args.repeat)
    median_save, median_plain = statistics.median(saves), statistics.median(plain)
    print(f"first grade of {args.week} by watch (cold worker start): {first:.2f} s")
    print(
        f"save to new score, {args.week} {args.exercise}: median {median_save:.3f} s of {len(saves)} "
        f"(min {min(saves):.3f}, max {max(saves):.3f}); target <= 1 s"
    )
    print(
        f"plain `grade {args.week} --exercise {args.exercise}`: median {median_plain:.2f} s of {len(plain)} "
        f"({', '.join(f'{t:.2f}' for t in plain)})"
    )
    print(f"ratio save / plain grade: {median_save / median_plain:.3f}")
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
