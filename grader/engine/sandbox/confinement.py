"""Confinement of a sandbox: rlimits, dropping root or refusing new processes, bubblewrap, and
the environment of grading processes.

``confine`` runs in a freshly forked sandbox before it imports any learner code.  The bubblewrap
command wraps the zygote (and so every sandbox it forks): read-only system, no network, private
/tmp, the course folders hidden.  ``grading_environment`` tunes the allocator and OpenMP of every
grading process (the grading child and the zygote).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

from ..protocol import SpawnSettings

OUTPUT_FILE: Final = "output.txt"  # a sandbox's stdout and stderr, in its folder (the fault handler's dump)
NOBODY: Final = 65534
_PACKAGE: Final = Path(__file__).resolve().parents[2]  # grader/, the package this process runs


def confine(settings: SpawnSettings) -> Path:
    """Confine this (freshly forked) sandbox process; return its working folder, which holds a
    copy of the learner's files of this week only."""
    import faulthandler
    import os
    import resource
    import signal

    os.setsid()  # its own process group: the zygote kills everything it starts at once
    workdir = Path(settings["workdir"])
    view = settings.get("view")
    if view is not None:  # PID 1 of its own namespaces (see namespaces.py): its own view of the files
        from .namespaces import confine_view

        confine_view(hide=view["hide"], keep=view["keep"], workdir=str(workdir))
    os.chdir(workdir)
    _keep_only_plain_environment(workdir)
    output = os.open(workdir / OUTPUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    faulthandler.enable()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a flood fails its write() instead of killing
    limits = {
        resource.RLIMIT_AS: settings["memory_mb"] << 20,
        resource.RLIMIT_CPU: settings["cpu_s"],
        resource.RLIMIT_FSIZE: settings["output_mb"] << 20,
        resource.RLIMIT_NPROC: settings["max_processes"],
        resource.RLIMIT_CORE: 0,
    }
    for kind, value in limits.items():
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass  # a limit this platform (or a root user, for NPROC) does not enforce
    if view is not None:
        from .namespaces import drop_privileges

        drop_privileges(str(workdir))
    else:
        _drop_root(allowed=bool(settings.get("drop_root")), workdir=workdir)
    return workdir


# What a sandbox keeps of the grading process's environment: how to find programs, speak and
# compute.  Nothing else: an instructor's tokens and keys (AWS_*, GITHUB_TOKEN, a database URL)
# must not reach learner code.
_PLAIN_ENVIRONMENT: Final = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "GLIBC_TUNABLES",
    "PYTHONHASHSEED",
    "PYTHONDONTWRITEBYTECODE",
)
_PLAIN_PREFIXES: Final = ("LC_", "OMP_", "MKL_", "OPENBLAS_", "KMP_")


def _keep_only_plain_environment(workdir: Path) -> None:
    import os

    for name in list(os.environ):
        if name not in _PLAIN_ENVIRONMENT and not name.startswith(_PLAIN_PREFIXES):
            del os.environ[name]
    os.environ.update({"HOME": str(workdir), "TMPDIR": "/tmp"})


def _drop_root(*, allowed: bool, workdir: Path) -> None:
    """As root, become ``nobody``: the process limit applies (root is exempt from it) and no file
    of the course, the grader or the gradebook is writable.  Where nobody could not read Python
    itself (an interpreter under /root), stay root but refuse new processes at the Python level,
    so a fork bomb cannot outrun the time limit.  A learner's laptop runs unprivileged anyway."""
    import os

    if os.getuid() != 0:
        return
    if allowed:
        from .namespaces import give_folder

        give_folder(str(workdir), NOBODY)  # its private copy stays its own
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        return
    _refuse_new_processes()


def _refuse_new_processes() -> None:
    import os
    import subprocess

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError("the grading sandbox does not allow starting processes")

    for name in (
        "fork",
        "forkpty",
        "posix_spawn",
        "posix_spawnp",
        "system",
        "execv",
        "execve",
        "execvp",
        "execvpe",
        "spawnv",
        "spawnve",
    ):
        if hasattr(os, name):
            setattr(os, name, refuse)
    subprocess.Popen.__init__ = refuse  # type: ignore[method-assign]


# glibc's allocator, tuned for short-lived processes that make tensors of a few MB: such buffers
# come from the heap and are reused instead of being mapped and unmapped (and page-faulted in)
# each time, and the heap uses transparent huge pages where the kernel offers them.  A fresh
# sandbox of week 5's samplers took 5,800 page faults with glibc's defaults, 1,800 with these.
ALLOCATOR_TUNABLES: Final = (
    "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"
)


# OpenMP threads (torch's intra-op pool) that sleep as soon as a parallel kernel ends, instead of
# spinning for a while in case another comes.  Grading is a ping-pong: the grading process waits
# while its sandbox computes and the other way round, so a pool left spinning in one takes the
# core the other needs.  With spinning pools, a warm worker spent a third of the machine's CPU in
# libgomp and took 187 ms per week-5 submission; with sleeping ones, 158 ms (perf, /tmp scratch).
OPENMP_WAIT_POLICY: Final = "PASSIVE"


def grading_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment of a grading process: ``environ`` with the allocator tuned and OpenMP's
    threads sleeping when idle, unless the user chose otherwise (GLIBC_TUNABLES and
    OMP_WAIT_POLICY are theirs then; other C libraries ignore the first)."""
    defaults = {"GLIBC_TUNABLES": ALLOCATOR_TUNABLES, "OMP_WAIT_POLICY": OPENMP_WAIT_POLICY}
    return {**defaults, **environ, "PYTHONDONTWRITEBYTECODE": "1"}


def zygote_environment() -> dict[str, str]:
    """The zygote imports the very grader package this process runs (an unpacked Gradescope
    autograder next to an editable install elsewhere must not mix), found first on its path."""
    import os

    package_parent = str(_PACKAGE.parent)
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
    return {**grading_environment(dict(os.environ)), "PYTHONPATH": path}


def bwrap_works() -> bool:
    """bwrap may be installed but not allowed (no user namespaces in some containers)."""
    import subprocess

    try:
        done = subprocess.run(
            ["bwrap", "--ro-bind", "/", "/", "--unshare-net", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def bwrap_command(*, hide: list[Path], base: Path) -> list[str]:
    """Read-only system, no network, own PID namespace, private /tmp, the course folders hidden.

    Python's environment (a .venv inside the course, or one under /tmp) and the grader package stay
    visible, read-only, even where they live inside a hidden folder (an editable install).
    """

    package = _PACKAGE
    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    command += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    command += ["--new-session"]
    hidden = [folder.resolve() for folder in hide if not folder.is_file()]  # a file is the sandbox's to cover
    # Package folders on the import path besides the environment's own (a .pth file's line naming
    # another environment's site-packages, where torch may be): the sandbox imports from them too.
    packages = {Path(p).resolve() for p in sys.path if Path(p).name in ("site-packages", "dist-packages")}
    environment = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    visible = sorted(environment | {p for p in packages if p.is_dir()} | {package})
    # A visible folder that contains a hidden one is mounted first, so the hiding still applies.
    outer = [v for v in visible if any(h == v or v in h.parents for h in hidden)]
    for folder in outer:
        command += ["--ro-bind", str(folder), str(folder)]
    for folder in hidden:
        command += ["--tmpfs", str(folder)]
    for folder in visible:
        if folder not in outer:
            command += ["--ro-bind", str(folder), str(folder)]
    return command + ["--bind", str(base), str(base)]
