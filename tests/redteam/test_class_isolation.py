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
import site
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
MARKER = "rt-daemon-7f3a"  # the name (comm) of every process an attacker starts, at most 15 characters

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
            ctypes.CDLL(None).prctl(15, b"{marker}")  # PR_SET_NAME
            time.sleep(600)
        os._exit(0)
"""

ATTACKS = {
    "daemon_double_fork": DAEMON,
    "daemon_raw_fork_syscall": """\
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.syscall(57)  # fork(2) on x86_64, behind Python's back
    if pid == 0:
        libc.setsid()
        libc.prctl(15, b"{marker}")
        time.sleep(600)
        os._exit(0)
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
    "kill_every_process_it_can": """\
    import signal
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
""",
    "fork_bomb": """\
    children, deadline = [], time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children.append(pid)
""",
    "see_other_processes": """\
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and b"pytest" in open(f"/proc/{{entry}}/cmdline", "rb").read():  # the grader
                won = True
        except OSError:
            pass
""",
    "read_the_graders_environment": """\
    won = "GRADE_REDTEAM_SECRET" in os.environ or any(
        b"GRADE_REDTEAM_SECRET" in open(f"/proc/{{p}}/environ", "rb").read()
        for p in os.listdir("/proc") if p.isdigit() and os.access(f"/proc/{{p}}/environ", os.R_OK)
    )
""",
    "write_the_hidden_tests": """\
    try:
        with open({tests!r}, "a") as f:
            f.write("\\n# planted\\n")
        won = True
    except OSError:
        pass
""",
    "plant_a_pth_file_in_site_packages": """\
    import site
    for folder in site.getsitepackages():
        try:
            with open(os.path.join(folder, "zz_grade_redteam.pth"), "w") as f:
                f.write("import os\\n")
            won = True
        except OSError:
            pass
""",
    "become_root_again": """\
    for attempt in (lambda: os.setuid(0), lambda: os.setresuid(0, 0, 0), lambda: os.setgid(0)):
        try:
            attempt()
            won = True
        except OSError:
            pass
""",
    "unshare_then_undo_the_covers": """\
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000 | 0x00020000) == 0:  # a user and mount namespace of its own
        for target in (b"/tmp", b"/root", b"/home", {course!r}.encode()):
            libc.umount2(target, 2)
        try:
            won = "def test_double" in open({tests!r}).read()
        except OSError:
            pass
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
    last = 2 * len(ATTACKS)
    write_files(subs / f"{last:02d}_honest" / FOLDER, {"basics.py": HONEST})
    linked = subs / f"{last + 1:02d}_symlink_to_another_learners_file" / FOLDER
    linked.mkdir(parents=True)
    (linked / "basics.py").symlink_to(subs / f"{last:02d}_honest" / FOLDER / "basics.py")
    write_files(subs / f"{last + 2:02d}_honest" / FOLDER, {"basics.py": HONEST})
    names += [f"{last:02d}_honest", f"{last + 1:02d}_symlink_to_another_learners_file", f"{last + 2:02d}_honest"]
    watched = [home / "sentinel.txt", tmp_sentinel, root / "tests" / FOLDER / "test_basics.py"]
    before = {p: digest(p) for p in watched}
    status_before = _git_status()
    environment = dict(os.environ)
    os.environ["HOME"] = str(home)
    os.environ["GRADE_REDTEAM_SECRET"] = "an instructor's token"
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
    planted = [Path(p) / "zz_grade_redteam.pth" for p in site.getsitepackages()]
    for path in planted:
        if path.exists():
            path.unlink()
            names.append(f"planted {path}")  # fails the honest-learner check, loudly
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
                if (entry / "comm").read_text().strip() == marker:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _gone_within(marker: str, *, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while _processes_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _git_status() -> str:
    done = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return done.stdout


def test_every_honest_learner_keeps_full_marks(graded: tuple) -> None:  # type: ignore[type-arg]
    scores, _, _, extra = graded
    honest = {name: scores.get(name) for name in extra["names"] if name.endswith("_honest") or "planted" in name}
    assert honest == {name: 3 for name in honest}, extra["output"][-3000:]


@pytest.mark.parametrize("attack", [*ATTACKS, "symlink_to_another_learners_file"])
def test_every_attack_earns_nothing(graded: tuple, attack: str) -> None:  # type: ignore[type-arg]
    scores, _, _, extra = graded
    (name,) = [n for n in extra["names"] if n.split("_", 1)[1] == attack]
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



def test_nothing_a_submission_started_runs_once_it_is_graded(tmp_path: Path) -> None:
    """Checked between two submissions of one warm worker, not only when the batch is over."""
    from grader.core.course import load_course
    from grader.engine.runner import GradeRequest
    from grader.engine.warm import WarmWorker

    course = load_course(_course(tmp_path / "course"))
    week = course.weeks[0]
    worker = WarmWorker(course, week, hide=(tmp_path,))
    try:
        for attack in ("daemon_double_fork", "daemon_raw_fork_syscall"):
            hostile = HOSTILE.format(attack=ATTACKS[attack].format(marker=MARKER))
            submission = write_files(tmp_path / attack / FOLDER, {"basics.py": hostile}).parent
            result = worker.grade(GradeRequest(course=course, week=week, submission=submission, label=attack))
            assert result.points_earned == 0
            assert _gone_within(MARKER, seconds=1.0), attack  # the zygote ends a sandbox right after its job
    finally:
        worker.close()
        for pid in _processes_with(MARKER):
            os.kill(pid, 9)
