"""nbgrader's time stamps (``timestamp.txt``), read as evidence rather than truth.

nbgrader writes one line, ``2026-11-20 23:59:59.123456 UTC``, when a learner submits.  Whoever can
write the submission's files can write that line too, so a stamp is read bounded (a stamp over
``MAX_STAMP_BYTES`` rejects the submission: it is not one nbgrader wrote) and used only if it
names a real moment: a date and time with a UTC offset a clock can have (``UTC``, ``Z`` or
−12:00 … +14:00), not before ``EARLIEST`` and not after the grading started.  Anything else is a
``Stamp`` with a ``problem``, and the intake falls back on the files' time with a note.  Whether
the stamp agrees with the files is the intake's business (``intake._submission_time``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .staging import TIMESTAMP_FILE, Rejected

MAX_STAMP_BYTES: Final = 256  # nbgrader's line is about 30 bytes
# No course.toml field says when a week was released, so the earliest moment a stamp may name is
# a sane date rather than the assignment's birth: a stamp of 1970 (a zeroed clock, a forged file)
# is refused; a plausible early one is caught only by disagreeing with the files' time.
EARLIEST: Final = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
_LOWEST_OFFSET: Final = dt.timedelta(hours=-12)
_HIGHEST_OFFSET: Final = dt.timedelta(hours=14)
_STAMP: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?) ?(UTC|GMT|Z|[+-]\d{2}:?\d{2})",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class Stamp:
    """What a stamp says: a moment, or why it names none (``moment`` is then None)."""

    moment: dt.datetime | None
    problem: str = ""


def read_stamp(folder: Path, *, not_after: dt.datetime) -> Stamp | None:
    """``folder``'s ``timestamp.txt`` (None when there is none).  Raises ``Rejected`` for a stamp
    bigger than ``MAX_STAMP_BYTES``; never reads more than that."""
    path = folder / TIMESTAMP_FILE
    if path.is_symlink():
        return Stamp(None, f"{TIMESTAMP_FILE} is a symbolic link, not nbgrader's stamp; it was not read")
    if not path.is_file():
        return None
    with path.open("rb") as raw:
        data = raw.read(MAX_STAMP_BYTES + 1)
    if len(data) > MAX_STAMP_BYTES:
        raise Rejected(
            f"{TIMESTAMP_FILE} is larger than {MAX_STAMP_BYTES} bytes, not the one line nbgrader writes; "
            "nothing was graded: collect the submission again with nbgrader"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Stamp(None, f"{TIMESTAMP_FILE} is not text")
    return parse_stamp(text, not_after=not_after)


def parse_stamp(text: str, *, not_after: dt.datetime) -> Stamp:
    """A stamp's text as a moment, if it is one line naming a real moment with its UTC offset,
    not before ``EARLIEST`` and not after ``not_after`` (when the grading started)."""
    said = f"{TIMESTAMP_FILE} says {text.strip()[:60]!r}"
    match = _STAMP.fullmatch(text.strip())
    if match is None:
        return Stamp(None, f"{said}, which is not a date and time with a UTC offset")
    date, time, zone = match.groups()
    offset = "+00:00" if zone.upper() in ("UTC", "GMT", "Z") else zone
    try:
        moment = dt.datetime.fromisoformat(f"{date}T{time}{offset}")
    except ValueError:
        return Stamp(None, f"{said}, which is not a date and time with a UTC offset")
    utcoffset = moment.utcoffset()
    if utcoffset is None or not _LOWEST_OFFSET <= utcoffset <= _HIGHEST_OFFSET:
        return Stamp(None, f"{said}, whose UTC offset no clock has (they run from -12:00 to +14:00)")
    if moment < EARLIEST:
        return Stamp(None, f"{said}, before {EARLIEST:%Y-%m-%d}: not a time this assignment was handed in")
    if moment > not_after:
        return Stamp(None, f"{said}, after the grading started ({not_after.isoformat(timespec='seconds')})")
    return Stamp(moment)
