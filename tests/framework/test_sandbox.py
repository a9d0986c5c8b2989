"""How sandboxes are started: ahead of need, from a spare the zygote forked, with a share of the cores.

None of this may change a grade: a module imported ahead still answers for its own tests only.
"""

from __future__ import annotations

import os
import signal
import socket
import textwrap
from pathlib import Path

import pytest

from grader.core.course import load_course
from grader.core.results import WeekResult
from grader.engine.runner import GradeRequest, grade_week, threads_per_child
from grader.engine.sandbox import channel
from grader.engine.sandbox.backend import read_reply
from grader.engine.sandbox.channel import _FRAME, recv_frame, send_frame
from grader.engine.sandbox.confinement import grading_environment
from grader.engine.sandbox.zygote import Zygote, _Spare

from .conftest import COURSE_TOML, SOLUTION, MakeCourse, outcomes

# a_first's test waits a second after its first call; b_second's module notes when it was imported.
AHEAD_SUITE = """\
import os
import time

import pytest
import torch

pytestmark = pytest.mark.exercise("{exercise}")


def _imported_at(m):
    return m.IMPORTED_AT


def _threads(m):
    return torch.get_num_threads()


def _wait_policy(m):
    import os

    return os.environ.get("OMP_WAIT_POLICY")


@pytest.mark.points(1)
def test_import_time(student):
    asked = time.time()
    imported = student.run(_imported_at)
    if "{exercise}" == "a_first":
        time.sleep(1.0)
    if "{exercise}" == "b_second":
        assert imported < asked - 0.5, f"imported {{asked - imported:.2f}} s before its first test asked"


@pytest.mark.points(1)
def test_threads(student):
    assert torch.get_num_threads() == 1, f"the grading process uses {{torch.get_num_threads()}} threads"
    assert student.run(_threads) == 1


@pytest.mark.points(1)
def test_idle_threads_sleep(student):
    assert os.environ.get("OMP_WAIT_POLICY") == "PASSIVE"
    assert student.run(_wait_policy) == "PASSIVE"
"""

TIMED = "import time\nIMPORTED_AT = time.time()\n" + SOLUTION


def grade_course(root: Path, exercises: dict[str, str], *, threads: int | None = 1) -> WeekResult:
    for kind in ("tests", "solutions", "exercises"):
        (root / kind / "week01_basics").mkdir(parents=True)
    (root / "course.toml").write_text(COURSE_TOML.format(timeout=4))  # the first test sleeps 1 s: room under load
    for name, source in exercises.items():
        (root / "solutions" / "week01_basics" / f"{name}.py").write_text(TIMED)
        (root / "exercises" / "week01_basics" / f"{name}.py").write_text(textwrap.dedent(source))
        (root / "tests" / "week01_basics" / f"test_{name}.py").write_text(AHEAD_SUITE.format(exercise=name))
    course = load_course(root)
    request = GradeRequest(
        course=course, week=course.weeks[0], submission=course.exercises_dir, label="exercises", threads=threads
    )
    return grade_week(request)


@pytest.fixture(scope="module")
def ahead_result(tmp_path_factory: pytest.TempPathFactory) -> WeekResult:
    hangs = "while True:\n    pass\n" + TIMED
    return grade_course(tmp_path_factory.mktemp("ahead"), {"a_first": TIMED, "b_second": TIMED, "c_hangs": hangs})


def test_the_next_exercise_is_imported_before_its_first_test_asks(ahead_result: WeekResult) -> None:
    assert outcomes(ahead_result, "b_second")["test_import_time"] == ("passed", "")


def test_a_file_that_hangs_at_import_fails_its_own_tests_only(ahead_result: WeekResult) -> None:
    for before in ("a_first", "b_second"):
        assert {status for status, _ in outcomes(ahead_result, before).values()} <= {"passed", "failed"}
    found = outcomes(ahead_result, "c_hangs")
    status, message = found["test_import_time"]
    assert status == "timeout"
    assert message.startswith("timed out after 4 s; your code was at exercises/week01_basics/c_hangs.py:")
    status, message = found["test_threads"]
    assert status == "import_error"
    assert "c_hangs.py took longer than 4 s" in message


def test_a_grading_process_and_its_sandboxes_use_the_threads_they_are_given(ahead_result: WeekResult) -> None:
    """Fails without the limit on a machine of two or more cores (torch takes them all)."""
    assert outcomes(ahead_result, "a_first")["test_threads"] == ("passed", "")


def test_idle_openmp_threads_sleep_in_a_grading_process_and_its_sandboxes(ahead_result: WeekResult) -> None:
    """Spinning ones took the core that the other side of the ping-pong needed."""
    assert outcomes(ahead_result, "a_first")["test_idle_threads_sleep"] == ("passed", "")


