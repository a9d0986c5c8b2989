"""The parent reads a grading child's events in batches, yet misses none and is never late for one
it must act on: the tests are collected, a job or the run is over, the child exited, a test ran
out of time.

Each test runs a small child that writes with the plugin's own ``EventStream`` and is read with
the runner's own ``Child.events``.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.engine import events
from grader.engine.events import Child

CHILD = textwrap.dedent(
    """
    import sys, time
    from grader.engine.events import EventStream
    stream = EventStream(int(sys.argv[1]), int(sys.argv[2]))
    exec(sys.argv[3])
    """
)

Spawn = Callable[[str], Child]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """``spawn(code)`` starts a child running ``code`` with ``stream`` at hand; killed afterwards."""
    children: list[Child] = []

    def start(code: str) -> Child:
        child = Child.launch(
            lambda events, bell: [sys.executable, "-c", CHILD, str(events), str(bell), textwrap.dedent(code)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(events.__file__).parents[2])},
            scratch=tmp_path,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()
        child.stop()


def never() -> float:
    return time.monotonic() + 3600


def test_every_event_arrives_once_in_order_and_the_stream_ends_when_the_child_exits(spawn: Spawn) -> None:
    child = spawn("for i in range(2000): stream.emit({'event': 'start', 'id': str(i), 'timeout': 1.0})")
    ids = [event and event["id"] for event in child.events(deadline=never)]
    assert ids == [str(i) for i in range(2000)], "events were lost, repeated or reordered between child and parent"


def test_an_event_that_ends_a_phase_rings_the_bell_and_is_seen_at_once(
    spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "POLL_S", 60.0)  # without the bell, the parent would look again in a minute
    child = spawn("stream.emit({'event': 'start', 'id': 'a'}); stream.emit({'event': 'job_done', 'id': 1}); time.sleep(60)")
    started = time.monotonic()
    kinds = []
    for event in child.events(deadline=never):
        kinds.append(event and event["event"])
        if kinds[-1] == "job_done":
            break
    assert kinds == ["start", "job_done"]
    assert time.monotonic() - started < 20, "job_done waited for the next poll: the bell did not wake the parent"


def test_a_child_that_exits_is_seen_at_once(spawn: Spawn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "POLL_S", 60.0)
    child = spawn("stream.emit({'event': 'start', 'id': 'a'})")
    started = time.monotonic()
    assert [event and event["event"] for event in child.events(deadline=never)] == ["start"]
    assert time.monotonic() - started < 20, "the end of the child went unnoticed until the next poll"


def test_a_deadline_passes_while_the_child_is_silent(spawn: Spawn) -> None:
    child = spawn("time.sleep(60)")
    give_up = time.monotonic() + 0.5
    assert list(child.events(deadline=lambda: give_up)) == [None]
    assert time.monotonic() - give_up < 5, "the deadline was noticed late"


def test_events_read_but_not_taken_wait_for_the_next_reader(spawn: Spawn) -> None:
    child = spawn("stream.emit({'event': 'job_done', 'id': 1}); stream.emit({'event': 'job', 'id': 2}); stream.emit({'event': 'job_done', 'id': 2})")
    first = []
    for event in child.events(deadline=never):
        first.append(event)
        break  # a warm worker's parent stops reading at job_done
    rest = list(child.events(deadline=never))
    assert [e and e["id"] for e in first + rest] == [1, 2, 2], "the events after job_done were dropped"
