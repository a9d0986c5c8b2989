"""Where the grader runs, said honestly.

The sandbox forks learner code from a zygote and limits it with rlimits (and, on Linux, confines it
with bubblewrap where installed).  Native Windows has neither fork nor rlimits, so the grader
refuses to start there and points to WSL; macOS has both but no bubblewrap, so learner code is
limited by rlimits in its own process only, and ``grade -v`` says so.

    platform         grading   confinement of learner code
    Linux            yes       bubblewrap (when installed) and rlimits, in a forked process
    macOS            yes       rlimits, in a forked process (no bubblewrap on macOS)
    Windows + WSL    yes       as Linux, inside WSL
    native Windows   no        (no fork, no rlimits): use WSL
"""

from __future__ import annotations

import shutil
import sys
from typing import Final

from .errors import GraderError

WSL_URL: Final = "https://learn.microsoft.com/windows/wsl/install"


class UnsupportedPlatformError(GraderError):
    """The grader cannot sandbox learner code on this operating system."""


def check_platform(platform: str | None = None) -> None:
    """Refuse native Windows with a message that says what to do instead."""
    if (platform or sys.platform) == "win32":
        raise UnsupportedPlatformError(
            "native Windows is not supported: the grader's sandbox needs fork and rlimits, which Windows lacks. "
            f"Install WSL ({WSL_URL}), open an Ubuntu terminal, and install and run the course there"
        )


def platform_note(platform: str | None = None) -> str:
    """One line for ``grade -v``: the platform and how learner code is confined on it."""
    platform = platform or sys.platform
    if platform == "darwin":
        return (
            "platform: macOS; supported without bubblewrap (Linux only): your code runs in its own forked process "
            "under rlimits, which does not hide the course's files from it"
        )
    if platform.startswith("linux"):
        if shutil.which("bwrap"):
            return "platform: Linux with bubblewrap: your code runs confined (no network, course folders hidden)"
        return (
            "platform: Linux without bubblewrap: your code runs in its own process under rlimits only; "
            "install bubblewrap (e.g. apt install bubblewrap) to confine it"
        )
    return f"platform: {platform}: not tested; the sandbox needs fork and rlimits"
