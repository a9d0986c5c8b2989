"""Grading a class: `grade batch` against `nbgrader autograde` on the same submissions, in one run.

Why: an instructor who grades hundreds of learners wants to know what the framework costs next
to the tool they would otherwise use. This script builds a synthetic class of week-5 submissions
from the course's own files, grades it with both systems under the same per-test time limit, and
prints one table:

* wall-clock time and submissions per second of ``nbgrader autograde week5`` (one kernel per
  notebook, run one after the other, as nbgrader does) and of ``grade batch week5 DIR
  --workers N`` (warm workers); the throughput ratio ours / nbgrader (target >= 10);
* our overhead per submission above the tests' own compute (target < 100 ms): (a) the tests'
  compute is the sum of the per-test times of plain ``pytest --junitxml`` on the reference; (b)
  our marginal cost is (T(2k correct submissions) - T(k correct)) / k with ``--workers 1``,
  k = 20, i.e. what one more submission costs once the worker is warm. (b) is a warm cost, so
  the overhead is (b) - (a'), where (a') is the same tests' times in their second pass in the
  same process; (b) - (a) is printed too but flatters us, since (a) includes a cold process's
  one-off warm-up. Each
  compute figure is the median of 3 runs (one run varied from 0.5 to 1.6 s on a busy machine);
* each system's mean score and number of full marks per kind of submission, so a reader sees
  that both graded the same things (a correct submission must get full marks in both).

The class (``--n``, default 100, deterministic from ``--seed``): about 55 % correct (the
reference copied), 25 % partly wrong (1 to 3 classic mistakes of
``solutions/week05_probability/mutants.toml`` applied), 12 % broken (one file with a
SyntaxError, an import that fails, or missing) and 8 % hanging (``while True: pass`` at the top
of one function that only one or two tests call, so each costs one or two time-outs).

The nbgrader side is the same exam written as nbgrader writes it: a notebook whose three solution
cells hold the three modules, then one autograder cell per hidden test (points = the test's
points) that calls THE SAME pytest function from ``tests/week05_probability/``. A read-only
harness cell gives those functions their ``student`` fixture over the notebook's globals
(``student.f`` is the notebook's ``f``; ``student.run(probe, *a)`` is ``probe(module, *a)``), a
``reference`` over the solution modules, and their parametrize values. Because
``information.py`` and ``losses.py`` both define ``cross_entropy``, a read-only cell after each
module's cell freezes the names that cell defined into a namespace of its own.

Time limit: ``--timeout 3`` (the default) grades with 3 s per test so that the hanging
submissions do not dominate the run; the course (course.toml, solutions/, tests/, exercises/,
conftest.py, pyproject.toml) is then copied into the temporary folder with ``[grading] timeout``
edited, and both systems use the copy (nbgrader: the same limit per cell). ``--timeout course``
keeps course.toml's limit (10 s) and grades the course in place. Only the harness cell (importing
torch, pytest and the test modules) gets a longer limit (SETUP_TIMEOUT_S): the framework too
imports them before any test's timer starts, and under load that import alone can pass 3 s (in
a trial, nbgrader then gave up on the whole notebook).

    python bench/batch_vs_nbgrader.py                      # the full comparison, 100 learners
    python bench/batch_vs_nbgrader.py --n 10 --skip-ours   # nbgrader side only, quickly
    python bench/batch_vs_nbgrader.py --skip-nbgrader      # our side only
    python bench/batch_vs_nbgrader.py --keep               # keep the temporary folder and say where

Everything it writes goes to a temporary folder, removed at the end unless ``--keep`` (or a
failed step, which keeps it for inspection and prints its path).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as dt
import inspect
import io
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.authoring.mutants import Mutant, load_mutants  # noqa: E402

WEEK = "week5"
NB_ASSIGNMENT = "week5"  # nbgrader's assignment name
KINDS = ("correct", "partly wrong", "broken", "hanging")
MIX = {"correct": 0.55, "partly wrong": 0.25, "broken": 0.12, "hanging": 0.08}
COURSE_FILES = ("course.toml", "solutions", "tests", "exercises", "conftest.py", "pyproject.toml")
GRADED_FIXTURES = ("student", "reference")
SETUP_TIMEOUT_S = 120  # nbgrader's limit for the harness cell only (imports), see build_nbgrader_course


class StepFailed(SystemExit):
    """A step of the benchmark failed; the message says which and shows what it printed."""


# -- running commands ---------------------------------------------------------------------------


def run(command: list[str], *, cwd: Path, what: str, ok: tuple[int, ...] = (0,), log: Path | None = None) -> float:
    """Run ``command``, return its wall-clock seconds; stop the benchmark loudly if it fails."""
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - started
    if log is not None:
        log.write_text(completed.stdout)
    if completed.returncode not in ok:
        tail = "\n".join(completed.stdout.splitlines()[-40:])
        raise StepFailed(
            f"\nFAILED: {what}\n  command: {' '.join(map(str, command))}\n  in: {cwd}\n"
            f"  exit code {completed.returncode} (expected {' or '.join(map(str, ok))}); last lines of its output:\n"
            f"{tail}"
        )
    return elapsed


# -- the course ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Course:
    root: Path
    folder: str  # week05_probability
    timeout_s: int
    copied: bool

    @property
    def solutions(self) -> Path:
        return self.root / "solutions" / self.folder

    @property
    def tests(self) -> Path:
        return self.root / "tests" / self.folder


def prepare_course(tmp: Path, timeout: str) -> Course:
    """The course to grade with: this one, or a copy whose [grading] timeout is ``timeout``."""
    from grader.core.course import load_course

    course = load_course(ROOT)
    folder = course.resolve(WEEK).folder
    own = course.grading.timeout_s
    if timeout == "course" or float(timeout) == own:
        return Course(ROOT, folder, int(own), copied=False)
    copy = tmp / "course"
    copy.mkdir()
    for name in COURSE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", ".grade"))
        elif source.exists():
            shutil.copy2(source, copy / name)
    toml = copy / "course.toml"
    text, count = re.subn(
        r"(\[grading\][^\[]*?^timeout\s*=\s*)[0-9.]+",
        rf"\g<1>{int(timeout)}",
        toml.read_text(),
        count=1,
        flags=re.M | re.S,
    )
    if count != 1:
        raise StepFailed(f"could not find `timeout = ...` under [grading] in {toml} to set it to {timeout}")
    toml.write_text(text)
    if load_course(copy).grading.timeout_s != int(timeout):
        raise StepFailed(f"{toml}: [grading] timeout did not become {timeout}")
    return Course(copy, folder, int(timeout), copied=True)


# -- the hidden tests, collected ----------------------------------------------------------------


@dataclass
class HiddenTest:
    nodeid: str
    file: str  # test_information.py
    function: str
    exercise: str
    points: float
    params: dict[str, int]  # parametrize argname -> index into its argvalues
    fixtures: dict[str, tuple[str, str, list[str]]]  # other fixture -> (file under tests/, attribute, its args)
    source: str  # the test function and the probes it names, to see which functions it calls
    problem: str = ""  # why it cannot run in a notebook ("" if it can)


def collect_tests(course: Course) -> list[HiddenTest]:
    """The week's hidden tests as pytest collects them, with what a notebook cell needs to call them."""
    import pytest

    class Collect:
        items: list[pytest.Item] = []

        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
            Collect.items = list(items)

    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", str(course.tests)], plugins=[Collect()])
    if code != 0 or not Collect.items:
        raise StepFailed(f"collecting {course.tests} failed (pytest exit {code}):\n{output.getvalue()[-3000:]}")
    return [_hidden_test(item, course) for item in Collect.items]


