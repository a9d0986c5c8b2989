"""The learner's runs of each week, kept in ``.grade/`` at the course root (git-ignored).

Every full-week grade of exercises/ is a run: its score and its time.  The best run is derived
from all of them, so a worse run never hides a better one (a run of 40/86 used to replace 86/86).
Written atomically (a temporary file renamed over the old one) under a lock, so an interrupted
``grade`` never leaves a half-written file and ``grade watch`` and ``grade`` running side by side
never lose each other's runs; an unreadable file is set aside, never silently dropped.  A
``scores.json`` from before (one last score per week) is read as each week's first run.
Also caches what each week's suite is worth, so ``grade list`` need not start torch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from ..core.results import TestInfo, WeekResult
from ..core.version import __version__

STATE_DIR: Final = ".grade"
HISTORY_FILE: Final = "history.json"
LEGACY_SCORES_FILE: Final = "scores.json"  # one last score per week, before the history
SUITES_FILE: Final = "suites.json"
MAX_RUNS: Final = 1000  # per week; the oldest go first, but the best run is always kept


@dataclass(frozen=True)
class StoredScore:
    """One full-week grade of the learner's exercises/ folder."""

    week_id: str
    points_earned: float
    points_possible: float
    tests_passed: int
    tests_total: int
    graded_at: str  # ISO 8601, local time
    source: str = "grade"  # what graded it: grade, watch or the notebook magic

    @property
    def share(self) -> float:
        return self.points_earned / self.points_possible if self.points_possible else 0.0

    @property
    def complete(self) -> bool:
        return self.points_possible > 0 and self.points_earned >= self.points_possible


@dataclass(frozen=True)
class WeekHistory:
    """Every stored run of one week, oldest first (never empty)."""

    runs: tuple[StoredScore, ...]

    @property
    def last(self) -> StoredScore:
        return self.runs[-1]

    @property
    def best(self) -> StoredScore:
        """The run with the highest share of the points; of equal ones, the latest."""
        return max(reversed(self.runs), key=lambda run: run.share)


def load_history(root: Path) -> dict[str, WeekHistory]:
    """Every week's runs (weeks never graded are absent)."""
    return {week: WeekHistory(tuple(runs)) for week, runs in _load_runs(root).items() if runs}


def load_scores(root: Path) -> dict[str, StoredScore]:
    """Each week's last run."""
    return {week: found.last for week, found in load_history(root).items()}


def save_score(root: Path, result: WeekResult, *, now: dt.datetime | None = None, source: str = "grade") -> StoredScore:
    """Add ``result`` to the week's runs (only full-week grades of exercises/ are stored)."""
    run = StoredScore(
        week_id=result.week_id,
        points_earned=result.points_earned,
        points_possible=result.points_possible,
        tests_passed=result.tests_passed,
        tests_total=result.tests_total,
        graded_at=(now or dt.datetime.now()).isoformat(timespec="seconds"),
        source=source,
    )
    with _locked(root):
        runs = _load_runs(root)
        kept = [*runs.get(result.week_id, ()), run]
        runs[result.week_id] = _bounded(kept)
        data = {"format": 2, "weeks": {week: [asdict(r) for r in found] for week, found in runs.items()}}
        _write_json(root / STATE_DIR / HISTORY_FILE, data)
    return run


def _bounded(runs: list[StoredScore]) -> list[StoredScore]:
    """At most MAX_RUNS runs: the oldest are dropped first, never the best."""
    if len(runs) <= MAX_RUNS:
        return runs
    best = WeekHistory(tuple(runs)).best
    recent = runs[-(MAX_RUNS - 1) :]
    return recent if any(r is best for r in recent) else [best, *recent]


def _load_runs(root: Path) -> dict[str, list[StoredScore]]:
    data = _read_json(root / STATE_DIR / HISTORY_FILE)
    runs: dict[str, list[StoredScore]] = {}
    weeks = data.get("weeks")
    for week, entries in (weeks if isinstance(weeks, dict) else {}).items():
        runs[week] = [r for r in map(_score, entries if isinstance(entries, list) else []) if r is not None]
    legacy = _read_json(root / STATE_DIR / LEGACY_SCORES_FILE)
    for week, entry in legacy.items():
        score = _score(entry)
        if score is not None and not runs.get(week):
            runs[week] = [score]
    return runs


