"""Text from learners made safe to show: learner ids, file names, messages and notes.

A learner chooses their folder's name, their files' names and the messages their code raises, so
any of them may hold an escape sequence that recolours or rewrites a terminal, a carriage return
that hides the start of a line, a newline that forges a row, or a Unicode direction override that
shows a name backwards.  ``shown`` is the one function every renderer (the terminal, the CSV, any
page) passes such text through: each control or invisible formatting character becomes a visible
escape (``\\x1b``, ``\\n``, ``\\u202e``).  Values keep the original text (the gradebook stores
what was handed in); only what is shown is escaped.
"""

from __future__ import annotations

import unicodedata
from typing import Final

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LINE_BREAKS: Final = frozenset("\n")


def shown(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control character (C0, DEL, C1), line or paragraph separator and
    invisible formatting character (direction overrides, zero-width joiners) written as an
    escape; a character that is not valid Unicode (a lone surrogate) too.  With ``multiline``,
    newlines are kept (a traceback shown as lines); nothing else is."""
    if text.isprintable() and text.isascii():  # the common case: nothing to do
        return text
    return "".join(_escaped(char, multiline=multiline) for char in text)


def _escaped(char: str, *, multiline: bool) -> str:
    if multiline and char in _LINE_BREAKS:
        return char
    if char == " " or not _hidden(char):
        return char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _hidden(char: str) -> bool:
    """Control (Cc), format (Cf: bidi overrides, zero-width), surrogate (Cs), line and paragraph
    separators (Zl, Zp), private-use (Co) and unassigned (Cn) characters: none shows as itself."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn")


def points(value: float) -> str:
    """Points as every report writes them (terminal, feedback, HTML): 2, 0.5, 1.25; a sum of
    floats such as 0.1 + 0.2 is written 0.3."""
    return f"{round(value, 6):g}"
