"""A learner's notebooks as a submission: ``grade week5 --path work.ipynb`` (or a folder of
notebooks) and the ``%grade`` magic grade the definitions of notebook cells, written as the week's
modules into a temporary folder laid out like exercises/ and graded there, in the sandbox.

A notebook named after an exercise (``losses.ipynb``) is that exercise; any other notebook (the
one notebook of a learner who does the whole week in one place) stands for every exercise not
given by its own notebook, as ``grade batch`` reads a class's notebooks.  Nothing of a notebook
runs while it is read: only its cells' text is taken (``engine.notebooks``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..core.course import Course, Week, exercise_names
from ..core.errors import UsageError
from ..engine.notebooks import UnreadableNotebook, write_cells, write_notebook


def is_notebook_path(path: Path, week: Week) -> bool:
    """True for a notebook, or a folder of notebooks that is not laid out like exercises/."""
    if path.suffix == ".ipynb":
        return True
    return path.is_dir() and not (path / week.folder).is_dir() and any(path.glob("*.ipynb"))


def stage_notebooks(course: Course, week: Week, path: Path, scratch: Path) -> tuple[Path, list[str]]:
    """Write the week's modules from the notebook(s) at ``path`` into ``scratch``; returns the
    folder to grade (laid out like exercises/) and notes on what was left out."""
    notebooks = [path] if path.suffix == ".ipynb" else sorted(path.glob("*.ipynb"))
    if path.suffix == ".ipynb" and not path.is_file():
        raise UsageError(f"--path {path}: no such notebook")
    exercises = exercise_names(course, week)
    week_dir = scratch / week.folder
    week_dir.mkdir(parents=True)
    own = {nb.stem: nb for nb in notebooks if nb.stem in exercises}
    others = [nb for nb in notebooks if nb.stem not in exercises]
    if len(others) > 1 and len(own) < len(exercises):
        names = ", ".join(nb.name for nb in others)
        raise UsageError(
            f"--path {path}: {names} are not named after an exercise of {week.id}; name each after its exercise "
            f"({', '.join(e + '.ipynb' for e in exercises)}) or give one notebook for the whole week"
        )
    notes: list[str] = []
    try:
        for exercise in exercises:
            source = own.get(exercise) or (others[0] if others else None)
            if source is None:
                notes.append(f"no notebook for {exercise}: its tests fail as missing")
                continue
            notes += write_notebook(source, week_dir / f"{exercise}.py")
    except UnreadableNotebook as exc:
        raise UsageError(f"--path {path}: {exc}") from None
    return scratch, sorted(set(notes))


def stage_cells(course: Course, week: Week, cells: list[str], scratch: Path, *, name: str) -> Path:
    """Write the week's modules from a kernel's input history (``In``: each executed cell's
    source, in the order it ran) into ``scratch``; every exercise is given all the cells."""
    week_dir = scratch / week.folder
    week_dir.mkdir(parents=True)
    numbered = [(number, source) for number, source in enumerate(cells) if source.strip()]
    exercises = exercise_names(course, week)
    first = week_dir / f"{exercises[0]}.py"
    try:
        write_cells(numbered, first, name=name)
    except UnreadableNotebook as exc:
        raise UsageError(str(exc)) from None
    for exercise in exercises[1:]:
        shutil.copyfile(first, week_dir / f"{exercise}.py")
    return scratch


def scratch_folder() -> Path:
    """A private temporary folder for a staged submission (removed by the caller)."""
    return Path(tempfile.mkdtemp(prefix="grade-notebook-"))
