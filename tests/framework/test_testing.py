"""assert_close fails with the one line a learner needs, checking kind, shape, dtype, then values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grader.testing import (
    Diagnosis,
    Mistake,
    assert_close,
    check_gradient,
    collisions_recorded,
    is_close,
    numerical_gradient,
    rand_distribution,
    rand_labels,
    randn,
)


def failure(actual: object, expected: object, **options: object) -> str:
    with pytest.raises(pytest.fail.Exception) as caught:
        assert_close(actual, expected, **options)  # type: ignore[arg-type]
    return str(caught.value)


WANT = torch.arange(40, dtype=torch.float64).reshape(8, 5) / 7


def test_equal_values_pass() -> None:
    assert_close(WANT.clone(), WANT)
    assert_close([WANT, {"b": 1.0}], [WANT.clone(), {"b": 1.0}])


def test_a_shape_mismatch_is_reported_before_values() -> None:
    assert failure(WANT.sum(-1), WANT) == "result: shape (8, 5) expected, got (8,)"


def test_the_largest_error_is_reported_with_its_index_and_tolerance() -> None:
    got = WANT.clone()
    got[3, 1] += 0.31
    got[0, 0] += 0.01
    message = failure(got, WANT, atol=1e-5, rtol=0)
    assert message.startswith(
        "result: max abs error 0.31 at index [3, 1] (expected 2.28571, got 2.59571; tolerance 1e-05)"
    )


def test_nan_where_a_number_was_expected_names_the_index() -> None:
    got = WANT.clone()
    got[1, 2] = float("nan")
    assert failure(got, WANT) == "result: NaN at index [1, 2] where 1 was expected"


def test_inf_where_a_finite_value_was_expected() -> None:
    assert (
        failure(torch.tensor([1.0, float("inf")]), torch.tensor([1.0, 2.0]))
        == "result: 2 expected at index [1], got inf"
    )


def test_an_expected_infinity_must_be_matched_exactly() -> None:
    assert_close(torch.tensor([float("inf"), 1.0]), torch.tensor([float("inf"), 1.0]))
    assert "inf expected at index [0]" in failure(torch.tensor([1e30, 1.0]), torch.tensor([float("inf"), 1.0]))


def test_an_integer_result_for_a_float_expectation_is_a_dtype_class_error() -> None:
    assert failure(WANT.long(), WANT) == "result: floating-point values expected (dtype float64), got dtype int64"


def test_float32_and_float64_are_the_same_dtype_class() -> None:
    assert_close(WANT.float(), WANT, atol=1e-6, rtol=1e-6)


def test_none_suggests_a_forgotten_return() -> None:
    assert "got None (did the function forget to return?)" in failure(None, WANT)


def test_an_array_where_a_tensor_was_expected_is_a_kind_error() -> None:
    assert (
        failure(WANT.numpy(), WANT)
        == "result: a tensor of shape (8, 5) was expected, got a NumPy array of shape (8, 5)"
    )


def test_a_named_mistake_replaces_the_error_size() -> None:
    assert failure(2 * WANT, WANT, mistakes={"off by a factor of 2": 2 * WANT}) == "off by a factor of 2"


def test_a_mistake_that_does_not_match_falls_back_to_the_difference() -> None:
    assert failure(3 * WANT, WANT, mistakes={"off by a factor of 2": 2 * WANT}).startswith("result: max abs error")


def test_nested_values_name_the_path_of_the_first_difference() -> None:
    message = failure((WANT, {"w": WANT + 1}), (WANT, {"w": WANT}))
    assert message.startswith("result[1]['w']: max abs error 1")


def test_integers_compare_exactly_with_a_count() -> None:
    message = failure(torch.tensor([0, 1, 2, 4]), torch.tensor([0, 1, 3, 3]))
    assert message == "result: 2 of 4 values differ; at index [2] expected 3, got 2"


def test_numbers_compare_with_numbers() -> None:
    assert_close(torch.tensor(1.0), 1.0)
    assert failure(torch.ones(2), 1.0) == "result: a single number was expected, got a tensor of shape (2,)"


def test_is_close_is_the_boolean_form() -> None:
    assert is_close(WANT, WANT.clone()) and not is_close(WANT, WANT + 1)


def test_the_finite_difference_gradient_matches_autograd() -> None:
    x = randn(5, seed=3)
    assert_close(numerical_gradient(lambda t: (t**3).sum(), x), 3 * x**2, atol=1e-6, rtol=1e-6)
    check_gradient(lambda t: (t.sin() * t).sum(), x)


def test_the_numerical_gradient_is_fourth_order_and_leaves_x_alone() -> None:
    # Issue #15: the helper ships in every release, so it must not be week 2's two-point central
    # difference. At h = 1e-3 that one is off by about h^2 f'''/6 (2e-7 here); five points are 1e-10 close.
    x = randn(2, 3, seed=4)
    before = x.clone()
    got = numerical_gradient(lambda t: t.exp().sum(), x, eps=1e-3)
    assert_close(got, x.exp(), atol=1e-10, rtol=0)
    assert torch.equal(x, before) and got.shape == x.shape and got.dtype == x.dtype


def test_a_wrong_analytic_gradient_fails_the_check() -> None:
    class WrongSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx: object, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            ctx.save_for_backward(t)  # type: ignore[attr-defined]
            return t**2

        @staticmethod
        def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            (t,) = ctx.saved_tensors  # type: ignore[attr-defined]
            return grad * t  # forgot the factor 2

    with pytest.raises(pytest.fail.Exception, match="gradient: max abs error"):
        check_gradient(lambda t: WrongSquare.apply(t).sum(), randn(4, seed=1))


def test_seeded_inputs_are_reproducible_and_independent_of_the_global_seed() -> None:
    torch.manual_seed(123)
    first = randn(3, 4, seed=7)
    torch.manual_seed(456)
    assert torch.equal(first, randn(3, 4, seed=7))
    assert not torch.equal(first, randn(3, 4, seed=8))


def test_random_distributions_sum_to_one_with_exact_zeros() -> None:
    p = rand_distribution(4, 6, seed=2, zeros=2)
    assert_close(p.sum(-1), torch.ones(4, dtype=torch.float64))
    assert ((p == 0).sum(-1) == 2).all() and (p >= 0).all()


def test_random_labels_are_in_range() -> None:
    labels = rand_labels(100, num_classes=3, seed=0)
    assert labels.dtype == torch.int64 and set(labels.tolist()) == {0, 1, 2}


def test_numpy_arrays_compare_with_numpy_arrays() -> None:
    assert_close(np.ones(3), np.ones(3))
    assert "shape (3,) expected, got (2,)" in failure(np.ones(2), np.ones(3))


# -- issue #16: hints that belong to the mistake found ----------------------------------------


def diagnosis(actual: object, expected: object, **options: object) -> Diagnosis:
    with pytest.raises(Diagnosis) as caught:
        assert_close(actual, expected, **options)  # type: ignore[arg-type]
    return caught.value


def test_a_named_mistake_carries_its_own_hint() -> None:
    wrong = diagnosis(
        WANT / 2, WANT, mistakes={"halved": Mistake(WANT / 2, hint="count each term once"), "negated": -WANT}
    )
    assert (str(wrong), wrong.kind, wrong.hint) == ("halved", "mistake", "count each term once")


def test_a_mistake_given_as_a_plain_value_still_works_and_has_no_hint_of_its_own() -> None:
    wrong = diagnosis(-WANT, WANT, mistakes={"negated": -WANT})
    assert (str(wrong), wrong.kind, wrong.hint) == ("negated", "mistake", "")


@pytest.mark.parametrize(
    ("actual", "kind"),
    [
        (None, "type"),
        (WANT.sum(-1), "shape"),
        (WANT.to(torch.int64), "dtype"),
        (WANT.clone().fill_(float("nan")), "non-finite"),
        (WANT + 1, "value"),
    ],
    ids=["type", "shape", "dtype", "non-finite", "value"],
)
def test_each_kind_of_failure_takes_its_own_hint(actual: object, kind: str) -> None:
    hints = {k: f"the {k} hint" for k in ("type", "shape", "dtype", "non-finite", "value")}
    wrong = diagnosis(actual, WANT, hints=hints)
    assert (wrong.kind, wrong.hint) == (kind, f"the {kind} hint")


def test_a_failure_without_a_hint_of_its_own_leaves_the_tests_hint_to_the_report() -> None:
    wrong = diagnosis(WANT + 1, WANT, hints={"shape": "only for shapes"})
    assert (wrong.kind, wrong.hint) == ("value", "")


def test_a_shape_is_checked_before_any_named_mistake_of_another_shape() -> None:
    """A value that broadcast to another shape is a shape problem, even if its numbers match a mistake's."""
    broadcast = WANT[:, :1] + torch.zeros(8, 8, dtype=torch.float64)
    wrong = diagnosis(broadcast, WANT, mistakes={"lost digits": WANT[:, :1].expand(8, 5)})
    assert (wrong.kind, str(wrong)) == ("shape", "result: shape (8, 5) expected, got (8, 8)")


