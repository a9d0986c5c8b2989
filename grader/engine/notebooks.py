"""A notebook as a module: the definitions of its code cells (imports, functions, classes,
assignments), so that importing it does not run its plots, prints, training runs or checks.

Used by ``grade batch`` (a class's notebooks), ``grade WEEK --path work.ipynb`` and the notebook
magic ``%grade`` (the kernel's input history as cells); the module is then graded like any file,
in the sandbox.  Neither reading nor writing runs any of the notebook's code."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Final

from ..core.errors import MissingExtraError

_FUTURE: Final = re.compile(r"^from __future__ import [\w, ]+$", re.MULTILINE)


class UnreadableNotebook(Exception):
    """A notebook that cannot be read or written as a module; the message says why."""


def write_notebook(notebook: Path, module: Path) -> list[str]:
    """The definitions of a notebook's code cells as a module: imports, functions, classes and
    assignments.  Other top-level statements (plots, prints, a training run, the notebook's own
    checks) are left out so that importing the module does not run them."""
    try:
        import nbformat
    except ImportError:
        raise MissingExtraError("nbformat", for_what="reading notebooks") from None
    try:
        cells = nbformat.read(str(notebook), as_version=4).cells  # type: ignore[no-untyped-call]
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is the submission's problem
        raise UnreadableNotebook(f"{notebook.name} is not a readable notebook ({type(exc).__name__}: {exc})") from None
    sources = [(n, str(c.get("source", ""))) for n, c in enumerate(cells, 1) if c.get("cell_type") == "code"]
    return write_cells(sources, module, name=notebook.name)


def write_cells(cells: list[tuple[int, str]], module: Path, *, name: str) -> list[str]:
    """Write the definitions of ``cells`` (number, source), in their order, as the module ``module``;
    ``name`` is how the notebook is named in the module's header and the notes returned."""
    parts, dropped = [f"# generated from {name} by grade: its definitions only\n"], 0
    for number, source in cells:
        code, left_out = _definitions(_without_magics(source))
        dropped += left_out
        parts.append(f"# --- cell {number} ---\n{code}\n")
    text = "\n".join(parts)
    futures = sorted(set(_FUTURE.findall(text)))  # must open the module, wherever the cell was
    try:
        module.write_text("".join(f"{line}\n" for line in futures) + _FUTURE.sub("", text), encoding="utf-8")
    except UnicodeEncodeError:
        raise UnreadableNotebook(f"{name} contains text that is not valid Unicode; it cannot be graded") from None
    return [f"{name}: {dropped} top-level statement(s) that are not definitions were left out"] if dropped else []


def _without_magics(source: str) -> str:
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join(f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _definitions(source: str) -> tuple[str, int]:
    """Keep a cell's imports, defs, classes and assignments; a cell that does not parse is kept
    whole, so its SyntaxError is reported with its line."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, ValueError, MemoryError):  # too deep or not text: import reports it
        return source, 0
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    lines = source.splitlines()
    out, dropped = [], 0
    for node in tree.body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        text = "\n".join(lines[start : node.end_lineno])
        if isinstance(node, kept):
            out.append(text)
        else:
            dropped += 1
    return "\n".join(out), dropped