def _hidden_test(item, course: Course) -> HiddenTest:
    function = item.function
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.indices) if callspec else {}
    module = inspect.getmodule(function)
    probes = [getattr(module, n) for n in function.__code__.co_names if inspect.isfunction(getattr(module, n, None))]
    source = "\n".join(inspect.getsource(f) for f in [function, *probes])
    test = HiddenTest(
        nodeid=item.nodeid,
        file=Path(str(item.path)).name,
        function=function.__name__,
        exercise=item.get_closest_marker("exercise").args[0],
        points=float(item.get_closest_marker("points").args[0]),
        params=params,
        fixtures={},
        source=source,
    )
    if item.get_closest_marker("timeout") is not None:
        test.problem = "has its own @pytest.mark.timeout; a notebook has one limit per cell"
    for name in inspect.signature(function).parameters:
        if name not in GRADED_FIXTURES and name not in params:
            test.problem = test.problem or _add_fixture(test, item, name, course)
    return test


def _add_fixture(test: HiddenTest, item, name: str, course: Course) -> str:
    """Record a fixture of the test module or a conftest under tests/ (plain function, no request)."""
    definitions = item._fixtureinfo.name2fixturedefs.get(name)
    if not definitions:
        return f"uses fixture '{name}', which pytest did not resolve"
    func = definitions[-1].func
    path = Path(inspect.getsourcefile(func)).resolve()
    tests_root = (course.root / "tests").resolve()
    if not path.is_relative_to(tests_root) or inspect.isgeneratorfunction(func) or _indirect(item):
        return f"uses fixture '{name}' ({path.name}), which a notebook cell cannot build"
    args = list(inspect.signature(func).parameters)
    test.fixtures[name] = (str(path.relative_to(tests_root)), func.__name__, args)
    for arg in args:
        if arg not in GRADED_FIXTURES and arg not in test.params and arg not in test.fixtures:
            problem = _add_fixture(test, item, arg, course)
            if problem:
                return problem
    return ""


def _indirect(item) -> bool:
    return any(m.kwargs.get("indirect") for m in item.iter_markers("parametrize"))


# -- the synthetic class ------------------------------------------------------------------------


@dataclass
class Submission:
    learner: str
    kind: str
    files: dict[str, str | None]  # module -> source (None: the file is missing)
    note: str = ""


