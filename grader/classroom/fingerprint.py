"""The fingerprint of a week's grading: its hidden suite, reference and limits, by content.

The gradebook stores it with every grade (a changed suite makes stored grades stale), and on a
cluster each worker computes it from the course installed there and refuses to grade for another
version of the course (``cluster.py``).
"""

from __future__ import annotations

import hashlib

from ..core.course import Course, Week
from ..core.version import __version__


def suite_hash(course: Course, week: Week) -> str:
    """The week's hidden suite, reference and limits by content: when it changes, stored grades
    are stale and the next batch regrades them (a fresh clone changes mtimes, not this)."""
    digest = hashlib.sha256(f"grader {__version__}\n{course.grading.timeout_s}\n".encode())
    for folder in (course.tests_dir / week.folder, course.solutions_dir / week.folder):
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    for conftest in sorted(course.tests_dir.glob("conftest.py")):
        digest.update(conftest.read_bytes())
    return digest.hexdigest()
