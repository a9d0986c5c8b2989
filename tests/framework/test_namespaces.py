"""A sandbox's own namespaces (engine/sandbox/namespaces.py), checked in throwaway child processes.

Each scenario forks: the child plays the zygote's keeper, its child the sandbox.  What the sandbox
sees is written to a pipe and checked here.  The unprivileged case (a grader that is not root,
in its own user namespace) is played by a child that becomes ``nobody`` first.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from grader.engine.sandbox import namespaces

pytestmark = pytest.mark.skipif(
    namespaces.probe([], [], []) is not None, reason=f"namespaces unavailable here: {namespaces.probe([], [], [])}"
)


def in_sandbox(body: Any, *, as_nobody: bool = False, hide: list[str] = [], workdir: str = "/var") -> dict:  # noqa: B006
    """Run ``body()`` as a confined sandbox (keeper and PID 1) and return what it reported, plus
    how the keeper ended (``exit``)."""
    read, write = os.pipe()
    keeper = os.fork()
    if keeper == 0:
        os.close(read)
        try:
            if as_nobody:  # an unprivileged grader: its sandbox needs a user namespace
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                ctypes.CDLL(None).prctl(4, 1)  # PR_SET_DUMPABLE, as a process that never was root
            namespaces.isolate_children()
            sandbox = os.fork()
            if sandbox == 0:
                namespaces.become_init()
                namespaces.confine_view(hide=hide, keep=[], workdir=workdir)
                report = {"who": namespaces.drop_privileges(workdir)}
                report.update(body())
                os.write(write, json.dumps(report).encode())
                os._exit(0)
            os.close(write)
            namespaces.relay(sandbox)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            os.write(write, json.dumps({"error": repr(exc)}).encode())
            os._exit(99)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read()
    _, status = os.waitpid(keeper, 0)
    report = json.loads(text) if text else {}
    report["exit"] = os.waitstatus_to_exitcode(status)
    return report


def _capabilities_and_covers() -> dict:
    libc = ctypes.CDLL(None, use_errno=True)
    status = Path("/proc/self/status").read_text()
    effective = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff"))
    return {
        "caps": int(effective, 16),
        "uid": os.getuid(),
        "pid": os.getpid(),
        "processes": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "umount": libc.umount2(b"/tmp", 2),
        "tmp": os.listdir("/tmp"),
        "root_visible": os.listdir("/root"),
    }


@pytest.mark.skipif(os.getuid() != 0, reason="playing both cases needs root")
@pytest.mark.parametrize("as_nobody", [False, True], ids=["grader is root", "grader is unprivileged"])
def test_a_sandbox_is_pid_1_alone_without_privileges_and_cannot_undo_its_covers(as_nobody: bool) -> None:
    Path("/tmp/grade-namespace-test-sentinel").write_text("x")
    try:
        seen = in_sandbox(_capabilities_and_covers, as_nobody=as_nobody, hide=["/root"])
    finally:
        Path("/tmp/grade-namespace-test-sentinel").unlink()
    assert "error" not in seen, seen
    assert seen["pid"] == 1 and seen["processes"] == ["1"]
    assert seen["caps"] == 0 and seen["umount"] == -1
    assert seen["tmp"] == [] and seen["root_visible"] == []
    if as_nobody:
        assert seen["who"] == "the grading user, without capabilities" and seen["uid"] == 65534
    else:
        assert seen["who"] == "a user of its own" and seen["uid"] >= namespaces.FIRST_SANDBOX_USER


def _crash_with_segfault() -> dict:
    import faulthandler

    faulthandler.disable()  # pytest's handler would print this crash's traceback
    ctypes.string_at(0)
    return {}


def _exit_with_3() -> dict:
    os._exit(3)


def test_the_keeper_relays_a_signal_and_an_exit_code() -> None:
    assert in_sandbox(_crash_with_segfault)["exit"] == -signal.SIGSEGV
    assert in_sandbox(_exit_with_3)["exit"] == 3


def test_the_workdir_stays_visible_and_writable_under_a_covered_folder(tmp_path: Path) -> None:
    workdir = tmp_path / "sandbox-1"
    workdir.mkdir()
    os.chown(workdir, 65534, 65534) if os.getuid() == 0 else None

    def write_there() -> dict:
        (workdir / "out.txt").write_text("written")
        return {"siblings": sorted(os.listdir(tmp_path))}

    (tmp_path / "other-learner").mkdir()
    seen = in_sandbox(write_there, hide=[str(tmp_path)], workdir=str(workdir))
    assert "error" not in seen, seen
    assert seen["siblings"] == ["sandbox-1"]
    assert (workdir / "out.txt").read_text() == "written"


@pytest.mark.parametrize("as_nobody", [False, True], ids=["grader is root", "grader is unprivileged"])
def test_a_sandbox_that_changed_user_still_dies_with_its_keeper(as_nobody: bool) -> None:
    """Changing user clears the parent-death signal: a hanging sandbox outlived its keeper (and
    took a core for the rest of the batch) until it was set again after the change."""
    import time

    if as_nobody and os.getuid() != 0:
        pytest.skip("playing the unprivileged grader needs root")
    read, write = os.pipe()
    keeper = os.fork()
    if keeper == 0:
        os.close(read)
        if as_nobody:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            ctypes.CDLL(None).prctl(4, 1)
        namespaces.isolate_children()
        if namespaces.fork_sandbox() == 0:
            namespaces.confine_view(hide=[], keep=[], workdir="/var")
            namespaces.drop_privileges()
            ctypes.CDLL(None).prctl(15, b"rt-hang-7f3a")  # PR_SET_NAME, for the process table
            os.write(write, b"ready")
            while True:  # a learner's endless loop
                pass
        time.sleep(600)
    os.close(write)
    assert os.read(read, 5) == b"ready"
    os.kill(keeper, signal.SIGKILL)
    os.waitpid(keeper, 0)
    deadline = time.monotonic() + 2.0
    while _named("rt-hang-7f3a") and time.monotonic() < deadline:
        time.sleep(0.01)
    left = _named("rt-hang-7f3a")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def _named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _connect_to(port: int) -> dict:
    import encodings.idna  # noqa: F401 - socket encodes host names with it; a covered stdlib cannot load it late
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return {"connected": True}
    except OSError as exc:
        return {"connected": False, "why": exc.__class__.__name__}


@pytest.mark.skipif(not namespaces.isolates_network(), reason="this kernel refuses network namespaces")
@pytest.mark.parametrize("as_nobody", [False, True], ids=["grader is root", "grader is unprivileged"])
def test_a_sandbox_reaches_no_server_of_the_machine(as_nobody: bool) -> None:
    """Without bubblewrap (a grader on a plain Linux machine), a learner's code could once reach
    the network and any server of the machine on 127.0.0.1: the instructor's Jupyter, a Dask
    scheduler.  Its own network namespace has only a loopback, and that is down."""
    import socket

    if as_nobody and os.getuid() != 0:
        pytest.skip("playing the unprivileged case needs root")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert _connect_to(port)["connected"]  # the server answers outside a sandbox (and idna is loaded)
        seen = in_sandbox(lambda: _connect_to(port), as_nobody=as_nobody)
    assert "error" not in seen, seen
    assert seen["connected"] is False, seen
