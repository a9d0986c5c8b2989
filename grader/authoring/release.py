"""Student releases: a repository a learner can use on their own, without the solutions.

``write_release`` copies the grader, course.toml and the stubs, and the tests a learner may
see: those marked ``public`` (``with_hidden``: every test, for self-study).  Tests that call the
``reference`` fixture need the solutions, so they are always held back.  ``release.toml`` records
per week how many tests and points stay hidden, and ``grade`` in the release says so.  The
written release is searched for every line of every solution region; a leak deletes it and is
an error.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..core.course import COURSE_FILE, Course
from ..core.errors import BuildError, UsageError
from ..core.manifest import HeldBack, write_held_back
from ..core.results import TestInfo
from ..engine.runner import collect_tests
from .build import solution_regions

MIN_LEAK_LINE: Final = 30  # a shorter solution line ("if reduction == 'mean':") leaks only in a run of three
_ROOT_FILES: Final = ("pyproject.toml", "conftest.py", COURSE_FILE, ".gitignore", "LICENSE")

LEARNER_README: Final = """\
# {title}

Your copy of the course: stubs to fill in under `exercises/`, and the `grade` command.

Python 3.11 or newer. Install PyTorch first (any version >= 2.2; the CPU build is all you need):

```bash
pip install torch --index-url https://download.pytorch.org/whl/cpu   # Linux (without the index: a multi-GB CUDA build)
pip install torch                                                    # macOS and Windows
```

Native Windows is not supported by the grader's sandbox: use WSL. Then:

```bash
pip install -e .        # once
grade                   # every week, its points and your last score
grade week1             # grade your exercises/ for week 1 (also: grade 1, grade week01, grade <topic>)
grade week1 -v          # with the traceback of your own code for each failure
grade watch             # grade again on every save: the score and the next thing to fix
pytest                  # the public tests against your exercises/ (also your editor's test panel)
```

Each failing test says why in one line and gives a hint. {hidden_sentence}
"""


@dataclass(frozen=True)
class ReleaseSummary:
    out: Path
    with_hidden: bool
    shipped_tests: dict[str, int]
    held_back: dict[str, HeldBack]


def write_release(course: Course, *, out: Path, with_hidden: bool = False) -> ReleaseSummary:
    """Write the release into ``out`` (a new or empty folder)."""
    out = out.expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty; give --out a new or empty folder")
    if (
        out == course.root
        or course.root in out.parents
        and out.parts[len(course.root.parts)] in ("exercises", "solutions", "tests", "grader")
    ):
        raise UsageError(f"--out {out} is inside the course's own folders; choose a folder elsewhere")
    suites = collect_tests(course, course.weeks)
    out.mkdir(parents=True, exist_ok=True)
    try:
        shipped, held = _write(course, out, suites=suites, with_hidden=with_hidden)
        leaks = find_leaks(course, out)
        if leaks:
            raise BuildError("the release would show solution code; nothing was written:\n  " + "\n  ".join(leaks[:20]))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return ReleaseSummary(out=out, with_hidden=with_hidden, shipped_tests=shipped, held_back=held)


def _write(
    course: Course, out: Path, *, suites: dict[str, tuple[TestInfo, ...]], with_hidden: bool
) -> tuple[dict[str, int], dict[str, HeldBack]]:
    shutil.copytree(
        Path(__file__).resolve().parents[1], out / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in _ROOT_FILES:
        if (course.root / name).is_file():
            shutil.copy2(course.root / name, out / name)
    shutil.copytree(course.exercises_dir, out / course.exercises_dir.name, ignore=shutil.ignore_patterns("__pycache__"))
    shipped: dict[str, int] = {}
    held: dict[str, HeldBack] = {}
    for week in course.weeks:
        kept_names: set[tuple[str, str]] = set()
        source = course.tests_dir / week.folder
        target = out / course.tests_dir.name / week.folder
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.py")):
            text, kept = _filter_tests(path, with_hidden=with_hidden)
            if path.name.startswith("test_") and not kept:
                continue
            (target / path.name).write_text(text, encoding="utf-8")
            kept_names |= {(path.name, name) for name in kept}
        infos = suites.get(week.id, ())
        hidden = [
            i for i in infos if (Path(i.id.split("::")[0]).name, i.id.split("::")[1].split("[")[0]) not in kept_names
        ]
        shipped[week.id] = len(infos) - len(hidden)
        held[week.id] = HeldBack(tests=len(hidden), points=sum(i.points for i in hidden))
    write_held_back(out, held)
    hidden_total = sum(h.points for h in held.values())
    sentence = (
        f"Some tests ({hidden_total:g} points in all) are held back: your instructor grades those; "
        "`grade` tells you, week by week, how many points they are worth."
        if hidden_total
        else "Every test is included, so `grade` gives your full score."
    )
    (out / "README.md").write_text(
        LEARNER_README.format(title=course.title, hidden_sentence=sentence), encoding="utf-8"
    )
    return shipped, held


def _filter_tests(path: Path, *, with_hidden: bool) -> tuple[str, list[str]]:
    """The test file without the tests a learner may not see; and the names of the tests kept."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    module_public = any(
        _is_public_marker(n.value) for n in tree.body if isinstance(n, ast.Assign) and _assigns(n, "pytestmark")
    )
    lines = text.split("\n")
    drop: list[tuple[int, int]] = []
    kept = []
    for node in tree.body:
        if not isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ) or not node.name.lower().startswith("test"):
            continue
        public = module_public or any(_is_public_marker(d) for d in node.decorator_list)
        if (with_hidden or public) and not _uses_reference(node):
            kept.append(node.name)
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        drop.append((start, node.end_lineno or node.lineno))
    for start, end in reversed(drop):
        del lines[start - 1 : end]
    return "\n".join(lines), kept


