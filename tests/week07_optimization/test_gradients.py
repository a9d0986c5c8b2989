"""Hidden tests of week 7, gradients.py: clipping by the global norm, and sharded (data-parallel) gradients.

clip_grad_norm works on .grad in place, so a probe builds parameters with seeded gradients, calls
it and returns the total it reported and the gradients afterwards; the same probe run here on
torch.nn.utils.clip_grad_norm_ (TORCH stands in for the learner's module) gives the expected
values. sharded_mean_grad is compared with torch.autograd.grad of the full-batch mean loss,
computed here by the same probe.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("gradients")

TORCH = SimpleNamespace(clip_grad_norm=torch.nn.utils.clip_grad_norm_)
"""Stands in for the learner's module: the same probe, run on torch."""

SHAPES = [(1,), (7, 5), (2, 3, 4)]


def _clip(m, grads, max_norm, norm_type, kind):
    params = [torch.zeros(s, dtype=d, requires_grad=True) for s, d in grads["shapes"]]
    for p, g in zip(params, grads["values"]):
        p.grad = None if g is None else g.clone()
    if kind == "tensor":
        arg = params[0]
    elif kind == "generator":
        arg = (p for p in params)
    else:
        arg = params
    total = m.clip_grad_norm(arg, max_norm, norm_type)
    return {"total": total, "grads": [None if p.grad is None else p.grad.clone() for p in params]}


def make_grads(seed, scale=1.0, none_at=(), dtype=torch.float64, shapes=SHAPES):
    values = [None if i in none_at else randn(*s, seed=seed + i, scale=scale).to(dtype) for i, s in enumerate(shapes)]
    return {"shapes": [(s, dtype) for s in shapes], "values": values}


def clip_both(student, grads, max_norm, norm_type=2.0, kind="list"):
    got = student.run(_clip, grads, max_norm, norm_type, kind)
    want = _clip(TORCH, grads, max_norm, norm_type, kind)
    if not isinstance(got, dict) or set(got) != {"total", "grads"}:
        fail("the probe expected the total norm and the gradients back")
    return got, want


def per_tensor(grads, max_norm, norm_type=2.0):
    """The gradients after clipping each tensor by its own norm (the classic mistake)."""
    out = []
    for g in grads["values"]:
        if g is not None:
            g = g.clone()
            total = torch.linalg.vector_norm(g, norm_type)
            g = g * torch.clamp(max_norm / (total + 1e-6), max=1.0)
        out.append(g)
    return out


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "One norm over all gradients together: the p-norm of the per-tensor p-norms (for inf, the largest |g|); "
    "then every gradient is scaled by max_norm / (total + 1e-6). Return the total measured before clipping."
)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0], ids=str)
def test_clip_grad_norm_matches_clip_grad_norm_(student, norm_type):
    grads = make_grads(1, scale=2.0)
    got, want = clip_both(student, grads, 1.5, norm_type)
    assert_close(
        got["total"], want["total"], what=f"returned norm (norm_type={norm_type})",
        mistakes={"returned the norm after clipping; return the total measured before": torch.tensor(1.5, dtype=torch.float64)},
    )
    assert_close(
        got["grads"], want["grads"], what=f"clipped gradients (norm_type={norm_type})",
        mistakes={"per-tensor norms used: the norm is over all parameters together": per_tensor(grads, 1.5, norm_type)},
    )