def kinds_for(n: int, rng: random.Random) -> list[str]:
    """``n`` kinds in the proportions of MIX (largest remainders, at least one of each when n >= 4), shuffled."""
    exact = {k: MIX[k] * n for k in KINDS}
    counts = {k: int(exact[k]) for k in KINDS}
    for k in sorted(KINDS, key=lambda k: exact[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    if n >= len(KINDS):
        for k in KINDS:
            if counts[k] == 0:
                counts[k], counts["correct"] = 1, counts["correct"] - 1
    kinds = [k for k in KINDS for _ in range(counts[k])]
    rng.shuffle(kinds)
    return kinds


def hang_targets(tests: list[HiddenTest], reference: dict[str, str], tests_dir: Path) -> list[tuple[str, str, int]]:
    """(module, function, tests that call it) for functions that one or two tests call.

    Static and conservative: a function qualifies if its name appears in the source of one or two
    tests (with the probes they name), nowhere as a string in its test file (a name looked up
    with getattr, like the gradient cases of test_losses.py), and no other function of its
    module calls it (a hang there would spread to every test of its callers).
    """
    targets = []
    for module, source in reference.items():
        tree = ast.parse(source)
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
        files = sorted({t.file for t in tests if t.exercise == module})
        file_text = "\n".join((tests_dir / name).read_text() for name in files)
        for fn in functions:
            called_inside = any(
                isinstance(node, ast.Name) and node.id == fn.name
                for other in functions
                if other is not fn
                for node in ast.walk(other)
            )
            as_string = re.search(rf"[\"']{fn.name}[\"']", file_text)
            users = [t for t in tests if t.exercise == module and re.search(rf"\b{fn.name}\b", t.source)]
            if not called_inside and not as_string and 1 <= len(users) <= 2:
                targets.append((module, fn.name, len(users)))
    if not targets:
        raise StepFailed("no function is called by only one or two tests: cannot build a cheap hanging submission")
    return targets


def apply_mutants(files: dict[str, str], mutants: list[Mutant], rng: random.Random) -> list[str]:
    """Apply 1 to 3 mutants (skipping one whose edit no longer matches after another); their names."""
    applied: list[str] = []
    want = rng.randint(1, 3)
    for mutant in rng.sample(mutants, len(mutants)):
        text = files[mutant.module]
        if all(text.count(e.old) == 1 for e in mutant.edits):
            for edit in mutant.edits:
                text = text.replace(edit.old, edit.new)
            files[mutant.module] = text
            applied.append(mutant.name)
        if len(applied) == want:
            break
    return applied


def break_one(files: dict[str, str | None], rng: random.Random) -> str:
    """Break one file: a SyntaxError, an import that fails at import time, or the file missing."""
    module = rng.choice(sorted(files))
    how = rng.choice(("syntax error", "import error", "missing file"))
    source = files[module]
    if how == "missing file":
        files[module] = None
    elif how == "syntax error":  # the colon at the end of the first def's header is forgotten
        lines = source.splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith("def "))
        end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith(":"))
        lines[end] = lines[end].rstrip()[:-1] + "\n"
        files[module] = "".join(lines)
        try:
            compile(files[module], module, "exec")
            raise AssertionError("the syntax error did not take")
        except SyntaxError:
            pass
    else:  # a package the course does not have, imported at the top of the module
        files[module] = source.replace("import torch\n", "import torch\nimport torchmetrics_not_installed\n", 1)
    return f"{how} in {module}.py"


def insert_hang(source: str, function: str) -> str:
    """``while True: pass`` as the first line of ``function``'s solution region."""
    start = source.index(f"\ndef {function}(")
    region = source.index("### BEGIN SOLUTION", start)
    line_start = source.rindex("\n", 0, region) + 1
    indent = source[line_start:region]
    return source[:line_start] + f"{indent}while True:\n{indent}    pass\n" + source[line_start:]


def make_class(n: int, seed: int, course: Course, tests: list[HiddenTest]) -> list[Submission]:
    reference = {p.stem: p.read_text() for p in sorted(course.solutions.glob("*.py"))}
    mutants = load_mutants(course.solutions)
    targets = hang_targets(tests, reference, course.tests)
    rng = random.Random(seed)
    subs = []
    for i, kind in enumerate(kinds_for(n, rng)):
        files: dict[str, str | None] = dict(reference)
        note = ""
        if kind == "partly wrong":
            note = "mutants " + ", ".join(apply_mutants(files, mutants, rng))
        elif kind == "broken":
            note = break_one(files, rng)
        elif kind == "hanging":
            module, function, users = rng.choice(targets)
            files[module] = insert_hang(files[module], function)
            note = f"{module}.{function} hangs ({users} test(s) call it)"
        subs.append(Submission(f"learner_{i:03d}", kind, files, note))
    return subs


def write_submissions(subs: list[Submission], folder: Path, week_folder: str) -> Path:
    """Per-learner folders laid out like exercises/: <folder>/<learner>/<week folder>/<module>.py."""
    for sub in subs:
        target = folder / sub.learner / week_folder
        target.mkdir(parents=True)
        for module, source in sub.files.items():
            if source is not None:
                (target / f"{module}.py").write_text(source)
    return folder


# -- the same exam as an nbgrader assignment ----------------------------------------------------

