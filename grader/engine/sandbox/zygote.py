"""The zygote: a process that imports torch and NumPy once, never computes, and forks sandboxes.

Started by the trusted grading process as ``python -m grader.engine.sandbox.zygote FD`` (under bubblewrap where
available), it waits on the control socket FD.  Each ``spawn`` message carries, as an SCM_RIGHTS
file descriptor, one end of a fresh socket pair plus the sandbox's settings; the zygote forks a
sandbox that applies its limits, moves into a private copy of the learner's files and serves
requests on that socket (``student.serve``).  Forking from a process that has imported but not
computed keeps a sandbox's start cheap and fork-safe (OpenMP and torch's thread pools are not
fork-safe once they have run work).  ``stop`` kills a sandbox (its whole process group) and reports how it
ended, so the trusted side can say "segmentation fault" rather than "died".  Kills go through
the zygote because under bubblewrap the sandboxes live in their own PID namespace.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, ClassVar, Final

from ..protocol import ControlMessage, ControlReply, SpawnMessage, SpawnSettings, StopMessage, View
from . import namespaces
from .confinement import bwrap_command, bwrap_works, zygote_environment
from .student import StudentCodeError


def main(control_fd: int, config: dict[str, Any]) -> None:
    """Serve the control channel ``control_fd``; ``config`` holds the modules to ``preload``, the
    sandboxes' ``base`` folder and the folders they must not see (``hide``)."""
    import importlib

    import numpy  # noqa: F401 - imported once here, inherited by every sandbox
    import torch

    from . import student  # noqa: F401 - the server code, imported before any fork

    _warm_up(torch)
    for module in config["preload"]:
        try:
            importlib.import_module(module)
        except ImportError:  # another torch version: the sandboxes pay the import, if they need it
            pass

    control = socket.socket(fileno=control_fd)
    ended: dict[int, int] = {}
    base = config["base"]
    view = _view(config["hide"], base)
    need = [os.path.dirname(os.__file__), os.path.dirname(torch.__file__), str(_GRADER)]
    why_not = (
        "turned off by GRADE_SANDBOX_NAMESPACES=off"
        if os.environ.get("GRADE_SANDBOX_NAMESPACES") == "off"
        else namespaces.probe(view["hide"], view["keep"], need)
    )
    namespaced = why_not is None
    can_drop_root = os.getuid() == 0 and (namespaced or _nobody_can_run_python())
    _Spare.namespaced = namespaced
    control.sendall(json.dumps({"seq": 0, "sandbox": _describe(why_not, can_drop_root)}).encode() + b"\n")
    spare = _Spare.fork(control)
    requests = _Requests(control)
    while (received := requests.next()) is not None:
        request, fd = received
        _reap(ended)
        if request["op"] == "spawn":
            assert fd is not None, "a spawn request comes with its channel"
            request["settings"]["drop_root"] = can_drop_root
            if namespaced:
                request["settings"]["view"] = view
            if not spare.hand_over(request["settings"], fd):  # it died waiting: fork one now
                spare = _Spare.fork(control)
                spare.hand_over(request["settings"], fd)
            ended.pop(spare.pid, None)  # a reused pid: what an earlier sandbox of that number left is stale
            os.close(fd)
            control.sendall(json.dumps({"seq": request["seq"], "pid": spare.pid}).encode() + b"\n")
            spare = _Spare.fork(control)  # after the reply: the fork is off the grading path
        elif request["op"] == "stop":  # how a sandbox that stopped answering ended; kill it if it did not
            reply = {"seq": request["seq"], "status": _status(request["pid"], ended)}
            control.sendall(json.dumps(reply).encode() + b"\n")
        elif request["op"] == "end":  # a normal end: kill, remove its folder, reap later; no reply
            _kill(request["pid"])
            if request.get("workdir"):
                _remove_workdir(request["workdir"], base)