def _score(entry: Any) -> StoredScore | None:
    if not isinstance(entry, dict):
        return None
    try:
        return StoredScore(**{k: entry[k] for k in StoredScore.__dataclass_fields__ if k in entry})
    except TypeError:
        return None


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One writer of the history at a time (``grade watch`` and ``grade`` may run side by side)."""
    folder = root / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "history.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def suite_fingerprint(tests_dir: Path) -> str:
    """Changes whenever a file of the suites (or the grader's plugin) changes."""
    digest = hashlib.sha256(f"grader {__version__}\n".encode())
    for path in sorted(tests_dir.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(tests_dir)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_suites(root: Path, fingerprint: str) -> dict[str, tuple[TestInfo, ...]] | None:
    data = _read_json(root / STATE_DIR / SUITES_FILE)
    if data.get("fingerprint") != fingerprint:
        return None
    try:
        return {week: tuple(TestInfo.from_dict(t) for t in tests) for week, tests in data["weeks"].items()}
    except (KeyError, TypeError, AttributeError):
        return None


def save_suites(root: Path, fingerprint: str, suites: dict[str, tuple[TestInfo, ...]]) -> None:
    weeks = {week: [asdict(t) for t in tests] for week, tests in suites.items()}
    _write_json(root / STATE_DIR / SUITES_FILE, {"fingerprint": fingerprint, "weeks": weeks})


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        _set_aside(path)
        return {}
    return data if isinstance(data, dict) else {}


def _set_aside(path: Path) -> None:
    """Keep an unreadable state file as ``<name>.broken`` instead of overwriting it."""
    try:
        path.replace(path.with_name(path.name + ".broken"))
    except OSError:
        pass


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- hints that unfold (issue #20) ------------------------------------------------------------

HINTS_FILE: Final = "hints.json"


@dataclass(frozen=True)
class HintAsked:
    """One ``grade hint``: which level of which test's hint the learner asked for, and when."""

    week_id: str
    test: str  # the test function's name, without parameters: its levels are the same for each case
    level: int  # 1 is the report's; grade hint shows 2, then 3, …
    asked_at: str  # ISO 8601, local time


def hints_asked(root: Path, week_id: str) -> list[HintAsked]:
    """Every hint asked for in a week, oldest first."""
    asked = []
    for entry in _read_json(root / STATE_DIR / HINTS_FILE).get("asked", []):
        try:
            found = HintAsked(**entry)
        except TypeError:
            continue
        if found.week_id == week_id:
            asked.append(found)
    return asked


def record_hint(root: Path, asked: HintAsked) -> None:
    """Add ``asked`` to the history (kept with the last grade's failures in .grade/hints.json)."""
    path = root / STATE_DIR / HINTS_FILE
    data = _read_json(path)
    data["asked"] = [*data.get("asked", []), asdict(asked)]
    _write_json(path, data)


def save_failures(root: Path, result: WeekResult) -> None:
    """Remember which learner function each failing test of the last grade called, so that
    ``grade hint week5 entropy`` finds the tests of ``entropy`` that failed."""
    path = root / STATE_DIR / HINTS_FILE
    data = _read_json(path)
    failing = [[o.info.name.split("[")[0], o.function] for e in result.exercises for o in e.outcomes if not o.passed]
    data.setdefault("failures", {})[result.week_id] = failing
    _write_json(path, data)


def last_failures(root: Path, week_id: str) -> list[tuple[str, str]]:
    """(test function, learner function) of each failing test of the week's last grade."""
    failures = _read_json(root / STATE_DIR / HINTS_FILE).get("failures", {})
    entries = failures.get(week_id, []) if isinstance(failures, dict) else []
    return [(str(e[0]), str(e[1])) for e in entries if isinstance(e, list) and len(e) == 2]