def _assigns(node: ast.Assign, name: str) -> bool:
    return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


def _is_public_marker(node: ast.expr) -> bool:
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_is_public_marker(e) for e in node.elts)
    return ast.unparse(node).replace(" ", "") in ("pytest.mark.public", "mark.public")


def _uses_reference(node: ast.AST) -> bool:
    functions = [n for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return any(a.arg == "reference" for f in functions for a in f.args.args + f.args.kwonlyargs)


def secret_lines(course: Course) -> set[str]:
    """Lines (stripped) that appear only inside solution regions, long enough to mean a leak."""
    secret: set[str] = set()
    outside: set[str] = set()
    for path in course.solutions_dir.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        regions = solution_regions(text, filename=path.name)
        inside = {n for r in regions for n in range(r.begin_line, r.end_line + 1)}
        for number, line in enumerate(text.split("\n"), start=1):
            (secret if number in inside else outside).add(line.strip())
    return {s for s in secret - outside if len(s) >= 8 and "SOLUTION" not in s and not s.startswith("#")}


def leaks_in(path: Path, secret: set[str]) -> list[tuple[int, str]]:
    """(line number, line) of the solution lines the file at ``path`` repeats.

    A long line counts alone; short ones (``if fit_intercept:``) only in a run of three or more
    consecutive solution lines, which is how copied logic looks.
    """
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").split("\n")]
    except (UnicodeDecodeError, OSError):
        return []
    hits = [line in secret for line in lines]
    found = []
    for index, line in enumerate(lines):
        if not hits[index]:
            continue
        start, end = index, index
        while start > 0 and hits[start - 1]:
            start -= 1
        while end + 1 < len(lines) and hits[end + 1]:
            end += 1
        if len(line) >= MIN_LEAK_LINE or end - start >= 2:
            found.append((index + 1, line))
    return found


def find_leaks(course: Course, out: Path) -> list[str]:
    """Every line of a solution region (longer than a trivial line) that appears in a file of
    ``out``, the framework's own source included: a helper that repeats an exercise's solution
    would hand every learner the answer."""
    secret = secret_lines(course)
    leaks = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        leaks += [f"{path.relative_to(out)}:{n}: {line}" for n, line in leaks_in(path, secret)]
    return leaks


def framework_leaks(course: Course) -> list[str]:
    """The lines of this grader package (which every release ships) that repeat a solution line."""
    package = Path(__file__).resolve().parents[1]
    secret = secret_lines(course)
    return [
        f"grader/{path.relative_to(package).as_posix()}:{n} repeats a line of a solution, which every release "
        f"would show: {line!r}; write the helper differently"
        for path in sorted(package.rglob("*.py"))
        for n, line in leaks_in(path, secret)
    ]
