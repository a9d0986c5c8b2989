"""Class mode under attack (issue #14, items 1 to 5): hostile learners graded in one batch, by one
warm worker, each just before an honest learner, and spies that try to profit from what came
before them.

Every hostile ``double`` returns the right answer only if its attack worked, and its ``total`` is
not implemented: a hostile learner legitimately earns 0 points, an honest one 3.  So "every
attacker scores 0" means every attack failed, and "every honest learner scores 3" means no attack
reached them.  Afterwards no process an attacker started is running, and no sentinel file outside
the batch's folders changed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from grader.classroom.gradebook import Gradebook
from grader.cli import run as grade_cli
from grader.engine.sandbox.backend import copy_plain_files

from ..framework.conftest import COURSE_TOML, SOLUTION, SUITE

FOLDER = "week01_basics"
MARKER = "grade-redteam-daemon-7f3a"  # in the command line of every process an attacker starts

HONEST = SOLUTION
# {attack} runs inside double(); it sets ``won`` when the attack worked.
HOSTILE = """\
import os, sys, ctypes, time

def double(x):
    won = False
{attack}
    return 2 * x if won else x

def total(x):
    raise NotImplementedError("total() is not implemented yet")
"""

DAEMON = """\
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "{marker}"])
        os._exit(0)
"""

ATTACKS = {
    "daemon_double_fork": DAEMON,
    "daemon_raw_fork_syscall": """\
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.syscall(57)  # fork(2) on x86_64, behind Python's back
    if pid == 0:
        libc.setsid()
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "{marker}"])
""",
    "plant_in_tmp": """\
    for folder in ("/tmp", "/dev/shm", "/var/tmp"):
        try:
            with open(os.path.join(folder, "grade_plant.txt"), "w") as f:
                f.write("planted")
        except OSError:
            pass
""",
    "spy_tmp": """\
    won = any(os.path.exists(os.path.join(f, "grade_plant.txt")) for f in ("/tmp", "/dev/shm", "/var/tmp"))
""",
    "plant_beside_own_folder": """\
    here = os.path.dirname(os.getcwd())
    for name in ("sitecustomize.py", "torch.py", "sandbox-planted"):
        try:
            with open(os.path.join(here, name), "w") as f:
                f.write("raise SystemExit('planted')")
        except OSError:
            pass
""",
    "spy_other_sandboxes": """\
    here = os.path.dirname(os.getcwd())
    try:
        seen = [n for n in os.listdir(here) if os.path.join(here, n) != os.getcwd()]
    except OSError:
        seen = []
    won = bool(seen)
""",
    "read_another_learners_submission": """\
    try:
        won = "return 2 * x" in open({victim!r}).read()
    except OSError:
        pass
""",
    "read_the_hidden_tests": """\
    try:
        won = "def test_double" in open({tests!r}).read()
    except OSError:
        pass
""",
    "read_the_gradebook": """\
    try:
        won = open({gradebook!r}, "rb").read(16).startswith(b"SQLite format 3")
    except OSError:
        pass
""",
    "read_the_home_folder": """\
    try:
        won = open({home_sentinel!r}).read() == "sentinel"
    except OSError:
        pass
""",
    "write_the_home_folder": """\
    try:
        with open({home_sentinel!r}, "w") as f:
            f.write("overwritten")
        won = True
    except OSError:
        pass
""",
    "run_as_root": """\
    won = os.geteuid() == 0
""",
    "undo_the_covers": """\
    libc = ctypes.CDLL(None, use_errno=True)
    for target in (b"/tmp", b"/root", b"/home", {course!r}.encode()):
        if libc.umount2(target, 2) == 0:  # MNT_DETACH
            won = True
