"""Kernel namespaces for one sandbox: its own PID namespace, its own view of the files.

Linux only, through the C library (Python 3.11 has no ``os.unshare``).  A sandbox is forked in
two steps from the zygote:

* the *keeper*, a child of the zygote, calls ``isolate_children``: its next child starts a new
  PID namespace, a new mount namespace and a new network namespace (no interface but a loopback
  that is down: no network, not even the machine's own 127.0.0.1), and a user namespace where the
  grader is not root, so that it may mount at all;
* the *sandbox* is that child, PID 1 of its namespace.  ``become_init`` makes it die with its
  keeper; when PID 1 dies, the kernel kills every process of the namespace, however it was
  started (``os.fork``, a raw ``clone`` through ctypes, ``setsid``, a daemon's double fork).
  The zygote kills the keeper; the keeper relays how the sandbox ended (``relay``).

Before it imports learner code the sandbox calls ``confine_view``: private ``/tmp``,
``/var/tmp`` and ``/dev/shm``; the folders it must not read (the course, the home folders, the
class's submissions, other sandboxes' folders) covered by empty file systems; what Python needs
bound back read-only; its own working folder bound back writable.  Then ``drop_privileges``:
as root it becomes a user of its own; in a user namespace it gives up every capability, so it can
neither undo a mount nor gain one back.
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path
from typing import Final

CLONE_NEWNS: Final = 0x00020000
CLONE_NEWNET: Final = 0x40000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
_MS_RDONLY: Final = 1
_MS_NOSUID: Final = 2
_MS_NODEV: Final = 4
_MS_NOEXEC: Final = 8
_MS_REMOUNT: Final = 32
_MS_BIND: Final = 4096
_MS_REC: Final = 16384
_MS_PRIVATE: Final = 1 << 18
_PR_SET_PDEATHSIG: Final = 1
_PR_SET_NO_NEW_PRIVS: Final = 38
_CAP_VERSION_3: Final = 0x20080522
PRIVATE_SCRATCH: Final = ("/tmp", "/var/tmp", "/dev/shm")  # writable by anyone: one per sandbox

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(OSError):
    """A namespace call failed (the kernel or a container does not allow it)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise NamespaceError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


_network: int = CLONE_NEWNET  # 0 where the kernel refuses network namespaces (see probe)


def isolates_network() -> bool:
    """Whether each sandbox gets a network namespace of its own (no network at all)."""
    return _network != 0


def isolate_children() -> None:
    """The caller's next child starts a new PID, mount and network namespace (a user namespace too
    when not root, mapping the caller's own user); mounts made there never reach the rest of the
    machine, and it has no network."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWPID | CLONE_NEWNS | _network | (CLONE_NEWUSER if uid != 0 else 0)
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")
    if uid != 0:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)


_keeper_watch: int | None = None  # the sandbox's end of a pipe the keeper holds open: EOF once it is gone


def fork_sandbox() -> int:
    """In the keeper: fork the sandbox (PID 1 of the new namespaces), which dies with the keeper;
    returns the sandbox's pid in the keeper, 0 in the sandbox."""
    global _keeper_watch
    watch, held = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(held)
        _keeper_watch = watch
        become_init()
        return 0
    os.close(watch)  # ``held`` stays open, unwritten, for the keeper's whole life
    return pid


def become_init() -> None:
    """In the sandbox (PID 1 of its namespace): die with the keeper, and so take every process of
    the namespace along (killing the keeper alone would leave PID 1 running).

    The kernel forgets this when the process changes user (``drop_privileges`` does), so it is
    set again after; a keeper that died in between is seen on the pipe, and the sandbox ends."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if _keeper_watch is not None:
        import select

        if select.select([_keeper_watch], [], [], 0)[0]:  # readable: EOF, the keeper is gone
            os._exit(0)


def relay(pid: int) -> None:
    """In the keeper: wait for the sandbox ``pid`` and end the same way (exit code or signal), so
    the zygote can tell a segmentation fault from ``os._exit(3)``.  Never returns."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(70)
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code if code >= 0 else 128 - code)