HARNESS = '''\
# Autograder harness (read-only): the cells below call the course's own hidden pytest functions.
import importlib.util, inspect, re, sys, types
import pytest, torch  # imported once here, as the framework imports them once before any time limit

_BENCH_COURSE = {course!r}
_BENCH_WEEK = {folder!r}
sys.path.insert(0, _BENCH_COURSE)
_BENCH_TEST_FILES = {files!r}
_BENCH_IPYTHON = re.compile(r"^(_+|_i+|_i?\\d+|_ih|_oh|_dh|In|Out|exit|quit|get_ipython)$")
_bench_modules = {{}}


def _bench_freeze(module):
    """The names the module's cell above defined, frozen into a namespace of their own.

    information.py and losses.py both define cross_entropy: each module's functions are rebound
    to a copy of the globals as they were after its own cell, so that they call their own.
    """
    global _bench_seen
    now = dict(globals())
    names = [k for k, v in now.items() if not k.startswith("_bench") and not _BENCH_IPYTHON.match(k)
             and (k not in _bench_seen or _bench_seen[k] is not v)]
    frozen = dict(now)
    for name in names:
        f = now[name]
        if isinstance(f, types.FunctionType) and f.__globals__ is globals():
            copy = types.FunctionType(f.__code__, frozen, f.__name__, f.__defaults__, f.__closure__)
            copy.__kwdefaults__, copy.__qualname__ = f.__kwdefaults__, f.__qualname__
            copy.__dict__.update(f.__dict__)
            frozen[name] = copy
    _bench_modules[module] = types.SimpleNamespace(**{{k: frozen[k] for k in names}})
    _bench_seen = now


def _bench_load(path, name):
    """The module at ``path``, imported once under ``name``."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _bench_tests_module(relative):
    """A file under tests/ (a test module or a conftest), imported once."""
    name = "_bench_tests_" + re.sub(r"\\W", "_", relative[:-3])
    return _bench_load(f"{{_BENCH_COURSE}}/tests/{{relative}}", name)


class _BenchModule:
    """student / reference: attribute access gives the module's function; run(probe, *a) = probe(module, *a)."""

    def __init__(self, namespace, label):
        self._namespace, self._label = namespace, label

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self._namespace, name)
        except AttributeError:
            raise AttributeError(f"`{{name}}` is not defined in {{self._label}}") from None

    def run(self, probe, /, *args, **kwargs):
        return probe(self._namespace, *args, **kwargs)


def _bench_student(exercise):
    return _BenchModule(_bench_modules.get(exercise, types.SimpleNamespace()), f"the {{exercise}} cell")


def _bench_reference(exercise):
    path = f"{{_BENCH_COURSE}}/solutions/{{_BENCH_WEEK}}/{{exercise}}.py"
    return _BenchModule(_bench_load(path, f"_bench_reference_{{exercise}}"), f"solutions/{{exercise}}.py")


def _bench_param(fn, argname, index):
    for mark in getattr(fn, "pytestmark", []):
        if mark.name == "parametrize":
            names = mark.args[0]
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            if argname in names:
                value = list(mark.args[1])[index]
                if isinstance(value, type(pytest.param(None))):
                    values = value.values
                else:
                    values = (value,) if len(names) == 1 else tuple(value)
                return values[names.index(argname)]
    raise LookupError(f"{{fn.__name__}} has no parametrize mark for {{argname}}")


def _bench_test(file, function, *, exercise, params, fixtures):
    """Call the hidden test tests/<week>/<file>::<function> with its fixtures and parameters."""
    tests = _bench_tests_module(f"{{_BENCH_WEEK}}/{{file}}")
    fn = getattr(tests, function)

    def value(name):
        if name == "student":
            return _bench_student(exercise)
        if name == "reference":
            return _bench_reference(exercise)
        if name in params:
            return _bench_param(fn, name, params[name])
        where, attribute, args = fixtures[name]
        definition = getattr(_bench_tests_module(where), attribute)
        plain = definition._get_wrapped_function() if hasattr(definition, "_get_wrapped_function") else definition
        return plain(**{{a: value(a) for a in args}})

    fn(**{{name: value(name) for name in inspect.signature(fn).parameters}})


for _bench_file in _BENCH_TEST_FILES:  # as pytest collects them before any test runs
    _bench_tests_module(f"{{_BENCH_WEEK}}/{{_bench_file}}")
_bench_seen = dict(globals())
'''


