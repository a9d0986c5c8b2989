"""What the time-out locator costs a sandbox call: arming and cancelling faulthandler's stack
dump (``grader/engine/sandbox/student.py``, ``serve``) around each request, against a sandbox
round trip of the same process (a tiny call through ``StudentSide.execute``).

    python bench/where_dump.py        # prints the two per-call costs and their ratio
"""

from __future__ import annotations

import faulthandler
import statistics
import tempfile
import time
from pathlib import Path

from grader.engine import transport
from grader.engine.sandbox.student import WHERE_EVERY_S, StudentSide, Submission

CALLS = 5000


def per_call(run: object, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean seconds per call of ``run()`` over CALLS calls."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(CALLS):
            run()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) / CALLS)
    return statistics.median(timings)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "week").mkdir()
        (root / "week" / "ex.py").write_text("def double(x):\n    return 2 * x\n")
        side = StudentSide(Submission(root, "exercises"), "_bench_student")
        request = transport.encode({"op": "call", "week": "week", "exercise": "ex", "function": "double",
                                    "args": [3], "kwargs": {}})  # fmt: skip
        with open(root / "where.txt", "w") as where:

            def armed() -> None:
                faulthandler.dump_traceback_later(WHERE_EVERY_S, repeat=True, file=where)
                faulthandler.cancel_dump_traceback_later()

            call = per_call(lambda: side.execute(request))
            arm = per_call(armed)
    print(f"a tiny call through StudentSide.execute: {call * 1e6:.1f} µs")
    print(f"arming and cancelling the stack dump:     {arm * 1e6:.1f} µs ({arm / call:.2f}x a tiny call)")


if __name__ == "__main__":
    main()
