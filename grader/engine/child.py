"""Entry point of the grading child: apply the limits, then run pytest with the plugin.

``python -m grader.engine.child --memory-mb=N -- PYTEST_ARGS...``.  The limits are set here, in the
child itself, rather than by a ``preexec_fn`` in the parent (which is unsafe once the parent
runs a progress-bar thread).
"""

from __future__ import annotations

import sys


def _apply_memory_limit(megabytes: int) -> None:
    try:
        import resource
    except ImportError:  # not on this platform (Windows): the time limit still applies
        return
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # macOS does not enforce RLIMIT_AS: the time limit still applies
        pass


def main(argv: list[str]) -> int:
    split = argv.index("--")
    for option in argv[:split]:
        if option.startswith("--memory-mb="):
            _apply_memory_limit(int(option.split("=", 1)[1]))
    import pytest

    return int(pytest.main(argv[split + 1 :]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
