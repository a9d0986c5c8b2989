"""Turning what learners hand in into folders the grader can grade, safely.

A batch's SUBMISSIONS folder holds one submission per learner, in any of these forms:

* a folder ``<learner>/`` laid out like exercises/ (``<learner>/week05_probability/information.py``;
  flat ``<learner>/information.py`` or one extra wrapping folder are found too);
* a zip file ``<learner>.zip`` with the same content;
* a notebook ``<learner>.ipynb`` whose code cells define the week's functions;
* with ``nbgrader_exchange`` only, nbgrader's layout: SUBMISSIONS is the folder holding
  ``submitted/<learner>/<assignment>/`` (``timestamp.txt`` inside).

The layout is decided once, by the caller (``--nbgrader-exchange``), never by what a learner
named a folder or put in it: a learner folder called ``submitted`` or holding a ``timestamp.txt``
is read like any other, under its own id.

Inside a submission an exercise may be a module (``information.py``) or a notebook
(``information.ipynb``); a notebook with any other name stands for every exercise not handed
in as a file.  Each submission is copied into its own folder under the batch's work folder and
only ever read from there.  Everything that can be wrong with what was handed in (a corrupt zip,
a zip bomb, a path escaping the folder, a symlink, a file name that is not UTF-8, an empty or
misnamed submission, two submissions for one learner, a tree too deep or too wide, a file or
a time stamp too big) becomes a ``problem`` or a note on the ``Intake``, never an exception that
stops the batch, and nothing is ever written outside the work folder.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from ..core.course import Course, Week, exercise_names, resolve_week
from ..core.errors import UsageError
from ..engine.notebooks import UnreadableNotebook, write_notebook
from .staging import KEPT_SUFFIXES, MAX_BYTES, Rejected, candidate_files, is_utf8, printable, stage, walk
from .stamps import read_stamp

EXCHANGE_FOLDER: Final = "submitted"  # nbgrader's: submitted/<learner>/<assignment>/
# How much later than its stamp a file of the submission may have been changed (clock skew)
# before the stamp is taken to disagree with the files.
STAMP_SKEW: Final = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Intake:
    """One learner's submission, ready to grade (``root``) or not (``problem``)."""

    learner: str
    source: str  # what was handed in, relative to the submissions folder
    root: Path | None  # a folder laid out like exercises/: root/<week folder>/<exercise>.py
    content_hash: str
    submitted_at: dt.datetime | None
    problem: str = ""  # why nothing can be graded ("" when root is set)
    notes: tuple[str, ...] = ()  # what the instructor should know: ignored files, near-miss names

    @property
    def gradable(self) -> bool:
        return self.root is not None and not self.problem


@dataclass(frozen=True)
class Discovery:
    """What a submissions folder holds: one intake per learner, and what is not a submission."""

    intakes: tuple[Intake, ...]
    ignored: tuple[str, ...]  # "notes.txt: not a folder, .zip or .ipynb"


def discover(
    source: Path,
    *,
    course: Course,
    week: Week,
    work: Path,
    nbgrader_exchange: bool = False,
    started_at: dt.datetime | None = None,
) -> Discovery:
    """Every submission in ``source`` (see the module docstring), each copied under ``work``.

    ``nbgrader_exchange`` alone says that ``source`` holds nbgrader's ``submitted/`` folder;
    ``started_at`` (default: now) is when the grading started, the latest time a stamp may name.
    """
    if not source.is_dir():
        raise UsageError(f"{source}: no such folder; SUBMISSIONS is a folder with one submission per learner")
    started_at = started_at or dt.datetime.now(dt.timezone.utc)
    if nbgrader_exchange:
        exchange = source / EXCHANGE_FOLDER
        if not exchange.is_dir() or exchange.is_symlink():
            raise UsageError(
                f"{source}: no {EXCHANGE_FOLDER}/ folder; with --nbgrader-exchange, SUBMISSIONS is nbgrader's "
                f"course folder, the one holding {EXCHANGE_FOLDER}/<learner>/<assignment>/"
            )
        found = _exchange_candidates(exchange, week)
    else:
        found = _folder_candidates(source)
    intakes, ignored = [], []
    for index, candidate in enumerate(found):
        if isinstance(candidate, str):
            ignored.append(candidate)
            continue
        learner, path, label = candidate
        work_dir = work / f"s{index:05d}"
        intakes.append(
            read_submission(
                path,
                learner=learner,
                course=course,
                week=week,
                work=work_dir,
                source=label,
                nbgrader=nbgrader_exchange,
                started_at=started_at,
            )
        )
    return Discovery(tuple(_reject_duplicates(intakes)), tuple(ignored))


