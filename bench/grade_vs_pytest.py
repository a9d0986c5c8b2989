"""How much the grading framework adds over plain pytest, measured in one run.

Times ``grade WEEK --solutions`` (parent process, grading child, event stream, report)
against ``python -m pytest tests/<week folder>`` (the same suite, the same solutions, run by
plain pytest with the plugin) on this machine, alternating the two to share the machine's
noise, and prints the medians and their ratio.  Target: a ratio of at most 1.30.

    python bench/grade_vs_pytest.py [--week week5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", default="week5")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from grader.core.course import load_course

    folder = load_course(ROOT).resolve(args.week).folder
    grade = [sys.executable, "-m", "grader.cli", args.week, "--solutions", "--json"]
    pytest = [sys.executable, "-m", "pytest", f"tests/{folder}", "-q", "-p", "no:cacheprovider"]
    timed(grade), timed(pytest)  # warm the file cache once for both
    grade_times, pytest_times = [], []
    for _ in range(args.repeat):
        grade_times.append(timed(grade))
        pytest_times.append(timed(pytest))
    g, p = statistics.median(grade_times), statistics.median(pytest_times)
    print(f"week {args.week} ({folder}), {args.repeat} alternating runs each, medians:")
    print(f"  grade {args.week} --solutions : {g:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in grade_times)})")
    print(f"  plain pytest               : {p:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in pytest_times)})")
    print(f"  ratio grade / pytest       : {g / p:6.2f}   (target <= 1.30)")


if __name__ == "__main__":
    main()
