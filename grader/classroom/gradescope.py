"""The Gradescope autograder: the zip an instructor uploads, and what it runs for each submission.

``build_gradescope_autograder`` writes a zip that Gradescope unpacks into ``/autograder/source``
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): ``setup.sh`` installs Python,
a CPU build of torch and this course as a package, once, when Gradescope builds its image;
``run_autograder`` runs ``python -m grader.classroom.gradescope /autograder`` for every submission.  The
zip holds the grader, course.toml, and the week's hidden tests and reference solutions (some
tests compare against the reference); the week it grades is fixed in ``gradescope.json``.

``main`` grades the upload in ``/autograder/submission`` (``.py`` files or notebooks, anywhere
in it, or a zip) and always writes ``/autograder/results/results.json``: a rejected upload or a
failure of the grader itself is a score of 0 with the reason, never a blank autograder error.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import traceback
import zipfile
from pathlib import Path
from typing import Any, Final

from ..core.course import COURSE_FILE, Course, Week, load_course
from ..core.errors import ExportError, GraderError, UsageError
from ..engine.runner import GradeRequest, grade_week
from . import export, intake

CONFIG_FILE: Final = "gradescope.json"
CONFIG_SCHEMA_VERSION: Final = 1
LEARNER: Final = "gradescope"
SUBMISSION_LABEL: Final = "submission"  # how the learner's files are named in messages
_ROOT_FILES: Final = ("pyproject.toml", "conftest.py", COURSE_FILE, "README.md", "LICENSE")
_SKIPPED: Final = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")

SETUP_SH: Final = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (an Ubuntu image).
# It makes a virtual environment with Python >= 3.11 (Ubuntu 22.04's python3 is 3.10, and
# Ubuntu 24.04 refuses pip installs into the system Python), then installs a CPU build of
# torch and the course from /autograder/source (nbformat reads uploaded notebooks).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/venv"

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

PYTHON="$(find_python || true)"
if [ -z "$PYTHON" ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv
    PYTHON="$(find_python)"
fi
if ! "$PYTHON" -m venv "$VENV"; then
    # Debian and Ubuntu ship venv's pip bootstrap in a package of its own.
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$(basename "$PYTHON")-venv"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install torch --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/python" -m pip install "$ROOT/source" nbformat
"""

RUN_AUTOGRADER: Final = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission; it must leave results/results.json behind.
# AUTOGRADER_ROOT lets the course's own tests run it outside Gradescope's /autograder.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="$ROOT/venv/bin/python"
if [ ! -x "$PYTHON" ]; then
    PYTHON="$(command -v python || command -v python3)"
