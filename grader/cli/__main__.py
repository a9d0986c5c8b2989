"""``python -m grader.cli`` runs the ``grade`` command."""

from __future__ import annotations

from .main import main

main()
