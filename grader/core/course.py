"""The course: loading and validating ``course.toml``, and resolving what a learner types to a week.

``course.toml`` is the one place that says which weeks exist, in which order, where their
files live and how they are graded.  It is validated as a whole on load, so a typo is reported
with the file, the line and the fix before any test runs, not as a traceback halfway through.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

from .errors import CourseError, UsageError
from .late import LateAssessment, LatePolicy, Submitted, assess

__all__ = ["Course", "CourseError", "Grading", "Week", "find_course_root", "load_course", "resolve_week"]

COURSE_FILE: Final = "course.toml"
DEFAULT_TIMEOUT_S: Final = 10.0
DEFAULT_MEMORY_MB: Final = 4096

_COURSE_KEYS: Final = {"title", "exercises", "solutions", "tests"}
_GRADING_KEYS: Final = {"timeout", "memory_limit", "sandbox", "late"}
_LATE_KEYS: Final = {"per_day", "max_penalty", "grace_minutes"}
SANDBOXES: Final = ("process", "in-process")
_WEEK_KEYS: Final = {"id", "folder", "title", "summary", "due", "optional", "gpu"}
_TOP_KEYS: Final = {"course", "grading", "build", "weeks"}
_BUILD_KEYS: Final = {"stub"}
DEFAULT_STUB: Final = 'raise NotImplementedError("{name}() is not implemented yet")'
_WEEK_ID = re.compile(r"^week(\d+)$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WEEK_NUMBER_REF = re.compile(r"^(?:week|w)?0*(\d+)$", re.IGNORECASE)
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MiB|MB|GiB|GB|M|G)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Grading:
    """How tests are run: the per-test time limit and the memory limit of the grading process."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    stub: str = DEFAULT_STUB  # what a solution region becomes in a stub; {name} is the function
    sandbox: str = "process"  # where learner code runs: a confined process, or the grading process
    late: LatePolicy = LatePolicy()  # what a late submission loses (no penalty unless configured)


@dataclass(frozen=True)
class Week:
    """One weekly session: its id (``week5``), folder (``week05_probability``) and title."""

    id: str
    number: int
    folder: str
    title: str
    summary: str = ""
    due: dt.datetime | None = None
    optional: tuple[str, ...] = ()  # exercise modules marked ★: graded and shown, not in the week's total
    gpu: bool = False  # its tests train networks: on a cluster, each submission takes one worker's GPU

    @property
    def topic(self) -> str:
        """The folder without its ``weekNN_`` prefix: ``probability``."""
        return re.sub(r"^week\d+_?", "", self.folder)


@dataclass(frozen=True)
class Course:
    """A loaded, validated course.toml and the folders it names."""

    root: Path
    title: str
    weeks: tuple[Week, ...]
    grading: Grading
    exercises_dir: Path
    solutions_dir: Path
    tests_dir: Path

    def resolve(self, ref: str) -> Week:
        """The week a learner means by ``week5``, ``5``, ``week05``, ``probability`` or the folder."""
        return resolve_week(self.weeks, ref)


def find_course_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds a course.toml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / COURSE_FILE).is_file():
            return folder
    raise CourseError(
        f"no {COURSE_FILE} in {start} or any folder above it; run grade inside the course folder, or pass --course PATH"
    )


def exercise_names(course: Course, week: Week) -> tuple[str, ...]:
    """The week's exercise modules, from the reference (or, in a release, the stubs)."""
    for folder in (course.solutions_dir / week.folder, course.exercises_dir / week.folder):
        names = sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))
        if names:
            return tuple(names)
    raise CourseError(f"{week.id} has no exercise modules in {course.solutions_dir / week.folder}")


def load_course(root: Path) -> Course:
    """Load and validate ``root/course.toml``; every problem is a CourseError naming file and line."""
    path = root / COURSE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError(f"{path}: not found; a course needs a {COURSE_FILE} at its root") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError(f"{path}: cannot be read ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path}: not valid TOML: {exc}; fix the syntax there") from None
    return _CourseParser(path, text, data).parse()


def resolve_week(weeks: tuple[Week, ...], ref: str) -> Week:
    """Resolve a week reference flexibly; an unknown one lists the weeks with a did-you-mean."""
    wanted = ref.strip().lower()
    number = _WEEK_NUMBER_REF.match(wanted)
    for week in weeks:
        if wanted in (week.id.lower(), week.folder.lower(), week.topic.lower()):
            return week
        if number and int(number.group(1)) == week.number:
            return week
    prefixed = [w for w in weeks if w.topic and w.topic.lower().startswith(wanted)]
    if len(prefixed) == 1 and wanted:
        return prefixed[0]
    names = [w.id for w in weeks] + [w.topic for w in weeks if w.topic]
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    listing = ", ".join(f"{w.id} ({w.topic or w.title})" for w in weeks) or "none"
    raise UsageError(f"no week '{ref}' in this course; {hint}the weeks are: {listing}")