""",
}


def write_files(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def digest(path: Path) -> tuple[str, int, int, int]:
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_uid, info.st_gid, info.st_mode


@pytest.fixture(scope="module")
def graded() -> Iterator[tuple[dict[str, float], list[str], dict, dict]]:  # type: ignore[type-arg]
    # Outside /tmp, which bubblewrap hides anyway: what hides these folders must be the sandbox's own view.
    base = Path(tempfile.mkdtemp(prefix="grade-class-", dir="/var/tmp" if os.access("/var/tmp", os.W_OK) else None))
    try:
        yield _grade_the_class(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _grade_the_class(base: Path) -> tuple[dict[str, float], list[str], dict, dict]:  # type: ignore[type-arg]
    home = write_files(base / "home", {"sentinel.txt": "sentinel"})
    tmp_sentinel = write_files(base / "outside", {"sentinel.txt": "sentinel"}) / "sentinel.txt"
    root = _course(base / "course")
    subs = base / "subs"
    gradebook = base / "books" / "grades.db"
    gradebook.parent.mkdir()
    names: list[str] = []
    for number, (attack, code) in enumerate(ATTACKS.items()):
        honest, hostile = f"{2 * number:02d}_honest", f"{2 * number + 1:02d}_{attack}"
        write_files(subs / honest / FOLDER, {"basics.py": HONEST})
        values = {
            "marker": MARKER,
            "victim": str(subs / f"{2 * number + 2:02d}_honest" / FOLDER / "basics.py"),
            "tests": str(root / "tests" / FOLDER / "test_basics.py"),
            "gradebook": str(gradebook),
            "home_sentinel": str(home / "sentinel.txt"),
            "course": str(root),
        }
        write_files(subs / hostile / FOLDER, {"basics.py": HOSTILE.format(attack=code.format(**values))})
        names += [honest, hostile]
    write_files(subs / f"{2 * len(ATTACKS):02d}_honest" / FOLDER, {"basics.py": HONEST})
    names.append(f"{2 * len(ATTACKS):02d}_honest")
    watched = [home / "sentinel.txt", tmp_sentinel]
    before = {p: digest(p) for p in watched}
    status_before = _git_status()
    environment = dict(os.environ)
    os.environ["HOME"] = str(home)
    try:
        out = io.StringIO()
        console = Console(file=out, width=200, color_system=None)
        argv = ["batch", "week1", str(subs), "--course", str(root), "--workers", "1", "--gradebook", str(gradebook)]
        grade_cli(argv, console=console, err_console=console)
    finally:
        os.environ.clear()
        os.environ.update(environment)
    with Gradebook.open(gradebook, create=False) as book:
        scores = {e.learner: e.points_earned for e in book.current("week1")}
    survivors = _processes_with(MARKER)
    for pid in survivors:
        os.kill(pid, 9)
    after = {p: digest(p) for p in watched}
    return scores, [str(p) for p in survivors], {"before": before, "after": after}, {
        "git": (status_before, _git_status()), "output": out.getvalue(), "names": names,
    }


def _course(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "course.toml").write_text(COURSE_TOML.format(timeout=5))
    write_files(root / "solutions" / FOLDER, {"basics.py": SOLUTION})
    write_files(root / "exercises" / FOLDER, {"basics.py": SOLUTION})
    write_files(root / "tests" / FOLDER, {"test_basics.py": textwrap.dedent(SUITE.format(exercise="basics"))})
    return root


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _git_status() -> str:
    done = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return done.stdout


def test_every_honest_learner_keeps_full_marks(graded: tuple) -> None:  # type: ignore[type-arg]
    scores, _, _, extra = graded
    honest = {name: scores.get(name) for name in extra["names"] if name.endswith("_honest")}
    assert honest == {name: 3 for name in honest}, extra["output"][-3000:]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_every_attack_earns_nothing(graded: tuple, attack: str) -> None:  # type: ignore[type-arg]
    scores, _, _, extra = graded
    (name,) = [n for n in extra["names"] if n.endswith("_" + attack)]
    assert scores.get(name) == 0, (attack, extra["output"][-3000:])


def test_no_process_an_attacker_started_is_left_running(graded: tuple) -> None:  # type: ignore[type-arg]
    assert graded[1] == []


def test_no_file_outside_the_batch_changed(graded: tuple) -> None:  # type: ignore[type-arg]
    files, extra = graded[2], graded[3]
    assert files["before"] == files["after"]
    assert extra["git"][0] == extra["git"][1]


def test_the_sandbox_copy_leaves_links_out_and_never_reads_through_them(tmp_path: Path) -> None:
    secret = write_files(tmp_path / "secret", {"key.txt": "secret"}) / "key.txt"
    learner = write_files(tmp_path / "learner", {"basics.py": HONEST})
    (learner / "linked.py").symlink_to(secret)
    (learner / "folder_link").symlink_to(secret.parent, target_is_directory=True)
    os.mkfifo(learner / "pipe.py")
    copy_plain_files(learner, tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["basics.py"]

