"""Helpers for test authors: comparisons that fail with one line a learner understands,
gradient checks, and seeded inputs.

``assert_close`` checks what a learner gets wrong in the order they get it wrong: the kind of
value, then its shape, then its dtype (its class, or the exact dtype with ``exact_dtype=True``),
then NaN and infinities, then the numbers.  Its failures are one line (``max abs error 0.31 at
index [3, 1] (tolerance 1e-05)``) with no traceback into the grader.

Mistakes and hints.  ``mistakes=`` names the classic mistakes of an assertion: when the learner's
value matches one of them, the failure says which mistake it is instead of an error size, and the
mistake's own hint (``Mistake(value, hint=...)``) replaces the test's ``@pytest.mark.hint``, which
would talk about something else.  ``hints=`` gives a hint to each kind of failure (``"type"``,
``"shape"``, ``"dtype"``, ``"non-finite"``, ``"value"``).  The test's hint is the fallback::

    from grader.testing import Mistake, assert_close

    @pytest.mark.points(1)
    @pytest.mark.hint("H(p) weighs each outcome's surprise by its probability.",
                      "Which outcomes add nothing to the sum, and what does 0 · log 0 become?")
    def test_entropy(student):
        p = rand_distribution(7, 5, seed=1)
        want = Categorical(probs=p).entropy()
        assert_close(
            student.entropy(p),
            want,
            mistakes={
                "in bits (log base 2) where nats were asked": Mistake(
                    want / math.log(2), hint="torch.log is the natural logarithm; log2 changes the unit."
                ),
                "the minus sign was lost": -want,  # a plain value: the test's hint is shown
            },
            hints={"shape": "Entropy reduces the last dim: one value per distribution."},
        )

A mistake is named only if its value differs, on the test's own inputs, from the right answer
and from every other mistake of the assertion; ``grade check`` runs the reference and reports
each pair that does not (``collisions_recorded`` is how it hears of them).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NoReturn

import numpy as np
import pytest
import torch

__all__ = [
    "SHAPES",
    "Diagnosis",
    "Mistake",
    "assert_close",
    "check_gradient",
    "collisions_recorded",
    "fail",
    "generator",
    "is_close",
    "numerical_gradient",
    "rand_distribution",
    "rand_labels",
    "rand_logits",
    "randn",
]

SHAPES: Final[list[tuple[int, ...]]] = [(1, 3), (7, 5), (2, 3, 4)]
"""Batch shapes to parametrize over: a single row, odd sizes, and an extra leading dim."""

_TOLERANCES: Final = {  # (rtol, atol), as torch.testing.assert_close
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


FailureKind = Literal["mistake", "type", "shape", "dtype", "non-finite", "value"]
"""What an ``assert_close`` failure found; ``"mistake"`` is a named mistake, the most specific."""


class Diagnosis(pytest.fail.Exception):  # type: ignore[misc, name-defined]
    """A test failure that says what kind of mistake it found and may carry its own hint.

    The grader reads ``kind`` (to show the most specific diagnosis first) and ``hint`` (shown
    instead of the test's ``@pytest.mark.hint``) from it; to pytest it is an ordinary failure.
    """

    def __init__(self, message: str, *, kind: str = "", hint: str = "") -> None:
        super().__init__(message, pytrace=False)
        self.kind = kind
        self.hint = hint


RIGHT_ANSWER_FINDING: Final = "gives the right answer, so it can never be named"  # on one case: see grade check


def fail(message: str, *, hint: str = "", kind: str = "") -> NoReturn:
    """Fail the current test with one line for the learner and no traceback; ``hint``, if given,
    is shown instead of the test's hint (it belongs to this failure, not to the test)."""
    __tracebackhide__ = True
    raise Diagnosis(message, kind=kind, hint=hint)


@dataclass(frozen=True)
class Mistake:
    """The value a classic mistake would produce, with the hint that helps with that mistake."""

    value: Any
    hint: str = ""


# -- comparisons ------------------------------------------------------------------------------


def assert_close(
    actual: Any,
    expected: Any,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    equal_nan: bool = False,
    exact_dtype: bool = False,
    what: str = "result",
    mistakes: Mapping[str, Any] | None = None,
    hints: Mapping[str, str] | None = None,
    at: Any = None,
) -> None:
    """Fail unless ``actual`` matches ``expected`` in kind, shape, dtype and value.

    ``mistakes`` maps a message to the value a classic mistake would produce (or to a
    ``Mistake(value, hint=...)``); when ``actual`` is wrong but close to one of them, the failure
    names that mistake.  ``hints`` maps a kind of failure (``"type"``, ``"shape"``, ``"dtype"``,
    ``"non-finite"``, ``"value"``) to its hint.  ``exact_dtype`` requires ``expected``'s very dtype
    (float64, not just some floating-point dtype), for functions whose contract says so.
    ``at``: for a function of one variable applied elementwise, the inputs it was applied to (same
    shape as ``expected``); a failure then carries the two curves for ``grade WEEK --plot``.
    """
    __tracebackhide__ = True
    found = _difference(actual, expected, atol=atol, rtol=rtol, exact_dtype=exact_dtype, equal_nan=equal_nan, path=what)
    named = {message: m if isinstance(m, Mistake) else Mistake(m) for message, m in (mistakes or {}).items()}
    if found is None:
        _record_collisions(expected, named, what=what, atol=atol, rtol=rtol, exact_dtype=exact_dtype)
        return
    curve = _curve(at, actual, expected, what=what) if at is not None else None
    for message, mistake in named.items():
        if is_close(actual, mistake.value, atol=atol, rtol=rtol, exact_dtype=exact_dtype, path=what):
            _fail_with_curve(message, hint=mistake.hint, kind="mistake", curve=curve)
    kind, problem = found
    _fail_with_curve(problem, hint=(hints or {}).get(kind, ""), kind=kind, curve=curve)


def _fail_with_curve(message: str, *, hint: str, kind: str, curve: dict[str, Any] | None) -> NoReturn:
    """``fail``, carrying the two curves for ``grade WEEK --plot`` when there are any."""
    __tracebackhide__ = True
    failure = Diagnosis(message, kind=kind, hint=hint)
    if curve is not None:
        failure.grade_curve = curve  # read by the grading plugin
    raise failure


MAX_CURVE_POINTS: Final = 400  # what a failure carries for its plot, at most (the worst point always kept)


def _curve(at: Any, actual: Any, expected: Any, *, what: str) -> dict[str, Any] | None:
    """The learner's and the expected values against the inputs, sorted by input and bounded to
    MAX_CURVE_POINTS (evenly spaced, plus the worst point); None unless all three are numeric
    arrays of one shape."""
    try:
        x, got, want = (np.asarray(_numpy(v), dtype=np.float64).reshape(-1) for v in (at, actual, expected))
    except (TypeError, ValueError, RuntimeError):
        return None
    if not (x.size == got.size == want.size) or x.size == 0 or np.shape(_numpy(actual)) != np.shape(_numpy(expected)):
        return None
    gap = np.where(np.isnan(got) & np.isnan(want), 0.0, np.abs(got - want))
    worst = int(np.argmax(np.where(np.isnan(gap), np.inf, gap)))  # NaN against a number, inf - inf: worst
    keep = np.unique(np.append(np.linspace(0, x.size - 1, min(x.size, MAX_CURVE_POINTS - 1)).astype(int), worst))
    keep = keep[np.argsort(x[keep], kind="stable")]
    return {
        "what": what[:200],
        "x": x[keep].tolist(),
        "got": got[keep].tolist(),
        "want": want[keep].tolist(),
        "worst": int(np.flatnonzero(keep == worst)[0]),
    }


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def is_close(
    actual: Any,
    expected: Any,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    exact_dtype: bool = False,
    path: str = "value",
) -> bool:
    """True when ``assert_close`` would pass (NaN equal to NaN)."""
    found = _difference(actual, expected, atol=atol, rtol=rtol, exact_dtype=exact_dtype, equal_nan=True, path=path)
    return found is None


# -- named mistakes that misfire --------------------------------------------------------------

_collisions: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("grader_collisions", default=None)


@contextlib.contextmanager
def collisions_recorded() -> Iterator[list[str]]:
    """Within this block, each passing ``assert_close`` checks its named mistakes on its own inputs
    and adds a line to the yielded list for each that cannot be told apart: from the right answer
    (it would never be named) or from another mistake (the first listed would be named for both).
    The grader's plugin records them around every graded test; ``grade check`` reports them."""
    found: list[str] = []
    token = _collisions.set(found)
    try:
        yield found
    finally:
        _collisions.reset(token)


def _record_collisions(
    expected: Any,
    named: Mapping[str, Mistake],
    *,
    what: str,
    atol: float | None,
    rtol: float | None,
    exact_dtype: bool,
) -> None:
    found = _collisions.get()
    if found is None or not named:
        return
    names = list(named)
    for index, name in enumerate(names):
        value = named[name].value
        if is_close(value, expected, atol=atol, rtol=rtol, exact_dtype=exact_dtype):
            found.append(f"{what}: the mistake {name!r} {RIGHT_ANSWER_FINDING}")
            continue
        for other in names[:index]:
            if is_close(value, named[other].value, atol=atol, rtol=rtol, exact_dtype=exact_dtype):
                found.append(
                    f"{what}: the mistakes {other!r} and {name!r} give the same value, so the first is named for both"
                )


# -- differences ------------------------------------------------------------------------------

_Found = tuple[FailureKind, str]  # the kind of the first difference, and its one-line message


def _difference(
    actual: Any,
    expected: Any,
    *,
    atol: float | None,
    rtol: float | None,
    exact_dtype: bool = False,
    equal_nan: bool,
    path: str,
) -> _Found | None:
    """The first difference between the two values, or None."""
    if isinstance(expected, Mapping):
        return _mapping_difference(
            actual, expected, atol=atol, rtol=rtol, exact_dtype=exact_dtype, equal_nan=equal_nan, path=path
        )
    if isinstance(expected, (list, tuple)):
        return _sequence_difference(
            actual, expected, atol=atol, rtol=rtol, exact_dtype=exact_dtype, equal_nan=equal_nan, path=path
        )
    return _array_difference(
        actual, expected, atol=atol, rtol=rtol, exact_dtype=exact_dtype, equal_nan=equal_nan, path=path
    )


def _mapping_difference(actual: Any, expected: Mapping[Any, Any], *, path: str, **options: Any) -> _Found | None:
    if not isinstance(actual, Mapping):
        return "type", f"{path}: a dict was expected, got {_kind(actual)}"
    if set(actual) != set(expected):
        missing, extra = sorted(map(repr, set(expected) - set(actual))), sorted(map(repr, set(actual) - set(expected)))
        parts = ([f"missing {_plural(len(missing), 'key')} {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {_plural(len(extra), 'key')} {', '.join(extra)}"] if extra else []
        )
        return "type", f"{path}: {'; '.join(parts)}"
    for key, want in expected.items():
        found = _difference(actual[key], want, path=f"{path}[{key!r}]", **options)
        if found:
            return found
    return None


def _sequence_difference(
    actual: Any, expected: list[Any] | tuple[Any, ...], *, path: str, **options: Any
) -> _Found | None:
    if not isinstance(actual, (list, tuple)):
        count = _plural(len(expected), "value")
        return "type", f"{path}: a {type(expected).__name__} of {count} was expected, got {_kind(actual)}"
    if len(actual) != len(expected):
        return "shape", f"{path}: {_plural(len(expected), 'value')} expected, got {len(actual)}"
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        found = _difference(got, want, path=f"{path}[{index}]", **options)
        if found:
            return found
    return None


def _array_difference(
    actual: Any,
    expected: Any,
    *,
    atol: float | None,
    rtol: float | None,
    exact_dtype: bool,
    equal_nan: bool,
    path: str,
) -> _Found | None:
    want = _as_tensor(expected)
    if want is None:
        raise TypeError(f"assert_close: cannot compare against {type(expected).__name__}")
    got = _as_tensor(actual)
    if got is None:
        return "type", f"{path}: {_kind(expected)} was expected, got {_kind(actual)}"
    kind_problem = _container_kind_difference(actual, expected, path)
    if kind_problem:
        return "type", kind_problem
    if got.shape != want.shape:
        got_shape = "a single value" if got.dim() == 0 else _shape(got)
        return "shape", f"{path}: {_shape_phrase(want)} expected, got {got_shape}"
    if _dtype_class(got) != _dtype_class(want):
        return (
            "dtype",
            f"{path}: {_dtype_class(want)} values expected (dtype {_dtype_name(want)}), got dtype {_dtype_name(got)}",
        )
    if exact_dtype and got.dtype != want.dtype:
        return "dtype", f"{path}: dtype {_dtype_name(want)} expected, got dtype {_dtype_name(got)}"
    if not want.is_floating_point() and not want.is_complex():
        return _exact_difference(got, want, path)
    return _float_difference(got.to(want.dtype), want, atol=atol, rtol=rtol, equal_nan=equal_nan, path=path)


def _container_kind_difference(actual: Any, expected: Any, path: str) -> str | None:
    """A tensor where a tensor is expected, an array where an array is, a number where a number is."""
    kinds = (torch.Tensor, np.ndarray)
    for kind in kinds:
        if isinstance(expected, kind) and not isinstance(actual, kind):
            return f"{path}: {_kind(expected)} was expected, got {_kind(actual)}"
    if not isinstance(expected, kinds) and isinstance(actual, kinds) and np.ndim(actual) > 0:
        return f"{path}: a single number was expected, got {_kind(actual)}"
    return None


def _exact_difference(got: torch.Tensor, want: torch.Tensor, path: str) -> _Found | None:
    wrong = got != want
    if not wrong.any():
        return None
    if want.dim() == 0:
        return "value", f"{path}: expected {_item(want, [])}, got {_item(got, [])}"
    index = _index_of(wrong)
    count = int(wrong.sum())
    differ = f"{count} of {want.numel()} values differ" if count > 1 else f"1 of {want.numel()} values differs"
    return "value", f"{path}: {differ}; at index {index} expected {_item(want, index)}, got {_item(got, index)}"


def _float_difference(
    got: torch.Tensor, want: torch.Tensor, *, atol: float | None, rtol: float | None, equal_nan: bool, path: str
) -> _Found | None:
    default_rtol, default_atol = _TOLERANCES.get(want.dtype, (1e-7, 1e-7)) if not want.is_complex() else (1.3e-6, 1e-5)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    got_nan, want_nan = torch.isnan(got), torch.isnan(want)
    unexpected_nan = got_nan & ~want_nan
    if unexpected_nan.any():
        index = _index_of(unexpected_nan)
        return "non-finite", f"{path}: NaN{_at(index)} where {_item(want, index)} was expected"
    if (want_nan & ~got_nan).any():
        index = _index_of(want_nan & ~got_nan)
        return "non-finite", f"{path}: NaN expected{_at(index)}, got {_item(got, index)}"
    if want_nan.any() and not equal_nan:
        return (
            "non-finite",
            f"{path}: the expected value has NaN{_at(_index_of(want_nan))} (the test should pass equal_nan=True)",
        )
    finite_mismatch = (torch.isinf(got) | torch.isinf(want)) & (got != want) & ~want_nan
    if finite_mismatch.any():
        index = _index_of(finite_mismatch)
        return "non-finite", f"{path}: {_item(want, index)} expected{_at(index)}, got {_item(got, index)}"
    both_finite = torch.isfinite(got) & torch.isfinite(want)
    error = torch.where(
        both_finite, (got - want).abs(), torch.zeros((), dtype=got.real.dtype if got.is_complex() else got.dtype)
    )
    allowed = atol + rtol * want.abs()
    too_far = both_finite & (error > allowed)
    if not too_far.any():
        return None
    worst = torch.where(too_far, error, torch.full_like(error, -1.0))
    index = _index_of(worst == worst.max())
    tolerance = f"tolerance {atol:g} + {rtol:g}·|expected|" if rtol else f"tolerance {atol:g}"
    error_name = "max abs error" if want.numel() > 1 else "abs error"
    return "value", (
        f"{path}: {error_name} {float(worst.max()):.3g}{_at(index)} "
        f"(expected {_item(want, index)}, got {_item(got, index)}; {tolerance})"
    )


def _at(index: list[int]) -> str:
    """`` at index [3, 1]``; nothing for a single value, which has no index to name."""
    return f" at index {index}" if index else ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _shape_phrase(tensor: torch.Tensor) -> str:
    """``shape (8, 5)``, or ``a single value`` for a 0-dim tensor (whose shape () says nothing)."""
    return "a single value" if tensor.dim() == 0 else f"shape {_shape(tensor)}"


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (bool, int, float, complex, np.generic)) and np.asarray(value).dtype.kind in "biufc":
        return torch.as_tensor(np.asarray(value))
    return None


