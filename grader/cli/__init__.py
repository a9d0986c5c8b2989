"""The command line: argument parsing and exit codes (main), rendering with rich (report).

The top layer and the only package that renders output: nothing below it imports rich.
May import: every other grader package.
"""

from __future__ import annotations

from .main import main, run

__all__ = ["main", "run"]
