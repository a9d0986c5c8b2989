"""Red team: submissions that try to get points without solving, or to break grading.

One week, one exercise per attack (the task: ``answer(x)`` returns ``2 * x``), graded once with
learner code in the sandbox. Every attack must score 0, the control exercises graded before and
after the attacks must keep full marks, and no file outside the sandbox may change. Attacks that
read or write the course's files, or use the network, are defended by bubblewrap; without it (a
laptop) those are skipped here and the README says what the fallback does not stop.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import textwrap
import uuid
from pathlib import Path

import pytest

from grader.core.course import load_course
from grader.core.results import WeekResult
from grader.engine.runner import GradeRequest, grade_week

HAS_BWRAP = shutil.which("bwrap") is not None
WEEK = "week01_target"
SOLUTION = "def answer(x):\n    return 2 * x\n"

SUITE = """\
import pytest
import torch

from grader.testing import assert_close

pytestmark = pytest.mark.exercise("{exercise}")


@pytest.mark.points(1)
@pytest.mark.hint("twice x")
def test_answer(student):
    x = torch.arange(6.0)
    assert_close(student.answer(x), 2 * x)


def _via_probe(m, x):
    return m.answer(x)


@pytest.mark.points(1)
@pytest.mark.hint("twice x")
def test_answer_in_a_probe(student):
    x = torch.arange(6.0) + 1
    assert_close(student.run(_via_probe, x), 2 * x)
