"""Hidden tests of week 10, tbptt.py: truncated back-propagation through time and gradient clipping.

truncated_unroll runs torch's own cells (nn.RNNCell, nn.LSTMCell, nn.GRUCell), so only the
detaching is judged. Its values must equal nn.RNN / nn.LSTM / nn.GRU's, and the gradient of the
output at step t with respect to every input x_s is compared with a by-hand computation: it is
zero outside t's window [⌊t/k⌋·k, t] and equal to the window's own back-propagation inside it.
Detaching never (full BPTT), every step, or with windows of k + 1 steps is recomputed and named.

train_tbptt is compared with a training loop written here with torch (SGD, clip_grad_norm_):
the losses, the gradient norms before clipping, and the parameters after training, with the classic
mistakes (state reset at each window, per-tensor clipping, clipping after the step, no clipping,
gradients accumulated across windows) recomputed and named.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("tbptt")

KINDS = {"RNN": 1, "LSTM": 4, "GRU": 3}
F_IN, HIDDEN, OUT = 3, 4, 2


def _truncated(m, kind, weights, x, k, h0):
    cell = getattr(nn, kind + "Cell")(x.shape[-1], weights["weight_hh"].shape[1]).double()
    cell.load_state_dict(weights)
    x = x.clone().requires_grad_()
    if h0 is None:
        start = None
    elif isinstance(h0, (list, tuple)):
        start = tuple(part.clone().requires_grad_() for part in h0)
    else:
        start = h0.clone().requires_grad_()
    outputs, last = m.truncated_unroll(cell, x, k, start)
    grads, h0_reached = [], []
    for t in range(x.shape[1]):
        leaves = [x] + (list(start) if isinstance(start, tuple) else [start] if start is not None else [])
        found = torch.autograd.grad(outputs[:, t].sum(), leaves, retain_graph=True, allow_unused=True)
        grads.append(torch.zeros_like(x) if found[0] is None else found[0])
        h0_reached.append(any(g is not None and bool(g.abs().sum() > 0) for g in found[1:]))
    return {
        "outputs": outputs.detach(),
        "last": [part.detach() for part in (last if isinstance(last, (list, tuple)) else [last])],
        "grads": torch.stack(grads),
        "h0_reached": h0_reached,
    }


def _train(m, kind, weights, readout_weights, x, y, k, lr, max_norm):
    cell = getattr(nn, kind + "Cell")(x.shape[-1], weights["weight_hh"].shape[1]).double()
    cell.load_state_dict(weights)
    readout = nn.Linear(weights["weight_hh"].shape[1], y.shape[-1]).double()
    readout.load_state_dict(readout_weights)
    optimizer = torch.optim.SGD([*cell.parameters(), *readout.parameters()], lr=lr)
    losses, norms = m.train_tbptt(cell, readout, x, y, k, optimizer, max_norm)
    return {
        "losses": losses,
        "norms": norms,
        "types": sorted({type(v).__name__ for v in [*losses, *norms]}),
        "cell": {name: p.detach() for name, p in cell.named_parameters()},
        "readout": {name: p.detach() for name, p in readout.named_parameters()},
    }


# --- inputs and by-hand computations ----------------------------------------------------------------


def weights_for(kind, seed):
    rows = KINDS[kind] * HIDDEN
    return {
        "weight_ih": randn(rows, F_IN, seed=seed, scale=0.6),
        "weight_hh": randn(rows, HIDDEN, seed=seed + 1, scale=0.6),
        "bias_ih": randn(rows, seed=seed + 2, scale=0.4),
        "bias_hh": randn(rows, seed=seed + 3, scale=0.4),
    }


def readout_for(seed):
    return {"weight": randn(OUT, HIDDEN, seed=seed, scale=0.8), "bias": randn(OUT, seed=seed + 1, scale=0.3)}


def h0_for(kind, n, seed):
    parts = [randn(n, HIDDEN, seed=seed + i) for i in range(2 if kind == "LSTM" else 1)]
    return parts if kind == "LSTM" else parts[0]


def cut(state):
    return tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()


def out_of(state):
    return state[0] if isinstance(state, tuple) else state


def window_grads_by_hand(kind, weights, x, window, h0):
    """d out_t / d x for every t, when the state is cut every `window` steps (window >= T: never)."""
    cell = getattr(nn, kind + "Cell")(F_IN, HIDDEN).double()
    cell.load_state_dict(weights)
    leaf = x.clone().requires_grad_()
    state = tuple(h0) if isinstance(h0, list) else h0
    outs = []
    for step in range(x.shape[1]):
        if step and step % window == 0:
            state = cut(state)
        state = cell(leaf[:, step], state)
        outs.append(out_of(state))
    rows = [torch.autograd.grad(out.sum(), leaf, retain_graph=True)[0] for out in outs]
    return torch.stack(rows), torch.stack([o.detach() for o in outs], dim=1)


def torch_layer_outputs(kind, weights, x, h0):
    layer = getattr(nn, kind)(F_IN, HIDDEN, batch_first=True).double()
    layer.load_state_dict({f"{key}_l0": value for key, value in weights.items()})
    if h0 is None:
        start = None
    elif isinstance(h0, list):
        start = tuple(part.unsqueeze(0) for part in h0)
    else:
        start = h0.unsqueeze(0)
    with torch.no_grad():
        outputs, last = layer(x, start)
    return outputs, [part.squeeze(0) for part in (last if isinstance(last, tuple) else (last,))]


def training_by_hand(kind, weights, readout_weights, x, y, k, lr, max_norm, mistake=None):
    cell = getattr(nn, kind + "Cell")(F_IN, HIDDEN).double()
    cell.load_state_dict(weights)
    readout = nn.Linear(HIDDEN, OUT).double()
    readout.load_state_dict(readout_weights)
    params = [*cell.parameters(), *readout.parameters()]
    opt = torch.optim.SGD(params, lr=lr)
    carried = None
    losses, norms = [], []
    for begin in range(0, x.shape[1], k):
        if mistake == "reset" or carried is None:
            carried = None
        else:
            carried = cut(carried)
        preds = []
        for step in range(begin, min(begin + k, x.shape[1])):
            carried = cell(x[:, step], carried)
            preds.append(readout(out_of(carried)))
        window_loss = F.mse_loss(torch.stack(preds, 1), y[:, begin : begin + k])
        if mistake != "no zero_grad":
            opt.zero_grad()
        window_loss.backward()
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        if max_norm is not None and mistake == "per tensor":
            for p in params:
                torch.nn.utils.clip_grad_norm_([p], max_norm)
        elif max_norm is not None and mistake != "no clipping":
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        opt.step()
        losses.append(window_loss.item())
        norms.append(float(total))
    return {
        "losses": losses,
        "norms": norms,
        "cell": {name: p.detach() for name, p in cell.named_parameters()},
        "readout": {name: p.detach() for name, p in readout.named_parameters()},
    }


def sequence_data(n, t, seed):
    return randn(n, t, F_IN, seed=seed, scale=1.5), randn(n, t, OUT, seed=seed + 1)


# --- truncated_unroll --------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("Detaching changes no value: the outputs must equal a plain unroll's, from h0 (or zeros).")
@pytest.mark.parametrize("kind", list(KINDS))
def test_truncated_unroll_values_equal_torch_layer(student, kind):
    weights = weights_for(kind, 100)
    x = randn(3, 7, F_IN, seed=101)
    h0 = h0_for(kind, 3, 102)
    got = student.run(_truncated, kind, weights, x, 3, h0)
    outputs, last = torch_layer_outputs(kind, weights, x, h0)
    assert_close(got["outputs"], outputs, what="outputs")
    assert_close(got["last"], last, what="final state")


@pytest.mark.points(3)
@pytest.mark.hint(
    "Cut the state from the graph at the start of each window (before t = k, 2k, ...), not at every step "
    "and not never: the output at t may only reach the inputs of its own window."
)
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("kind", list(KINDS))
def test_truncated_gradient_stays_inside_its_window(student, kind, k):
    T = 7
    weights = weights_for(kind, 200)
    x = randn(2, T, F_IN, seed=201)
    got = student.run(_truncated, kind, weights, x, k, None)
    want, _ = window_grads_by_hand(kind, weights, x, k, None)
    reach = got["grads"].abs().sum(dim=(1, 3)) > 0  # reach[t, s]: does out_t depend on x_s?
    for t in range(T):
        first = (t // k) * k
        beyond = [s for s in range(first) if reach[t, s]]
        if beyond:
            fail(f"the gradient of the output at step {t} reaches x[{beyond[0]}], before its window starts at {first}")
        inside = [s for s in range(first, t + 1) if not reach[t, s]]
        if inside:
            fail(f"the gradient of the output at step {t} does not reach x[{inside[0]}], inside its window [{first}, {t}]")
    assert_close(
        got["grads"],
        want,
        atol=1e-10,
        rtol=1e-7,
        what="d out_t / d x",
        mistakes={
            "the state was never detached (full BPTT)": window_grads_by_hand(kind, weights, x, T + 1, None)[0],
            "the state was detached at every step": window_grads_by_hand(kind, weights, x, 1, None)[0],
            f"windows of {k + 1} steps: detach before t = k, 2k, ...": window_grads_by_hand(kind, weights, x, k + 1, None)[0],
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("With k >= T there is a single window: the gradients are those of full back-propagation through time.")
@pytest.mark.parametrize("k", [5, 9])
def test_truncated_with_k_at_least_T_is_full_bptt(student, k):
    weights = weights_for("GRU", 300)
    x = randn(1, 5, F_IN, seed=301)
    got = student.run(_truncated, "GRU", weights, x, k, None)
    want, _ = window_grads_by_hand("GRU", weights, x, 99, None)
    assert_close(got["grads"], want, atol=1e-10, rtol=1e-7, what=f"d out_t / d x with k = {k} and T = 5")


@pytest.mark.points(1)
@pytest.mark.hint("With k = 1 every output sees only its own input; and h0 belongs to the first window, so it keeps its gradient.")
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_truncated_with_k_1_and_the_gradient_of_h0(student, kind):
    weights = weights_for(kind, 400)
    x = randn(2, 4, F_IN, seed=401)
    h0 = h0_for(kind, 2, 402)
    got = student.run(_truncated, kind, weights, x, 1, h0)
    want, _ = window_grads_by_hand(kind, weights, x, 1, h0)
    assert_close(got["grads"], want, atol=1e-10, rtol=1e-7, what="d out_t / d x with k = 1")
    if got["h0_reached"] != [True, False, False, False]:
        fail(f"h0 receives gradient from steps {[t for t, r in enumerate(got['h0_reached']) if r]}, expected from step 0 only")
    got3 = student.run(_truncated, kind, weights, x, 3, h0)
    if got3["h0_reached"] != [True, True, True, False]:
        fail(f"with k = 3, h0 receives gradient from steps {[t for t, r in enumerate(got3['h0_reached']) if r]}, expected 0, 1, 2")


# --- train_tbptt ---------------------------------------------------------------------------------------


def run_training(student, kind, seed, *, n=2, t=12, k=4, lr=0.1, max_norm=None):
    weights, readout_weights = weights_for(kind, seed), readout_for(seed + 5)
    x, y = sequence_data(n, t, seed + 10)
    got = student.run(_train, kind, weights, readout_weights, x, y, k, lr, max_norm)
    args = (kind, weights, readout_weights, x, y, k, lr, max_norm)
    return got, training_by_hand(*args), args


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Per window: carry the state's value but detach it, zero the gradients, back-propagate, clip the "
    "global norm of all parameters together, then step."
)
@pytest.mark.parametrize("max_norm", [None, 0.05], ids=["no_clip", "clip_0.05"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_train_tbptt_matches_a_torch_training_loop(student, kind, max_norm):
    got, want, args = run_training(student, kind, 500, max_norm=max_norm)
    mistakes = {
        "the state was reset at each window: carry its value (detached) to the next window": training_by_hand(*args, "reset"),
        "gradients accumulated across windows: zero them before each backward": training_by_hand(*args, "no zero_grad"),
    }
    if max_norm is not None:
        mistakes.update(
            {
                "the gradients were not clipped before optimizer.step() (clipping after it changes nothing)": training_by_hand(
                    *args, "no clipping"
                ),
                "each tensor was clipped separately: the norm is over all parameters together": training_by_hand(
                    *args, "per tensor"
                ),
            }
        )
    for key in ("losses", "cell", "readout", "norms"):
        assert_close(
            got[key],
            want[key],
            atol=1e-9,
            rtol=1e-7,
            what=key,
            mistakes={message: wrong[key] for message, wrong in mistakes.items()},
        )


@pytest.mark.points(2)
@pytest.mark.hint("Clip the gradient to max_norm after backward and before the step; the norm reported is the one before clipping.")
def test_train_tbptt_one_window_update_is_minus_lr_times_the_clipped_gradient(student):
    kind, k, lr, max_norm = "LSTM", 5, 0.3, 0.02
    weights, readout_weights = weights_for(kind, 600), readout_for(605)
    x, y = sequence_data(3, 5, 610)
    got = student.run(_train, kind, weights, readout_weights, x, y, k, lr, max_norm)
    cell = nn.LSTMCell(F_IN, HIDDEN).double()
    cell.load_state_dict(weights)
    readout = nn.Linear(HIDDEN, OUT).double()
    readout.load_state_dict(readout_weights)
    state, preds = None, []
    for step in range(5):
        state = cell(x[:, step], state)
        preds.append(readout(state[0]))
    params = dict(cell.named_parameters())
    grads = torch.autograd.grad(F.mse_loss(torch.stack(preds, 1), y), list(params.values()) + list(readout.parameters()))
    norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    scale = min(1.0, max_norm / (float(norm) + 1e-6))
    assert_close(got["norms"], [float(norm)], rtol=1e-7, what="gradient norm before clipping")
    want = {name: p.detach() - lr * scale * g for (name, p), g in zip(params.items(), grads)}
    unclipped = {name: p.detach() - lr * g for (name, p), g in zip(params.items(), grads)}
    assert_close(
        got["cell"],
        want,
        atol=1e-10,
        what="cell parameters after one window",
        mistakes={"the update used the unclipped gradient": unclipped},
    )


@pytest.mark.points(1)
@pytest.mark.hint("Clipping only ever scales gradients down: a max_norm far above the norm changes nothing.")
def test_train_tbptt_large_max_norm_changes_nothing(student):
    got, want, _ = run_training(student, "GRU", 700, max_norm=1e6)
    assert_close(got["cell"], want["cell"], atol=1e-10, what="cell parameters with max_norm = 1e6")
    assert_close(got["norms"], want["norms"], rtol=1e-7, what="gradient norms with max_norm = 1e6")


@pytest.mark.points(1)
@pytest.mark.hint("The last window may be shorter than k (T = 10, k = 4: windows of 4, 4 and 2 steps); a batch of one is a batch.")
def test_train_tbptt_shorter_last_window_and_a_batch_of_one(student):
    got, want, _ = run_training(student, "RNN", 800, n=1, t=10, k=4, max_norm=0.5)
    assert_close(got["losses"], want["losses"], atol=1e-10, rtol=1e-7, what="window losses")
    assert_close(got["readout"], want["readout"], atol=1e-10, rtol=1e-7, what="readout parameters")


@pytest.mark.points(1)
@pytest.mark.hint("Return plain Python floats (loss.item(), float(norm)), one per window.")
def test_train_tbptt_returns_one_float_per_window(student):
    got, _, _ = run_training(student, "GRU", 900, t=9, k=3)
    if len(got["losses"]) != 3 or len(got["norms"]) != 3:
        fail(f"{len(got['losses'])} losses and {len(got['norms'])} norms for T = 9, k = 3: expected 3 of each")
    if got["types"] != ["float"]:
        fail(f"losses and norms of types {got['types']}, expected float")