fi
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
cd "$ROOT/source" && "$PYTHON" -m grader.classroom.gradescope "$ROOT"
if [ ! -s "$ROOT/results/results.json" ]; then
    # Python itself failed: still tell the learner something rather than leave a blank failure.
    cat >"$ROOT/results/results.json" <<'EOF'
{"score": 0.0, "output": "The autograder failed before it could grade this submission (this is not your fault); please tell your instructor.", "stdout_visibility": "hidden", "tests": []}
EOF
fi
"""


# -- building the zip ---------------------------------------------------------------------------


def build_gradescope_autograder(course: Course, week: Week, out: Path) -> Path:
    """Write the autograder zip for ``week`` to ``out`` (a ``.zip`` path, or a folder to write
    ``gradescope-<week>.zip`` into, created if it does not exist yet) and return its path."""
    if out.suffix == ".zip" and not out.is_dir():
        target = out
    elif out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder; give a folder or a .zip file name")
    else:
        target = out / f"gradescope-{week.id}.zip"
    files = _files(course, week)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add_text(archive, "setup.sh", SETUP_SH, executable=True)
        _add_text(archive, "run_autograder", RUN_AUTOGRADER, executable=True)
        config = {"schema_version": CONFIG_SCHEMA_VERSION, "week": week.id}
        _add_text(archive, CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        for name, path in files:
            archive.write(path, name)
        for name in _placeholder_folders(course, week):
            archive.writestr(zipfile.ZipInfo(name), "")
    return target


def _files(course: Course, week: Week) -> list[tuple[str, Path]]:
    """(name in the zip, file on disk): the grader, the course's root files, the week's folders."""
    grader_dir = Path(__file__).resolve().parents[1]
    files = [(f"grader/{p.relative_to(grader_dir).as_posix()}", p) for p in _tree(grader_dir)]
    for name in _ROOT_FILES:
        path = course.root / name
        if name == "pyproject.toml" and not path.is_file():
            path = grader_dir.parent / name  # a course beside an installed framework: the framework's
        if path.is_file():
            files.append((name, path))
    if not any(name == "pyproject.toml" for name, _ in files):
        raise UsageError(
            f"{course.root}: no pyproject.toml, which Gradescope's setup.sh needs to pip install the course; "
            "copy the framework's pyproject.toml there"
        )
    if not any(name == "README.md" for name, _ in files):
        raise UsageError(f"{course.root}: no README.md, which pyproject.toml names as the readme; add one")
    for folder in (course.exercises_dir, course.tests_dir, course.solutions_dir):
        source = folder / week.folder
        if not source.is_dir():
            raise UsageError(f"{source} does not exist; the Gradescope autograder needs the week's {folder.name}/")
        base = _inside(course, folder)
        files += [(f"{base}/{week.folder}/{p.relative_to(source).as_posix()}", p) for p in _tree(source)]
    return files


def _placeholder_folders(course: Course, week: Week) -> list[str]:
    """Empty folders for the other weeks: course.toml names them and loading checks they exist,
    but their hidden tests and solutions have no business on Gradescope."""
    return [
        f"{_inside(course, folder)}/{other.folder}/"
        for other in course.weeks
        if other.id != week.id
        for folder in (course.exercises_dir, course.tests_dir, course.solutions_dir)
    ]


def _inside(course: Course, folder: Path) -> str:
    try:
        return folder.resolve().relative_to(course.root.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"{folder} is outside the course folder {course.root}; the autograder zip holds only the course folder"
        ) from None


def _tree(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part in _SKIPPED for part in p.parts) and p.suffix != ".pyc"
    )


def _add_text(archive: zipfile.ZipFile, name: str, text: str, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    archive.writestr(info, text)


# -- running on Gradescope -----------------------------------------------------------------------


def main(root: Path) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``, whatever happens."""
    results_file = root / "results" / "results.json"
    try:
        results = _grade(root)
    except GraderError as exc:
        results = export.gradescope_problem(
            f"the autograder could not grade this submission: {exc} (this is not your fault; please tell your instructor)"
        )
    except Exception:  # noqa: BLE001 - a learner must see a reason, not a blank failure
        traceback.print_exc()  # Gradescope shows the log to the instructor only
        results = export.gradescope_problem(
            "the autograder failed while grading this submission (this is not your fault); please tell your instructor"
        )
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def _grade(root: Path) -> dict[str, Any]:
    course = load_course(root / "source")
    week = course.resolve(_configured_week(root / "source" / CONFIG_FILE))
    lock_answers(course)
    with tempfile.TemporaryDirectory(prefix="grade-gradescope-") as scratch:
        upload = intake.read_submission(
            root / "submission", learner=LEARNER, course=course, week=week, work=Path(scratch) / "intake"
        )
        if upload.problem or upload.root is None:
            return export.gradescope_problem(
                upload.problem or "nothing to grade was found in the upload", notes=upload.notes
            )
        request = GradeRequest(course=course, week=week, submission=upload.root, label=SUBMISSION_LABEL)
        result = grade_week(request)
    return export.to_gradescope(result, notes=upload.notes)


def lock_answers(course: Course) -> None:
    """As root (Gradescope runs the autograder as root), make the reference solutions and the
    hidden tests readable by root alone.  Learner code runs as ``nobody`` wherever Python is
    readable to nobody (``sandbox._drop_root``), but where bubblewrap cannot run (a container
    without user namespaces) nothing else would keep it from reading the answers from
    /autograder/source.  The grading process itself stays root and reads them as before."""
    if not hasattr(os, "getuid") or os.getuid() != 0:
        return
    for folder in (course.solutions_dir, course.tests_dir):
        if folder.is_dir():
            folder.chmod(0o700)


def _configured_week(path: Path) -> str:
    try:
        week = json.loads(path.read_text(encoding="utf-8"))["week"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: cannot read the week to grade ({exc}); rebuild the autograder zip") from None
    if not isinstance(week, str):
        raise UsageError(f"{path}: 'week' must be a week id like \"week5\"; rebuild the autograder zip")
    return week


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AUTOGRADER_ROOT", "/autograder"))))