# -- issue #16: named mistakes that misfire are recorded when the reference passes -------------


def test_a_mistake_equal_to_the_right_answer_is_recorded() -> None:
    ones = torch.ones(1, 3, dtype=torch.float64)
    with collisions_recorded() as found:
        assert_close(ones.clone(), ones, mistakes={"sum instead of mean on a batch of one": ones})
    assert found == [
        "result: the mistake 'sum instead of mean on a batch of one' gives the right answer, so it can never be named"
    ]


def test_two_mistakes_with_the_same_value_are_recorded_with_both_names() -> None:
    with collisions_recorded() as found:
        assert_close(
            WANT.clone(), WANT, what="grad", mistakes={"overwritten": WANT * 0, "too early": Mistake(WANT * 0)}
        )
    assert found == [
        "grad: the mistakes 'overwritten' and 'too early' give the same value, so the first is named for both"
    ]


def test_mistakes_that_differ_are_not_recorded_and_nothing_is_recorded_outside_the_block() -> None:
    with collisions_recorded() as found:
        assert_close(WANT.clone(), WANT, mistakes={"negated": -WANT, "halved": WANT / 2})
    assert found == []
    assert_close(WANT.clone(), WANT, mistakes={"same": WANT})  # no recorder: nothing to record, no error


# -- issue #16: exact dtypes, and messages that read well --------------------------------------


