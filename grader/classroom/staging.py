"""Staging a submission: copying what a learner handed in (a folder, a zip, a notebook) into the
batch's work folder, within limits.  Only ``.py`` and ``.ipynb`` files (and ``timestamp.txt``)
are kept; a zip bomb, a file or a tree too big (too deep, too many entries), a path escaping the
folder, a symbolic link or a name that is not UTF-8 raise ``Rejected``, which becomes the
submission's ``problem``.  No walk of a learner's tree recurses: a folder nested a thousand deep is
a rejection, not a ``RecursionError`` that stops the batch."""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Final

MAX_BYTES: Final = 20 << 20  # what one submission may expand to (a zip bomb stops here)
MAX_FILES: Final = 2000  # .py and .ipynb files
MAX_DEPTH: Final = 16  # folders below the submission's own
MAX_ENTRIES: Final = 10_000  # files and folders of any kind in one submission (or members of a zip)
KEPT_SUFFIXES: Final = (".py", ".ipynb")
TIMESTAMP_FILE: Final = "timestamp.txt"


class Rejected(Exception):
    """Raised while reading a submission; becomes its ``problem``."""


def stage(path: Path, staged: Path) -> list[str]:
    """Copy the submission's .py and .ipynb files (and timestamp.txt) into ``staged``."""
    staged.mkdir(parents=True)
    if path.is_symlink():
        raise Rejected(f"{path.name} is a symbolic link; hand in the file itself")
    if path.is_dir():
        return _stage_folder(path, staged)
    if not path.exists():
        raise Rejected(f"nothing handed in: {path.name} does not exist")
    if path.suffix.lower() == ".zip":
        return _stage_zip(path, staged)
    if path.suffix.lower() == ".ipynb":
        _copy_limited(path, staged / path.name, _Budget())
        return []
    raise Rejected(f"{path.name} is not a submission: hand in a folder, a .zip or a .ipynb per learner")


class _Budget:
    """What one submission may still write: bytes and files (zip bombs, huge folders)."""

    def __init__(self) -> None:
        self.max_bytes, self.max_files = MAX_BYTES, MAX_FILES
        self.bytes_left, self.files_left = MAX_BYTES, MAX_FILES

    def spend(self, size: int) -> None:
        self.bytes_left -= size
        if self.bytes_left < 0:
            raise Rejected(
                f"the submission expands to more than {self.max_bytes / (1 << 20):g} MB (a zip bomb?); "
                "nothing was graded"
            )

    def count_file(self) -> None:
        self.files_left -= 1
        if self.files_left < 0:
            raise Rejected(f"the submission has more than {self.max_files} files; hand in only the exercise files")


def candidate_files(folder: Path) -> Iterator[Path]:
    """The .py and .ipynb files under a folder, outside hidden and dunder folders
    (.ipynb_checkpoints, __pycache__, __MACOSX); symbolic links are not followed.  Raises
    ``Rejected`` when the tree is deeper than ``MAX_DEPTH`` or has more than ``MAX_ENTRIES``."""
    for parent, files in walk(folder, skip=_skipped):
        yield from (parent / name for name in files if _wanted(name))


