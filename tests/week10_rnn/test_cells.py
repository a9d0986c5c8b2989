"""Hidden tests of week 10, cells.py: RNNCell, LSTMCell and GRUCell against torch's cells.

Every test builds the learner's cell and torch's twin (nn.RNNCell, nn.LSTMCell, nn.GRUCell) from
one seeded state_dict, runs one step with a seeded upstream gradient and compares the new state and
the gradients of the input, the previous state and every parameter. Classic mistakes (the LSTM
gates in the order i, g, f, o; i and f swapped; a forget-gate bias of +1; the GRU's reset gate
applied to h before the matmul or without the bias; z and 1 − z swapped) are recomputed by hand
so that a failure names them.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("cells")

GATES = {"RNNCell": 1, "LSTMCell": 4, "GRUCell": 3}
CASES = {  # name: (batch shape, input size, hidden size)
    "N=1": ((1,), 3, 4),
    "N=7": ((7,), 5, 3),
    "unbatched": ((), 4, 6),
}


def _step(m, kind, sizes, weights, x, state, upstream, options):
    """One step of cell `kind` (from module m) with the given weights; the new state and every gradient."""
    cell = getattr(m, kind)(*sizes, **options).double()
    cell.load_state_dict(weights)
    x = x.clone().requires_grad_()
    if state is None:
        given = None
    elif isinstance(state, (list, tuple)):
        given = tuple(part.clone().requires_grad_() for part in state)
    else:
        given = state.clone().requires_grad_()
    out = cell(x, given)
    parts = list(out) if isinstance(out, (list, tuple)) else [out]
    total = sum((part * weight).sum() for part, weight in zip(parts, upstream))
    total.backward()
    if given is None:
        state_grads = None
    elif isinstance(given, tuple):
        state_grads = [part.grad for part in given]
    else:
        state_grads = given.grad
    return {
        "out": [part.detach() for part in parts],
        "grad_x": x.grad,
        "grad_state": state_grads,
        "grad_params": {name: p.grad for name, p in cell.named_parameters()},
    }


def _layout(m, kind, input_size, hidden_size):
    torch.manual_seed(0)
    cell = getattr(m, kind)(input_size, hidden_size)
    return {
        "names": sorted(name for name, _ in cell.named_parameters()),
        "shapes": {name: list(p.shape) for name, p in cell.named_parameters()},
        "dtypes": sorted({str(p.dtype) for p in cell.parameters()}),
        "largest": max(float(p.detach().abs().max()) for p in cell.parameters()),
        "spread": min(float(p.detach().std()) for p in cell.parameters()),
        "buffers": sorted(name for name, _ in cell.named_buffers()),
    }


def _two_calls(m, kind, sizes, weights, x1, x2):
    cell = getattr(m, kind)(*sizes).double()
    cell.load_state_dict(weights)
    with torch.no_grad():
        first = cell(x1)
        second = cell(x2)
        fresh = getattr(m, kind)(*sizes).double()
        fresh.load_state_dict(weights)
        alone = fresh(x2)
    as_list = lambda out: list(out) if isinstance(out, (list, tuple)) else [out]
    return {"first": as_list(first), "second": as_list(second), "alone": as_list(alone)}


# --- inputs and hand-computed mistakes -----------------------------------------------------------


def weights_for(kind, input_size, hidden_size, seed):
    rows = GATES[kind] * hidden_size
    return {
        "weight_ih": randn(rows, input_size, seed=seed, scale=0.6),
        "weight_hh": randn(rows, hidden_size, seed=seed + 1, scale=0.6),
        "bias_ih": randn(rows, seed=seed + 2, scale=0.5),
        "bias_hh": randn(rows, seed=seed + 3, scale=0.5),
    }


def inputs_for(kind, case, seed, with_state=True):
    batch, input_size, hidden_size = CASES[case]
    x = randn(*batch, input_size, seed=seed, scale=1.5)
    parts = 2 if kind == "LSTMCell" else 1
    state = [randn(*batch, hidden_size, seed=seed + 1 + i) for i in range(parts)]
    upstream = [randn(*batch, hidden_size, seed=seed + 5 + i) for i in range(parts)]
    if not with_state:
        state = None
    elif parts == 1:
        state = state[0]
    return (input_size, hidden_size), x, state, upstream


def run_both(student, kind, case, seed, with_state=True, **options):
    sizes, x, state, upstream = inputs_for(kind, case, seed, with_state)
    weights = weights_for(kind, *sizes, seed + 10)
    got = student.run(_step, kind, sizes, weights, x, state, upstream, options)
    want = _step(nn, kind, sizes, weights, x, state, upstream, options)
    return got, want, (weights, x, state)


def projections(weights, x, h):
    return x @ weights["weight_ih"].T + weights["bias_ih"], h @ weights["weight_hh"].T + weights["bias_hh"]


def lstm_by_hand(weights, x, state, order="ifgo", forget_bias=0.0):
    h, c = state
    from_x, from_h = projections(weights, x, h)
    blocks = dict(zip(order, (from_x + from_h).chunk(4, dim=-1)))
    c_new = torch.sigmoid(blocks["f"] + forget_bias) * c + torch.sigmoid(blocks["i"]) * torch.tanh(blocks["g"])
    return [torch.sigmoid(blocks["o"]) * torch.tanh(c_new), c_new]


def gru_by_hand(weights, x, h, variant):
    from_x, from_h = projections(weights, x, h)
    xr, xz, xn = from_x.chunk(3, dim=-1)
    hr, hz, hn = from_h.chunk(3, dim=-1)
    reset = torch.sigmoid(xr + hr)
    update = torch.sigmoid(xz + hz)
    w_hn = weights["weight_hh"].chunk(3, dim=0)[2]
    b_hn = weights["bias_hh"].chunk(3, dim=0)[2]
    if variant == "reset before matmul":
        candidate = torch.tanh(xn + (reset * h) @ w_hn.T + b_hn)
    elif variant == "reset without bias":
        candidate = torch.tanh(xn + reset * (h @ w_hn.T) + b_hn)
    else:
        candidate = torch.tanh(xn + reset * hn)
    if variant == "z swapped":
        return [update * candidate + (1 - update) * h]
    if variant == "r and z swapped":
        reset, update = update, reset
        candidate = torch.tanh(xn + reset * hn)
    return [(1 - update) * candidate + update * h]


# --- layout --------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Name and shape the parameters as torch does (weight_ih, weight_hh, bias_ih, bias_hh), one block of "
    "hidden_size rows per gate; weights are stored (out, in) and start uniform in ±1/sqrt(hidden_size)."
)
@pytest.mark.parametrize("kind", list(GATES))
def test_cell_parameters_have_torch_names_shapes_and_init_range(student, kind):
    got = student.run(_layout, kind, 5, 7)
    want = _layout(nn, kind, 5, 7)
    if got["names"] != want["names"]:
        fail(f"parameters {got['names']}, expected {want['names']} (so torch's state_dict loads)")
    for name, shape in want["shapes"].items():
        if got["shapes"][name] != shape:
            fail(f"{name} has shape {tuple(got['shapes'][name])}, expected {tuple(shape)} for input_size 5, hidden_size 7")
    if got["dtypes"] != ["torch.float32"]:
        fail(f"parameters of dtype {got['dtypes']}, expected float32 (torch's default)")
    if got["buffers"]:
        fail(f"unexpected buffers {got['buffers']}: a cell keeps no state between calls")
    bound = 1 / math.sqrt(7)
    if got["largest"] > bound + 1e-6:
        fail(f"a parameter reaches {got['largest']:.3f}, beyond ±1/sqrt(hidden_size) = ±{bound:.3f}")
    if got["spread"] < 0.05:
        fail("a parameter is (nearly) constant: every parameter starts uniform in ±1/sqrt(hidden_size)")


# --- RNN -------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint("h' = act(W_ih x + b_ih + W_hh h + b_hh): both projections, both biases, then the nonlinearity asked for.")
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("case", list(CASES))
def test_rnn_cell_matches_torch(student, case, nonlinearity):
    got, want, (weights, x, h) = run_both(student, "RNNCell", case, 100, nonlinearity=nonlinearity)
    from_x, from_h = projections(weights, x, h)
    other = torch.relu if nonlinearity == "tanh" else torch.tanh
    assert_close(
        got["out"],
        want["out"],
        what=f"h' ({nonlinearity})",
        mistakes={
            f"the wrong nonlinearity: {nonlinearity} was asked for": [other(from_x + from_h)],
            "bias_hh is missing from the pre-activation": [getattr(torch, nonlinearity)(from_x + from_h - weights["bias_hh"])],
            "the previous state h was ignored": [getattr(torch, nonlinearity)(from_x + weights["bias_hh"])],
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("Build h' from torch operations on x, h and the parameters, so autograd reaches all of them.")
@pytest.mark.parametrize("case", ["N=1", "N=7"])
def test_rnn_cell_gradients_match_torch(student, case):
    got, want, _ = run_both(student, "RNNCell", case, 200)
    for name in ("grad_x", "grad_state", "grad_params"):
        assert_close(got[name], want[name], atol=1e-10, rtol=1e-7, what=name)


@pytest.mark.points(1)
@pytest.mark.hint("A missing state means zeros of shape (N, hidden_size) (or (hidden_size,) for one example).")
@pytest.mark.parametrize("case", ["N=7", "unbatched"])
def test_rnn_cell_without_state_starts_from_zeros(student, case):
    got, want, _ = run_both(student, "RNNCell", case, 300, with_state=False)
    assert_close(got["out"], want["out"], what="h' from a None state")
    assert_close(got["grad_params"], want["grad_params"], atol=1e-10, rtol=1e-7, what="grad_params from a None state")


# --- LSTM ------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "torch stacks the four gates as input, forget, cell (g), output; g goes through tanh, the others "
    "through a sigmoid; c' = f c + i g and h' = o tanh(c'). Return (h', c')."
)
@pytest.mark.parametrize("case", list(CASES))
def test_lstm_cell_matches_torch(student, case):
    got, want, (weights, x, state) = run_both(student, "LSTMCell", case, 400)
    right = lstm_by_hand(weights, x, state)
    assert_close(
        got["out"],
        want["out"],
        what="(h', c')",
        mistakes={
            "the gates are in the order i, g, f, o: torch's order is i, f, g, o": lstm_by_hand(weights, x, state, "igfo"),
            "the input and forget gates are swapped (f, i, g, o)": lstm_by_hand(weights, x, state, "figo"),
            "the gates are in the order i, f, o, g: torch's order is i, f, g, o": lstm_by_hand(weights, x, state, "ifog"),
            "a forget-gate bias of +1 was added: torch's cell adds nothing": lstm_by_hand(weights, x, state, forget_bias=1.0),
            "(c', h') returned: nn.LSTMCell returns (h', c')": right[::-1],
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("h' and c' both depend on x, h, c and every parameter; build them from torch operations only.")
@pytest.mark.parametrize("case", ["N=1", "N=7"])
def test_lstm_cell_gradients_match_torch(student, case):
    got, want, _ = run_both(student, "LSTMCell", case, 500)
    for name in ("grad_x", "grad_state", "grad_params"):
        assert_close(got[name], want[name], atol=1e-10, rtol=1e-7, what=name)


@pytest.mark.points(1)
@pytest.mark.hint("A missing state means h = 0 and c = 0, each of shape (N, hidden_size).")
@pytest.mark.parametrize("case", ["N=1", "unbatched"])
def test_lstm_cell_without_state_starts_from_zeros(student, case):
    got, want, _ = run_both(student, "LSTMCell", case, 600, with_state=False)
    assert_close(got["out"], want["out"], what="(h', c') from a None state")


@pytest.mark.points(1)
@pytest.mark.hint("With h = c = 0 the cell state is i ⊙ g: which activation does each of i and g go through?")
def test_lstm_cell_activations_on_large_preactivations(student):
    sizes, x, state, upstream = inputs_for("LSTMCell", "N=7", 650)
    weights = {key: value * 8 for key, value in weights_for("LSTMCell", *sizes, 660).items()}
    got = student.run(_step, "LSTMCell", sizes, weights, x, state, upstream, {})
    want = _step(nn, "LSTMCell", sizes, weights, x, state, upstream, {})
    h, c = state
    from_x, from_h = projections(weights, x, h)
    i, f, g, o = (from_x + from_h).chunk(4, dim=-1)
    swapped_c = torch.sigmoid(f) * c + torch.tanh(i) * torch.sigmoid(g)
    assert_close(
        got["out"][1],
        want["out"][1],
        what="c'",
        mistakes={"tanh and sigmoid swapped between the input gate i and the candidate g": swapped_c},
    )
    assert_close(
        got["out"][0],
        want["out"][0],
        what="h'",
        mistakes={"h' = o ⊙ c' misses the tanh of the cell state": torch.sigmoid(o) * want["out"][1]},
    )


# --- GRU -------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "torch's gate order is r, z, n; r multiplies the whole hidden projection of n (W_hn h + b_hn), "
    "and h' = (1 - z) n + z h."
)
@pytest.mark.parametrize("case", list(CASES))
def test_gru_cell_matches_torch(student, case):
    got, want, (weights, x, h) = run_both(student, "GRUCell", case, 700)
    assert_close(
        got["out"],
        want["out"],
        what="h'",
        mistakes={
            "the reset gate was applied to h before the matmul (r ⊙ h, then W_hn): torch applies it to W_hn h + b_hn": gru_by_hand(
                weights, x, h, "reset before matmul"
            ),
            "the reset gate left b_hn out: torch multiplies r with W_hn h + b_hn": gru_by_hand(weights, x, h, "reset without bias"),
            "z and 1 - z are swapped: torch keeps z of the old state": gru_by_hand(weights, x, h, "z swapped"),
            "the r and z blocks are swapped: torch's order is r, z, n": gru_by_hand(weights, x, h, "r and z swapped"),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("h' depends on x, h and every parameter; build it from torch operations only.")
@pytest.mark.parametrize("case", ["N=1", "N=7"])
def test_gru_cell_gradients_match_torch(student, case):
    got, want, _ = run_both(student, "GRUCell", case, 800)
    for name in ("grad_x", "grad_state", "grad_params"):
        assert_close(got[name], want[name], atol=1e-10, rtol=1e-7, what=name)


@pytest.mark.points(1)
@pytest.mark.hint("A missing state means zeros of shape (N, hidden_size) (or (hidden_size,) for one example).")
@pytest.mark.parametrize("case", ["N=7", "unbatched"])
def test_gru_cell_without_state_starts_from_zeros(student, case):
    got, want, _ = run_both(student, "GRUCell", case, 900, with_state=False)
    assert_close(got["out"], want["out"], what="h' from a None state")


# --- no memory ---------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.hint("The state belongs to the sequence, not the module: a call without a state starts from zeros every time.")
@pytest.mark.parametrize("kind", list(GATES))
def test_cells_do_not_remember_state_between_calls(student, kind):
    sizes = (4, 5)
    weights = weights_for(kind, *sizes, 1000)
    x1, x2 = randn(3, 4, seed=1001, scale=2.0), randn(3, 4, seed=1002)
    got = student.run(_two_calls, kind, sizes, weights, x1, x2)
    if not all(torch.allclose(a, b) for a, b in zip(got["second"], got["alone"])):
        fail("the second call depends on the first: a call with no state must start from zeros")
    want = _two_calls(nn, kind, sizes, weights, x1, x2)
    assert_close(got["second"], want["second"], what="output of a second call without a state")
