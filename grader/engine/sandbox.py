"""Where student code runs, and the proxy tests use to reach it.

Two halves, joined only by transport messages (bytes):

* ``StudentSide`` imports the learner's modules and executes requests: call ``entropy`` with
  these arguments, or run this probe (given as source text) on the module.  It turns every
  failure of student code into a plain-data error record: not implemented, an exception with
  the learner's own frame, a missing function, a file that does not import, a value that is
  not plain data.
* ``ExerciseProxy`` is what the ``student`` and ``reference`` fixtures give a test.  It encodes
  a request, hands it to a backend, decodes the reply, and raises ``StudentCodeError`` for an
  error record.

The backend here is in-process (``InProcessBackend``).  Because tests only ever see the
proxy and only plain data crosses, a backend that runs ``StudentSide`` in another, confined
process replaces it without any test changing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import shutil
import socket
import struct
import sys
import textwrap
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Final, Literal, Protocol

from . import transport

ErrorStatus = Literal["not_implemented", "error", "missing", "import_error", "bad_return", "crashed"]
MESSAGE_LIMIT: Final = 300
_PACKAGE: Final = Path(__file__).resolve().parents[1]  # grader/, the package this process runs
_PROBE_GLOBALS: Final = ("torch", "nn", "F", "np", "math")


class TestTimeout(Exception):
    """Raised into running code when a test's time is up.

    An Exception, not a BaseException: pytest (9.2) leaves a fixture's state broken when a
    BaseException escapes fixture setup, which would fail every later test.  A learner's
    ``except Exception`` can swallow it; then the parent process kills the grading child at
    the limit plus a grace period, and the result is the same "timed out".
    """

    __test__ = False  # not a test class, despite the name

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


class StudentCodeError(Exception):
    """Student code failed; ``message`` is the one line the learner reads, ``status`` its kind."""

    def __init__(self, status: ErrorStatus, message: str, *, traceback_text: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.traceback_text = traceback_text


@dataclass(frozen=True)
class Submission:
    """A folder laid out like exercises/: ``root/<week folder>/<exercise>.py``.

    ``label`` is how paths are shown to the learner (``exercises``), so messages read
    ``exercises/week05_probability/information.py:14`` whatever the absolute path is.
    """

    root: Path
    label: str

    def display(self, path: str | Path) -> str:
        try:
            relative = Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return str(path)
        return f"{self.label}/{relative.as_posix()}"


@dataclass(frozen=True)
class Route:
    """Where a request goes, read by a backend without decoding the request (its arguments)."""

    week: str
    exercise: str
    op: str  # "call", "probe" or "load"


class Backend(Protocol):
    """Executes one encoded request against student code; returns the decoded reply.

    The reply is ``(True, value)`` or ``(False, error record)``; a reply that does not decode is
    the backend's to deal with (a process backend ends the sandbox that sent it).
    """

    def execute(self, request: bytes, route: Route) -> tuple[bool, Any]: ...


_ERROR_STATUSES: Final = frozenset(ErrorStatus.__args__)  # type: ignore[attr-defined]


def read_reply(reply: transport.Buffer) -> tuple[bool, Any]:
    """Decode a StudentSide reply; anything but a plain value or a well-formed error record is
    a MalformedMessage (this is the trust boundary: the bytes may come from a hostile process)."""
    reply = memoryview(reply).cast("B")
    tag, value = bytes(reply[:1]), transport.decode(reply[1:])
    if tag == b"K":
        return True, value
    well_formed = (
        tag == b"E"
        and isinstance(value, dict)
        and value.get("status") in _ERROR_STATUSES
        and isinstance(value.get("message"), str)
        and isinstance(value.get("traceback"), str)
    )
    if not well_formed:
        raise transport.MalformedMessage("not a reply")
    return False, value


class StudentSide:
    """Imports a submission's modules and executes requests on them (the untrusted side)."""

    def __init__(self, submission: Submission, package: str) -> None:
        self.submission = submission
        self.package = package
        self._modules: dict[tuple[str, str], types.ModuleType | StudentCodeError] = {}
        self._probes: dict[str, Callable[..., Any]] = {}

    def execute(self, request: transport.Buffer) -> bytes:
        """Run one request; the reply is ``b"K"`` + the encoded value, or ``b"E"`` + an error record."""
        return b"".join(self.execute_parts(request))

    def execute_parts(self, request: transport.Buffer) -> list[transport.Buffer]:
        """``execute``'s reply in pieces, a tensor's bytes not copied (see ``transport.encode_parts``)."""
        try:
            result, name = self._dispatch(transport.decode(request))
            try:
                return [b"K", *transport.encode_parts(result)]
            except transport.UnsupportedValue as exc:
                where = "" if exc.path == "result" else f" (at {exc.path})"
                raise StudentCodeError(
                    "bad_return",
                    f"{name} returned {exc.found}{where}, which cannot be graded; "
                    "return tensors, arrays, numbers or lists/tuples/dicts of them",
                ) from None
        except StudentCodeError as exc:
            record = {"status": exc.status, "message": exc.message, "traceback": exc.traceback_text}
            return [b"E", transport.encode(record)]

    def _dispatch(self, request: dict[str, Any]) -> tuple[Any, str]:
        if request["op"] == "load":  # import now; an import error is reported by the first call
            try:
                self.module(request["week"], request["exercise"])
            except StudentCodeError:
                pass
            return None, "import"
        module = self.module(request["week"], request["exercise"])
        if request["op"] == "call":
            function = self._function(module, request["function"])
            result = self._guarded(lambda: function(*request["args"], **request["kwargs"]), module)
            return result, f"{request['function']}()"
        probe = self._probe(request["source"], request["name"])
        result = self._guarded(lambda: probe(module, *request["args"], **request["kwargs"]), module)
        return result, f"the test's probe {request['name']}() on your module"

    def module(self, week: str, exercise: str) -> types.ModuleType:
        """The learner's module ``<root>/<week>/<exercise>.py``, imported once (or its import error)."""
        key = (week, exercise)
        if key not in self._modules:
            self._modules[key] = self._import(week, exercise)
        found = self._modules[key]
        if isinstance(found, StudentCodeError):
            raise found
        return found

    def _import(self, week: str, exercise: str) -> types.ModuleType | StudentCodeError:
        path = self.submission.root / week / f"{exercise}.py"
        shown = self.submission.display(path)
        if not path.is_file():
            return StudentCodeError("import_error", f"{shown} does not exist; the exercise file is missing")
        self._ensure_packages(week)
        name = f"{self.package}.{week}.{exercise}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except TestTimeout as exc:
            del sys.modules[name]
            self._modules[(week, exercise)] = StudentCodeError(
                "import_error",
                f"importing {shown} took longer than {exc.seconds:g} s; does it run code at import time?",
            )
            raise
        except SyntaxError as exc:
            del sys.modules[name]
            where = f"{self.submission.display(exc.filename or path)}:{exc.lineno}"
            message = (
                f"{where}: SyntaxError: {exc.msg}; the file cannot be imported, so none of its functions can be graded"
            )
            return StudentCodeError("import_error", message)
        except BaseException as exc:  # noqa: BLE001 - anything at import time is the learner's
            del sys.modules[name]
            where = self._where(exc) or shown
            message = f"{where}: {_exception_line(exc)} while importing {shown}; none of its functions can be graded"
            return StudentCodeError("import_error", _one_line(message), traceback_text=self._learner_traceback(exc))
        return module

    def _ensure_packages(self, week: str) -> None:
        """Make ``<package>.<week>`` a package over the submission, so relative imports work."""
        for name, path in (
            (self.package, self.submission.root),
            (f"{self.package}.{week}", self.submission.root / week),
        ):
            existing = sys.modules.get(name)
            if existing is None or list(getattr(existing, "__path__", [])) != [str(path)]:
                package = types.ModuleType(name)
                package.__path__ = [str(path)]
                sys.modules[name] = package

    def _function(self, module: types.ModuleType, name: str) -> Callable[..., Any]:
        found = getattr(module, name, None)
        if found is None:
            raise StudentCodeError("missing", self._missing(module, name))
        if not callable(found):
            shown = self.submission.display(module.__file__ or "")
            raise StudentCodeError("missing", f"`{name}` in {shown} is a {type(found).__name__}, not a function")
        return found  # type: ignore[no-any-return]

    def _missing(self, module: types.ModuleType, name: str) -> str:
        shown = self.submission.display(module.__file__ or "")
        return f"`{name}` is not defined in {shown}; check its spelling and that it was not deleted"

    def _probe(self, source: str, name: str) -> Callable[..., Any]:
        """Re-create a probe from its source alone, in a namespace of torch, numpy and math."""
        key = hashlib.sha256(f"{name}\0{source}".encode()).hexdigest()
        if key not in self._probes:
            import math

            import numpy as np
            import torch

            namespace: dict[str, Any] = {
                "torch": torch,
                "nn": torch.nn,
                "F": torch.nn.functional,
                "np": np,
                "math": math,
            }
            exec(compile(source, f"<probe {name}>", "exec"), namespace)  # noqa: S102 - trusted test source
            self._probes[key] = namespace[name]
        return self._probes[key]

    def _guarded(self, thunk: Callable[[], Any], module: types.ModuleType) -> Any:
        """Run student code; every way it can fail becomes a StudentCodeError (a timeout passes through)."""
        try:
            return thunk()
        except TestTimeout:
            raise
        except AttributeError as exc:
            if exc.obj is module and exc.name:  # a probe used a name the learner's file lacks
                raise StudentCodeError("missing", self._missing(module, exc.name)) from None
            raise StudentCodeError(
                "error",
                _one_line(f"{_exception_line(exc)}{self._at(exc)}"),
                traceback_text=self._learner_traceback(exc),
            ) from None
        except NotImplementedError as exc:
            where, function = self._where(exc), self._innermost_function(exc)
            if where is None:
                raise StudentCodeError("error", _one_line(_exception_line(exc))) from None
            raise StudentCodeError("not_implemented", f"{function}() is not implemented yet ({where})") from None
        except SystemExit as exc:
            raise StudentCodeError(
                "error",
                f"called sys.exit({exc.code!r}){self._at(exc)}; a function must return its result, not exit",
            ) from None
        except RecursionError as exc:
            raise StudentCodeError(
                "error",
                f"RecursionError: maximum recursion depth exceeded{self._at(exc)}",
                traceback_text=self._learner_traceback(exc),
            ) from None
        except BaseException as exc:  # noqa: BLE001 - anything student code raises is a value
            message = f"{_exception_line(exc)}{self._at(exc)}"
            raise StudentCodeError("error", _one_line(message), traceback_text=self._learner_traceback(exc)) from None

    def _at(self, exc: BaseException) -> str:
        where = self._where(exc)
        return f" ({where})" if where else ""

    def _where(self, exc: BaseException) -> str | None:
        """file:line of the innermost frame of the traceback that is in the learner's files."""
        found = None
        for frame, line in traceback.walk_tb(exc.__traceback__):
            if self._is_learner_file(frame.f_code.co_filename):
                found = f"{self.submission.display(frame.f_code.co_filename)}:{line}"
        if found is None and isinstance(exc, SyntaxError) and exc.filename and self._is_learner_file(exc.filename):
            found = f"{self.submission.display(exc.filename)}:{exc.lineno}"
        return found

    def _innermost_function(self, exc: BaseException) -> str:
        names = [
            f.f_code.co_name
            for f, _ in traceback.walk_tb(exc.__traceback__)
            if self._is_learner_file(f.f_code.co_filename)
        ]
        return names[-1] if names else "?"

    def _learner_traceback(self, exc: BaseException) -> str:
        """The traceback restricted to the learner's frames, for ``grade -v``."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if self._is_learner_file(f.filename)]
        for frame in frames:
            frame.filename = self.submission.display(frame.filename)
        lines = traceback.format_list(frames)
        return "".join(lines) + _exception_line(exc)

    def _is_learner_file(self, filename: str) -> bool:
        try:
            Path(filename).resolve().relative_to(self.submission.root.resolve())
        except (ValueError, OSError):
            return False
        return True


class InProcessBackend:
    """Runs StudentSide in this process: the first version, and the fake for the framework's tests."""

    def __init__(self, submission: Submission, package: str) -> None:
        self.side = StudentSide(submission, package)

    def execute(self, request: bytes, route: Route) -> tuple[bool, Any]:
        return read_reply(self.side.execute(request))