def nbgrader_meta(grade_id: str, *, solution: bool = False, grade: bool = False, points: float = 0) -> dict:
    meta = {
        "grade": grade,
        "solution": solution,
        "locked": not solution,
        "task": False,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook(course: Course, modules: dict[str, str], tests: list[HiddenTest]) -> nbformat.NotebookNode:
    """Harness, then each module's solution cell and its freeze cell, then one graded cell per test."""
    v4 = nbformat.v4
    files = sorted({t.file for t in tests if not t.problem})
    cells = [
        v4.new_markdown_cell(f"# {WEEK}: {course.folder}\nWrite the three modules in the cells below."),
        v4.new_code_cell(
            HARNESS.format(course=str(course.root), folder=course.folder, files=files),
            metadata=nbgrader_meta("harness"),
        ),
    ]
    for module, source in modules.items():
        cells.append(v4.new_markdown_cell(f"## {module}.py"))
        cells.append(v4.new_code_cell(source, metadata=nbgrader_meta(module, solution=True)))
        cells.append(v4.new_code_cell(f'_bench_freeze("{module}")', metadata=nbgrader_meta(f"freeze_{module}")))
    for i, test in enumerate(t for t in tests if not t.problem):
        code = (
            f"# {test.nodeid}  ({test.points:g} point{'s' if test.points != 1 else ''})\n"
            f"_bench_test({test.file!r}, {test.function!r}, exercise={test.exercise!r},\n"
            f"           params={test.params!r}, fixtures={test.fixtures!r})"
        )
        cells.append(v4.new_code_cell(code, metadata=nbgrader_meta(f"test_{i:03d}", grade=True, points=test.points)))
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.language_info = {"name": "python"}
    return notebook


def build_nbgrader_course(tmp: Path, course: Course, tests: list[HiddenTest], subs: list[Submission]) -> Path:
    """An nbgrader course folder: config, source notebook, release, one submitted notebook per learner."""
    nb = tmp / "nbgrader"
    (nb / "source" / NB_ASSIGNMENT).mkdir(parents=True)
    (nb / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(nb)!r}\n"
        'c.CourseDirectory.course_id = "bench"\n'
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(nb / 'gradebook.db')!r}\n"
        f"c.ExecutePreprocessor.timeout = {course.timeout_s}  # per cell, as the framework's per test\n"
        f"c.Execute.timeout = {course.timeout_s}\n"
        "\n\n"
        "def per_cell_timeout(cell):\n"
        '    """The harness cell imports torch, pytest and the test modules: setup, not under the\n'
        '    per-test limit (the framework too imports them before any test\'s timer starts)."""\n'
        '    harness = cell.metadata.get("nbgrader", {}).get("grade_id") == "harness"\n'
        f"    return {SETUP_TIMEOUT_S} if harness else {course.timeout_s}\n"
        "\n\n"
        "c.Execute.timeout_func = per_cell_timeout\n"
    )
    reference = {p.stem: p.read_text() for p in sorted(course.solutions.glob("*.py"))}
    nbformat.write(source_notebook(course, reference, tests), nb / "source" / NB_ASSIGNMENT / f"{NB_ASSIGNMENT}.ipynb")
    run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", NB_ASSIGNMENT],
        cwd=nb,
        what="nbgrader generate_assignment",
    )
    release = nbformat.read(nb / "release" / NB_ASSIGNMENT / f"{NB_ASSIGNMENT}.ipynb", as_version=4)
    for sub in subs:
        notebook = nbformat.from_dict(json.loads(json.dumps(release)))
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution"):
                cell.source = sub.files[meta["grade_id"]] or ""
        target = nb / "submitted" / sub.learner / NB_ASSIGNMENT
        target.mkdir(parents=True)
        nbformat.write(notebook, target / f"{NB_ASSIGNMENT}.ipynb")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{nb / 'gradebook.db'}") as gradebook:
        for sub in subs:
            gradebook.update_or_create_student(sub.learner)
    return nb


def nbgrader_scores(nb: Path, subs: list[Submission], possible: float) -> dict[str, tuple[float, float, list[str]]]:
    """learner -> (score, max score, grade ids of the cells that lost points), from nbgrader's gradebook.

    A notebook nbgrader failed to grade as a whole ("Removing failed assignment") has no
    autograded copy; it counts as 0 points, listed as lost in "whole notebook".
    """
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{nb / 'gradebook.db'}") as gradebook:
        for sub in subs:
            try:
                if not autograded(nb, sub).exists():
                    raise MissingEntry()
                submission = gradebook.find_submission(NB_ASSIGNMENT, sub.learner)
            except MissingEntry:
                scores[sub.learner] = (0.0, possible, ["whole notebook"])
                continue
            lost = [
                g.name
                for notebook in submission.notebooks
                for g in notebook.grades
                if g.max_score and (g.score or 0) < g.max_score
            ]
            scores[sub.learner] = (submission.score, submission.max_score, lost)
    return scores


def autograded(nb: Path, sub: Submission) -> Path:
    return nb / "autograded" / sub.learner / NB_ASSIGNMENT / f"{NB_ASSIGNMENT}.ipynb"


def nbgrader_timeouts(nb: Path, sub: Submission) -> tuple[int, int, bool]:
    """(cells that timed out, graded cells with an error, whether cells after a time-out still ran)."""
    notebook = nbformat.read(autograded(nb, sub), as_version=4)
    timed_out, errors, ran_after, seen_timeout = 0, 0, False, False
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        enames = {o.get("ename") for o in cell.get("outputs", []) if o.output_type == "error"}
        if seen_timeout and cell.get("execution_count"):
            ran_after = True
        if enames & {"CellTimeoutError", "KeyboardInterrupt"}:
            timed_out += 1
            seen_timeout = True
        elif enames and cell.metadata.get("nbgrader", {}).get("grade"):
            errors += 1
    return timed_out, errors, ran_after