class _Requests:
    """The control channel: one JSON line per request; a spawn's channel arrives as SCM_RIGHTS.

    Requests without a reply (``end``) can reach us in one read with the next request, so they
    are split at newlines, and each spawn takes the next received descriptor in order."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.buffer = b""
        self.fds: collections.deque[int] = collections.deque()

    def next(self) -> tuple[ControlMessage, int | None] | None:
        """The next request and, for a spawn, its descriptor; None once the trusted side is gone."""
        while b"\n" not in self.buffer:
            try:
                message, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 16)
            except OSError:
                return None
            if not message:
                return None
            self.buffer += message
            self.fds.extend(fds)
        line, self.buffer = self.buffer.split(b"\n", 1)
        request = json.loads(line)
        fd = self.fds.popleft() if request["op"] == "spawn" and self.fds else None
        return request, fd


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _remove_workdir(path: str, base: str) -> None:
    """Remove a sandbox's folder: only ever one made for a sandbox, inside the sandboxes' base
    (``rmtree`` does not follow the links a sandbox may have planted in it)."""
    folder = Path(path)
    if folder.name.startswith("sandbox-") and folder.parent == Path(base):
        shutil.rmtree(folder, ignore_errors=True)


def _describe(why_not: str | None, drops_root: bool) -> str:
    """How each sandbox is confined here, for ``grade -v`` (the trusted side adds bubblewrap);
    ``why_not``: why it has no namespaces of its own, None if it has."""
    if why_not is None:
        who = "as a user of its own" if os.getuid() == 0 else "without capabilities"
        if namespaces.isolates_network():
            kinds, network = "PID, mount and network", "no network, "
        else:
            kinds, network = "PID and mount", "the kernel refused a network namespace, "
        hidden = "private /tmp, course, class and home folders hidden"
        return f"own {kinds} namespaces per exercise ({network}{hidden}), {who}"
    fallback = f"no namespaces of its own ({why_not})"
    if os.getuid() == 0:
        who = "as nobody" if drops_root else "as root, new processes refused at the Python level"
        return f"{who}; {fallback}"
    return f"{fallback}: a process it starts can outlive it until the time limit"


def _view(hide: list[str], base: str) -> View:
    """What every sandbox covers (the course, the class, home folders, the other sandboxes'
    folders) and what it binds back: Python, its packages and the grader, never a folder that
    holds a hidden one (the course root is on the path, for the grader package inside it)."""
    import site
    import sysconfig

    home = os.path.expanduser("~")
    covered = sorted({str(Path(p)) for p in [*hide, "/root", "/home", home, base] if p})
    # The import path, but not the grader's parent that zygote_environment put on it (a course, or
    # a repository with its tests): the grader package itself is enough.
    path = {p for p in sys.path if p != str(_GRADER.parent)}
    wanted = {
        sys.prefix, sys.base_prefix, sys.exec_prefix, str(_GRADER), *sysconfig.get_paths().values(),
        *site.getsitepackages(), site.getusersitepackages(), *path,
    }  # fmt: skip
    keep = sorted(
        str(Path(p)) for p in wanted
        if p and os.path.isabs(p) and os.path.isdir(p) and not any(c == p or c.startswith(p.rstrip("/") + "/") for c in covered)
    )  # fmt: skip
    return {"hide": covered, "keep": keep}


def _warm_up(torch: Any) -> None:
    """Pay torch's first-use costs (lazy imports such as sympy, the autograd engine, random
    generators: about 0.5 s) once here rather than in every sandbox.  Single-threaded first, and sandboxes inherit
    it: no OpenMP pool exists to be broken by the fork, and a batch with one worker per core does
    not oversubscribe the machine."""
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x = torch.randn(4, 3, generator=generator, requires_grad=True)
    target = torch.tensor([0, 2, 1, 0])
    loss = torch.nn.functional.cross_entropy(x, target) + torch.nn.functional.binary_cross_entropy_with_logits(
        x, torch.rand(4, 3, generator=generator)
    )
    loss = loss + torch.log_softmax(x, -1).mean() + (x @ x.T).sum() + torch.special.xlogy(x.abs(), x.abs()).sum()
    loss.backward()
    torch.autograd.grad((x**2).sum(), x)
    torch.multinomial(torch.ones(3), 2, generator=generator)
    torch.distributions.Normal(0.0, 1.0).log_prob(x.detach())
    torch.broadcast_shapes((3, 1), (4,))  # imports sympy (torch's symbolic shapes): 0.5 s on its own


def _serve_when_handed(handle: socket.socket) -> None:
    """Wait for a sandbox's settings and channel, then serve on it (in a spare)."""
    message, fds, _, _ = socket.recv_fds(handle, 1 << 16, 1)
    handle.close()
    if not message or not fds:
        return  # the zygote is gone
    from .student import serve

    serve(fds[0], json.loads(message))