"""

# Each attack is the learner's whole file. {course}, {canary} and {port} are filled in.
ATTACKS: dict[str, str] = {
    "always_equal": """
        class Anything:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
        def answer(x): return Anything()
    """,
    "tensor_subclass_that_lies": """
        import torch
        class Liar(torch.Tensor):
            def __eq__(self, other): return torch.ones_like(other, dtype=torch.bool)
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None): return True
        def answer(x): return torch.zeros(6).as_subclass(Liar)
    """,
    "object_dtype_array": """
        import numpy as np
        class Anything:
            def __eq__(self, other): return True
        def answer(x): return np.array([Anything()] * 6, dtype=object)
    """,
    "patch_torch_comparisons": """
        import torch
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        torch.testing.assert_close = lambda *a, **k: None
        torch.Tensor.__sub__ = lambda self, other: torch.zeros_like(self)
        def answer(x): return torch.zeros_like(x)
    """,
    "patch_numpy_testing": """
        import numpy as np, torch
        np.testing.assert_allclose = lambda *a, **k: None
        np.allclose = lambda *a, **k: True
        def answer(x): return torch.zeros_like(x)
    """,
    "patch_the_graders_helpers": """
        import torch
        import grader.testing, grader.engine.transport, grader.engine.sandbox.student
        grader.testing.assert_close = lambda *a, **k: None
        grader.testing._difference = lambda *a, **k: None
        grader.engine.transport.decode = lambda message: None
        def answer(x): return torch.zeros_like(x)
    """,
    "walk_the_call_stack_for_the_expected_value": """
        import inspect, torch
        def answer(x):
            for frame in inspect.stack():
                for value in frame.frame.f_locals.values():
                    if isinstance(value, torch.Tensor) and value.shape == x.shape and not torch.equal(value, x):
                        return value
            return torch.zeros_like(x)
    """,
    "scan_gc_for_the_expected_value": """
        import gc, torch
        def answer(x):
            for value in gc.get_objects():
                if isinstance(value, torch.Tensor) and value.shape == x.shape and not torch.equal(value, x):
                    return value
            return torch.zeros_like(x)
    """,
    "read_the_hidden_tests": """
        import pathlib, re, torch
        def answer(x):
            source = pathlib.Path("{course}/tests/week01_target").glob("*.py")
            factor = float(re.findall(r"(\\d+) \\* x", next(source).read_text())[0])
            return factor * x
    """,
    "run_the_reference_solution": """
        import runpy
        def answer(x):
            return runpy.run_path("{course}/solutions/week01_target/aa_control.py")["answer"](x)
    """,
    "write_a_fake_gradebook": """
        import json, pathlib, torch
        def answer(x):
            grade = pathlib.Path("{course}/.grade")
            grade.mkdir(exist_ok=True)
            (grade / "scores.json").write_text(json.dumps({{"week1": {{"points_earned": 999}}}}))
            (grade / "history.json").write_text(json.dumps({{"weeks": {{"week1": [{{"points_earned": 999}}]}}}}))
            pathlib.Path("{course}/tests/week01_target/test_zz_control.py").write_text("")
            return torch.zeros_like(x)
    """,
    "edit_files_at_import_time": """
        import pathlib, torch
        with open("{course}/course.toml", "a") as f:
            f.write("# pwned")
        pathlib.Path("/tmp/{canary}").write_text("escaped")
        def answer(x): return torch.zeros_like(x)
    """,
    "sys_exit_mid_test": """
        import sys
        def answer(x): sys.exit(0)
    """,
    "os_exit_mid_test": """
        import os
        def answer(x): os._exit(0)
    """,
    "sigkill_itself": """
        import os, signal
        def answer(x): os.kill(os.getpid(), signal.SIGKILL)
    """,
    "kill_its_parent": """
        import os, signal, torch
        def answer(x):
            for pid in (os.getppid(), 1):
                try: os.kill(pid, signal.SIGKILL)
                except OSError: pass
            return torch.zeros_like(x)
    """,
    "infinite_loop": """
        def answer(x):
            while True:
                pass
    """,
    "swallow_the_timeout": """
        import time
        def answer(x):
            while True:
                try: time.sleep(1)
                except BaseException: pass
    """,
    "memory_bomb": """
        def answer(x):
            blocks = []
            while True:
                blocks.append(bytearray(1 << 26))
    """,
    "torch_memory_bomb": """
        import torch
        def answer(x): return torch.ones(1 << 40)
    """,
    "fork_bomb": """
        import os, time
        def answer(x):
            while True:
                try: os.fork()
                except OSError: time.sleep(0.01)
    """,
    "output_flood": """
        def answer(x):
            while True:
                print("x" * 100000)
    """,
    "deep_recursion": """
        def answer(x): return answer(x)
    """,
    "overflow_the_c_stack": """
        import sys
        sys.setrecursionlimit(10 ** 8)
        def answer(x, depth=0): return answer(x, depth + 1)
    """,
    "segfault_through_ctypes": """
        import ctypes
        def answer(x): return ctypes.string_at(0)
    """,
    "phone_home": """
        import socket, torch
        def answer(x):
            with socket.create_connection(("127.0.0.1", {port}), timeout=1) as s:
                s.sendall(b"hello")
            return torch.zeros_like(x)
    """,
    "leave_global_state_behind": """
        import os, numpy as np, torch
        torch.set_default_dtype(torch.float16)
        torch.manual_seed(0)
        np.random.seed(0)
        torch.mul = lambda *a, **k: torch.zeros(6)
        torch.Tensor.__mul__ = lambda self, other: torch.zeros(6)
        os.chdir("/")
        def answer(x): return x + x + 1
    """,
    "garble_the_reply_channel": """
        import os, torch
        def answer(x):
            for fd in range(3, 64):
                try: os.write(fd, b"\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00Kjunk")
                except OSError: pass
            return torch.zeros_like(x)
    """,
}
NEEDS_BWRAP = {
    "read_the_hidden_tests",
    "run_the_reference_solution",
    "write_a_fake_gradebook",
    "edit_files_at_import_time",
    "phone_home",
}


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class Listener:
    """A loopback server the phone_home attack tries to reach; it records any connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.01)
        self.port = self.server.getsockname()[1]

    def was_contacted(self) -> bool:
        try:
            connection, _ = self.server.accept()
        except (TimeoutError, OSError):
            return False
        connection.close()
        return True


