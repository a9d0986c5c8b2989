"""Hidden tests of week 1, shapes.py: broadcast shapes by hand, stack and concatenate.

Expected values come from torch at test time: torch.broadcast_shapes on seeded random pairs of
shapes, torch.stack and torch.cat for every valid dim. Errors cannot cross the transport as
exceptions, so probes run the calls where the code lives and return the exception's name and
message as plain data.
"""

from __future__ import annotations

import random
import re

import pytest
import torch

from grader.testing import assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("shapes")


def _broadcast_all(m, pairs):
    results = []
    for a, b in pairs:
        try:
            results.append(["returned", m.broadcast_shape(a, b)])
        except NotImplementedError:
            raise
        except Exception as error:
            results.append([type(error).__name__, str(error)])
    return results


def _error_of(m, name, args, kwargs):
    try:
        getattr(m, name)(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:
        return [type(error).__name__, str(error)]
    return None


def torch_broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """torch's broadcast shape of a and b, or None when they do not broadcast."""
    try:
        return tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        return None


def left_aligned(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The classic mistake: shapes padded with 1s at the END, i.e. lined up at their first dims."""
    ndim = max(len(a), len(b))
    return torch_broadcast(a + (1,) * (ndim - len(a)), b + (1,) * (ndim - len(b)))


def random_shape_pairs(count: int, seed: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Pairs of shapes of rank 0-5 with sizes in {0, 1, 2, 3, 5}: about half of them broadcast."""
    rng = random.Random(seed)
    sizes = [0, 1, 2, 3, 5]
    pairs = []
    for _ in range(count):
        rank_a, rank_b = rng.randrange(6), rng.randrange(6)
        base = [rng.choice(sizes) for _ in range(max(rank_a, rank_b))]
        shapes = []
        for rank in (rank_a, rank_b):
            shape = [1 if rng.random() < 0.2 else size for size in base[len(base) - rank :]]
            if shape and rng.random() < 0.6:  # one size changed at random: often incompatible
                shape[rng.randrange(len(shape))] = rng.choice([0, 2, 3, 5])
            shapes.append(tuple(shape))
        pairs.append((shapes[0], shapes[1]))
    return pairs


def describe(outcome: list) -> str:
    """A student's outcome for one pair, for a failure message."""
    kind, value = outcome
    if kind == "returned":
        return f"returned {value!r}"
    return f"raised {kind}"


def check_broadcasts(student, pairs, mistake: str | None = None, wrong=None) -> None:
    """Fail on the first pair where the student differs from torch.broadcast_shapes."""
    __tracebackhide__ = True
    outcomes = student.run(_broadcast_all, pairs)
    for (a, b), outcome in zip(pairs, outcomes, strict=True):
        want, (kind, got) = torch_broadcast(a, b), outcome
        call = f"broadcast_shape({a}, {b})"
        if want is None and kind != "ValueError":
            if mistake and wrong is not None and kind == "returned" and wrong(a, b) == tuple(got):
                fail(f"{call} returned {got!r}: {mistake}")
            fail(f"{call} {describe(outcome)}; these shapes do not broadcast, expected a ValueError")
        if want is not None:
            if kind != "returned":
                if mistake and wrong is not None and wrong(a, b) is None:
                    fail(f"{call} raised {kind}, expected {want}: {mistake}")
                fail(f"{call} raised {kind}: {got}; expected {want}")
            if not isinstance(got, tuple) or not all(isinstance(size, int) for size in got):
                fail(f"{call} returned {got!r}: a tuple of ints expected, like {want}")
            if tuple(got) != want:
                if mistake and wrong is not None and wrong(a, b) == tuple(got):
                    fail(f"{call} returned {tuple(got)}, expected {want}: {mistake}")
                fail(f"{call} returned {tuple(got)}, expected {want}")


# --- broadcast_shape ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Line the shapes up at their last dims; in each dim the sizes must be equal or one of them 1. "
    "Shapes that do not broadcast raise ValueError (torch.broadcast_shapes raises RuntimeError: check, then raise)."
)
def test_broadcast_shape_matches_torch_on_200_random_pairs(student):
    pairs = random_shape_pairs(200, seed=1)
    compatible = sum(torch_broadcast(a, b) is not None for a, b in pairs)
    assert 60 <= compatible <= 160, "test design: the pairs should mix both outcomes"
    check_broadcasts(student, pairs)


@pytest.mark.points(2)
@pytest.mark.hint(
    "Shapes are lined up at their LAST dims: (3,) against (2, 3) means (1, 3) against (2, 3). "
    "Which end of the shorter shape gets the padding 1s?"
)
def test_broadcast_shape_aligns_shapes_at_their_last_dims(student):
    pairs = [((1, 3), (3,)), ((2, 1), (5,)), ((4,), (3, 1, 4)), ((6, 1, 1), (2, 7)), ((5, 4), (5,))]
    for a, b in pairs:
        assert torch_broadcast(a, b) != left_aligned(a, b), "test design: the pairs must expose left alignment"
    check_broadcasts(
        student,
        pairs,
        mistake="aligned from the left: shapes line up at their LAST dims (pad the shorter one in front)",
        wrong=left_aligned,
    )


@pytest.mark.points(1)
@pytest.mark.hint("A scalar has shape (): it broadcasts against any shape, and the result is the other shape.")
def test_broadcast_shape_of_a_scalar_shape_is_the_other_shape(student):
    check_broadcasts(student, [((), ()), ((), (4,)), ((2, 0, 3), ()), ((), (1, 1))])


@pytest.mark.points(2)
@pytest.mark.hint(
    "Only a size of 1 stretches. A size of 0 is a real size (an empty dim): it matches 0 or 1 and nothing else, "
    "and a 1 against a 0 becomes 0."
)
def test_broadcast_shape_treats_size_0_as_a_size_not_as_1(student):
    def zero_like_one(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
        return torch_broadcast(tuple(1 if s == 0 else s for s in a), tuple(1 if s == 0 else s for s in b))

    check_broadcasts(
        student,
        [((0,), (1,)), ((1,), (0,)), ((0,), (0,)), ((2, 0), (2, 1)), ((0,), (3,)), ((3,), (0,)), ((4, 1), (0,))],
        mistake="size 0 treated like 1: only a 1 stretches, and 0 against 3 does not broadcast",
        wrong=zero_like_one,
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A good error says where and why: raise ValueError with both clashing sizes and the dim where they clash, "
    "counted from the right (dim -1 is the last one)."
)
def test_broadcast_shape_error_names_both_sizes_and_the_dim(student):
    cases = [((2, 7, 4), (9, 4), 7, 9, -2), ((5,), (8, 3), 5, 3, -1), ((6, 0, 2), (3, 2), 0, 3, -2)]
    for a, b, size_a, size_b, dim in cases:
        error = student.run(_error_of, "broadcast_shape", [a, b], {})
        call = f"broadcast_shape({a}, {b})"
        if error is None:
            fail(f"{call} gave no error; these shapes do not broadcast, expected a ValueError")
        name, message = error
        if name != "ValueError":
            fail(f"{call} raised {name}, expected a ValueError")
        numbers = re.findall(r"-?\d+", message)
        if str(size_a) not in numbers or str(size_b) not in numbers:
            fail(f"{call}: the message {message!r} does not name both sizes {size_a} and {size_b}")
        ndim = max(len(a), len(b))
        if not re.search(rf"(dim|axis)\w*[\s:=#(]*({dim}|{ndim + dim})\b", message, re.IGNORECASE):
            fail(f"{call}: the message {message!r} does not name the dim where the sizes clash (dim {dim})")


# --- stack and concat -----------------------------------------------------------------------------

STACK_SHAPES = [(3,), (2, 3), (2, 1, 4)]


@pytest.mark.points(1)
@pytest.mark.hint(
    "The result has one dim more than the inputs, and the new axis (of size len(xs)) sits at position `dim` "
    "of the result: unsqueeze each input there, then join along it."
)
@pytest.mark.parametrize("shape", STACK_SHAPES, ids=str)
def test_stack_matches_torch_stack_for_every_dim(student, shape):
    xs = [randn(*shape, seed=10 + i) for i in range(3)]
    rank = len(shape)
    for dim in range(-(rank + 1), rank + 1):
        mistakes = {}
        if dim < 0:
            mistakes["negative dim off by one: the result has r + 1 dims, so count dim from the end of the result"] = (
                torch.stack(xs, (dim + rank) % (rank + 1))
            )
        if -rank <= dim < rank:
            mistakes["concatenated along an existing axis instead of stacking along a new one"] = torch.cat(xs, dim)
        assert_close(student.stack(xs, dim), torch.stack(xs, dim), what=f"stack(xs, dim={dim})", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint(
    "stack(xs, dim=-1) puts the new axis LAST: the result has r + 1 dims, so -1 means position r of the result, "
    "not position r - 1."
)
def test_stack_with_dim_minus_1_makes_the_new_axis_last(student):
    for shape in [(3,), (2, 5)]:
        xs = [randn(*shape, seed=20 + i) for i in range(2)]
        want = torch.stack(xs, -1)
        assert_close(
            student.stack(xs, -1),
            want,
            what=f"stack of two {shape} tensors with dim=-1",
            mistakes={
                "negative dim off by one: dim=-1 must put the new axis last, after every dim of the inputs": torch.stack(
                    xs, -2
                )
            },
        )


@pytest.mark.points(1)
@pytest.mark.hint(
    "concat joins along an existing dim: the inputs' sizes along `dim` add up and every other size stays. "
    "A negative dim counts from the end of the inputs' shape."
)
@pytest.mark.parametrize("shape", STACK_SHAPES, ids=str)
def test_concat_matches_torch_cat_for_every_dim(student, shape):
    rank = len(shape)
    for dim in range(-rank, rank):
        xs = []
        for i, size in enumerate((2, 1, 3)):  # different sizes along the joined dim
            piece = list(shape)
            piece[dim] = size
            xs.append(randn(*piece, seed=30 + i))
        assert_close(student.concat(xs, dim), torch.cat(xs, dim), what=f"concat(xs, dim={dim})")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "stack adds a new axis of size len(xs); concat makes an existing axis longer. Two (3,) vectors stack to (2, 3) "
    "and concatenate to (6,)."
)
def test_two_vectors_stack_to_2_by_3_and_concatenate_to_6(student):
    xs = [randn(3, seed=40), randn(3, seed=41)]
    assert_close(
        student.stack(xs),
        torch.stack(xs),
        what="stack of two (3,) vectors",
        mistakes={"concatenated instead of stacked: stack adds a NEW axis of size len(xs)": torch.cat(xs)},
    )
    assert_close(
        student.concat(xs),
        torch.cat(xs),
        what="concat of two (3,) vectors",
        mistakes={"stacked instead of concatenated: concat joins along an EXISTING axis": torch.stack(xs)},
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "The result has the dtype of the inputs: integer and boolean tensors stay integer and boolean "
    "(do not build the result from a float tensor)."
)
def test_stack_and_concat_preserve_the_dtype(student):
    g = generator(50)
    for dtype in (torch.int64, torch.bool, torch.float32, torch.uint8):
        xs = [torch.randint(0, 2, (2, 3), generator=g).to(dtype) for _ in range(3)]
        for name, want in (("stack", torch.stack(xs, 1)), ("concat", torch.cat(xs, 1))):
            got = getattr(student, name)(xs, 1)
            if isinstance(got, torch.Tensor) and got.dtype != dtype:
                fail(f"{name}() of {dtype} tensors returned {got.dtype}: the dtype must be preserved")
            assert_close(got, want, what=f"{name}() of {dtype} tensors")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Check the inputs before joining them: an empty list has nothing to join, stack needs one shape for every "
    "tensor, and concat needs equal sizes in every dim except `dim`. Raise ValueError saying what is wrong."
)
def test_stack_and_concat_raise_value_error_for_empty_or_mismatched_inputs(student):
    a, b, c = randn(2, 3, seed=60), randn(3, 2, seed=61), randn(2, 4, seed=62)
    bad = [
        ("stack", [], 0, "an empty list"),
        ("concat", [], 0, "an empty list"),
        ("stack", [a, b], 0, "shapes (2, 3) and (3, 2)"),
        ("stack", [a, c], 0, "shapes (2, 3) and (2, 4)"),
        ("concat", [a, c], 0, "shapes (2, 3) and (2, 4) along dim 0"),
        ("concat", [a, randn(2, 3, 1, seed=63)], 1, "ranks 2 and 3"),
    ]
    for name, xs, dim, what in bad:
        error = student.run(_error_of, name, [xs, dim], {})
        if error is None:
            fail(f"{name}() of {what} gave no error, expected a ValueError")
        if error[0] != "ValueError":
            fail(f"{name}() of {what} raised {error[0]}, expected a ValueError")
    for name, xs, dim, what in [
        ("concat", [a, c], 1, "shapes (2, 3) and (2, 4) along dim 1"),
        ("stack", [a], 0, "one tensor"),
    ]:
        error = student.run(_error_of, name, [xs, dim], {})
        if error is not None:
            fail(f"{name}() of {what} raised {error[0]}: {error[1]}; these inputs are valid")
