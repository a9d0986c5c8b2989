"""The learner's last score for each week, kept in ``.grade/`` at the course root (git-ignored).

Written atomically (a temporary file renamed over the old one), so an interrupted ``grade``
never leaves a half-written file; an unreadable file is set aside, never silently dropped.
Also caches what each week's suite is worth, so ``grade list`` need not start torch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from ..core.results import TestInfo, WeekResult
from ..core.version import __version__

STATE_DIR: Final = ".grade"
SCORES_FILE: Final = "scores.json"
SUITES_FILE: Final = "suites.json"


@dataclass(frozen=True)
class StoredScore:
    """The last grade of a week's exercises/ folder."""

    week_id: str
    points_earned: float
    points_possible: float
    tests_passed: int
    tests_total: int
    graded_at: str  # ISO 8601, local time


def load_scores(root: Path) -> dict[str, StoredScore]:
    data = _read_json(root / STATE_DIR / SCORES_FILE)
    scores = {}
    for week_id, entry in data.items():
        try:
            scores[week_id] = StoredScore(**entry)
        except TypeError:
            continue
    return scores


def save_score(root: Path, result: WeekResult, *, now: dt.datetime | None = None) -> None:
    """Remember ``result`` as the week's last score (only a full-week grade of exercises/ is stored)."""
    path = root / STATE_DIR / SCORES_FILE
    data = _read_json(path)
    data[result.week_id] = asdict(
        StoredScore(
            week_id=result.week_id,
            points_earned=result.points_earned,
            points_possible=result.points_possible,
            tests_passed=result.tests_passed,
            tests_total=result.tests_total,
            graded_at=(now or dt.datetime.now()).isoformat(timespec="seconds"),
        )
    )
    _write_json(path, data)


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