def _dtype_class(tensor: torch.Tensor) -> str:
    if tensor.dtype == torch.bool:
        return "boolean"
    if tensor.is_complex():
        return "complex"
    return "floating-point" if tensor.is_floating_point() else "integer"


def _dtype_name(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return "a tensor holding a single value" if value.dim() == 0 else f"a tensor of shape {_shape(value)}"
    if isinstance(value, np.ndarray):
        return "a NumPy array holding a single value" if value.ndim == 0 else f"a NumPy array of shape {_shape(value)}"
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return f"the number {value!r}"
    if value is None:
        return "None (did the function forget to return?)"
    return f"a {type(value).__name__}"


def _shape(value: Any) -> str:
    return str(tuple(value.shape))


def _index_of(mask: torch.Tensor) -> list[int]:
    if mask.dim() == 0:
        return []
    return [int(i) for i in torch.nonzero(mask)[0]]


def _item(tensor: torch.Tensor, index: list[int]) -> str:
    value = tensor[tuple(index)].item() if index else tensor.item()
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


# -- gradients --------------------------------------------------------------------------------


def numerical_gradient(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, eps: float = 1e-6
) -> torch.Tensor:
    """The gradient of the scalar ``f`` at ``x`` from values of ``f`` alone (float64 recommended).

    It uses the five-point stencil, f'(x) = (f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h, whose
    error is O(h^4): a reference for checking autograd that is more exact than the two-point
    central difference learners write in week 2 (and deliberately not that exercise's code, since
    this module ships in every student release).  ``f`` sees a new tensor at each point, never ``x``.
    """
    base = x.detach().clone().contiguous()
    estimates = [
        sum(weight * float(f(base + offset * step)) for offset, weight in _FIVE_POINT_STENCIL) / eps
        for step in _unit_steps(base, eps)
    ]
    return torch.tensor(estimates, dtype=base.dtype).view(base.shape)


_FIVE_POINT_STENCIL: Final = ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12))


