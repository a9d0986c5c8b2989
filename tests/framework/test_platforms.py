"""Platforms, said honestly: native Windows is refused with a pointer to WSL before anything runs;
macOS is supported without bubblewrap and grade -v says so."""

from __future__ import annotations

import sys

import pytest

from grader.core import platforms

from .conftest import MakeCourse
from .test_cli import grade


def test_native_windows_gets_a_clear_message_pointing_to_wsl(
    make_course: MakeCourse, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_course()
    monkeypatch.setattr(sys, "platform", "win32")
    code, out, err = grade("week1", "--course", str(root))
    assert code == 2 and out == ""
    message = " ".join(err.split())
    assert "native Windows is not supported" in message and "WSL" in message and "fork and rlimits" in message
    assert not (root / ".grade").exists()  # nothing was graded or stored


def test_macos_is_supported_without_bubblewrap_and_says_so() -> None:
    note = platforms.platform_note("darwin")
    assert "macOS" in note and "without bubblewrap" in note and "rlimits" in note
    platforms.check_platform("darwin")  # no error
    platforms.check_platform("linux")


def test_grade_v_names_the_platform_and_its_confinement(
    make_course: MakeCourse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    code, out, _ = grade("-v", "--course", str(make_course()))
    assert code == 0 and "platform: macOS; supported without bubblewrap" in " ".join(out.split())
