"""Stubs are derived from solutions with nbgrader's ClearSolutions: each region becomes the stub line."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from grader.authoring.build import build_week, solution_regions, stub_source
from grader.core.course import DEFAULT_STUB, load_course
from grader.core.errors import BuildError

from .conftest import MakeCourse


def stub(source: str, template: str = DEFAULT_STUB) -> str:
    return stub_source(textwrap.dedent(source), filename="solutions/week01_basics/basics.py", stub=template)


def test_a_region_becomes_the_stub_line_at_its_indentation_and_todos_stay() -> None:
    out = stub(
        """\
        def double(x):
            \"\"\"Twice x.\"\"\"
            # TODO: multiply.
            ### BEGIN SOLUTION
            y = 2 * x
            return y
            ### END SOLUTION
        """
    )
    assert out == textwrap.dedent(
        """\
        def double(x):
            \"\"\"Twice x.\"\"\"
            # TODO: multiply.
            raise NotImplementedError("double() is not implemented yet")
        """
    )


def test_a_region_in_a_method_names_the_method() -> None:
    out = stub(
        """\
        class Value:
            def backward(self):
                ### BEGIN SOLUTION
                pass
                ### END SOLUTION
        """
    )
    assert '        raise NotImplementedError("backward() is not implemented yet")' in out


def test_several_regions_keep_the_code_between_them() -> None:
    out = stub(
        """\
        def f(x):
            ### BEGIN SOLUTION
            a = 1
            ### END SOLUTION
            kept = 2
            ### BEGIN SOLUTION
            return a + kept
            ### END SOLUTION
        """
    )
    assert out.count("raise NotImplementedError") == 2 and "    kept = 2\n" in out and "a = 1" not in out


def test_a_whole_function_region_at_module_level_names_the_module() -> None:
    out = stub("### BEGIN SOLUTION\ndef hidden():\n    return 1\n### END SOLUTION\n")
    assert out == 'raise NotImplementedError("basics() is not implemented yet")\n'


def test_the_stub_template_is_configurable() -> None:
    out = stub(
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
        "# YOUR CODE HERE\nraise RuntimeError('{name}')",
    )
    assert out == "def f():\n    # YOUR CODE HERE\n    raise RuntimeError('f')\n"


def test_a_file_without_regions_is_copied_as_is() -> None:
    assert stub("def helper():\n    return 1\n") == "def helper():\n    return 1\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "basics.py:2: ### BEGIN SOLUTION is never closed"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n",
            "basics.py:3: ### BEGIN SOLUTION inside the region opened at line 2",
        ),
        (
            "def f():\n    return 1\n    ### END SOLUTION\n",
            "basics.py:3: ### END SOLUTION without a ### BEGIN SOLUTION",
        ),
        ("def f(:\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", "basics.py:1: the solution does not parse"),
    ],
    ids=["missing-end", "nested", "end-without-begin", "syntax-error"],
)
def test_broken_delimiters_name_file_and_line(source: str, message: str) -> None:
    with pytest.raises(BuildError, match=message.replace("(", r"\(")):
        stub(source)


def test_regions_know_their_lines_and_function() -> None:
    (region,) = solution_regions(
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", filename="x.py"
    )
    assert (region.begin_line, region.end_line, region.function, region.lines) == (2, 4, "f", ("    return 1",))


SOLUTION_WITH_REGION = (
    "def double(x):\n    # TODO: twice x\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
)


def test_build_is_deterministic_and_backs_up_what_it_overwrites(make_course: MakeCourse) -> None:
    root = make_course()
    (root / "solutions" / "week01_basics" / "basics.py").write_text(SOLUTION_WITH_REGION)
    learner_work = "def double(x):\n    return x + x  # my answer\n"
    (root / "exercises" / "week01_basics" / "basics.py").write_text(learner_work)
    course = load_course(root)
    when = dt.datetime(2026, 11, 23, 12, 0, 0)
    (first,) = build_week(course, course.weeks[0], now=when)
    assert first.changed and first.backup is not None
    assert first.backup.read_text() == learner_work
    assert (
        first.path.read_text()
        == """def double(x):\n    # TODO: twice x\n    raise NotImplementedError("double() is not implemented yet")\n"""
    )
    (second,) = build_week(course, course.weeks[0], now=when)
    assert not second.changed