def _unit_steps(base: torch.Tensor, eps: float) -> Iterator[torch.Tensor]:
    """``eps`` along each coordinate of ``base`` in turn, as tensors of its shape."""
    for index in range(base.numel()):
        step = torch.zeros_like(base)
        step.view(-1)[index] = eps
        yield step


def check_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    what: str = "gradient",
) -> None:
    """Fail unless autograd's gradient of the scalar ``f`` at ``x`` matches central differences."""
    __tracebackhide__ = True
    leaf = x.detach().clone().to(torch.float64).requires_grad_()
    out = f(leaf)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        fail(f"{what}: the function must return a single number to check its gradient, got {_kind(out)}")
    if not out.requires_grad:
        fail(
            f"{what}: the output does not depend on the input through autograd (was it detached or built with .item()?)"
        )
    (analytic,) = torch.autograd.grad(out, leaf)
    numeric = numerical_gradient(lambda t: f(t).detach(), leaf.detach(), eps=eps)
    assert_close(analytic, numeric, atol=atol, rtol=rtol, what=what)


# -- seeded inputs ----------------------------------------------------------------------------


def generator(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator seeded with ``seed``: inputs that never depend on global RNG state."""
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    """Standard-normal values times ``scale``, from their own seeded generator."""
    return torch.randn(shape, generator=generator(seed), dtype=dtype) * scale


def rand_logits(*shape: int, seed: int = 0, scale: float = 3.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Unnormalized scores, spread wide enough (``scale``) that a wrong axis or shift shows."""
    return randn(*shape, seed=seed, dtype=dtype, scale=scale)


def rand_distribution(*shape: int, seed: int = 0, zeros: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Positive rows summing to 1 along the last dim, with ``zeros`` exact zeros in each row."""
    if zeros >= shape[-1]:
        raise ValueError(f"rand_distribution: {zeros} zeros leave no mass in rows of {shape[-1]}")
    g = generator(seed)
    weights = torch.rand(shape, generator=g, dtype=torch.float64) + 0.05
    if zeros:
        order = torch.rand(shape, generator=g).argsort(dim=-1)
        weights = weights.masked_fill(order < zeros, 0.0)
    return (weights / weights.sum(-1, keepdim=True)).to(dtype)


def rand_labels(*shape: int, num_classes: int, seed: int = 0) -> torch.Tensor:
    """Class indices in [0, num_classes) as a LongTensor."""
    return torch.randint(0, num_classes, shape, generator=generator(seed))