@pytest.mark.points(2)
@pytest.mark.hint("The norm is over all parameters together: tensors that are each below max_norm can still be clipped.")
def test_clip_grad_norm_uses_one_global_norm(student):
    shapes = [(3,), (2, 2), (5,)]
    grads = make_grads(2, shapes=shapes)
    grads["values"] = [0.9 * g / torch.linalg.vector_norm(g) for g in grads["values"]]  # each norm 0.9 < 1, all 1.56
    got, want = clip_both(student, grads, 1.0)
    assert_close(got["total"], want["total"], what="returned norm")
    assert_close(
        got["grads"], want["grads"], what="clipped gradients",
        mistakes={"per-tensor norms used: each tensor is below max_norm, but together they are not": grads["values"]},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Clipping never enlarges: the scaling coefficient is clamped at 1 when the norm is already below max_norm.")
def test_clip_grad_norm_never_scales_gradients_up(student):
    grads = make_grads(3, scale=0.05)
    got, want = clip_both(student, grads, 5.0)
    total = want["total"]
    scaled_up = [g * 5.0 / (total + 1e-6) for g in grads["values"]]
    assert_close(
        got["grads"], want["grads"], what="gradients with a norm below max_norm",
        mistakes={"gradients scaled up to max_norm: clipping must never enlarge them": scaled_up},
    )
    assert_close(got["total"], total, what="returned norm")


@pytest.mark.points(2)
@pytest.mark.hint(
    "params may be one tensor, a list, or a generator such as model.parameters() (it can be iterated only once); "
    "a parameter whose .grad is None is left out of the norm and stays None."
)
@pytest.mark.parametrize("kind", ["list", "generator", "tensor"])
def test_clip_grad_norm_skips_params_without_grad_and_accepts_any_iterable(student, kind):
    grads = make_grads(4, scale=3.0, none_at=(1,) if kind != "tensor" else ())
    got, want = clip_both(student, grads, 2.0, 2.0, kind)
    if kind != "tensor" and got["grads"][1] is not None:
        fail("a parameter without a gradient (grad None) was given one; leave it None")
    assert_close(got["total"], want["total"], what=f"returned norm ({kind} of parameters)")
    keep = [i for i, w in enumerate(want["grads"]) if w is not None]
    assert_close(
        [got["grads"][i] for i in keep], [want["grads"][i] for i in keep], what=f"clipped gradients ({kind} of parameters)"
    )


@pytest.mark.points(1)
@pytest.mark.hint("When no parameter has a gradient there is nothing to clip: return a norm of 0.")
def test_clip_grad_norm_without_any_grad_returns_zero(student):
    grads = make_grads(5, none_at=(0, 1, 2))
    got, want = clip_both(student, grads, 1.0)
    assert_close(got["total"], want["total"], what="returned norm when no parameter has a gradient")


@pytest.mark.points(1)
@pytest.mark.hint("Keep everything in the gradients' dtype: the returned norm and the clipped gradients stay float32.")
def test_clip_grad_norm_keeps_float32(student):
    grads = make_grads(6, scale=2.0, dtype=torch.float32)
    got, want = clip_both(student, grads, 1.0)
    for name, g, w in [("returned norm", got["total"], want["total"])] + [
        (f"gradient {i}", g, w) for i, (g, w) in enumerate(zip(got["grads"], want["grads"]))
    ]:
        if isinstance(g, torch.Tensor) and g.dtype != w.dtype:
            fail(f"{name}: dtype {str(w.dtype).removeprefix('torch.')} expected, got {str(g.dtype).removeprefix('torch.')}")
    assert_close(got["total"], want["total"], what="returned norm (float32)")
    assert_close(got["grads"], want["grads"], what="clipped gradients (float32)")


# --- sharded_mean_grad --------------------------------------------------------------------------


def _sharded(m, W, b, X, y, n_shards):
    params = [W.clone().requires_grad_(), b.clone().requires_grad_()]
    before = [p.detach().clone() for p in params]

    def loss_fn(ps, Xs, ys):
        weight, bias = ps
        return ((torch.tanh(Xs.flatten(1) @ weight) + bias - ys) ** 2).sum(-1).mean()

    if m is None:  # the expected value: autograd on the full batch
        return list(torch.autograd.grad(loss_fn(params, X, y), params))
    grads = m.sharded_mean_grad(loss_fn, params, X, y, n_shards)
    return {
        "grads": list(grads),
        "params changed": any(not torch.equal(p.detach(), q) for p, q in zip(params, before)),
        ".grad written": any(p.grad is not None for p in params),
    }


def _sharded_raises(m, X, y, n_shards):
    W = torch.zeros(X[0].numel(), y.shape[1], dtype=X.dtype, requires_grad=True)

    def loss_fn(ps, Xs, ys):
        return ((Xs.flatten(1) @ ps[0] - ys) ** 2).mean()

    try:
        m.sharded_mean_grad(loss_fn, [W], X, y, n_shards)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:
        return type(error).__name__
    return "no error"


def make_batch(n, feature_shape, seed):
    d = math.prod(feature_shape)
    return randn(d, 3, seed=seed), randn(3, seed=seed + 1), randn(n, *feature_shape, seed=seed + 2), randn(n, 3, seed=seed + 3)


def shard_mistakes(W, b, X, y, n_shards):
    shard_grads = [_sharded(None, W, b, Xs, ys, 1) for Xs, ys in zip(torch.tensor_split(X, n_shards), torch.tensor_split(y, n_shards))]
    mean = [sum(gs) / n_shards for gs in zip(*shard_grads)]
    total = [sum(gs) for gs in zip(*shard_grads)]
    unweighted = "averaged the shards' gradients without weighting by shard size: shards of unequal size count equally"
    mistakes = {}
    if X.shape[0] % n_shards:  # shards of one size: their plain mean is the weighted one
        mistakes[unweighted] = mean
    mistakes["summed the shards' gradients: the result must be the full batch's mean-loss gradient"] = total
    return mistakes


def check_sharded(student, n, feature_shape, n_shards, seed):
    __tracebackhide__ = True
    W, b, X, y = make_batch(n, feature_shape, seed)
    got = student.run(_sharded, W, b, X, y, n_shards)
    want = _sharded(None, W, b, X, y, n_shards)
    if not isinstance(got, dict):
        fail("the probe expected the gradients back")
    mistakes = shard_mistakes(W, b, X, y, n_shards) if n_shards > 1 else {}
    assert_close(got["grads"], want, what=f"gradients for N={n}, n_shards={n_shards}", mistakes=mistakes)


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Each shard's loss is a mean over its own examples; combine the shards so the result is the full batch's mean.")
@pytest.mark.parametrize("n, feature_shape, n_shards", [(1, (4,), 1), (8, (4,), 4), (6, (2, 3), 3), (5, (4,), 5)], ids=str)
def test_sharded_mean_grad_matches_full_batch_gradient(student, n, feature_shape, n_shards):
    check_sharded(student, n, feature_shape, n_shards, seed=10)


@pytest.mark.points(2)
@pytest.mark.hint(
    "When N is not a multiple of n_shards the shards differ in size; a shard's mean-loss gradient must count "
    "in proportion to how many examples it holds."
)
@pytest.mark.parametrize("n, feature_shape, n_shards", [(10, (4,), 4), (7, (2, 3), 3), (9, (4,), 2)], ids=str)
def test_sharded_mean_grad_weights_unequal_shards_by_size(student, n, feature_shape, n_shards):
    check_sharded(student, n, feature_shape, n_shards, seed=20)


@pytest.mark.points(1)
@pytest.mark.hint("Use torch.autograd.grad, which returns gradients without writing .grad, and never update params.")
def test_sharded_mean_grad_leaves_params_and_their_grad_untouched(student):
    W, b, X, y = make_batch(7, (4,), 30)
    got = student.run(_sharded, W, b, X, y, 3)
    if not isinstance(got, dict):
        fail("the probe expected the gradients back")
    if got["params changed"]:
        fail("sharded_mean_grad changed the parameters' values; it must only compute gradients")
    if got[".grad written"]:
        fail("sharded_mean_grad wrote .grad of the parameters (was .backward() used?); return the gradients instead")


@pytest.mark.points(1)
@pytest.mark.hint("Every shard needs at least one example: n_shards must be between 1 and the batch size.")
def test_sharded_mean_grad_rejects_impossible_shard_counts(student):
    X, y = randn(4, 3, seed=40), randn(4, 2, seed=41)
    for n_shards in (0, 5):
        raised = student.run(_sharded_raises, X, y, n_shards)
        if raised != "ValueError":
            fail(f"n_shards={n_shards} for a batch of 4 gave {raised}, expected a ValueError")
    if student.run(_sharded_raises, X, y, 4) != "no error":
        fail("n_shards equal to the batch size (one example per shard) must work")