# -- our side -----------------------------------------------------------------------------------


def grade_batch(course: Course, subs_dir: Path, gradebook: Path, workers: int, log: Path) -> float:
    """Seconds of one ``grade batch`` run (exit 0 or 1: 1 means some learner lost points)."""
    command = [sys.executable, "-m", "grader.cli", "batch", WEEK, str(subs_dir), "--gradebook", str(gradebook)]
    command += ["--workers", str(workers)]
    if course.copied:
        command += ["--course", str(course.root)]
    return run(command, cwd=course.root, what=f"grade batch over {subs_dir}", ok=(0, 1), log=log)


def our_scores(gradebook: Path, learners: list[str], possible: float) -> dict[str, tuple[float, float]]:
    """learner -> (points earned, points possible) from the SQLite gradebook ``grade batch`` wrote.

    The gradebook's schema belongs to ``grade batch``; this finds a table with a learner (or
    submission) column and a points-earned column and sums it per learner, rather than assume
    one. Raises StepFailed listing the tables when none fits.
    """
    con = sqlite3.connect(gradebook)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
        layout = []
        for table in tables:
            columns = [r[1] for r in con.execute(f'pragma table_info("{table}")')]
            layout.append(f"{table}({', '.join(columns)})")
            who = _column(columns, ("learner", "student", "submission", "name", "path"))
            earned = _column(columns, ("points_earned", "earned", "score", "points"))
            most = _column(columns, ("points_possible", "possible", "max_score", "max_points"))
            if not (who and earned):
                continue
            sums = f'sum("{earned}"), ' + (f'sum("{most}")' if most else "null")
            rows = con.execute(f'select "{who}", {sums} from "{table}" group by "{who}"').fetchall()
            found = {}
            for name, got, of in rows:
                match = re.search(r"learner_\d+", str(name))
                if match:
                    found[match.group(0)] = (float(got or 0), float(of) if of is not None else possible)
            if set(learners) <= set(found):
                return {k: found[k] for k in learners}
    finally:
        con.close()
    raise StepFailed(f"could not find every learner's points in {gradebook}; its tables: {'; '.join(layout)}")


def _column(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    for name in wanted:
        for column in columns:
            if column.lower() == name:
                return column
    return None


def compute_per_submission(course: Course, tmp: Path, repeat: int = 3) -> list[tuple[float, float]]:
    """The tests' own compute for one submission, ``repeat`` times: (cold, warm) seconds.

    One plain ``pytest --junitxml`` process on the reference runs the suite twice
    (``--keep-duplicates``). cold = the sum of the first pass's test times: the figure of a plain
    run, which includes one-off warm-up (the first autograd backward, first kernels). warm = the
    second pass's sum: what the same tests cost in a warm process, comparable to a warm worker's
    marginal cost.
    """
    runs = []
    for i in range(repeat):
        junit = tmp / f"reference-junit-{i}.xml"
        suite = str(course.tests)
        command = [sys.executable, "-m", "pytest", suite, suite, "--keep-duplicates", "-q", "-p", "no:cacheprovider"]
        run([*command, f"--junitxml={junit}"], cwd=course.root, what="plain pytest on the reference (compute time)")
        times = [float(case.get("time", 0)) for case in ET.parse(junit).iter("testcase")]
        half = len(times) // 2
        runs.append((sum(times[:half]), sum(times[half:])))
    return runs


def marginal_per_submission(course: Course, tmp: Path, reference: dict[str, str], k: int) -> tuple[float, float, float]:
    """(T(k), T(2k), (T(2k) - T(k)) / k) for batches of correct submissions with one worker."""
    times = []
    for count in (k, 2 * k):
        folder = tmp / f"marginal_{count}"
        subs = [Submission(f"learner_{i:03d}", "correct", dict(reference)) for i in range(count)]
        write_submissions(subs, folder, course.folder)
        times.append(grade_batch(course, folder, tmp / f"marginal_{count}.db", 1, tmp / f"marginal_{count}.log"))
    return times[0], times[1], (times[1] - times[0]) / k


def median_gap(gradebook: Path) -> float | None:
    """The median time between two consecutive grades of a one-worker batch (the worker's start
    comes before the first grade, so no gap includes it). A cross-check of (b) that the start-up
    noise of two whole runs does not reach; printed beside (b), not instead of it."""
    with contextlib.closing(sqlite3.connect(gradebook)) as db:
        stamps = sorted(
            dt.datetime.fromisoformat(row[0]).timestamp() for row in db.execute("SELECT graded_at FROM submissions")
        )
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(gaps) if gaps else None


# -- the report ---------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    seconds: float | None = None
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)

    def rate(self, n: int) -> float | None:
        return n / self.seconds if self.seconds else None


