"""Helpers for test authors: comparisons that fail with one line a learner understands,
gradient checks, and seeded inputs.

``assert_close`` checks what a learner gets wrong in the order they get it wrong: the kind of
value, then its shape, then its dtype class, then NaN and infinities, then the numbers.  Its
failures are one line (``max abs error 0.31 at index [3, 1] (tolerance 1e-05)``) with no
traceback into the grader.  ``mistakes=`` turns a near-miss into a named classic mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, NoReturn

import numpy as np
import pytest
import torch

__all__ = [
    "SHAPES",
    "assert_close",
    "check_gradient",
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


def fail(message: str) -> NoReturn:
    """Fail the current test with one line for the learner and no traceback."""
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


# -- comparisons ------------------------------------------------------------------------------


def assert_close(
    actual: Any,
    expected: Any,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    equal_nan: bool = False,
    what: str = "result",
    mistakes: Mapping[str, Any] | None = None,
    at: Any = None,
) -> None:
    """Fail unless ``actual`` matches ``expected`` in kind, shape, dtype class and value.

    ``mistakes`` maps a message to a value a classic mistake would produce; when ``actual`` is
    wrong but close to one of them, the failure names that mistake instead of an error size.
    ``at``: for a function of one variable applied elementwise, the inputs it was applied to (same
    shape as ``expected``); a failure then carries the two curves for ``grade WEEK --plot``.
    """
    __tracebackhide__ = True
    problem = _difference(actual, expected, atol=atol, rtol=rtol, equal_nan=equal_nan, path=what)
    if problem is None:
        return
    for message, wrong in (mistakes or {}).items():
        if _difference(actual, wrong, atol=atol, rtol=rtol, equal_nan=True, path=what) is None:
            problem = message
            break
    curve = _curve(at, actual, expected, what=what) if at is not None else None
    if curve is None:
        fail(problem)
    failure = pytest.fail.Exception(problem, pytrace=False)
    failure.grade_curve = curve  # type: ignore[attr-defined]  # read by the grading plugin
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


def is_close(actual: Any, expected: Any, *, atol: float | None = None, rtol: float | None = None) -> bool:
    """True when ``assert_close`` would pass (NaN equal to NaN)."""
    return _difference(actual, expected, atol=atol, rtol=rtol, equal_nan=True, path="value") is None


def _difference(
    actual: Any, expected: Any, *, atol: float | None, rtol: float | None, equal_nan: bool, path: str
) -> str | None:
    """The first difference between the two values as a one-line message, or None."""
    if isinstance(expected, Mapping):
        return _mapping_difference(actual, expected, atol=atol, rtol=rtol, equal_nan=equal_nan, path=path)
    if isinstance(expected, (list, tuple)):
        return _sequence_difference(actual, expected, atol=atol, rtol=rtol, equal_nan=equal_nan, path=path)
    return _array_difference(actual, expected, atol=atol, rtol=rtol, equal_nan=equal_nan, path=path)


def _mapping_difference(actual: Any, expected: Mapping[Any, Any], **options: Any) -> str | None:
    path = options.pop("path")
    if not isinstance(actual, Mapping):
        return f"{path}: a dict was expected, got {_kind(actual)}"
    if set(actual) != set(expected):
        missing, extra = sorted(map(repr, set(expected) - set(actual))), sorted(map(repr, set(actual) - set(expected)))
        parts = ([f"missing keys {', '.join(missing)}"] if missing else []) + (
            [f"unexpected keys {', '.join(extra)}"] if extra else []
        )
        return f"{path}: {'; '.join(parts)}"
    for key, want in expected.items():
        problem = _difference(actual[key], want, path=f"{path}[{key!r}]", **options)
        if problem:
            return problem
    return None


def _sequence_difference(actual: Any, expected: list[Any] | tuple[Any, ...], **options: Any) -> str | None:
    path = options.pop("path")
    if not isinstance(actual, (list, tuple)):
        return f"{path}: a {type(expected).__name__} of {len(expected)} values was expected, got {_kind(actual)}"
    if len(actual) != len(expected):
        return f"{path}: {len(expected)} values expected, got {len(actual)}"
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        problem = _difference(got, want, path=f"{path}[{index}]", **options)
        if problem:
            return problem
    return None


def _array_difference(
    actual: Any, expected: Any, *, atol: float | None, rtol: float | None, equal_nan: bool, path: str
) -> str | None:
    want = _as_tensor(expected)
    if want is None:
        raise TypeError(f"assert_close: cannot compare against {type(expected).__name__}")
    got = _as_tensor(actual)
    if got is None:
        return f"{path}: {_kind(expected)} was expected, got {_kind(actual)}"
    kind_problem = _container_kind_difference(actual, expected, path)
    if kind_problem:
        return kind_problem
    if got.shape != want.shape:
        return f"{path}: shape {_shape(want)} expected, got {_shape(got)}"
    if _dtype_class(got) != _dtype_class(want):
        return f"{path}: {_dtype_class(want)} values expected (dtype {_dtype_name(want)}), got dtype {_dtype_name(got)}"
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


def _exact_difference(got: torch.Tensor, want: torch.Tensor, path: str) -> str | None:
    wrong = got != want
    if not wrong.any():
        return None
    index = _index_of(wrong)
    count = int(wrong.sum())
    return f"{path}: {count} of {want.numel()} values differ; at index {index} expected {_item(want, index)}, got {_item(got, index)}"


def _float_difference(
    got: torch.Tensor, want: torch.Tensor, *, atol: float | None, rtol: float | None, equal_nan: bool, path: str
) -> str | None:
    default_rtol, default_atol = _TOLERANCES.get(want.dtype, (1e-7, 1e-7)) if not want.is_complex() else (1.3e-6, 1e-5)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    got_nan, want_nan = torch.isnan(got), torch.isnan(want)
    unexpected_nan = got_nan & ~want_nan
    if unexpected_nan.any():
        return f"{path}: NaN at index {_index_of(unexpected_nan)} where {_item(want, _index_of(unexpected_nan))} was expected"
    if (want_nan & ~got_nan).any():
        index = _index_of(want_nan & ~got_nan)
        return f"{path}: NaN expected at index {index}, got {_item(got, index)}"
    if want_nan.any() and not equal_nan:
        return (
            f"{path}: the expected value has NaN at index {_index_of(want_nan)} (the test should pass equal_nan=True)"
        )
    finite_mismatch = (torch.isinf(got) | torch.isinf(want)) & (got != want) & ~want_nan
    if finite_mismatch.any():
        index = _index_of(finite_mismatch)
        return f"{path}: {_item(want, index)} expected at index {index}, got {_item(got, index)}"
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
    where = f" at index {index}" if want.dim() else ""
    return (
        f"{path}: max abs error {float(worst.max()):.3g}{where} "
        f"(expected {_item(want, index)}, got {_item(got, index)}; {tolerance})"
    )


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
        return f"a tensor of shape {_shape(value)}"
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {_shape(value)}"
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
