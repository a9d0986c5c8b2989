"""Mutants: copies of a reference solution with one classic mistake each, which its suite must catch.

A week lists them in ``solutions/<week>/mutants.toml``::

    [[mutants]]
    name = "kl_swapped"                       # unique within the week
    module = "information"                    # the solution module it edits
    catches = "#6"                            # optional: the row of SYLLABUS.md §4
    caught_by = "test_kl_divergence_matches_F_kl_div"   # a test that must fail on it
    message = "matches KL(q‖p), not KL(p‖q)"  # optional: what that test must say
    [[mutants.replace]]                       # one or more exact edits
    old = "torch.special.xlogy(p, q)"         # must occur exactly once in the module
    new = "torch.special.xlogy(q, p)"

Exact substring edits are readable in review, need no patch tool, and break loudly when the
reference changes under them (``old`` no longer found), instead of silently testing nothing.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..core.errors import CourseError

MUTANTS_FILE: Final = "mutants.toml"
_KEYS: Final = {"name", "module", "catches", "caught_by", "message", "replace"}


@dataclass(frozen=True)
class Edit:
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    """One classic mistake applied to one module of the reference."""

    name: str
    module: str
    caught_by: str
    edits: tuple[Edit, ...]
    catches: str = ""
    message: str = ""


def load_mutants(folder: Path) -> list[Mutant]:
    """The mutants of a solutions week folder (none when it has no mutants.toml)."""
    path = folder / MUTANTS_FILE
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path}: not valid TOML: {exc}") from None
    mutants = [_mutant(path, index, entry) for index, entry in enumerate(data.get("mutants", []))]
    names = [m.name for m in mutants]
    for name in set(names):
        if names.count(name) > 1:
            raise CourseError(f"{path}: two mutants are named '{name}'; names must be unique")
    return mutants


def _mutant(path: Path, index: int, entry: Any) -> Mutant:
    where = f"{path}: mutant #{index + 1}"
    if not isinstance(entry, dict):
        raise CourseError(f"{where} must be a [[mutants]] table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise CourseError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}")
    for key in ("name", "module", "caught_by"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise CourseError(f'{where}: {key} = "..." is missing')
    edits = entry.get("replace")
    if not isinstance(edits, list) or not edits:
        raise CourseError(f"{where} ({entry['name']}): needs at least one [[mutants.replace]] with old and new")
    parsed = []
    for edit in edits:
        if not (isinstance(edit, dict) and isinstance(edit.get("old"), str) and isinstance(edit.get("new"), str)):
            raise CourseError(f"{where} ({entry['name']}): each [[mutants.replace]] needs old = '...' and new = '...'")
        parsed.append(Edit(edit["old"], edit["new"]))
    return Mutant(
        name=entry["name"],
        module=entry["module"],
        caught_by=entry["caught_by"],
        edits=tuple(parsed),
        catches=str(entry.get("catches", "")),
        message=str(entry.get("message", "")),
    )


def apply_mutant(mutant: Mutant, *, solutions: Path, week_folder: str, into: Path) -> Path:
    """Write the reference week with the mutant applied under ``into``; returns the submission root.

    Raises CourseError when an edit's ``old`` text is not found exactly once.
    """
    source_folder = solutions / week_folder
    target = into / week_folder
    shutil.copytree(source_folder, target, ignore=shutil.ignore_patterns("__pycache__", MUTANTS_FILE))
    module = target / f"{mutant.module}.py"
    if not module.is_file():
        raise CourseError(f"mutant {mutant.name}: there is no module {week_folder}/{mutant.module}.py")
    text = module.read_text(encoding="utf-8")
    for edit in mutant.edits:
        count = text.count(edit.old)
        if count != 1:
            found = "not found" if count == 0 else f"found {count} times"
            raise CourseError(
                f"mutant {mutant.name}: its old text is {found} in {week_folder}/{mutant.module}.py "
                f"(it must occur exactly once): {edit.old[:80]!r}"
            )
        text = text.replace(edit.old, edit.new)
    module.write_text(text, encoding="utf-8")
    return into