class ExerciseProxy:
    """A learner's (or the reference's) module as a test sees it: ``student.entropy(p)``, ``student.run(probe)``."""

    def __init__(self, backend: Backend, *, week: str, exercise: str, label: str) -> None:
        self._backend = backend
        self._week = week
        self._exercise = exercise
        self._label = label

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            return self._send({"op": "call", "function": name, "args": list(args), "kwargs": kwargs})

        call.__name__ = name
        return call

    def run(self, probe: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``probe(module, *args, **kwargs)`` where the code lives and return its plain-data result."""
        __tracebackhide__ = True
        source, name = probe_source(probe)
        return self._send({"op": "probe", "source": source, "name": name, "args": list(args), "kwargs": kwargs})

    def _send(self, request: dict[str, Any]) -> Any:
        __tracebackhide__ = True
        request.update(week=self._week, exercise=self._exercise)
        route = Route(self._week, self._exercise, request["op"])
        ok, value = self._backend.execute(transport.encode(request, name="the test's arguments"), route)
        if not ok:
            raise StudentCodeError(value["status"], value["message"], traceback_text=value["traceback"])
        return value

    def __repr__(self) -> str:
        return f"<{self._label} module {self._week}/{self._exercise}.py>"


# -- the sandbox process ------------------------------------------------------------------------

_FRAME = struct.Struct("<Q")
OUTPUT_FILE: Final = "output.txt"


_SMALL: Final = 1 << 16  # parts below this size are joined before sending; larger ones go as they are
_IOV_MAX: Final = 512  # pieces per sendmsg (the system's limit is 1024 on Linux and macOS)
_PREALLOCATED: Final = 64 << 20  # a frame up to this size is received into one buffer of its size


def send_frame(channel: socket.socket, *parts: transport.Buffer) -> None:
    """One length-prefixed message made of ``parts``, sent without first copying them into one
    buffer: megabytes of a tensor go from its own memory to the socket."""
    views = [memoryview(part).cast("B") for part in parts]
    pieces: list[memoryview] = []
    small: list[memoryview] = [memoryview(_FRAME.pack(sum(len(v) for v in views)))]
    for view in views:
        if len(view) < _SMALL:
            small.append(view)
            continue
        pieces += [memoryview(b"".join(small)), view]
        small = []
    pieces.append(memoryview(b"".join(small)))
    while pieces:
        sent = channel.sendmsg(pieces[:_IOV_MAX])
        while pieces and sent >= len(pieces[0]):
            sent -= len(pieces.pop(0))
        if sent:
            pieces[0] = pieces[0][sent:]


def recv_frame(channel: socket.socket) -> bytearray:
    """One length-prefixed message; EOFError when the other side is gone."""
    header = _recv_exactly(channel, _FRAME.size)
    (length,) = _FRAME.unpack(header)
    if length > transport.MAX_BYTES + (1 << 20):
        raise EOFError("oversized frame")
    return _recv_exactly(channel, length)


def _recv_exactly(channel: socket.socket, size: int) -> bytearray:
    """``size`` bytes, read straight into one buffer.  A frame larger than _PREALLOCATED grows as
    its bytes arrive instead: a sandbox that announces a gigabyte and sends nothing costs nothing."""
    if size > _PREALLOCATED:
        return _recv_growing(channel, size)
    buffer = bytearray(size)
    view, received = memoryview(buffer), 0
    while received < size:
        count = channel.recv_into(view[received:])
        if not count:
            raise EOFError("the other side closed the channel")
        received += count
    return buffer


def _recv_growing(channel: socket.socket, size: int) -> bytearray:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = channel.recv(min(size - len(buffer), _PREALLOCATED))
        if not chunk:
            raise EOFError("the other side closed the channel")
        buffer += chunk
    return buffer


def serve(channel_fd: int, settings: dict[str, Any]) -> None:
    """The sandbox: confine this (freshly forked) process, then execute requests until EOF."""
    import faulthandler
    import os
    import resource
    import signal

    os.setsid()  # its own process group: the zygote kills everything it starts at once
    workdir = Path(settings["workdir"])  # holds a copy of the learner's files of this week only
    os.chdir(workdir)
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
    _drop_root(allowed=bool(settings.get("drop_root")))
    channel = socket.socket(fileno=channel_fd)
    side = StudentSide(Submission(workdir, settings["label"]), settings["package"])
    while True:
        try:
            request = recv_frame(channel)
        except (EOFError, OSError):
            return
        send_frame(channel, *side.execute_parts(request))


NOBODY: Final = 65534


def _drop_root(*, allowed: bool) -> None:
    """As root, become ``nobody``: the process limit applies (root is exempt from it) and no file
    of the course, the grader or the gradebook is writable.  Where nobody could not read Python
    itself (an interpreter under /root), stay root but refuse new processes at the Python level,
    so a fork bomb cannot outrun the time limit.  A learner's laptop runs unprivileged anyway."""
    import os

    if os.getuid() != 0:
        return
    if allowed:
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


@dataclass
class _Sandbox:
    """One running sandbox: its channel, process and private copy of one week's files."""

    exercise: tuple[str, str]
    channel: socket.socket
    pid: int
    workdir: Path
    load_sent: bool = False  # a load request went ahead of need; its reply is still to be read
    crashed: bool = False  # stopped to learn how it ended: its folder is this side's to remove

    @property
    def running(self) -> bool:
        return self.channel.fileno() >= 0  # a stopped sandbox's channel is closed


class ProcessBackend:
    """Runs StudentSide in a sandbox process forked from the zygote, one sandbox per exercise.

    The trusted process only ever receives transport messages.  A sandbox that crashes or
    exits fails the running test with what happened; a time-out (the plugin's alarm, raised
    while this side waits) kills it; either way the next call gets a fresh sandbox.

    ``upcoming`` is the order in which the tests will need the exercises.  Once one exercise's
    sandbox has answered, the next exercise's is started and asked to import its module, so that
    its start and import overlap with the tests before it (about 10 ms per exercise).  Its import
    still answers the load of that exercise's first test, under that test's time limit: a file
    that hangs or crashes on import fails its own tests, never earlier ones.  The cost: such a
    file's import runs alongside the previous exercise's tests.
    """

    def __init__(self, zygote: Zygote, settings: dict[str, Any], upcoming: tuple[tuple[str, str], ...] = ()) -> None:
        self.zygote = zygote
        self.settings = settings
        self.upcoming = list(upcoming)
        self.current: _Sandbox | None = None
        self.ahead: _Sandbox | None = None
        self.import_failures: dict[tuple[str, str], StudentCodeError] = {}

    def execute(self, request: bytes, route: Route) -> tuple[bool, Any]:
        exercise = (route.week, route.exercise)
        if exercise in self.import_failures:
            raise self.import_failures[exercise]
        if self.current is None or not self.current.running or exercise != self.current.exercise:
            self._switch(exercise)
        sandbox = self.current
        assert sandbox is not None
        try:
            if sandbox.load_sent:
                sandbox.load_sent = False
                early = read_reply(recv_frame(sandbox.channel))
                if route.op == "load":
                    return early
            send_frame(sandbox.channel, request)
            reply = read_reply(recv_frame(sandbox.channel))
            self._start_ahead()
            return reply
        except transport.MalformedMessage:  # a forged or garbled reply ends this sandbox, not later tests
            self.stop()
            raise StudentCodeError(
                "error", "your code sent back something that is not a value (it wrote to the grader's channel?)"
            ) from None
        except TestTimeout as exc:
            self.stop()
            if route.op == "load":  # the file itself hangs: every test of it would
                shown = f"{self.settings['label']}/{exercise[0]}/{exercise[1]}.py"
                self.import_failures[exercise] = StudentCodeError(
                    "import_error",
                    f"importing {shown} took longer than {exc.seconds:g} s; does it run code at import time?",
                )
            raise
        except (EOFError, OSError):
            code = self.stop(wait=True)
            raise StudentCodeError("crashed", crash_message(code) + self._where_it_crashed(sandbox)) from None

    def _switch(self, exercise: tuple[str, str]) -> None:
        """Make ``exercise``'s sandbox the current one: the one started ahead, or a new one."""
        self.stop()
        self._remove_crashed_folder()
        if self.ahead is not None and self.ahead.exercise == exercise:
            self.current, self.ahead = self.ahead, None
        else:
            self.current = self._start(exercise)
        if exercise in self.upcoming:
            del self.upcoming[: self.upcoming.index(exercise) + 1]

    def _start(self, exercise: tuple[str, str]) -> _Sandbox:
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="sandbox-", dir=self.zygote.base))
        week = exercise[0]
        try:
            shutil.copytree(
                Path(self.settings["submission"]) / week, workdir / week, ignore=shutil.ignore_patterns("__pycache__")
            )
            _give_to_nobody(workdir)
            channel, pid = self.zygote.spawn({**self.settings, "week": week, "workdir": str(workdir)})
        except BaseException:
            _remove(workdir)
            raise
        return _Sandbox(exercise, channel, pid, workdir)

    def _start_ahead(self) -> None:
        """Start the next exercise's sandbox, importing its module, unless one is there already.

        Called once the current sandbox has answered (by then the zygote has forked a spare
        again, so this spawn does not wait for that fork)."""
        following = self.upcoming[0] if self.upcoming else None
        if self.ahead is not None or following is None or following in self.import_failures:
            return
        if self.current is not None and following == self.current.exercise:
            return
        self.ahead = self._started_ahead(following)

    def _started_ahead(self, exercise: tuple[str, str]) -> _Sandbox | None:
        """A sandbox for a later exercise, already importing its module; None if it cannot start
        now (its first test then starts one the usual way, and meets the same problem there)."""
        try:
            sandbox = self._start(exercise)
        except (StudentCodeError, OSError):
            return None
        try:
            load = {"op": "load", "week": exercise[0], "exercise": exercise[1]}
            send_frame(sandbox.channel, transport.encode(load))
        except OSError:
            self._end(sandbox)
            return None
        sandbox.load_sent = True
        return sandbox

    def stop(self, *, wait: bool = False) -> int | None:
        """End the current sandbox (if any).  With ``wait``, return how it ended (a crash's signal);
        its folder then stays until the next sandbox starts, for ``_where_it_crashed``.  Without,
        the zygote kills it, removes its folder and reaps it later, and this side waits for none
        of it: a sandbox's normal end costs one message."""
        sandbox = self.current
        if sandbox is None or not sandbox.running:
            return None
        sandbox.channel.close()
        if wait:
            sandbox.crashed = True
            return self.zygote.stop(sandbox.pid)
        self.zygote.end(sandbox.pid, sandbox.workdir)
        return None

    def close(self) -> None:
        """End every sandbox and delete their copies of the learner's files (a warm worker's next
        job must not find them)."""
        self.stop()
        self._remove_crashed_folder()
        self.current = None
        self._end_ahead()

    def _remove_crashed_folder(self) -> None:
        """The folder of a current sandbox that crashed: kept for _where_it_crashed until now, and
        this side's to remove (the zygote removes those of sandboxes that ended normally)."""
        if self.current is not None and self.current.crashed:
            _remove(self.current.workdir)

    def _end_ahead(self) -> None:
        if self.ahead is not None:
            self._end(self.ahead)
            self.ahead = None

    def _end(self, sandbox: _Sandbox) -> None:
        sandbox.channel.close()
        self.zygote.end(sandbox.pid, sandbox.workdir)

    def _where_it_crashed(self, sandbox: _Sandbox) -> str:
        """`` at exercises/week/x.py:8``, from the fault handler's dump in the sandbox's output."""
        import re

        try:
            text = (sandbox.workdir / OUTPUT_FILE).read_text(errors="replace")[-32000:]
        except OSError:
            return ""
        root = str(sandbox.workdir)
        for path, line in re.findall(r'File "([^"]+)", line (\d+)', text[text.rfind("Fatal Python error") :]):
            if path.startswith(root + "/"):
                return f" at {self.settings['label']}{path[len(root) :]}:{line}"
        return ""


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _give_to_nobody(folder: Path) -> None:
    """The sandbox drops root (see ``_drop_root``); its private folder must stay its own."""
    import os

    if os.getuid() != 0:
        return
    for path in [folder, *folder.rglob("*")]:  # harmless where the sandbox stays root
        os.chown(path, NOBODY, NOBODY)