def walk(folder: Path, *, skip: Callable[[str], bool] = lambda name: False) -> Iterator[tuple[Path, list[str]]]:
    """Each folder under ``folder`` (``folder`` first) with the names of its files, sorted, without
    recursion and within bounds: more than ``MAX_DEPTH`` folders deep or more than ``MAX_ENTRIES``
    entries in all raises ``Rejected``.  Folders named ``skip`` are not entered; symbolic links to
    folders are listed as files and never followed."""
    stack, seen = [(folder, 0)], 0
    while stack:
        parent, depth = stack.pop()
        entries = []
        with os.scandir(parent) as listing:
            for entry in listing:  # one entry at a time: a folder of a million files stops here
                seen += 1
                if seen > MAX_ENTRIES:
                    raise Rejected(
                        f"the submission has more than {MAX_ENTRIES} files and folders; hand in only the exercise files"
                    )
                entries.append(entry)
        entries.sort(key=lambda entry: entry.name)
        folders = [e for e in entries if e.is_dir(follow_symlinks=False)]
        entered = [e for e in folders if not skip(e.name)]
        if entered and depth >= MAX_DEPTH:
            deep = Path(entered[0].path).relative_to(folder)
            raise Rejected(
                f"the submission's folders are nested more than {MAX_DEPTH} deep ({printable(str(deep))[:80]}…); "
                "hand in the week's folder only"
            )
        yield parent, [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
        stack.extend((Path(e.path), depth + 1) for e in reversed(entered))


def _skipped(part: str) -> bool:
    return part.startswith((".", "__"))


def _stage_folder(folder: Path, staged: Path) -> list[str]:
    notes: list[str] = []
    budget = _Budget()
    for path in candidate_files(folder):
        relative = path.relative_to(folder)
        budget.count_file()
        if not is_utf8(str(relative)):
            notes.append(f"skipped a file whose name is not valid UTF-8: {printable(str(relative))}")
        elif path.is_symlink() or not stat.S_ISREG(path.lstat().st_mode):
            notes.append(f"skipped {relative}: a symbolic link or special file, not a regular file")
        else:
            target = staged / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_limited(path, target, budget)
    return notes


def _stage_zip(path: Path, staged: Path) -> list[str]:
    notes: list[str] = []
    budget = _Budget()
    try:
        with zipfile.ZipFile(path) as archive:
            if len(archive.infolist()) > MAX_ENTRIES:
                raise Rejected(
                    f"{path.name} holds more than {MAX_ENTRIES} files and folders; zip only the exercise files"
                )
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name, problem = _zip_member_name(info)
                if problem:
                    notes.append(problem)
                    continue
                parts = PurePosixPath(name).parts
                if len(parts) > MAX_DEPTH + 1:
                    raise Rejected(
                        f"{path.name} holds folders nested more than {MAX_DEPTH} deep ({name[:80]}…); "
                        "zip the week's folder only"
                    )
                if not _wanted(parts[-1]) or any(_skipped(part) for part in parts[:-1]):
                    continue
                budget.count_file()
                if stat.S_ISLNK(info.external_attr >> 16):
                    notes.append(f"skipped {name}: a symbolic link inside the zip")
                    continue
                target = staged.joinpath(*PurePosixPath(name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as member, target.open("wb") as out:
                    _copy_stream(member, out, budget)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise Rejected(f"{path.name} is not a readable zip file ({exc}); ask for a new copy") from None
    except (OSError, ValueError) as exc:
        raise Rejected(f"{path.name} cannot be extracted ({exc})") from None
    return notes


def _zip_member_name(info: zipfile.ZipInfo) -> tuple[str, str]:
    """The member's name as UTF-8 and safe to extract, or a note saying why it is skipped."""
    name = info.filename
    if not info.flag_bits & 0x800 and not name.isascii():  # not flagged UTF-8: zipfile decoded it as cp437
        try:
            name = name.encode("cp437").decode("utf-8")
        except UnicodeError:
            return "", f"skipped a file whose name is not valid UTF-8: {name!r}"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        return "", f"skipped {name!r}: its path would leave the extraction folder"
    return "/".join(parts), ""


def _wanted(name: str) -> bool:
    return name.endswith(KEPT_SUFFIXES)


def _copy_limited(source: Path, target: Path, budget: _Budget) -> None:
    size = source.lstat().st_size
    if size > budget.max_bytes:  # one file too big by itself (a notebook full of outputs): say so
        raise Rejected(
            f"{printable(source.name)} is {size / (1 << 20):.1f} MB, more than the {budget.max_bytes / (1 << 20):g} MB "
            "a submission may be; clear the notebook's outputs (or remove the data) and hand it in again"
        )
    with source.open("rb") as inp, target.open("wb") as out:
        _copy_stream(inp, out, budget)


def _copy_stream(inp: object, out: object, budget: _Budget) -> None:
    while True:
        chunk = inp.read(1 << 16)  # type: ignore[attr-defined]
        if not chunk:
            return
        budget.spend(len(chunk))
        out.write(chunk)  # type: ignore[attr-defined]


# -- assembling: the exercise modules in the week's folder -----------------------------------------


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