class _Spare:
    """A sandbox forked ahead of need: it waits for its settings and channel, then serves.

    Forking a process that has imported torch takes about 4 ms (its page tables); done right
    after the previous spawn was answered, it overlaps with the tests instead of delaying them.
    Where namespaces work (``namespaced``), the spare is the sandbox's keeper: it starts a PID
    namespace whose PID 1 is the sandbox, and relays how it ended (see ``namespaces``).
    """

    namespaced: ClassVar[bool] = False

    def __init__(self, pid: int, handle: socket.socket) -> None:
        self.pid = pid
        self.handle = handle

    @classmethod
    def fork(cls, control: socket.socket) -> _Spare:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid:
            theirs.close()
            return cls(pid, ours)
        code = 0
        try:  # the sandbox-to-be, or its keeper
            control.close()
            ours.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if cls.namespaced:
                _keep(theirs)
            _serve_when_handed(theirs)
        except BaseException:  # noqa: BLE001 - a sandbox that cannot serve says why in its output
            import traceback

            traceback.print_exc()
            code = 70
        finally:
            os._exit(code)

    def hand_over(self, settings: SpawnSettings, channel_fd: int) -> bool:
        """Give this spare its sandbox's settings and channel; False if it is gone."""
        try:
            socket.send_fds(self.handle, [json.dumps(settings).encode()], [channel_fd])
        except OSError:
            return False
        finally:
            self.handle.close()
        return True


def _keep(theirs: socket.socket) -> None:
    """In the keeper: start the sandbox as PID 1 of new namespaces and relay its end; only the
    sandbox returns from here."""
    os.setsid()  # the zygote kills the keeper's group; the sandbox makes its own session
    namespaces.isolate_children()
    sandbox = namespaces.fork_sandbox()
    if sandbox == 0:
        return
    theirs.close()
    namespaces.relay(sandbox)