def crash_message(code: int | None, *, what: str = "the sandbox") -> str:
    """What a process's end means for the learner: an exit code, or a signal (negative code)."""
    import signal

    if code is None:
        return f"{what} stopped answering"
    if code >= 0:
        return (
            f"{what} exited with code {code} during this test (os._exit or a kill?); a function must return its result"
        )
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = str(-code)
    names = {
        "SIGSEGV": "segmentation fault",
        "SIGBUS": "bus error",
        "SIGFPE": "floating-point exception",
        "SIGILL": "illegal instruction",
        "SIGABRT": "abort",
        "SIGKILL": "killed, for example for using too much memory",
        "SIGXCPU": "CPU time limit",
    }
    return f"crashed {what} ({names.get(name, name)})"


class Zygote:
    """The trusted side's handle on the zygote process (see ``grader.engine.zygote``)."""

    def __init__(self, process: Any, control: socket.socket, base: Path, confinement: str, hide: list[Path]) -> None:
        self.process = process
        self.control = control
        self.replies = control.makefile("rb")
        self.base = base  # sandboxes' working folders live here (the only writable place they see)
        self.confinement = confinement
        self.hide = hide

    @classmethod
    def start(cls, *, hide: list[Path]) -> Zygote:
        """Start the zygote, under bubblewrap when it works here, with ``hide`` made invisible."""
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="grade-sandboxes-"))
        base.chmod(0o711)  # a sandbox running as nobody must reach its own folder inside
        zygote = cls(None, socket.socket(), base, "", hide)
        zygote._launch()
        return zygote

    def _launch(self) -> None:
        import subprocess
        import sys

        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "grader.engine.zygote", str(theirs.fileno())]
        self.confinement = "rlimits only (bubblewrap is not installed: your code could read the course's files)"
        if shutil.which("bwrap") and _bwrap_works():
            command = _bwrap_command(hide=self.hide, base=self.base) + command
            self.confinement = "bubblewrap (no network, private /tmp, course folders hidden) and rlimits"
        self.process = subprocess.Popen(
            command,
            pass_fds=(theirs.fileno(),),
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=_zygote_environment(),
        )
        theirs.close()
        self.control = ours
        self.replies = ours.makefile("rb")

    def spawn(self, settings: dict[str, Any]) -> tuple[socket.socket, int]:
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

    def _spawn(self, settings: dict[str, Any]) -> tuple[socket.socket, int]:
        import json

        ours, theirs = socket.socketpair()
        try:
            socket.send_fds(
                self.control, [json.dumps({"op": "spawn", "settings": settings}).encode() + b"\n"], [theirs.fileno()]
            )
            line = self.replies.readline()
            if not line:
                raise ConnectionError("the zygote is gone")
            return ours, int(json.loads(line)["pid"])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()

    def stop(self, pid: int) -> int | None:
        """Kill the sandbox ``pid`` and everything it started, and say how it ended: its exit code
        (negative: a signal), None if that cannot be known.  A normal end needs no answer: ``end``."""
        import json

        try:
            self.control.sendall(json.dumps({"op": "stop", "pid": pid}).encode() + b"\n")
            return json.loads(self.replies.readline())["status"]  # type: ignore[no-any-return]
        except (OSError, ValueError, KeyError):
            return None

    def end(self, pid: int, workdir: Path) -> None:
        """Kill the sandbox ``pid`` and remove its folder, without waiting for either (no reply)."""
        self._send({"op": "end", "pid": pid, "workdir": str(workdir)})

    def _send(self, message: dict[str, Any]) -> None:
        import json

        try:
            self.control.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass  # the zygote is gone, and its sandboxes with it (the next spawn starts a new one)

    def close(self) -> None:
        import shutil

        self.control.close()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.base, ignore_errors=True)


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


