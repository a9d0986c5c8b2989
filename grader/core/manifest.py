"""The held-back manifest of a student release (``release.toml``): how many tests and points of
each week the release leaves out.  ``grade release`` writes it; ``grade WEEK`` in the release
reads it, to say how many points the hidden tests hold back.  Nothing in the instructor's
repository (no ``release.toml``) means nothing is held back."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

RELEASE_FILE: Final = "release.toml"


@dataclass(frozen=True)
class HeldBack:
    """The tests of one week a release leaves out, and what they are worth."""

    tests: int
    points: float


def write_held_back(out: Path, held: dict[str, HeldBack]) -> None:
    """Write ``out/release.toml`` for a release that holds ``held`` back."""
    lines = ["# Written by grade release: what this copy of the course holds back, per week.", ""]
    for week_id, hidden in held.items():
        lines += [f"[held_back.{week_id}]", f"tests = {hidden.tests}", f"points = {hidden.points:g}", ""]
    (out / RELEASE_FILE).write_text("\n".join(lines), encoding="utf-8")


def load_held_back(root: Path) -> dict[str, HeldBack]:
    """What a release holds back, per week (nothing in the instructor's repository)."""
    path = root / RELEASE_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("held_back", {})
        return {week: HeldBack(int(v["tests"]), float(v["points"])) for week, v in data.items()}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError):
        return {}
