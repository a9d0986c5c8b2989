"""Hidden tests of week 11, positional.py: sinusoidal positions and learned positions.

The sinusoidal table is compared with the formula of "Attention Is All You Need", evaluated entry
by entry with Python's math module at test time (T = 1, odd d, T = 50, d = 64); its classic
variants (sin and cos exchanged, halves instead of interleaving, the exponent written with the
column index or without the 2) are named. LearnedPositions is checked through probes: the output
with a loaded table, the gradient reaching the first T rows only, the ValueError past max_len, and
the registered parameter and its initial spread.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("positional")

SIZES = [(1, 4), (7, 5), (50, 16), (3, 64)]


def formula(T, d, base=10000.0, variant="right"):
    """PE[t, j] entry by entry; `variant` names a classic mistake."""
    rows = []
    for t in range(T):
        row = []
        for j in range(d):
            pair = j - j % 2
            if variant == "column_exponent":
                rate = base ** (j / d)
            elif variant == "pair_index_exponent":
                rate = base ** ((j // 2) / d)
            else:
                rate = base ** (pair / d)
            if variant == "halves":
                half = (d + 1) // 2
                i = j if j < half else j - half
                angle = t / base ** (2 * i / d)
                row.append(math.sin(angle) if j < half else math.cos(angle))
                continue
            even = j % 2 == 0
            if variant == "swapped":
                even = not even
            row.append(math.sin(t / rate) if even else math.cos(t / rate))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32).reshape(T, d)


def _forward(m, max_len, d_model, weight, x):
    module = m.LearnedPositions(max_len, d_model)
    module.load_state_dict({"weight": weight})
    with torch.no_grad():
        return module(x)


def _weight_grad(m, max_len, d_model, weight, x):
    module = m.LearnedPositions(max_len, d_model)
    module.load_state_dict({"weight": weight})
    x = x.clone().requires_grad_()
    out = module(x)
    (out * torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    return [module.weight.grad, x.grad]


def _error_for_length(m, max_len, d_model, steps):
    module = m.LearnedPositions(max_len, d_model)
    try:
        module(torch.zeros(2, steps, d_model))
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


def _parameters(m, max_len, d_model):
    torch.manual_seed(0)
    module = m.LearnedPositions(max_len, d_model)
    return {
        "names": [name for name, _ in module.named_parameters()],
        "shapes": [list(p.shape) for _, p in module.named_parameters()],
        "weight": module.weight.detach().clone(),
    }


# --- sinusoidal ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Columns 2i and 2i+1 share the angle t / 10000^(2i/d): sin in the even column, cos in the odd one. "
    "For an odd d the last column is a sin."
)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_sinusoidal_positions_match_the_formula(student, size):
    T, d = size
    mistakes = {
        "sin and cos exchanged: sin goes in the even columns, cos in the odd ones": formula(T, d, variant="swapped"),
        "sin in the first half and cos in the second: the two must be interleaved column by column": formula(
            T, d, variant="halves"
        ),
    }
    if T > 1:  # position 0 alone has angle 0 at every frequency: a wrong frequency gives the right table
        mistakes["the exponent uses the column index j, so columns 2i and 2i+1 get different frequencies"] = formula(
            T, d, variant="column_exponent"
        )
        mistakes["the exponent is i/d, not 2i/d: the wavelengths grow too slowly"] = formula(
            T, d, variant="pair_index_exponent"
        )
        mistakes["base 1000 used: the base is 10000"] = formula(T, d, base=1000.0)
    assert_close(
        student.sinusoidal_positions(T, d), formula(T, d), what=f"sinusoidal_positions({T}, {d})", mistakes=mistakes
    )


@pytest.mark.points(1)
@pytest.mark.hint("Return a float32 table of shape (T, d); compute the angles in float64 first for accuracy.")
def test_sinusoidal_positions_is_float32_and_position_zero_alternates_0_and_1(student):
    table = student.sinusoidal_positions(6, 8)
    if not isinstance(table, torch.Tensor):
        fail(f"a tensor was expected, got {type(table).__name__}")
    if table.dtype != torch.float32:
        fail(f"dtype {table.dtype}, expected torch.float32")
    assert_close(table[0], torch.tensor([0.0, 1.0] * 4), what="position 0 (sin 0 = 0, cos 0 = 1)")


@pytest.mark.points(1)
@pytest.mark.hint("Edge cases: T = 0 positions gives an empty (0, d) table; d = 1 is a single sin column.")
def test_sinusoidal_positions_edge_sizes(student):
    empty = student.sinusoidal_positions(0, 6)
    assert_close(empty, torch.zeros(0, 6), what="sinusoidal_positions(0, 6)")
    assert_close(student.sinusoidal_positions(5, 1), formula(5, 1), what="sinusoidal_positions(5, 1)")


@pytest.mark.points(1)
@pytest.mark.hint("The base is an argument: the angle for pair i is t / base^(2i/d).")
def test_sinusoidal_positions_other_base(student):
    assert_close(student.sinusoidal_positions(9, 6, base=100.0), formula(9, 6, base=100.0), what="base=100")


# --- learned ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Row t of the table is added to the token at position t (time is dim -2); leading dims broadcast.")
@pytest.mark.parametrize("shape", [(1, 3), (5, 7), (2, 3, 4)], ids=str)
def test_learned_positions_add_the_first_T_rows(student, shape):
    max_len, d_model = 9, 6
    weight = randn(max_len, d_model, seed=1, dtype=torch.float32)
    x = randn(*shape, d_model, seed=2, dtype=torch.float32)
    T = shape[-1]
    mistakes = {
        "the last T rows were added: position t uses row t": x + weight[-T:],
        "only row T was added": x + weight[T],
    }
    assert_close(
        student.run(_forward, max_len, d_model, weight, x),
        x + weight[:T],
        what=f"x of shape {tuple(x.shape)}",
        mistakes=mistakes,
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Only the rows that were used receive a gradient; rows past T get zero, and x gets the output gradient unchanged."
)
def test_learned_positions_gradient_reaches_the_first_T_rows_only(student):
    max_len, d_model = 8, 4
    weight = randn(max_len, d_model, seed=3, dtype=torch.float32)
    x = randn(3, 5, d_model, seed=4, dtype=torch.float32)
    grad_w, grad_x = student.run(_weight_grad, max_len, d_model, weight, x)
    leaf = weight.clone().requires_grad_()
    cotangent = torch.arange(x.numel(), dtype=x.dtype).reshape(x.shape)
    ((x + leaf[:5]) * cotangent).sum().backward()
    assert_close(grad_w, leaf.grad, what="gradient of weight")
    assert_close(grad_x, cotangent, what="gradient of x")


@pytest.mark.points(1)
@pytest.mark.hint("A learned table has no row for a position past max_len: raise ValueError (T = max_len is fine).")
def test_learned_positions_reject_sequences_longer_than_max_len(student):
    raised = student.run(_error_for_length, 6, 4, 7)
    if raised != "ValueError":
        fail(f"a sequence of 7 positions with max_len=6 gave {raised}, expected a ValueError")
    fits = student.run(_error_for_length, 6, 4, 6)
    if fits != "no error":
        fail(f"a sequence of exactly max_len=6 positions gave {fits}")


@pytest.mark.points(1)
@pytest.mark.hint("The table is an nn.Parameter called weight, (max_len, d_model), drawn from a normal with std 0.02.")
def test_learned_positions_weight_is_a_parameter_with_std_0_02(student):
    out = student.run(_parameters, 512, 64)
    if out["names"] != ["weight"] or out["shapes"] != [[512, 64]]:
        fail(f"parameters {out['names']} of shapes {out['shapes']}, expected one 'weight' of shape [512, 64]")
    std = float(out["weight"].std())
    mean = float(out["weight"].mean())
    if abs(std - 0.02) > 0.02 * 0.03 or abs(mean) > 0.001:
        fail(f"initial weight has mean {mean:.4f} and std {std:.4f}, expected N(0, 0.02²)")