def confine_view(*, hide: list[str], keep: list[str], workdir: str) -> None:
    """Make this mount namespace show only what a sandbox needs (see the module's docstring).

    ``keep`` (Python, its packages, the grader) is opened before anything is covered, then bound
    back where it was, read-only; ``workdir`` likewise, writable."""
    held = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in [*keep, workdir] if os.path.isdir(path)}
    os.umask(0o022)  # the folders made below to reach what is bound back: traversable by nobody
    try:
        covered: list[str] = []
        for scratch in PRIVATE_SCRATCH:
            if os.path.isdir(scratch):
                _mount("tmpfs", scratch, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777,size=256m")
                covered.append(scratch)
        for path in sorted(set(hide), key=len):
            if any(_inside(path, c) for c in covered):
                continue
            if os.path.isdir(path):
                _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
                covered.append(path)
            elif os.path.isfile(path):  # a file (the gradebook): an empty one in its place
                _mount("/dev/null", path, None, _MS_BIND)
        for path, fd in sorted(held.items(), key=lambda item: len(item[0])):
            if any(_inside(path, c) for c in covered):
                os.makedirs(path, mode=0o755, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
                if path != workdir:
                    _mount(None, path, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    finally:
        for fd in held.values():
            os.close(fd)
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)  # its own processes, no one else's


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def drop_privileges(workdir: str | None = None) -> str:
    """Give up what the grading user may do; says who the sandbox now is.

    As root: a user of its own (``sandbox_user``), owner of ``workdir``: the process limit then
    counts this sandbox's processes alone (as a shared ``nobody``, one learner's fork bomb, or its
    processes still being torn down, stopped the next learner's sandbox from starting a thread),
    and no file of the grader's is writable.  In the user namespace of an unprivileged grader:
    every capability dropped and no way back (no new privileges), so learner code cannot unmount
    the covers of ``confine_view``."""
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    if os.getuid() == 0:
        user = sandbox_user()
        if workdir is not None:
            give_folder(workdir, user)
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)
        become_init()  # changing user cleared the parent-death signal
        return "a user of its own"
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable; twice (64 capabilities)
    _check(_libc.capset(header, data), "capset")
    become_init()
    return "the grading user, without capabilities"


FIRST_SANDBOX_USER: Final = 1_900_000_000  # far above real users and the usual subordinate ranges
SANDBOX_USERS: Final = 200_000_000


def sandbox_user() -> int:
    """A user id for one sandbox, drawn at random from a range no account uses: unique among the
    few sandboxes alive at once on a machine (PID namespaces make process ids unfit for this)."""
    return FIRST_SANDBOX_USER + int.from_bytes(os.urandom(4), "little") % SANDBOX_USERS


def give_folder(folder: str, user: int) -> None:
    """Make ``folder`` (a sandbox's copy of the learner's files, made by the trusted side: folders
    and regular files only) belong to ``user``; links are never followed."""
    for here, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            os.chown(os.path.join(here, name), user, user, follow_symlinks=False)
    os.chown(folder, user, user, follow_symlinks=False)


def probe(hide: list[str], keep: list[str], need: list[str]) -> str | None:
    """None if per-sandbox namespaces work here and a confined sandbox can still read ``need``
    (Python, torch, the grader), else why not; checked once, in a throwaway child.  A kernel that
    refuses only the network namespace (a container's seccomp profile) gets the others without
    it: ``isolates_network`` says which."""
    global _network
    why = _probe_once(hide, keep, need)
    if why is not None and _network:
        _network = 0
        if _probe_once(hide, keep, need) is None:
            return None
        _network = CLONE_NEWNET
    return why


def _probe_once(hide: list[str], keep: list[str], need: list[str]) -> str | None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        why = ""
        try:
            isolate_children()
            inner = os.fork()
            if inner == 0:
                code = 3
                try:
                    become_init()
                    confine_view(hide=hide, keep=keep, workdir="/")
                    drop_privileges()
                    code = 0 if all(os.access(folder, os.R_OK | os.X_OK) for folder in need) else 2
                finally:
                    os._exit(code)
            _, status = os.waitpid(inner, 0)
            code = os.waitstatus_to_exitcode(status)
            if code == 2:
                why = "a confined sandbox could not read Python or torch"
            elif code != 0:
                why = f"the sandbox could not set up its namespaces (exit {code})"
        except OSError as exc:
            why = str(exc)
        os.write(write, why.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        said = answer.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return said or None
