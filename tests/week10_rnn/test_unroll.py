"""Hidden tests of week 10, unroll.py: rnn_unroll against nn.RNN / nn.LSTM / nn.GRU and packed sequences.

The cell handed to the learner's rnn_unroll is torch's own (nn.RNNCell, nn.LSTMCell, nn.GRUCell),
so these tests judge the unrolling alone. The expected values come from the matching torch layer
(nn.RNN, nn.LSTM, nn.GRU) with the same weights, run on a packed sequence
(pack_padded_sequence with unsorted lengths, then pad_packed_sequence) when lengths are given.
Mistakes (padding steps updating the state, the last state taken at T - 1, the state not carried,
h0 ignored, batch_first ignored) are recomputed so that a failure names them.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("unroll")

KINDS = {"RNN": 1, "LSTM": 4, "GRU": 3}
F_IN, HIDDEN = 3, 4


def _unroll(m, kind, weights, x, h0, lengths, batch_first, upstream):
    cell = getattr(nn, kind + "Cell")(x.shape[-1], weights["weight_hh"].shape[1]).double()
    cell.load_state_dict(weights)
    x = x.clone().requires_grad_()
    if h0 is None:
        state = None
    elif isinstance(h0, (list, tuple)):
        state = tuple(part.clone().requires_grad_() for part in h0)
    else:
        state = h0.clone().requires_grad_()
    outputs, last = m.rnn_unroll(cell, x, state, lengths, batch_first)
    parts = list(last) if isinstance(last, (list, tuple)) else [last]
    if outputs.shape[:-1] != x.shape[:-1]:  # a wrong layout: report the shapes, not a crash
        return {"outputs": outputs.detach(), "last": [part.detach() for part in parts]}
    total = (outputs * upstream[0]).sum() + sum((part * weight).sum() for part, weight in zip(parts, upstream[1:]))
    total.backward()
    if state is None:
        grad_state = None
    elif isinstance(state, tuple):
        grad_state = [part.grad for part in state]
    else:
        grad_state = state.grad
    return {
        "outputs": outputs.detach(),
        "last": [part.detach() for part in parts],
        "grad_x": x.grad,
        "grad_state": grad_state,
        "grad_params": {name: p.grad for name, p in cell.named_parameters()},
    }


def _two_calls(m, weights, x1, x2):
    cell = nn.GRUCell(x1.shape[-1], weights["weight_hh"].shape[1]).double()
    cell.load_state_dict(weights)
    with torch.no_grad():
        m.rnn_unroll(cell, x1)
        second = m.rnn_unroll(cell, x2)
    return {"outputs": second[0], "last": second[1]}


# --- torch's layers ------------------------------------------------------------------------------


def weights_for(kind, seed):
    rows = KINDS[kind] * HIDDEN
    return {
        "weight_ih": randn(rows, F_IN, seed=seed, scale=0.6),
        "weight_hh": randn(rows, HIDDEN, seed=seed + 1, scale=0.6),
        "bias_ih": randn(rows, seed=seed + 2, scale=0.4),
        "bias_hh": randn(rows, seed=seed + 3, scale=0.4),
    }


def torch_layer(kind, weights, x, h0, lengths, batch_first, upstream):
    """What the learner's unroll must give: torch's layer, on a packed sequence when lengths are given."""
    layer = getattr(nn, kind)(F_IN, HIDDEN, batch_first=batch_first).double()
    layer.load_state_dict({f"{key}_l0": value for key, value in weights.items()})
    x = x.clone().requires_grad_()
    if h0 is None:
        start, leaves = None, []
    elif isinstance(h0, (list, tuple)):
        leaves = [part.clone().requires_grad_() for part in h0]
        start = tuple(leaf.unsqueeze(0) for leaf in leaves)
    else:
        leaves = [h0.clone().requires_grad_()]
        start = leaves[0].unsqueeze(0)
    if lengths is None:
        outputs, last = layer(x, start)
    else:
        packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        packed_out, last = layer(packed, start)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    parts = [part.squeeze(0) for part in (last if isinstance(last, tuple) else (last,))]
    total = (outputs * upstream[0]).sum() + sum((part * weight).sum() for part, weight in zip(parts, upstream[1:]))
    total.backward()
    grad_state = None if h0 is None else ([leaf.grad for leaf in leaves] if isinstance(h0, (list, tuple)) else leaves[0].grad)
    return {
        "outputs": outputs.detach(),
        "last": [part.detach() for part in parts],
        "grad_x": x.grad,
        "grad_state": grad_state,
        "grad_params": {key: getattr(layer, f"{key}_l0").grad for key in weights},
    }


def case_inputs(kind, n, t, seed, batch_first=True, with_h0=True):
    x = randn(*((n, t) if batch_first else (t, n)), F_IN, seed=seed, scale=1.2)
    parts = 2 if kind == "LSTM" else 1
    h0 = [randn(n, HIDDEN, seed=seed + 1 + i) for i in range(parts)]
    h0 = (h0 if parts == 2 else h0[0]) if with_h0 else None
    upstream = [randn(*x.shape[:-1], HIDDEN, seed=seed + 4)] + [randn(n, HIDDEN, seed=seed + 5 + i) for i in range(parts)]
    return x, h0, upstream


def run_both(student, kind, n, t, seed, lengths=None, batch_first=True, with_h0=True):
    weights = weights_for(kind, seed + 10)
    x, h0, upstream = case_inputs(kind, n, t, seed, batch_first, with_h0)
    got = student.run(_unroll, kind, weights, x, h0, lengths, batch_first, upstream)
    want = torch_layer(kind, weights, x, h0, lengths, batch_first, upstream)
    return got, want, (weights, x, h0, upstream)


# --- tests ------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Feed each step the state the previous step returned, starting from h0; with batch_first=False the "
    "time axis is dim 0. Stack the outputs back in the input's layout."
)
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_unroll_matches_torch_layer_from_h0(student, kind, batch_first):
    got, want, (weights, x, h0, upstream) = run_both(student, kind, 3, 5, 100, batch_first=batch_first)
    no_h0 = torch_layer(kind, weights, x, None, None, batch_first, upstream)
    mistakes = {"h0 was ignored: the first step must start from h0": no_h0["outputs"]}
    if kind != "LSTM":  # an LSTM's state is (h, c); its "state not carried" variant is not one formula
        cell = getattr(nn, kind + "Cell")(F_IN, HIDDEN).double()
        cell.load_state_dict(weights)
        with torch.no_grad():
            time_axis = 1 if batch_first else 0
            steps = [cell(x.select(time_axis, t), h0) for t in range(x.shape[time_axis])]
        mistakes["the state was not carried: every step started from h0"] = torch.stack(steps, dim=time_axis)
    assert_close(got["outputs"], want["outputs"], what="outputs", mistakes=mistakes)
    assert_close(got["last"], want["last"], what="final state")


@pytest.mark.points(2)
@pytest.mark.hint("Gradients flow through the state from step to step: keep the state a tensor of the graph (no .detach(), no .data).")
@pytest.mark.parametrize("kind", list(KINDS))
def test_unroll_gradients_match_torch_layer(student, kind):
    got, want, _ = run_both(student, kind, 2, 6, 200)
    for name in ("grad_x", "grad_state", "grad_params"):
        assert_close(got[name], want[name], atol=1e-10, rtol=1e-7, what=name)


@pytest.mark.points(1)
@pytest.mark.hint("h0 = None means the cell starts from zeros: pass None on to the cell (or zeros). One step is a sequence too.")
@pytest.mark.parametrize("kind", list(KINDS))
def test_unroll_without_h0_and_with_one_step(student, kind):
    for n, t in ((1, 1), (4, 3)):
        got, want, _ = run_both(student, kind, n, t, 300 + t, with_h0=False)
        assert_close(got["outputs"], want["outputs"], what=f"outputs of a ({n}, {t}) batch without h0")
        assert_close(got["last"], want["last"], what=f"final state of a ({n}, {t}) batch without h0")


@pytest.mark.points(3)
@pytest.mark.hint(
    "A sequence that has ended keeps its state: at steps t >= length, select the old state for that row "
    "(h and c for an LSTM) and output zeros there."
)
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_unroll_with_lengths_matches_a_packed_sequence(student, kind, batch_first):
    lengths = torch.tensor([6, 2, 5, 1, 6])
    got, want, (weights, x, h0, upstream) = run_both(student, kind, 5, 6, 400, lengths, batch_first)
    unpacked = torch_layer(kind, weights, x, h0, None, batch_first, upstream)
    mask = (torch.arange(6).unsqueeze(1) < lengths).T if batch_first else (torch.arange(6).unsqueeze(1) < lengths)
    assert_close(
        got["outputs"],
        want["outputs"],
        what="outputs with lengths",
        mistakes={
            "outputs at padded steps must be zeros": unpacked["outputs"],
            "outputs at padded steps must be zeros (they repeat the frozen state)": torch.where(
                mask.unsqueeze(-1), want["outputs"], want["last"][0].unsqueeze(1 if batch_first else 0)
            ),
        },
    )
    assert_close(
        got["last"],
        want["last"],
        what="final state with lengths",
        mistakes={"padding steps updated the state: a finished sequence must keep its last state": unpacked["last"]},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Padded steps must not touch the gradient: a finished row's state is passed through unchanged.")
@pytest.mark.parametrize("kind", list(KINDS))
def test_unroll_gradients_with_lengths_match_a_packed_sequence(student, kind):
    lengths = torch.tensor([2, 4, 1])
    got, want, _ = run_both(student, kind, 3, 4, 500, lengths)
    for name in ("grad_x", "grad_state", "grad_params"):
        assert_close(got[name], want[name], atol=1e-10, rtol=1e-7, what=f"{name} with lengths")


@pytest.mark.points(1)
@pytest.mark.hint("Whatever the padding holds, a finished sequence's outputs are zeros and its state is frozen.")
def test_unroll_ignores_what_the_padding_holds(student):
    lengths = torch.tensor([3, 1, 4])
    weights = weights_for("LSTM", 610)
    x, h0, upstream = case_inputs("LSTM", 3, 4, 600)
    noisy = x.clone()
    for row, length in enumerate(lengths.tolist()):
        noisy[row, length:] = randn(4 - length, F_IN, seed=620 + row, scale=50.0)
    clean = student.run(_unroll, "LSTM", weights, x, h0, lengths, True, upstream)
    perturbed = student.run(_unroll, "LSTM", weights, noisy, h0, lengths, True, upstream)
    if not (torch.allclose(clean["outputs"], perturbed["outputs"]) and all(
        torch.allclose(a, b) for a, b in zip(clean["last"], perturbed["last"])
    )):
        fail("changing the padded inputs changed the result: padding must not reach the state or the outputs")
    assert_close(perturbed["grad_params"], clean["grad_params"], atol=1e-10, what="parameter gradients with other padding")


@pytest.mark.points(1)
@pytest.mark.hint("The state belongs to the sequence, not to the cell or the function: every call starts from h0 (or zeros).")
def test_unroll_two_calls_do_not_share_state(student):
    weights = weights_for("GRU", 710)
    x1, x2 = randn(2, 3, F_IN, seed=700, scale=2.0), randn(2, 5, F_IN, seed=701)
    got = student.run(_two_calls, weights, x1, x2)
    want = torch_layer("GRU", weights, x2, None, None, True, [torch.zeros(2, 5, HIDDEN), torch.zeros(2, HIDDEN)])
    if not torch.allclose(got["outputs"], want["outputs"]):
        fail("the second call depends on the first: the state must not be kept between calls")
    assert_close(got["last"], want["last"][0], what="final state of the second call")