def _nobody_can_run_python() -> bool:
    """Whether a sandbox that drops root to ``nobody`` can still read Python, torch and the grader
    (not when they live under /root, as with pyenv as root); checked once, in a throwaway child."""
    import torch

    from . import student

    folders = [os.path.dirname(os.__file__), os.path.dirname(torch.__file__), os.path.dirname(student.__file__)]
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            ok = all(os.access(f, os.R_OK | os.X_OK) for f in folders)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _reap(ended: dict[int, int]) -> None:
    """Collect every sandbox that has ended (those stopped without waiting, too): no zombies."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ended[pid] = os.waitstatus_to_exitcode(status)


def _status(pid: int, ended: dict[int, int]) -> int | None:
    """The exit code of a sandbox that stopped answering, negative for a signal (None if it will
    not end).  The trusted side asks once the channel closed: a crashed sandbox ends (and its
    keeper relays how) within moments; one still running after that is killed."""
    if pid not in ended and not _waited(pid, ended, 0.5):
        _kill(pid)
        _waited(pid, ended, 2.0)
    return ended.pop(pid, None)


def _waited(pid: int, ended: dict[int, int], seconds: float) -> bool:
    """Whether the sandbox ``pid`` ended within ``seconds`` (its code is then in ``ended``)."""
    deadline, pause = time.monotonic() + seconds, 0.0002
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return pid in ended
        if done:
            ended[pid] = os.waitstatus_to_exitcode(status)
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


# -- the trusted side's handle ------------------------------------------------------------------


# Modules whose import a week's code triggers on first use, too slow to pay in every sandbox, by a
# pattern of the code that triggers it: building the first torch.optim optimizer imports
# torch._dynamo (1.7 s here, 824 modules), which would fall on the first test of every exercise.
_FIRST_USE_IMPORTS: Final = {"torch._dynamo": re.compile(r"\boptim\b|lr_scheduler|torch\.compile")}


def first_use_imports(folders: list[Path]) -> tuple[str, ...]:
    """What the zygote should import ahead for the week whose tests and reference are in
    ``folders``: only what their code will need, since each import delays the first sandbox."""
    sources = [path.read_text(errors="replace") for folder in folders for path in sorted(folder.glob("*.py"))]
    return tuple(module for module, used in _FIRST_USE_IMPORTS.items() if any(used.search(text) for text in sources))


class Zygote:
    """The trusted side's handle on the zygote process (the server above)."""

    def __init__(
        self,
        process: Any,
        control: socket.socket,
        base: Path,
        confinement: str,
        hide: list[Path],
        preload: tuple[str, ...],
    ) -> None:
        self.preload = preload
        self._seq = 0  # the last request number: each spawn and stop takes the next one
        self.process = process
        self.control = control
        self.replies = control.makefile("rb")
        self.base = base  # sandboxes' working folders live here (the only writable place they see)
        self.outer = confinement  # what wraps the zygote (bubblewrap or not); the zygote says the rest
        self.inner = ""
        self.hide = hide
        self.errors: Any = None  # the zygote's standard error: an unlinked file, read if it cannot start

    @classmethod
    def start(cls, *, hide: list[Path], preload: tuple[str, ...] = ()) -> Zygote:
        """Start the zygote, under bubblewrap when it works here, with ``hide`` made invisible,
        importing ``preload`` (see ``first_use_imports``) before it forks."""
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="grade-sandboxes-"))
        base.chmod(0o711)  # a sandbox running as nobody must reach its own folder inside
        zygote = cls(None, socket.socket(), base, "", hide, preload)
        zygote._launch()
        return zygote

    def _launch(self) -> None:
        import subprocess
        import sys
        import tempfile

        ours, theirs = socket.socketpair()
        config = {"preload": list(self.preload), "base": str(self.base), "hide": [str(p) for p in self.hide]}
        command = [sys.executable, "-P", "-m", "grader.engine.sandbox.zygote", str(theirs.fileno()), json.dumps(config)]
        self.outer = "rlimits, no bubblewrap (not installed: no network isolation)"
        if shutil.which("bwrap") and bwrap_works():
            command = bwrap_command(hide=self.hide, base=self.base) + command
            self.outer = "bubblewrap (no network, read-only system, course folders hidden) and rlimits"
        if self.errors is not None:
            self.errors.close()
        self.errors = tempfile.TemporaryFile()  # no name: no sandbox can find it
        self.process = subprocess.Popen(
            command,
            pass_fds=(theirs.fileno(),),
            cwd="/",  # never a folder a sandbox can write: the zygote imports lazily, too
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
            start_new_session=True,
            env=zygote_environment(),
        )
        theirs.close()
        self.control = ours
        self.replies = ours.makefile("rb")

    @property
    def confinement(self) -> str:
        """How sandboxes are confined (waits for the zygote to say, once)."""
        if not self.inner and self.start_failure() is not None:
            return f"{self.outer}; each sandbox: unknown (the zygote did not start)"
        return f"{self.outer}; each sandbox: {self.inner}"

    def start_failure(self) -> str | None:
        """Why the zygote could not start (it ended before it said how it confines), or None once
        it said so.  Waits for that first word; no sandbox has run yet, so a failure here is the
        grader's installation (a bubblewrap that cannot mount a path, a broken Python), never a
        learner's code, and must stop grading rather than fail every test of every learner."""
        if self.inner:
            return None
        try:
            self.inner = str(self._reply(0).get("sandbox", "")) or "?"
            return None
        except OSError:
            pass
        try:
            status = self.process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - still running, its socket closed: say what is known
            status = None
        self.errors.seek(0)
        said = self.errors.read()[-2000:].decode("utf-8", "replace").strip()
        how = f"it exited with code {status}" if status is not None else "it closed its control socket"
        return f"{how}" + (f": {said}" if said else " and said nothing")

    def spawn(self, settings: SpawnSettings) -> tuple[socket.socket, int]:
        """A new sandbox; a zygote that a sandbox managed to kill is started again, once."""
        try:
            return self._spawn(settings)
        except OSError:
            self.process.kill()
            self.process.wait()
            self._launch()
        try:
            return self._spawn(settings)
        except OSError as exc:
            raise StudentCodeError(
                "error", f"the sandbox could not be started ({exc}); this is the grader's fault"
            ) from None

    def _spawn(self, settings: SpawnSettings) -> tuple[socket.socket, int]:
        import json

        ours, theirs = socket.socketpair()
        try:
            message: SpawnMessage = {"op": "spawn", "seq": self._next_seq(), "settings": settings}
            socket.send_fds(self.control, [json.dumps(message).encode() + b"\n"], [theirs.fileno()])
            return ours, int(self._reply(message["seq"])["pid"])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()

    def stop(self, pid: int) -> int | None:
        """Kill the sandbox ``pid`` and everything it started, and say how it ended: its exit code
        (negative: a signal), None if that cannot be known.  A normal end needs no answer: ``end``."""
        import json

        message: StopMessage = {"op": "stop", "seq": self._next_seq(), "pid": pid}
        try:
            self.control.sendall(json.dumps(message).encode() + b"\n")
            return self._reply(message["seq"]).get("status")
        except OSError:
            return None

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _reply(self, seq: int) -> ControlReply:
        """The zygote's reply to request ``seq``.  Replies to earlier requests are skipped: a test's
        time-out can interrupt this side between a request and its reply (the alarm raises while
        it waits), and that reply must not answer the next request (it once made a spawn read a
        stop's status: ``KeyError: 'pid'`` under load)."""
        import json

        while True:
            line = self.replies.readline()
            if not line:
                raise ConnectionError("the zygote is gone")
            try:
                reply: ControlReply = json.loads(line)
            except ValueError:
                continue  # the rest of a line whose start an interrupted read consumed
            if isinstance(reply, dict) and reply.get("seq") == 0 and "sandbox" in reply and not self.inner:
                self.inner = str(reply["sandbox"])  # the zygote's hello, read on the way to a reply
            if isinstance(reply, dict) and reply.get("seq") == seq:
                return reply

    def end(self, pid: int, workdir: Path) -> None:
        """Kill the sandbox ``pid`` and remove its folder, without waiting for either (no reply)."""
        self._send({"op": "end", "pid": pid, "workdir": str(workdir)})

    def _send(self, message: ControlMessage) -> None:
        import json

        try:
            self.control.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass  # the zygote is gone, and its sandboxes with it (the next spawn starts a new one)

    def close(self) -> None:
        import shutil

        self.control.close()
        if self.errors is not None:
            self.errors.close()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.base, ignore_errors=True)


_GRADER: Final = Path(__file__).resolve().parents[2]  # the grader package, visible to every sandbox

if __name__ == "__main__":
    main(int(sys.argv[1]), json.loads(sys.argv[2]))