def _zygote_environment() -> dict[str, str]:
    """The zygote imports the very grader package this process runs (an unpacked Gradescope
    autograder next to an editable install elsewhere must not mix), found first on its path."""
    import os

    package_parent = str(_PACKAGE.parent)
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
    return {**grading_environment(dict(os.environ)), "PYTHONPATH": path}


def _bwrap_works() -> bool:
    """bwrap may be installed but not allowed (no user namespaces in some containers)."""
    import subprocess

    try:
        done = subprocess.run(
            ["bwrap", "--ro-bind", "/", "/", "--unshare-net", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _bwrap_command(*, hide: list[Path], base: Path) -> list[str]:
    """Read-only system, no network, own PID namespace, private /tmp, the course folders hidden.

    Python's environment (a .venv inside the course, or one under /tmp) and the grader package stay
    visible, read-only, even where they live inside a hidden folder (an editable install).
    """
    import sys

    package = _PACKAGE
    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    command += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    command += ["--new-session"]
    hidden = [folder.resolve() for folder in hide]
    visible = sorted({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)} | {package})
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


def probe_source(probe: Callable[..., Any]) -> tuple[str, str]:
    """The source text of a probe, which must be a plain top-level function with no closure."""
    if not inspect.isfunction(probe) or probe.__closure__ or probe.__qualname__ != probe.__name__:
        raise TypeError(
            f"run() takes a top-level function of the test module as its probe, not {probe!r}; "
            "a probe crosses to the student's process as source text"
        )
    return _function_source(probe)


@functools.cache  # inspect.getsource costs more than the probe's round trip; a warm worker reuses it per learner
def _function_source(probe: types.FunctionType) -> tuple[str, str]:
    source = textwrap.dedent(inspect.getsource(probe))
    if not source.lstrip().startswith("def "):
        raise TypeError(f"probe {probe.__name__} must not have decorators")
    return source, probe.__name__


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"