def read_submission(
    path: Path,
    *,
    learner: str,
    course: Course,
    week: Week,
    work: Path,
    source: str | None = None,
    nbgrader: bool = False,
    started_at: dt.datetime | None = None,
) -> Intake:
    """Read one submission (a folder, a zip or a notebook) into ``work``.  ``nbgrader``: the folder
    comes from nbgrader's exchange, whose ``timestamp.txt`` is read as evidence of the submission
    time (``stamps.py``), checked against ``started_at`` (default: now) and the files' time."""
    label = source or path.name
    if not is_utf8(learner):
        shown = learner.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return Intake(
            shown, printable(label), None, _hash_text(shown), None, f"the name {shown!r} is not valid UTF-8; rename it"
        )
    try:
        staged = work / "raw"
        notes = stage(path, staged)
        root = work / "graded"
        notes += _assemble(staged, root / week.folder, exercise_names(course, week), week)
        submitted_at, time_notes = _submission_time(
            path, read_stamps=nbgrader, started_at=started_at or dt.datetime.now(dt.timezone.utc)
        )
        return Intake(learner, label, root, _hash_folder(root), submitted_at, notes=tuple(notes + time_notes))
    except Rejected as exc:
        return Intake(learner, label, None, _hash_path(path), _mtime(path), str(exc))
    except OSError as exc:  # an unreadable file or folder of the submission
        return Intake(learner, label, None, _hash_path(path), _mtime(path), f"cannot be read: {exc}")
    finally:
        shutil.rmtree(work / "raw", ignore_errors=True)


# -- finding the submissions ----------------------------------------------------------------------


def _folder_candidates(source: Path) -> Iterator[tuple[str, Path, str] | str]:
    """(learner, path, label) per submission; a string for an entry that is not one."""
    for path in sorted(source.iterdir()):
        submission = path.is_dir() or path.suffix.lower() in (".zip", ".ipynb")
        if path.name.startswith("."):
            if submission:  # a learner never vanishes silently; .DS_Store and friends do
                yield f"{printable(path.name)}: hidden (its name starts with a dot), not read; rename it to grade it"
            continue
        if submission:
            learner = path.name if path.is_dir() else path.stem
            yield learner, path, path.name
        else:
            yield f"{printable(path.name)}: not a submission (a folder, .zip or .ipynb per learner)"


def _exchange_candidates(exchange: Path, week: Week) -> Iterator[tuple[str, Path, str] | str]:
    """nbgrader's ``submitted/<learner>/<assignment>/``; the assignment is the week by any of its names."""
    for learner_dir in sorted(exchange.iterdir()):
        shown = f"{EXCHANGE_FOLDER}/{printable(learner_dir.name)}"
        if learner_dir.name.startswith("."):
            if learner_dir.is_dir():
                yield f"{shown}: hidden (its name starts with a dot), not read; rename it to grade it"
            continue
        if not learner_dir.is_dir() or learner_dir.is_symlink():
            yield f"{shown}: not a learner's folder of nbgrader's {EXCHANGE_FOLDER}/"
            continue
        matches = [a for a in sorted(learner_dir.iterdir()) if a.is_dir() and _names_week(a.name, week)]
        label = f"{EXCHANGE_FOLDER}/{learner_dir.name}"
        if matches:
            yield learner_dir.name, matches[0], f"{label}/{matches[0].name}"
        else:
            yield learner_dir.name, learner_dir / week.id, f"{label}/{week.id}"  # missing: rejected when read


def _names_week(name: str, week: Week) -> bool:
    try:
        return resolve_week((week,), name) == week
    except UsageError:
        return False


def _reject_duplicates(intakes: list[Intake]) -> list[Intake]:
    """Two submissions for one learner id: one rejected entry naming both, nothing graded."""
    by_learner: dict[str, list[Intake]] = {}
    for intake in intakes:
        by_learner.setdefault(intake.learner, []).append(intake)
    result = []
    for learner, given in by_learner.items():
        if len(given) == 1:
            result.append(given[0])
            continue
        sources = " and ".join(i.source for i in given)
        problem = f"learner id {learner!r} is given by {sources}; keep one and run again"
        content = hashlib.sha256("".join(i.content_hash for i in given).encode()).hexdigest()
        result.append(replace(given[0], source=sources, root=None, problem=problem, content_hash=content))
    return result