def test_exact_dtype_names_both_dtypes() -> None:
    wrong = diagnosis(WANT.float(), WANT, exact_dtype=True)
    assert (wrong.kind, str(wrong)) == ("dtype", "result: dtype float64 expected, got dtype float32")


def test_without_exact_dtype_only_the_dtype_class_is_compared() -> None:
    assert_close(WANT.float(), WANT, atol=1e-5)


def test_a_wrong_single_integer_is_named_as_a_value_not_an_index() -> None:
    assert failure(torch.tensor(1624), torch.tensor(232)) == "result: expected 232, got 1624"


def test_one_wrong_integer_among_many_agrees_in_number() -> None:
    got = torch.arange(6)
    got[4] = 9
    assert failure(got, torch.arange(6)) == "result: 1 of 6 values differs; at index [4] expected 4, got 9"


def test_a_single_value_has_no_shape_to_name() -> None:
    assert failure(torch.tensor(1.0), torch.ones(3)) == "result: shape (3,) expected, got a single value"
    assert failure(torch.ones(3), torch.tensor(1.0)) == "result: a single value expected, got (3,)"
    assert failure(torch.tensor(2.0), torch.tensor(1.0)) == (
        "result: abs error 1 (expected 1, got 2; tolerance 1e-05 + 1.3e-06·|expected|)"
    )