@pytest.fixture(scope="module")
def attacked(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[WeekResult, dict[str, str], dict[str, str], Path, str, bool]:
    root = tmp_path_factory.mktemp("redteam")
    canary = f"redteam-canary-{uuid.uuid4().hex}"
    listener = Listener()
    (root / "course.toml").write_text(
        f'[course]\ntitle = "Red team"\n\n[grading]\ntimeout = 2\nsandbox = "process"\n\n'
        f'[[weeks]]\nid = "week1"\nfolder = "{WEEK}"\ntitle = "Target"\n'
    )
    for kind in ("solutions", "exercises", "tests"):
        (root / kind / WEEK).mkdir(parents=True)
    sources = {**ATTACKS, "aa_control": SOLUTION, "zz_control": SOLUTION}
    for name, source in sources.items():
        text = textwrap.dedent(source).format(course=root, canary=canary, port=listener.port)
        (root / "solutions" / WEEK / f"{name}.py").write_text(SOLUTION)
        (root / "exercises" / WEEK / f"{name}.py").write_text(text)
        (root / "tests" / WEEK / f"test_{name}.py").write_text(SUITE.format(exercise=name))
    before = tree_digest(root)
    course = load_course(root)
    result = grade_week(
        GradeRequest(course=course, week=course.weeks[0], submission=course.exercises_dir, label="exercises")
    )
    contacted = listener.was_contacted()
    escaped = Path("/tmp", canary).exists()
    Path("/tmp", canary).unlink(missing_ok=True)
    return result, before, tree_digest(root), root, "escaped" if escaped else "", contacted


def outcomes(result: WeekResult, exercise: str) -> dict[str, tuple[str, str]]:
    (found,) = [e for e in result.exercises if e.name == exercise]
    return {o.info.name: (o.status, o.message) for o in found.outcomes}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_attack_scores_zero(attacked: tuple, attack: str) -> None:  # type: ignore[type-arg]
    if attack in NEEDS_BWRAP and not HAS_BWRAP:
        pytest.skip("defended by bubblewrap, which is not installed here")
    result = attacked[0]
    for name, (status, message) in outcomes(result, attack).items():
        assert status != "passed", f"{attack}: {name} passed"
        assert message, f"{attack}: {name} failed without saying why"


@pytest.mark.parametrize(
    "control",
    [
        "aa_control",
        pytest.param(
            "zz_control",
            marks=pytest.mark.skipif(
                not HAS_BWRAP,
                reason="without bubblewrap an attack graded before it can edit the course's test files (docs/integrity.md)",
            ),
        ),
    ],
)
def test_correct_code_graded_before_and_after_the_attacks_keeps_full_marks(attacked: tuple, control: str) -> None:  # type: ignore[type-arg]
    assert outcomes(attacked[0], control) == {"test_answer": ("passed", ""), "test_answer_in_a_probe": ("passed", "")}


@pytest.mark.skipif(not HAS_BWRAP, reason="without bubblewrap the sandbox can write the course's files")
def test_no_file_of_the_course_changed(attacked: tuple) -> None:  # type: ignore[type-arg]
    _, before, after, _, _, _ = attacked
    assert after == before


@pytest.mark.skipif(not HAS_BWRAP, reason="without bubblewrap the sandbox shares /tmp")
def test_nothing_escaped_to_the_real_tmp(attacked: tuple) -> None:  # type: ignore[type-arg]
    assert attacked[4] == ""


@pytest.mark.skipif(not HAS_BWRAP, reason="without bubblewrap the sandbox has the network")
def test_the_sandbox_has_no_network(attacked: tuple) -> None:  # type: ignore[type-arg]
    assert attacked[5] is False


def test_the_attacks_fail_for_the_right_reasons(attacked: tuple) -> None:  # type: ignore[type-arg]
    result = attacked[0]
    expect = {
        "always_equal": "bad_return",
        "tensor_subclass_that_lies": "bad_return",
        "object_dtype_array": "bad_return",
        "os_exit_mid_test": "crashed",
        "segfault_through_ctypes": "crashed",
        "infinite_loop": "timeout",
        "swallow_the_timeout": "timeout",
        "sys_exit_mid_test": "error",
        "deep_recursion": "error",
    }
    for attack, status in expect.items():
        assert outcomes(result, attack)["test_answer"][0] == status, (attack, outcomes(result, attack))
    # A sandbox with its own PID namespace is its PID 1, and the kernel does not deliver to PID 1
    # a signal it sends itself: the kill is then a no-op and the function returns None.
    assert outcomes(result, "sigkill_itself")["test_answer"][0] in ("crashed", "failed")


def test_python_stays_visible_without_uncovering_a_hidden_course(tmp_path: Path) -> None:
    """A venv that contains the course (or lives under /tmp) is mounted before the course is hidden."""
    import sys

    from grader.engine.sandbox.confinement import bwrap_command

    course = Path(sys.prefix).resolve() / "my-course"
    command = bwrap_command(hide=[course], base=tmp_path)
    binds = [command[i + 1] for i, word in enumerate(command) if word == "--ro-bind"]
    hides = [command[i + 1] for i, word in enumerate(command) if word == "--tmpfs"]
    assert str(Path(sys.prefix).resolve()) in binds and str(course) in hides
    assert command.index(str(Path(sys.prefix).resolve())) < command.index(str(course))