def per_kind(subs: list[Submission], scores: dict[str, tuple]) -> dict[str, str]:
    out = {}
    for kind in KINDS:
        mine = [scores[s.learner] for s in subs if s.kind == kind and s.learner in scores]
        if not mine:
            out[kind] = "-"
            continue
        mean = sum(100 * got / of for got, of, *_ in mine) / len(mine)
        full = sum(1 for got, of, *_ in mine if got >= of)
        out[kind] = f"{mean:5.1f} %  ({full}/{len(mine)} full)"
    return out


def fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "skipped" if value is None else f"{value:{spec}}{unit}"


def print_report(args, course: Course, subs: list[Submission], nb: Side, ours: Side, figures: dict) -> None:
    n = len(subs)
    counts = ", ".join(f"{sum(s.kind == k for s in subs)} {k}" for k in KINDS)
    nb_rate, our_rate = nb.rate(n), ours.rate(n)
    ratio = our_rate / nb_rate if nb_rate and our_rate else None
    runs, marginal = figures["compute_runs"], figures.get("marginal")
    cold = statistics.median(c for c, _ in runs)
    warm = statistics.median(w for _, w in runs)
    overhead = None if marginal is None else marginal - cold
    overhead_warm = None if marginal is None else marginal - warm
    rows = [
        ("submissions", f"{n} ({counts})"),
        ("time limit per test / cell", f"{course.timeout_s} s" + (" (course copy)" if course.copied else "")),
        ("nbgrader autograde", f"{fmt(nb.seconds, '8.1f', ' s')}   {fmt(nb_rate, '6.2f', ' submissions/s')}"),
        (
            f"grade batch --workers {args.workers}",
            f"{fmt(ours.seconds, '8.1f', ' s')}   {fmt(our_rate, '6.2f', ' submissions/s')}",
        ),
        ("throughput ours / nbgrader", f"{fmt(ratio, '8.1f', ' x')}   (target >= 10)"),
        (
            "(a) tests' compute per submission",
            f"{1000 * cold:8.0f} ms   (sum of junit test times of a plain pytest run on the reference;"
            f" median of {', '.join(f'{1000 * c:.0f}' for c, _ in runs)} ms)",
        ),
        (
            "(a') the same, warm",
            f"{1000 * warm:8.0f} ms   (the suite's second pass in that process;"
            f" median of {', '.join(f'{1000 * w:.0f}' for _, w in runs)} ms)",
        ),
        (
            "(b) our marginal per submission",
            fmt(None if marginal is None else 1000 * marginal, "8.0f", " ms")
            + (
                f"   ((T({2 * args.marginal_k}) {figures['t2k']:.1f} s - T({args.marginal_k}) {figures['tk']:.1f} s)"
                f" / {args.marginal_k}, --workers 1)"
                if marginal is not None
                else ""
            ),
        ),
        (
            "(b2) cross-check of (b)",
            fmt(None if figures.get("gap") is None else 1000 * figures["gap"], "8.0f", " ms")
            + f"   (median time between consecutive grades of the {2 * args.marginal_k}-submission batch)",
        ),
        (
            "our overhead = (b) - (a')",
            fmt(None if overhead_warm is None else 1000 * overhead_warm, "8.0f", " ms")
            + "   (target < 100 ms; like for like: both warm)",
        ),
        (
            "(b) - (a), against a cold pytest",
            fmt(None if overhead is None else 1000 * overhead, "8.0f", " ms")
            + "   (flatters us: (a) includes torch's one-off warm-up)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print("\n" + "=" * 100)
    for label, value in rows:
        print(f"  {label:<{width}} : {value}")
    print(f"\n  mean score per kind (% of points; full marks)   {'nbgrader':<28}{'grade batch'}")
    nb_kinds, our_kinds = per_kind(subs, nb.scores), per_kind(subs, ours.scores)
    for kind in KINDS:
        print(
            f"    {kind:<45}{nb_kinds[kind] if nb.scores else 'skipped':<28}{our_kinds[kind] if ours.scores else 'skipped'}"
        )
    if nb.scores and ours.scores:
        differ = score_differences(subs, nb.scores, ours.scores)
        print(f"\n  learners the two systems scored differently: {len(differ)} of {len(subs)}")
        for line in differ:
            print(f"    {line}")
    print("=" * 100)


def score_differences(subs: list[Submission], nb: dict[str, tuple], ours: dict[str, tuple]) -> list[str]:
    """One line per learner whose points differ between the systems (nbgrader, ours)."""
    return [
        f"{s.learner} ({s.kind}): nbgrader {nb[s.learner][0]:g}, grade batch {ours[s.learner][0]:g}"
        for s in subs
        if abs(nb[s.learner][0] - ours[s.learner][0]) > 1e-9
    ]


# -- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions in the class (default 100)")
    parser.add_argument("--timeout", default="3", help="seconds per test / per cell, or 'course' (default 3)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="grade batch workers (default: cores)")
    parser.add_argument("--seed", type=int, default=5, help="seed of the class's mix (default 5)")
    parser.add_argument("--marginal-k", type=int, default=20, help="k of the marginal-cost batches (default 20)")
    parser.add_argument("--skip-ours", action="store_true", help="do not run grade batch")
    parser.add_argument("--skip-nbgrader", action="store_true", help="do not run nbgrader")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = parser.parse_args()
    if args.timeout != "course" and not (args.timeout.isdigit() and int(args.timeout) > 0):
        parser.error("--timeout takes a whole number of seconds (nbgrader's cell timeout is an integer) or 'course'")
    return args


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="batch-vs-nbgrader-"))
    ok = False
    try:
        status = bench(args, tmp)
        ok = True
        return status
    finally:
        if args.keep or not ok:
            print(f"temporary folder kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args: argparse.Namespace, tmp: Path) -> int:
    course = prepare_course(tmp, args.timeout)
    tests = collect_tests(course)
    untranslated = [t for t in tests if t.problem]
    possible = sum(t.points for t in tests)
    print(f"{len(tests)} hidden tests ({possible:g} points) in {course.tests}; time limit {course.timeout_s} s")
    for t in untranslated:
        print(f"  NOT IN THE NOTEBOOK (skipped by nbgrader, still graded by grade batch): {t.nodeid}: {t.problem}")
    if not untranslated:
        print("  every test translates to an nbgrader cell")
    subs = make_class(args.n, args.seed, course, tests)
    subs_dir = write_submissions(subs, tmp / "subs", course.folder)
    for kind in KINDS:
        notes = sorted({s.note for s in subs if s.kind == kind and s.note})
        print(f"  {sum(s.kind == kind for s in subs):3d} {kind}" + (f": e.g. {'; '.join(notes[:3])}" if notes else ""))

    nb, ours, figures, status = Side("nbgrader"), Side("grade batch"), {}, 0
    if not args.skip_nbgrader:
        status |= run_nbgrader_side(tmp, course, tests, subs, nb)
    figures["compute_runs"] = compute_per_submission(course, tmp)
    if not args.skip_ours:
        print(f"grade batch: {len(subs)} submissions, {args.workers} worker(s) …", flush=True)
        ours.seconds = grade_batch(course, subs_dir, tmp / "grades.db", args.workers, tmp / "grade-batch.log")
        ours.scores = our_scores(tmp / "grades.db", [s.learner for s in subs], possible)
        status |= check_correct_full_marks("grade batch", subs, ours.scores)
        reference = {p.stem: p.read_text() for p in sorted(course.solutions.glob("*.py"))}
        print(f"marginal cost: batches of {args.marginal_k} and {2 * args.marginal_k} correct submissions, 1 worker …")
        figures["tk"], figures["t2k"], figures["marginal"] = marginal_per_submission(
            course, tmp, reference, args.marginal_k
        )
        figures["gap"] = median_gap(tmp / f"marginal_{2 * args.marginal_k}.db")
    print_report(args, course, subs, nb, ours, figures)
    return status


def run_nbgrader_side(tmp: Path, course: Course, tests: list[HiddenTest], subs: list[Submission], side: Side) -> int:
    folder = build_nbgrader_course(tmp, course, tests, subs)
    print(f"nbgrader autograde: {len(subs)} notebooks, one after the other …", flush=True)
    side.seconds = run(  # exit 1 when some notebook could not be graded at all: counted below
        [sys.executable, "-m", "nbgrader", "autograde", NB_ASSIGNMENT],
        cwd=folder,
        what="nbgrader autograde",
        ok=(0, 1),
        log=tmp / "nbgrader-autograde.log",
    )
    scores = nbgrader_scores(folder, subs, sum(t.points for t in tests if not t.problem))
    side.scores = {k: (got, of) for k, (got, of, _) in scores.items()}
    failed = [s for s in subs if scores[s.learner][2] == ["whole notebook"]]
    for sub in failed:
        print(
            f"  {sub.learner} {sub.kind} ({sub.note or 'reference'}): nbgrader could not grade the notebook "
            f"at all (counted 0); see {tmp / 'nbgrader-autograde.log'}"
        )
    if len(failed) == len(subs):
        raise StepFailed(f"nbgrader graded no notebook; see the end of {tmp / 'nbgrader-autograde.log'}")
    for sub in subs:
        if sub.kind in ("hanging", "broken") and sub not in failed:
            timed_out, errors, ran_after = nbgrader_timeouts(folder, sub)
            got, of, _ = scores[sub.learner]
            after = "; later cells still ran" if ran_after else ("; NO later cell ran" if timed_out else "")
            print(
                f"  {sub.learner} {sub.kind:<8} {sub.note}: {got:g}/{of:g}, {timed_out} cell(s) timed out, "
                f"{errors} other graded cell(s) errored{after}"
            )
    status = check_correct_full_marks("nbgrader", subs, side.scores)
    if status:
        for sub in subs:
            if sub.kind == "correct" and scores[sub.learner][2]:
                print(f"  {sub.learner}: lost points in {', '.join(scores[sub.learner][2])}")
    return status


def check_correct_full_marks(system: str, subs: list[Submission], scores: dict[str, tuple]) -> int:
    short = [s.learner for s in subs if s.kind == "correct" and scores[s.learner][0] < scores[s.learner][1]]
    if short:
        print(f"ERROR: {system} gave {len(short)} correct submission(s) less than full marks: {', '.join(short)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
