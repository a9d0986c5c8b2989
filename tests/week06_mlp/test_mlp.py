"""Hidden tests of week 6, mlp.py: an MLP module whose parameters and buffers are registered, and save/load.

The forward pass is checked by loading a seeded state_dict (the documented keys "layers.{i}.weight",
"layers.{i}.bias", "input_mean", "input_std") into the learner's MLP and comparing its eval-mode
output with the same network written with F.linear and torch's activations, on a single row,
odd sizes and extra leading dims. Registration is checked through what nn.Module sees:
parameters(), state_dict(), named_buffers(), .double(), train()/eval(). Saving writes to a file in
a temporary folder inside the probe (the sandbox has a private /tmp) and loads it back.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("mlp")

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu}
SIZES = [[3, 8, 4], [5, 7, 6, 2], [4, 3]]


def seeded_state(sizes, seed):
    """A float32 state_dict for MLP(sizes) under the documented keys, with non-trivial buffers."""
    state = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        state[f"layers.{i}.weight"] = randn(b, a, seed=seed + 2 * i, dtype=torch.float32, scale=0.7)
        state[f"layers.{i}.bias"] = randn(b, seed=seed + 2 * i + 1, dtype=torch.float32, scale=0.5)
    state["input_mean"] = randn(sizes[0], seed=seed + 100, dtype=torch.float32)
    state["input_std"] = 0.5 + randn(sizes[0], seed=seed + 101, dtype=torch.float32).abs()
    return state


def torch_forward(state, x, activation, last_activation=False, standardize=True):
    """The MLP written with F.linear: standardize, then Linear/act pairs, no activation after the last layer."""
    n = sum(1 for key in state if key.endswith(".weight"))
    h = (x - state["input_mean"]) / state["input_std"] if standardize else x
    for i in range(n):
        h = F.linear(h, state[f"layers.{i}.weight"], state[f"layers.{i}.bias"])
        if i < n - 1 or last_activation:
            h = ACTIVATIONS[activation](h)
    return h


def parameter_count(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def _forward_with_state(m, sizes, activation, dropout, state, x):
    model = m.MLP(sizes, activation=activation, dropout=dropout)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return model(x)


def _structure(m, sizes):
    model = m.MLP(sizes)
    names = [name for name, _ in model.named_parameters()]
    out = {
        "count": sum(p.numel() for p in model.parameters()),
        "param_names": names,
        "state_keys": list(model.state_dict()),
        "buffer_names": [name for name, _ in model.named_buffers()],
    }
    model.double()
    out["buffer_dtypes_after_double"] = [str(b.dtype) for _, b in model.named_buffers()]
    return out


def _modes(m, x):
    model = m.MLP([4, 16, 16, 3], dropout=0.5)
    model.eval()
    eval_flags = [module.training for module in model.modules()]
    with torch.no_grad():
        eval_outputs = [model(x), model(x)]
    model.train()
    train_flags = [module.training for module in model.modules()]
    torch.manual_seed(0)
    with torch.no_grad():
        train_outputs = [model(x), model(x)]
    return {"eval_flags": eval_flags, "train_flags": train_flags, "eval": eval_outputs, "train": train_outputs}


def _error_of(m, sizes, activation):
    try:
        m.MLP(sizes, activation=activation)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


def _fresh_instance(m, sizes, x):
    torch.manual_seed(1)
    a = m.MLP(sizes)
    with torch.no_grad():
        a.input_mean.normal_()
    torch.manual_seed(2)
    b = m.MLP(sizes)
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    with torch.no_grad():
        return {"keys_a": list(a.state_dict()), "keys_b": list(b.state_dict()), "a": a(x), "b": b(x)}


def _round_trip(m, sizes, activation, dropout, state, x):
    import os
    import tempfile

    model = m.MLP(sizes, activation=activation, dropout=dropout)
    model.load_state_dict(state)
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mlp.pt")
        m.save(model, path)
        loaded = m.load(path)
        try:
            torch.load(path, weights_only=True)
            weights_only = ""
        except Exception as error:  # noqa: BLE001 - reported as a message
            weights_only = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    if not isinstance(loaded, torch.nn.Module):
        return {"kind": type(loaded).__name__}
    loaded.eval()
    with torch.no_grad():
        before, after = model(x), loaded(x)
    return {
        "kind": type(loaded).__name__,
        "before": before,
        "after": after,
        "state": {key: value for key, value in loaded.state_dict().items()},
        "weights_only": weights_only,
        "config": getattr(loaded, "config", None),
    }


# --- structure ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "nn.Module finds sub-modules only among its attributes (an nn.Module, nn.ModuleList or nn.Sequential): "
    "how does nn.Module discover the layers you built? A Linear(a, b) has a·b + b parameters."
)
@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_mlp_parameter_count_equals_the_formula(student, sizes):
    out = student.run(_structure, sizes)
    want = parameter_count(sizes)
    if out["count"] == 0:
        fail(f"MLP({sizes}).parameters() is empty: the optimizer sees 0 parameters (layers kept in a Python list?)")
    if out["count"] != want:
        fail(f"MLP({sizes}) has {out['count']} parameters, expected {want} (sum over layers of in·out + out)")


@pytest.mark.points(2)
@pytest.mark.hint(
    "register_buffer makes a tensor part of the module's state (saved, moved by .to()/.double()) without "
    "making it a parameter the optimizer would train."
)
def test_mlp_buffers_are_saved_and_moved_but_are_not_parameters(student, reference):
    sizes = [5, 7, 6, 2]
    out = student.run(_structure, sizes)
    want = reference.run(_structure, sizes)
    params = set(out["param_names"])
    if params & {"input_mean", "input_std"}:
        fail("input_mean / input_std are parameters: the optimizer would train them; register them as buffers")
    if set(out["buffer_names"]) != {"input_mean", "input_std"}:
        fail(f"buffers {sorted(out['buffer_names'])}, expected ['input_mean', 'input_std'] (registered with register_buffer)")
    if sorted(out["state_keys"]) != sorted(want["state_keys"]):
        fail(f"state_dict keys {sorted(out['state_keys'])}, expected {sorted(want['state_keys'])}")
    if set(out["buffer_dtypes_after_double"]) != {"torch.float64"}:
        fail(f"after model.double() the buffers have dtypes {out['buffer_dtypes_after_double']}, expected float64")


@pytest.mark.points(1)
@pytest.mark.hint("An MLP needs at least an input and an output size; only the listed activations exist. Raise ValueError otherwise.")
def test_mlp_rejects_too_few_sizes_and_unknown_activations(student):
    for sizes, activation in (([4], "relu"), ([], "relu"), ([4, 3], "swish")):
        raised = student.run(_error_of, sizes, activation)
        if raised != "ValueError":
            fail(f"MLP({sizes}, activation={activation!r}) gave {raised}, expected a ValueError")


# --- forward --------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Standardize the input with the buffers, then Linear, activation, Linear, activation, ..., Linear: "
    "the last layer's output is returned as it is (scores can be negative)."
)
@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_forward_matches_torch(student, sizes, activation):
    state = seeded_state(sizes, seed=3)
    for x_shape in ((1, sizes[0]), (7, sizes[0]), (2, 3, sizes[0])):
        x = randn(*x_shape, seed=4, dtype=torch.float32)
        want = torch_forward(state, x, activation)
        mistakes = {"the input was not standardized with input_mean and input_std": torch_forward(state, x, activation, standardize=False)}
        mistakes["the activation is applied after the last layer too"] = torch_forward(state, x, activation, last_activation=True)
        assert_close(
            student.run(_forward_with_state, sizes, activation, 0.0, state, x),
            want,
            what=f"MLP({sizes}, {activation!r}) on x of shape {x_shape}",
            mistakes=mistakes,
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Use nn.Dropout as a sub-module: model.eval() reaches every registered child, and dropout then does nothing. "
    "F.dropout(x, p) without training=... is active even in eval mode."
)
def test_mlp_eval_reaches_every_child_and_turns_dropout_off(student):
    sizes = [4, 16, 16, 3]
    x = randn(6, 4, seed=5, dtype=torch.float32)
    out = student.run(_modes, x)
    if any(out["eval_flags"]):
        fail("after model.eval() some sub-module is still in training mode")
    if not all(out["train_flags"]):
        fail("after model.train() some sub-module is still in eval mode")
    if not torch.equal(out["eval"][0], out["eval"][1]):
        fail("two eval-mode forward passes of MLP(dropout=0.5) differ: dropout is still active in eval mode")
    state = seeded_state(sizes, seed=6)
    assert_close(
        student.run(_forward_with_state, sizes, "relu", 0.5, state, x),
        torch_forward(state, x, "relu"),
        what="eval-mode output of MLP(dropout=0.5)",
    )


@pytest.mark.points(1)
@pytest.mark.hint("In training mode, dropout zeroes hidden units at random (and rescales the rest by 1/(1-p)).")
def test_mlp_dropout_is_active_in_training_mode(student):
    x = randn(6, 4, seed=7, dtype=torch.float32)
    out = student.run(_modes, x)
    if torch.equal(out["train"][0], out["train"][1]):
        fail("two training-mode forward passes of MLP(dropout=0.5) are identical: dropout is not applied")
    if torch.equal(out["train"][0], out["eval"][0]):
        fail("MLP(dropout=0.5) gives the same output in training and eval mode: dropout is not applied")


# --- state_dict, save, load -----------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.hint(
    "A state_dict holds every parameter and buffer under its attribute path; any MLP of the same sizes has "
    "the same keys, so load_state_dict(strict=True) accepts it."
)
@pytest.mark.parametrize("sizes", [[3, 8, 4], [4, 3]], ids=str)
def test_state_dict_loads_into_a_fresh_instance(student, sizes):
    x = randn(5, sizes[0], seed=8, dtype=torch.float32)
    out = student.run(_fresh_instance, sizes, x)
    if out["keys_a"] != out["keys_b"]:
        fail(f"two MLP({sizes}) have different state_dict keys: {out['keys_a']} vs {out['keys_b']}")
    assert_close(out["b"], out["a"], rtol=0, atol=0, what="output of a fresh MLP after load_state_dict")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "save must record everything load needs: the architecture (sizes, activation, dropout) and the state_dict "
    "(parameters and buffers); load builds a fresh MLP from the first and loads the second into it."
)
@pytest.mark.parametrize(("sizes", "activation", "dropout"), [([3, 8, 4], "relu", 0.0), ([5, 7, 6, 2], "tanh", 0.3), ([4, 3], "gelu", 0.0)], ids=str)
def test_save_then_load_gives_identical_outputs(student, sizes, activation, dropout):
    state = seeded_state(sizes, seed=9)
    x = randn(2, 3, sizes[0], seed=10, dtype=torch.float32)
    out = student.run(_round_trip, sizes, activation, dropout, state, x)
    if out["kind"] != "MLP":
        fail(f"load returned a {out['kind']}, expected an MLP")
    if out["config"] is not None and isinstance(out["config"], dict) and out["config"].get("activation") not in (None, activation):
        fail(f"the loaded MLP has activation {out['config'].get('activation')!r}, expected {activation!r}: save the config too")
    for key, value in state.items():
        if key not in out["state"]:
            fail(f"the loaded MLP has no {key!r} in its state_dict")
        assert_close(out["state"][key], value, rtol=0, atol=0, what=f"loaded {key}")
    assert_close(out["after"], out["before"], rtol=0, atol=0, what="output after save and load")


@pytest.mark.points(1)
@pytest.mark.hint(
    "torch.save(model, path) pickles the class itself, and torch.load(weights_only=True) refuses to run pickled code: "
    "save a dict of plain data (the state_dict and the config) instead."
)
def test_saved_file_loads_with_weights_only(student):
    sizes = [3, 8, 4]
    out = student.run(_round_trip, sizes, "relu", 0.0, seeded_state(sizes, seed=11), randn(2, 3, seed=12, dtype=torch.float32))
    if out.get("weights_only"):
        fail(f"torch.load(path, weights_only=True) cannot read the saved file ({out['weights_only']})")