class _CourseParser:
    """Turns the decoded TOML into a Course, reporting problems against the file's lines."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.data = data

    def parse(self) -> Course:
        self._reject_unknown(self.data, _TOP_KEYS, table=None, week_index=None)
        course = self._table("course", required=True)
        self._reject_unknown(course, _COURSE_KEYS, table="course", week_index=None)
        title = self._string(course, "title", where="[course]", week_index=None)
        root = self.path.parent
        folders = {k: root / str(course.get(k, k)) for k in ("exercises", "solutions", "tests")}
        grading = self._grading(self._table("grading", required=False), self._table("build", required=False))
        weeks = self._weeks(folders)
        return Course(
            root=root,
            title=title,
            weeks=weeks,
            grading=grading,
            exercises_dir=folders["exercises"],
            solutions_dir=folders["solutions"],
            tests_dir=folders["tests"],
        )

    # -- sections ---------------------------------------------------------------------------

    def _table(self, name: str, *, required: bool) -> dict[str, Any]:
        value = self.data.get(name)
        if value is None:
            if required:
                self._fail(None, f'has no [{name}] table; add one with at least title = "..."')
            return {}
        if not isinstance(value, dict):
            self._fail(self._line_of_key(name), f"'{name}' must be a table [{name}]")
        return value

    def _grading(self, table: dict[str, Any], build: dict[str, Any]) -> Grading:
        self._reject_unknown(table, _GRADING_KEYS, table="grading", week_index=None)
        self._reject_unknown(build, _BUILD_KEYS, table="build", week_index=None)
        stub = build.get("stub", DEFAULT_STUB)
        if not isinstance(stub, str) or not stub.strip():
            self._fail(
                self._line_of_key("stub"),
                "[build] stub must be the code a solution region becomes, e.g. stub = 'raise NotImplementedError(\"{name}() is not implemented yet\")'",
            )
        timeout = table.get("timeout", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            self._fail(
                self._line_of_key("timeout"),
                f"[grading] timeout = {timeout!r} must be a positive number of seconds, e.g. timeout = 10",
            )
        memory = table.get("memory_limit", DEFAULT_MEMORY_MB)
        sandbox = table.get("sandbox", "process")
        if sandbox not in SANDBOXES:
            self._fail(
                self._line_of_key("sandbox"),
                f'[grading] sandbox = {sandbox!r}; write sandbox = "process" (default) or "in-process"',
            )
        return Grading(
            timeout_s=float(timeout),
            memory_mb=self._memory_mb(memory),
            stub=stub,
            sandbox=sandbox,
            late=self._late(table.get("late", {})),
        )

    def _late(self, table: object) -> LatePolicy:
        line = self._line_of_key("late") or self._line_of_key("[grading.late]")
        if not isinstance(table, dict):
            self._fail(line, "[grading] late must be a table: [grading.late] with per_day, max_penalty, grace_minutes")
        unknown = sorted(set(table) - _LATE_KEYS)
        if unknown:
            self._fail(
                self._line_of_key(unknown[0]) or line,
                f"[grading.late] has unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_LATE_KEYS))}",
            )
        values: dict[str, float] = {}
        for key, default, top in (("per_day", 0.0, 100.0), ("max_penalty", 100.0, 100.0), ("grace_minutes", 0.0, None)):
            value = table.get(key, default)
            wrong_type = isinstance(value, bool) or not isinstance(value, (int, float))
            if wrong_type or not math.isfinite(value) or value < 0 or (top and value > top):
                limit = f"between 0 and {top:g}" if top else "0 or more"
                self._fail(self._line_of_key(key), f"[grading.late] {key} = {value!r} must be a number {limit}")
            values[key] = float(value)
        return LatePolicy(**values)

    def _memory_mb(self, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        match = _MEMORY.match(value) if isinstance(value, str) else None
        if not match:
            self._fail(
                self._line_of_key("memory_limit"),
                f'[grading] memory_limit = {value!r} is not a size; write e.g. "4GiB" or "512MiB"',
            )
        amount, unit = float(match.group(1)), (match.group(2) or "MiB").lower()
        return int(amount * 1024) if unit.startswith("g") else int(amount)

    def _weeks(self, folders: dict[str, Path]) -> tuple[Week, ...]:
        raw = self.data.get("weeks", [])
        if not isinstance(raw, list) or not all(isinstance(w, dict) for w in raw):
            self._fail(self._line_of_key("weeks"), "weeks must be an array of tables: [[weeks]]")
        weeks: list[Week] = []
        for index, table in enumerate(raw):
            week = self._week(index, table)
            for other in weeks:
                for attr in ("id", "number", "folder"):
                    if getattr(other, attr) == getattr(week, attr):
                        self._fail(
                            self._week_line(index, "folder" if attr == "folder" else "id"),
                            f"week '{week.id}' repeats the {attr} {getattr(week, attr)!r} of week "
                            f"'{other.id}'; each week needs its own id, number and folder",
                        )
            self._check_folders(index, week, folders)
            weeks.append(week)
        return tuple(weeks)

    def _week(self, index: int, table: dict[str, Any]) -> Week:
        where = f"[[weeks]] #{index + 1}"
        self._reject_unknown(table, _WEEK_KEYS, table="weeks", week_index=index)
        week_id = self._string(table, "id", where=where, week_index=index)
        match = _WEEK_ID.match(week_id)
        if not match:
            self._fail(
                self._week_line(index, "id"),
                f"week id {week_id!r} must look like 'week5' (the word week and its number)",
            )
        folder = self._string(table, "folder", where=where, week_index=index)
        if "/" in folder or "\\" in folder or folder.startswith("."):
            self._fail(self._week_line(index, "folder"), f"folder {folder!r} must be a plain folder name")
        title = self._string(table, "title", where=where, week_index=index)
        summary = table.get("summary", "")
        if not isinstance(summary, str):
            self._fail(self._week_line(index, "summary"), "summary must be a string")
        return Week(
            id=week_id,
            number=int(match.group(1)),
            folder=folder,
            title=title,
            summary=summary.strip(),
            due=self._due(index, table.get("due")),
            optional=self._optional(index, table.get("optional", [])),
            gpu=self._gpu(index, table.get("gpu", False)),
        )

    def _gpu(self, index: int, value: object) -> bool:
        if not isinstance(value, bool):
            self._fail(self._week_line(index, "gpu"), f"gpu = {value!r} must be true or false, like gpu = true")
        return bool(value)

    def _optional(self, index: int, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and _MODULE.match(v) for v in value):
            self._fail(
                self._week_line(index, "optional"),
                f'optional = {value!r} must list exercise modules by name, like optional = ["meta_learning"]',
            )
        return tuple(value)

    def _due(self, index: int, value: object) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time(23, 59, 59))
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        self._fail(
            self._week_line(index, "due"),
            f"due = {value!r} is not a date; write a TOML date like due = 2026-12-01 "
            "or a date-time like due = 2026-12-01T23:59:00",
        )

    def _check_folders(self, index: int, week: Week, folders: dict[str, Path]) -> None:
        # solutions/ is absent from a learner's release, so only check it where it exists.
        needed = ["exercises", "tests"] + (["solutions"] if folders["solutions"].is_dir() else [])
        for kind in needed:
            folder = folders[kind] / week.folder
            if not folder.is_dir():
                self._fail(
                    self._week_line(index, "folder"),
                    f"week '{week.id}' names folder '{week.folder}', but {folder} does not exist; "
                    f'create it or correct folder = "..."',
                )
        if not week.optional:
            return
        modules = {path.stem for path in (folders["exercises"] / week.folder).glob("*.py")}
        for name in week.optional if modules else ():  # an empty placeholder folder (Gradescope's) holds none
            if name not in modules:
                self._fail(
                    self._week_line(index, "optional"),
                    f"week '{week.id}' marks '{name}' optional, but {folders['exercises'] / week.folder}/{name}.py "
                    "does not exist; optional lists exercise modules by their file name without .py",
                )

    # -- helpers ----------------------------------------------------------------------------

    def _string(self, table: dict[str, Any], key: str, *, where: str, week_index: int | None) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            line = self._week_line(week_index, key) if week_index is not None else self._line_of_key(key)
            state = "is missing" if value is None else f"= {value!r} is not a non-empty string"
            self._fail(line, f'{where}: {key} {state}; add {key} = "..."')
        return value.strip()

    def _reject_unknown(
        self, values: dict[str, Any], allowed: set[str], *, table: str | None, week_index: int | None
    ) -> None:
        for key in values:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
            line = self._week_line(week_index, key) if week_index is not None else self._line_of_key(key)
            where = f"[{table}]" if table else "top level"
            self._fail(line, f"unknown key '{key}' in {where}; {fix}")

    def _line_of_key(self, key: str, start: int = 0, stop: int | None = None) -> int | None:
        pattern = re.compile(rf"^\s*(\[+\s*)?{re.escape(key)}\s*(=|\]+)")
        for number, line in enumerate(self.lines[start:stop], start=start + 1):
            if pattern.match(line):
                return number
        return None

    def _week_line(self, index: int | None, key: str | None = None) -> int | None:
        headers = [n for n, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*weeks\s*\]\]", line)]
        if index is None or index >= len(headers):
            return None
        start = headers[index]
        if key is None:
            return start + 1
        stop = headers[index + 1] if index + 1 < len(headers) else None
        return self._line_of_key(key, start + 1, stop) or start + 1

    def _fail(self, line: int | None, message: str) -> NoReturn:
        where = f"{self.path}:{line}" if line else str(self.path)
        raise CourseError(f"{where}: {message}")


def late_of(course: Course, week: Week | None, entry: Submitted) -> LateAssessment:
    """The entry's raw score under the course's late policy (no due date when the week is unknown)."""
    return assess(course.grading.late, week.due if week else None, entry.submitted_at, entry.points_earned)