def _assemble(staged: Path, week_dir: Path, exercises: tuple[str, ...], week: Week) -> list[str]:
    """Write ``week_dir/<exercise>.py`` for each exercise found in ``staged`` (modules or notebooks)."""
    files = [p for p in sorted(staged.rglob("*")) if p.is_file() and p.suffix in KEPT_SUFFIXES]
    if not files:
        raise Rejected(f"empty submission: no .py or .ipynb file; expected {_expected(exercises)}")
    home = _home_folder(files, exercises, week)
    week_dir.mkdir(parents=True)
    notes: list[str] = []
    found: set[str] = set()
    for path in files:  # every module beside the exercises: a learner's own helper modules
        if path.parent == home and path.suffix == ".py":
            shutil.copyfile(path, week_dir / path.name)
            found.add(path.stem)
    for path in files:
        if path.suffix != ".ipynb" or path.stem not in exercises:
            continue
        if path.stem in found:
            notes.append(f"{path.name} ignored: {path.stem}.py was handed in too")
            continue
        try:
            notes += _write_notebook(path, week_dir / f"{path.stem}.py")
            found.add(path.stem)
        except Rejected as exc:
            notes.append(str(exc))
    missing = [e for e in exercises if e not in found]
    others = [p for p in files if p.suffix == ".ipynb" and p.stem not in exercises]
    if missing and len(others) == 1:  # one notebook for the whole week
        first = week_dir / f"{missing[0]}.py"
        notes += _write_notebook(others[0], first)
        for exercise in missing[1:]:
            shutil.copyfile(first, week_dir / f"{exercise}.py")
        notes.append(f"{others[0].name} graded as {', '.join(e + '.py' for e in missing)}")
        missing = []
    if len(missing) == len(exercises):
        raise Rejected(f"no exercise file found: expected {_expected(exercises)}{_near_misses(files, exercises)}")
    if missing:
        notes.append(f"missing {', '.join(m + '.py' for m in missing)}{_near_misses(files, missing)}")
    return notes


def _write_notebook(notebook: Path, module: Path) -> list[str]:
    try:
        return write_notebook(notebook, module)
    except UnreadableNotebook as exc:
        raise Rejected(str(exc)) from None


def _home_folder(files: list[Path], exercises: tuple[str, ...], week: Week) -> Path:
    """The folder holding the exercise modules: the week's folder if there is one, else the one with most."""
    counts: dict[Path, int] = {}
    for path in files:
        if path.suffix == ".py" and path.stem in exercises:
            counts[path.parent] = counts.get(path.parent, 0) + 1
    if not counts:
        return files[0].parent
    named = [folder for folder in counts if folder.name == week.folder]
    return max(named or counts, key=lambda folder: (counts[folder], -len(folder.parts)))


def _expected(exercises: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"{e}.py" for e in exercises)


def _near_misses(files: list[Path], exercises: tuple[str, ...] | list[str]) -> str:
    names = [p.name for p in files]
    hints = []
    for exercise in exercises:
        close = difflib.get_close_matches(f"{exercise}.py", names, n=1, cutoff=0.6)
        if close:
            hints.append(f"{close[0]} (should be named {exercise}.py?)")
    return f"; found {', '.join(hints)}" if hints else ""


def _submission_time(path: Path, *, read_stamps: bool, started_at: dt.datetime) -> tuple[dt.datetime | None, list[str]]:
    """The files' time, or nbgrader's stamp in its exchange layout when the stamp is valid and
    agrees with the files.  A stamp that names no valid moment, or one earlier than a file it
    stamps was changed, is flagged in a note and the files' (later) time is used: a forged early
    stamp cannot dodge the late penalty.  Outside nbgrader's layout a timestamp.txt could have
    been written by the learner, so it is not read at all."""
    files = _files_time(path)
    stamp = read_stamp(path, not_after=started_at) if read_stamps else None
    if stamp is None:
        return files, []
    if stamp.moment is None:
        return files, [f"{stamp.problem}; the file time was used"]
    if files is not None and files > stamp.moment + STAMP_SKEW:
        return files, [
            f"timestamp.txt says {stamp.moment.isoformat(timespec='seconds')}, but a file was changed later, at "
            f"{files.isoformat(timespec='seconds')}; the later time was used"
        ]
    return stamp.moment, []


def _files_time(path: Path) -> dt.datetime | None:
    """A folder's newest exercise file, or the zip's or notebook's own modification time."""
    if path.is_dir():
        times = [p.lstat().st_mtime for p in candidate_files(path) if not p.is_symlink()]
        return dt.datetime.fromtimestamp(max(times)).astimezone() if times else _mtime(path)
    return _mtime(path)


def _mtime(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(path.lstat().st_mtime).astimezone()
    except OSError:
        return None


def _hash_folder(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _hash_path(path: Path) -> str:
    """A rejected submission's hash: the raw file's bytes (a folder: its names and sizes)."""
    try:
        if path.is_file():
            with path.open("rb") as raw:  # a rejected file may be huge: hash a bounded prefix
                return hashlib.sha256(raw.read(MAX_BYTES * 5)).hexdigest()
        if path.is_dir():
            return _hash_text(json.dumps(_listing(path)))
    except OSError:
        pass
    return _hash_text(str(path))


def _listing(folder: Path) -> list[str]:
    """A folder's names and sizes, as far as the bounded walk goes (a tree too big was rejected for it)."""
    listing: list[str] = []
    try:
        for parent, files in walk(folder):
            listing += (
                f"{printable(str((parent / n).relative_to(folder)))}:{(parent / n).lstat().st_size}" for n in files
            )
    except Rejected:
        listing.append("...")
    return listing


def _hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
