"""The student side: imports a learner's modules and executes requests on them.

``StudentSide`` runs wherever student code runs (a sandbox process, or the grading process with
the in-process backend).  It turns every failure of student code into a plain-data error record:
not implemented, an exception with the learner's own frame, a missing function, a file that does
not import, a value that is not plain data.  ``serve`` is a sandbox process's whole life:
confine itself, then answer requests on its channel until the trusted side closes it.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import importlib.util
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Final

from .. import transport
from ..protocol import ErrorRecord, ErrorStatus, Request, SpawnSettings
from .channel import recv_frame, send_frame
from .confinement import confine

MESSAGE_LIMIT: Final = 300
WHERE_FILE: Final = "where.txt"  # the sandbox's stack, dumped every WHERE_EVERY_S (see serve)
WHERE_EVERY_S: Final = 1.0


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
        self.where = ""  # the learner's file:line where the code was stopped, when it is known


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
            record: ErrorRecord = {"status": exc.status, "message": exc.message, "traceback": exc.traceback_text}
            return [b"E", transport.encode(record)]

    def _dispatch(self, request: Request) -> tuple[Any, str]:
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
        except TestTimeout as exc:
            exc.where = self._where(exc) or ""  # the in-process backend: the learner's frame is in the traceback
            raise
        except OSError as exc:
            if exc.errno != errno.EFBIG:
                raise self._error(exc) from None
            raise StudentCodeError(
                "error",
                f"your code printed or wrote more than a test may{self._at(exc)} (the output limit; "
                "print less, e.g. not on every step of a loop)",
            ) from None
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
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> StudentCodeError:
        message = f"{_exception_line(exc)}{self._at(exc)}"
        return StudentCodeError("error", _one_line(message), traceback_text=self._learner_traceback(exc))

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


def serve(channel_fd: int, settings: SpawnSettings) -> None:
    """The sandbox: confine this (freshly forked) process, then execute requests until EOF."""
    import faulthandler
    import socket

    workdir = confine(settings)
    channel = socket.socket(fileno=channel_fd)
    side = StudentSide(Submission(workdir, settings["label"]), settings["package"])
    where = open(workdir / WHERE_FILE, "w")  # noqa: SIM115 - open for the sandbox's whole life
    # The sandbox's stack is dumped every second for its whole life: the trusted side reads the
    # last dump when a time-out stops a request, to say where the learner's code was.  A request
    # stopped by a time-out of at least a second was running during that dump, as when the dump
    # was armed around each request; arming it once spares each request faulthandler's start and
    # join of its watchdog thread (50-60 µs of a ~320 µs round trip on the 2-core machine).  A
    # dump taken while the sandbox waited for a request shows no learner frame, so it names no line.
    faulthandler.dump_traceback_later(WHERE_EVERY_S, repeat=True, file=where)
    while True:
        try:
            request = recv_frame(channel)
        except (EOFError, OSError):
            return
        send_frame(channel, *side.execute_parts(request))


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"
