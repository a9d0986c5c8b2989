"""The messages of the engine, defined once: the grading child's event stream, the warm worker's
jobs, the requests a sandbox executes and its error records, a sandbox's settings, and the
zygote's control messages.

All of them cross a process boundary as JSON (events, jobs, control) or through ``transport``
(sandbox requests and replies).  These TypedDicts are their one definition; the writer and the
reader of each name the same type, and mypy checks both ends.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict

# -- the grading child's event stream (plugin -> runner), one JSON line each ---------------------


class CollectedEvent(TypedDict):
    """Collection is over: what each graded test is worth (``results.info_to_dict``)."""

    event: Literal["collected"]
    tests: list[dict[str, Any]]


class CollectErrorEvent(TypedDict):
    """A test file could not be collected: the suite is broken."""

    event: Literal["collect_error"]
    id: str
    message: str


class ConfinementEvent(TypedDict):
    """How the learner's code is confined in this child (``grade -v`` shows it)."""

    event: Literal["confinement"]
    text: str
    failure: NotRequired[str]  # the sandbox cannot start here: why (grading stops; no test is run)


class StartEvent(TypedDict):
    """A test began: the parent starts its kill timer."""

    event: Literal["start"]
    id: str
    timeout: float


class ImportingEvent(TypedDict):
    """A learner module is being imported (a hang or crash now fails all its tests)."""

    event: Literal["importing"]
    exercise: str


class ImportedEvent(TypedDict):
    event: Literal["imported"]
    exercise: str


class ResultEvent(TypedDict):
    """How a test ended: the only way a test passes."""

    event: Literal["result"]
    id: str
    status: str  # a results.Status; anything else counts as "error"
    message: str
    detail: str
    duration: float
    curve: NotRequired[dict[str, Any]]  # assert_close(..., at=x) failed: results.Curve's fields
    hint: str  # the failure's own hint, or ""
    diagnosis: str  # testing.FailureKind, or "" for any other failure
    function: str  # the learner's function the test called first, or ""
    findings: list[str]  # named mistakes of the test that cannot be told apart
    output: str  # the last lines the learner's code printed during a failing test, or ""
    imports_cut: NotRequired[bool]  # timed out while this process imported modules: one may be left half-made


class JobEvent(TypedDict):
    """A warm worker began a job."""

    event: Literal["job"]
    id: int


class JobDoneEvent(TypedDict):
    """A warm worker finished a job."""

    event: Literal["job_done"]
    id: int


class DoneEvent(TypedDict):
    """The child is about to exit normally."""

    event: Literal["done"]


Event = (
    CollectedEvent
    | CollectErrorEvent
    | ConfinementEvent
    | StartEvent
    | ImportingEvent
    | ImportedEvent
    | ResultEvent
    | JobEvent
    | JobDoneEvent
    | DoneEvent
)
EventKind = Literal[
    "collected", "collect_error", "confinement", "start", "importing", "imported", "result", "job", "job_done", "done"
]
URGENT_EVENTS: Final[frozenset[EventKind]] = frozenset({"collected", "job_done", "done"})  # they ring the bell


class Job(TypedDict):
    """One submission for a warm worker to grade (runner -> plugin, one JSON line)."""

    id: int
    submission: str
    label: str
    exercise: NotRequired[str]  # grade only this exercise's tests (grade watch: the file that changed)


# -- requests a sandbox executes (trusted side -> StudentSide, through transport) -----------------


class LoadRequest(TypedDict):
    """Import the learner's module now (its import error is reported by the first call)."""

    op: Literal["load"]
    week: str
    exercise: str


class CallRequest(TypedDict):
    """Call one function of the learner's module."""

    op: Literal["call"]
    week: str
    exercise: str
    function: str
    args: list[Any]
    kwargs: dict[str, Any]


class ProbeRequest(TypedDict):
    """Run a test's probe (crossing as its source text) on the learner's module."""

    op: Literal["probe"]
    week: str
    exercise: str
    source: str
    name: str
    args: list[Any]
    kwargs: dict[str, Any]


Request = LoadRequest | CallRequest | ProbeRequest
Op = Literal["load", "call", "probe"]

ErrorStatus = Literal["not_implemented", "error", "missing", "import_error", "bad_return", "crashed"]


class ErrorRecord(TypedDict):
    """Student code failed: the reply ``b"E"`` + this record (``b"K"`` + the value otherwise)."""

    status: ErrorStatus
    message: str
    traceback: str


# -- a sandbox's settings and the zygote's control channel ---------------------------------------


class SandboxSettings(TypedDict):
    """What every sandbox of one grading child is given (built by the plugin)."""

    submission: str
    label: str
    package: str
    memory_mb: int
    cpu_s: int
    output_mb: int
    max_processes: int


class View(TypedDict):
    """What a sandbox covers and what it binds back (``sandbox.namespaces.confine_view``)."""

    hide: list[str]
    keep: list[str]


class SpawnSettings(SandboxSettings, total=False):
    """One sandbox's settings: its week and private folder (backend), whether to drop root and
    its view of the files where it has its own namespaces (zygote)."""

    week: str
    workdir: str
    drop_root: bool
    view: View


class SpawnMessage(TypedDict):
    op: Literal["spawn"]
    seq: int  # echoed in the reply: a reply whose reader was interrupted (a time-out) is never taken for another's
    settings: SpawnSettings


class StopMessage(TypedDict):
    op: Literal["stop"]
    seq: int
    pid: int


class EndMessage(TypedDict):
    op: Literal["end"]
    pid: int
    workdir: str


ControlMessage = SpawnMessage | StopMessage | EndMessage


class ControlReply(TypedDict, total=False):
    """The zygote's answer to a spawn (``pid``) or a stop (``status``), with the request's ``seq``;
    its hello (``seq`` 0) says how it confines sandboxes (``sandbox``)."""

    seq: int
    pid: int
    status: int | None
    sandbox: str