def test_a_wait_policy_or_allocator_setting_of_the_users_own_is_kept() -> None:
    mine = {"OMP_WAIT_POLICY": "ACTIVE", "GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}
    assert grading_environment(mine).items() >= mine.items()


def test_parallel_grading_processes_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert [threads_per_child(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert threads_per_child(4) == 1


def test_a_spare_that_died_is_not_handed_a_sandbox() -> None:
    control, zygote_end = socket.socketpair()
    spare = _Spare.fork(zygote_end)
    os.kill(spare.pid, signal.SIGKILL)
    os.waitpid(spare.pid, 0)
    ours, theirs = socket.socketpair()
    try:
        assert spare.hand_over({"workdir": "/nonexistent"}, theirs.fileno()) is False
    finally:
        for end in (control, zygote_end, ours, theirs):
            end.close()


# -- the channel between grader and sandbox -----------------------------------------------------


def _through_a_socket(*parts: bytes) -> bytearray:
    """Send one frame of ``parts`` and receive it on the other end (a thread reads while we write)."""
    import threading

    ours, theirs = socket.socketpair()
    received: list[bytearray] = []
    reader = threading.Thread(target=lambda: received.append(recv_frame(theirs)))
    reader.start()
    try:
        send_frame(ours, *parts)
        reader.join(timeout=60)
    finally:
        ours.close()
        theirs.close()
    assert received, "the frame never arrived whole"
    return received[0]


def test_a_frame_of_many_small_and_large_parts_arrives_whole_and_in_order() -> None:
    # more large parts than one sendmsg takes, each larger than the socket's buffer holds at once
    parts = [bytes([i % 251]) * (70_000 if i % 2 else 3) for i in range(1_300)]
    assert _through_a_socket(*parts) == b"".join(parts)


def test_a_frame_larger_than_the_preallocated_buffer_arrives_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel, "_PREALLOCATED", 1_000)
    payload = os.urandom(300_000)
    assert _through_a_socket(payload[:10], memoryview(payload)[10:]) == payload


def test_a_frame_cut_short_is_an_end_of_channel_not_a_short_message() -> None:
    ours, theirs = socket.socketpair()
    ours.sendall(_FRAME.pack(1_000) + b"only part of it")
    ours.close()
    with pytest.raises(EOFError):
        recv_frame(theirs)
    theirs.close()


def test_a_tensor_crosses_the_channel_unchanged() -> None:
    import torch

    from grader.engine import transport

    value = {"samples": torch.randn(300_000, dtype=torch.float64), "labels": torch.arange(7).reshape(7, 1)}
    reply = _through_a_socket(b"K", *transport.encode_parts(value))
    ok, back = read_reply(reply)
    assert ok and torch.equal(back["samples"], value["samples"]) and torch.equal(back["labels"], value["labels"])


class _Trickle:
    """A channel whose every send takes at most a few bytes (as a signal can cut one short)."""

    def __init__(self) -> None:
        self.received = bytearray()

    def sendmsg(self, buffers: list[memoryview]) -> int:
        budget = 7
        for buffer in buffers:
            taken = bytes(buffer[:budget])
            self.received += taken
            budget -= len(taken)
            if not budget:
                break
        return 7 - budget


def test_a_send_cut_short_goes_on_where_it_stopped() -> None:
    channel = _Trickle()
    parts = [b"K", os.urandom(70_000), b"tail", os.urandom(100)]
    send_frame(channel, *parts)  # type: ignore[arg-type]
    assert bytes(channel.received) == _FRAME.pack(70_105) + b"".join(parts)


# -- the zygote's control channel ---------------------------------------------------------------


def test_requests_read_together_are_each_handled_and_a_spawn_takes_its_own_channel() -> None:
    from grader.engine.sandbox.zygote import _Requests

    ours, zygote_end = socket.socketpair()
    read_end, write_end = os.pipe()
    try:
        ours.sendall(b'{"op": "end", "pid": 1}\n{"op": "end", "pid": 2, "workdir": "/x"}\n')  # no replies
        socket.send_fds(ours, [b'{"op": "spawn", "settings": {}}\n'], [read_end])
        requests = _Requests(zygote_end)
        received = [requests.next() for _ in range(3)]
        assert [r and (r[0]["op"], r[0].get("pid")) for r in received] == [("end", 1), ("end", 2), ("spawn", None)]
        assert received[0] and received[0][1] is None
        spawn_fd = received[2] and received[2][1]
        assert spawn_fd is not None and os.path.sameopenfile(spawn_fd, read_end)
        ours.close()
        assert requests.next() is None, "the trusted side closed the channel: the zygote must stop"
    finally:
        for fd in (read_end, write_end):
            os.close(fd)
        zygote_end.close()


def test_a_sandbox_ended_normally_has_its_folder_removed_by_the_zygote() -> None:
    import time

    zygote = Zygote.start(hide=[])
    try:
        workdir = zygote.base / "sandbox-test"
        workdir.mkdir()
        (workdir / "copy.py").write_text("x = 1\n")
        settings = {"workdir": str(workdir), "label": "exercises", "package": "student", "memory_mb": 2048}
        settings |= {"cpu_s": 60, "output_mb": 8, "max_processes": 64, "week": "week01_basics"}
        channel, pid = zygote.spawn(settings)
        channel.close()
        zygote.end(pid, workdir)
        deadline = time.monotonic() + 20
        while workdir.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not workdir.exists(), "the folder of a sandbox that ended normally was left behind"
        kept = [zygote.base / "notes", zygote.base / "sandbox-outer" / "sandbox-inner"]
        for folder in kept:
            folder.mkdir(parents=True)
            zygote.end(pid, folder)  # only a sandbox's own folder, directly in the base, is ever removed
        channel, pid = zygote.spawn(settings | {"workdir": str(kept[0])})  # a round trip: the ends were handled
        channel.close()
        assert all(folder.exists() for folder in kept)
    finally:
        zygote.close()


def test_a_reply_left_unread_by_an_interrupted_request_never_answers_the_next_one() -> None:
    # Issue #14 (9): under load, a test's time-out raised while this side waited for a stop's
    # reply; the next spawn then read that reply ("KeyError: 'pid'", the sandbox out of step).
    import json

    zygote = Zygote.start(hide=[])
    try:
        settings = {"label": "exercises", "package": "student", "memory_mb": 2048, "week": "week01_basics"}
        settings |= {"cpu_s": 60, "output_mb": 8, "max_processes": 64}
        channel, pid = zygote.spawn(settings | {"workdir": str(zygote.base / "sandbox-a")})
        channel.close()
        interrupted = {"op": "stop", "seq": 0, "pid": pid}  # requests are numbered from 1
        zygote.control.sendall(json.dumps(interrupted).encode() + b"\n")  # its reply is never read here
        channel, second = zygote.spawn(settings | {"workdir": str(zygote.base / "sandbox-b")})
        assert second != pid
        assert zygote.stop(second) is not None
        channel.close()
    finally:
        zygote.close()


PRELOAD_SUITE = """\
import pytest

pytestmark = pytest.mark.exercise("{{exercise}}")


def _dynamo_loaded(m):
    import sys

    return "torch._dynamo" in sys.modules


@pytest.mark.points(1)
def test_what_the_sandbox_has_imported(student):
    # {mention}
    assert student.run(_dynamo_loaded) is {expected}
"""


@pytest.mark.parametrize(
    ("mention", "expected"),
    [("the learner builds a torch.optim optimizer", True), ("nothing that is slow to import", False)],
)
def test_the_zygote_imports_ahead_what_the_weeks_code_will_need(
    make_course: MakeCourse, mention: str, expected: bool
) -> None:
    # Week 7: a sandbox's first torch.optim optimizer imports torch._dynamo (1.7 s), once per exercise
    # unless the zygote has imported it; a week that does not use it must not pay for it.
    suite = PRELOAD_SUITE.format(mention=mention, expected=expected)
    root = make_course({"basics": SOLUTION}, suite=suite, timeout=60)  # the zygote's start under load is not the point
    course = load_course(root)
    result = grade_week(
        GradeRequest(course=course, week=course.weeks[0], submission=course.exercises_dir, label="exercises")
    )
    assert outcomes(result, "basics") == {"test_what_the_sandbox_has_imported": ("passed", "")}


def test_a_sandbox_that_cannot_start_stops_grading_instead_of_failing_every_test(
    make_course: MakeCourse, tmp_path: Path, bwrap_that_cannot_mount: None
) -> None:
    """A bubblewrap that cannot mount a path (seen with a bad path) once gave every learner a
    zero, each test 'the sandbox could not be started'.  No learner code has run at that point:
    it is the grader's installation, so grading stops and says why, and nothing is scored."""
    from grader.core.errors import GradingError
    from grader.engine.warm import WarmWorker

    root = make_course({"basics": SOLUTION}, timeout=30)
    course = load_course(root)
    request = GradeRequest(course=course, week=course.weeks[0], submission=course.exercises_dir, label="exercises")
    with pytest.raises(GradingError) as cold:
        grade_week(request)
    worker = WarmWorker(course, course.weeks[0], hide=(tmp_path / "work",))
    try:
        with pytest.raises(GradingError) as warm:
            worker.grade(request)
    finally:
        worker.close()
    for raised in (cold, warm):
        assert (
            "the sandbox for learner code cannot start on this machine: it exited with code 1" in raised.value.message
        )
        assert "Can't bind mount /oldroot/nowhere" in raised.value.message
        assert "Nothing was graded" in raised.value.message
