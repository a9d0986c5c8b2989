"""Hidden tests of week 9, networks.py: a 1×1 convolution, ResidualBlock and FCNClassifier.

conv1x1 is compared with F.conv2d on a (C_out, C_in, 1, 1) kernel and with nn.Linear applied to
channels-last pixels. The modules are built in a probe; their parameter counts are checked
against the formula of the docstring, their output shapes on 28×28, 32×32, 57×41 and 1×1 inputs,
and their forward pass against the same computation written here with F.conv2d and F.batch_norm
from the module's own state_dict (in train mode, where batch norm uses the batch's statistics and
updates its running ones, and in eval mode, where it uses the running ones).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, randn

pytestmark = pytest.mark.exercise("networks")


# --- conv1x1 ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("A 1×1 convolution mixes the channels of each pixel: out[n, :, i, j] = weight @ x[n, :, i, j] + bias.")
@pytest.mark.parametrize("shape, out_ch", [((1, 3, 1, 1), 5), ((2, 4, 7, 5), 6), ((3, 6, 4, 4), 2)], ids=str)
def test_conv1x1_matches_F_conv2d_with_a_1x1_kernel(student, shape, out_ch):
    x = randn(*shape, seed=1)
    weight = randn(out_ch, shape[1], seed=2)
    bias = randn(out_ch, seed=3)
    want = F.conv2d(x, weight[:, :, None, None], bias)
    assert_close(student.conv1x1(x, weight, bias), want, what=f"conv1x1 on {shape}")
    assert_close(student.conv1x1(x, weight, None), F.conv2d(x, weight[:, :, None, None]), what="conv1x1 without bias")


@pytest.mark.points(1)
@pytest.mark.hint("The bias belongs to an output channel: it is added to every pixel of that channel.")
def test_conv1x1_is_a_linear_layer_at_every_pixel(student):
    x = randn(2, 4, 3, 5, seed=4)
    linear = nn.Linear(4, 3).double()
    with torch.no_grad():
        linear.weight.copy_(randn(3, 4, seed=5))
        linear.bias.copy_(randn(3, seed=6))
        want = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    wrong_bias = F.conv2d(x, linear.weight.detach()[:, :, None, None]) + linear.bias.detach().view(1, 1, 1, -1)[..., :1]
    assert_close(
        student.conv1x1(x, linear.weight.detach(), linear.bias.detach()),
        want,
        what="conv1x1 vs nn.Linear on channels-last pixels",
        mistakes={"the bias was broadcast along the wrong dim: one bias per output channel": wrong_bias},
    )


# --- modules: probes ----------------------------------------------------------------------------


def _structure(m, cls_name, args):
    module = getattr(m, cls_name)(*args)
    return {
        "count": sum(p.numel() for p in module.parameters()),
        "keys": sorted(module.state_dict()),
        "shapes": {k: list(v.shape) for k, v in module.state_dict().items()},
        "linear": sum(isinstance(sub, nn.Linear) for sub in module.modules()),
    }


def _randomized_run(m, cls_name, args, xs, seed):
    """Build the module, give every parameter and buffer seeded values, run train then eval passes."""
    torch.manual_seed(0)
    module = getattr(m, cls_name)(*args).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(module.state_dict().items()):
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=g, dtype=tensor.dtype) + 0.5)
            elif name.endswith("weight") and tensor.dim() == 1:
                tensor.copy_(torch.rand(tensor.shape, generator=g, dtype=tensor.dtype) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=g, dtype=tensor.dtype) * 0.3)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    module.train()
    train_out = module(xs[0]).detach()
    after = {k: v.clone() for k, v in module.state_dict().items()}
    module.eval()
    with torch.no_grad():
        eval_out = module(xs[1])
    after_eval = {k: v.clone() for k, v in module.state_dict().items()}
    return {"state": state, "train": train_out, "after": after, "eval": eval_out, "after_eval": after_eval}


def _zero_residual(m, channels, x):
    block = m.ResidualBlock(channels, channels, 1).double()
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
    block.train()
    train_out = block(x).detach()
    block.eval()
    with torch.no_grad():
        eval_out = block(x)
    return {"train": train_out, "eval": eval_out}


def _output_shapes(m, args, sizes, batch):
    torch.manual_seed(0)
    model = m.FCNClassifier(*args)
    model.eval()
    shapes = []
    with torch.no_grad():
        for h, w in sizes:
            shapes.append(list(model(torch.randn(batch, args[0], h, w)).shape))
    return shapes


def _head_scores(m, args, x):
    torch.manual_seed(0)
    model = m.FCNClassifier(*args).double()
    model.eval()
    seen = {}
    model.block2.register_forward_hook(lambda module, inputs, output: seen.setdefault("features", output.detach()))
    with torch.no_grad():
        out = model(x)
    return {
        "out": out,
        "features": seen["features"],
        "weight": model.head.weight.detach().clone(),
        "bias": model.head.bias.detach().clone(),
    }


def _batch_independence(m, args, x):
    torch.manual_seed(0)
    model = m.FCNClassifier(*args).double()
    model.train()
    train_together = model(x).detach()
    train_alone = model(x[:2]).detach()
    model.eval()
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
    stats = model.stem[1].running_mean.clone()
    return {"together": together, "alone": alone, "train_together": train_together[:2], "train_alone": train_alone,
            "tracked": stats}


# --- the same computations, written with torch's functional ops from a state_dict ----------------


def bn(x, state, prefix, training):
    return F.batch_norm(
        x,
        state[prefix + "running_mean"].clone(),
        state[prefix + "running_var"].clone(),
        state[prefix + "weight"],
        state[prefix + "bias"],
        training=training,
    )


def block_by_hand(x, state, stride, training, prefix="", relu_before_sum=False, final_relu=True):
    out = F.relu(bn(F.conv2d(x, state[prefix + "conv1.weight"], None, stride, 1), state, prefix + "bn1.", training))
    out = bn(F.conv2d(out, state[prefix + "conv2.weight"], None, 1, 1), state, prefix + "bn2.", training)
    if prefix + "shortcut.0.weight" in state:
        short = bn(F.conv2d(x, state[prefix + "shortcut.0.weight"], None, stride), state, prefix + "shortcut.1.", training)
    else:
        short = x
    if relu_before_sum:
        return F.relu(out) + short
    return F.relu(out + short) if final_relu else out + short


def running_after_one_batch(state, prefix, x):
    """running_mean, running_var of a BatchNorm2d after one training batch x."""
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=True)
    return 0.9 * state[prefix + "running_mean"] + 0.1 * mean, 0.9 * state[prefix + "running_var"] + 0.1 * var


def block_params(in_ch, out_ch, stride):
    count = 9 * in_ch * out_ch + 9 * out_ch * out_ch + 2 * 2 * out_ch
    if in_ch != out_ch or stride != 1:
        count += in_ch * out_ch + 2 * out_ch
    return count


def fcn_params(in_channels, num_classes, width):
    stem = 9 * in_channels * width + 2 * width
    head = 2 * width * num_classes + num_classes
    return stem + block_params(width, width, 1) + block_params(width, 2 * width, 2) + head


BLOCKS = [(8, 8, 1), (4, 8, 1), (6, 6, 2), (3, 5, 2)]


# --- ResidualBlock ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Two 3×3 convolutions without bias (batch norm follows them), two batch norms with a weight and a bias "
    "per channel, and a projection (1×1 conv + batch norm) only when the channels or the stride change."
)
@pytest.mark.parametrize("args", BLOCKS, ids=lambda a: "in{}_out{}_stride{}".format(*a))
def test_residual_block_parameter_count_equals_the_formula(student, args):
    got = student.run(_structure, "ResidualBlock", args)
    want = block_params(*args)
    if got["count"] != want:
        with_bias = want + 2 * args[1] + (args[1] if "shortcut.0.weight" in got["keys"] else 0)
        if got["count"] == with_bias:
            fail(f"{got['count']} parameters, expected {want}: the convolutions have a bias, which batch norm cancels")
        if args[0] != args[1] or args[2] != 1:
            if "shortcut.0.weight" not in got["keys"]:
                fail(f"{got['count']} parameters, expected {want}: a projection shortcut is needed when channels or stride change")
        elif "shortcut.0.weight" in got["keys"]:
            fail(f"{got['count']} parameters, expected {want}: the shortcut must be the identity when nothing changes")
        fail(f"ResidualBlock{args} has {got['count']} parameters, expected {want}")


@pytest.mark.points(3)
@pytest.mark.hint(
    "relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)): the stride is in conv1 and in the projection; "
    "the last ReLU comes after the sum. Name the layers as the docstring does."
)
@pytest.mark.parametrize("args, shape", [((4, 4, 1), (1, 4, 5, 5)), ((3, 5, 2), (2, 3, 7, 6)), ((6, 6, 2), (3, 6, 9, 9))], ids=str)
def test_residual_block_forward_in_train_and_eval_mode(student, args, shape):
    xs = [randn(*shape, seed=10), randn(*shape, seed=11)]
    got = student.run(_randomized_run, "ResidualBlock", args, xs, 12)
    state = got["state"]
    want_keys = sorted(_structure(_Reference, "ResidualBlock", args)["keys"])
    if sorted(state) != want_keys:
        fail(f"state_dict keys {sorted(state)}, expected {want_keys} (name the layers as the docstring does)")
    stride = args[2]
    want_train = block_by_hand(xs[0], state, stride, True)
    assert_close(
        got["train"],
        want_train,
        what="ResidualBlock output in train mode",
        mistakes={
            "ReLU applied before adding the shortcut: it comes after the sum": block_by_hand(
                xs[0], state, stride, True, relu_before_sum=True
            ),
            "no ReLU after the sum": block_by_hand(xs[0], state, stride, True, final_relu=False),
        },
    )
    mean, var = running_after_one_batch(state, "bn1.", F.conv2d(xs[0], state["conv1.weight"], None, stride, 1))
    assert_close(got["after"]["bn1.running_mean"], mean, what="bn1.running_mean after one training batch")
    assert_close(got["after"]["bn1.running_var"], var, what="bn1.running_var after one training batch")
    assert_close(
        got["eval"],
        block_by_hand(xs[1], got["after"], stride, False),
        what="ResidualBlock output in eval mode",
        mistakes={"eval mode used the batch's statistics": block_by_hand(xs[1], got["after"], stride, True)},
    )


@pytest.mark.points(2)
@pytest.mark.hint("With bn2's weight and bias at zero the residual branch outputs zeros; what is left is the shortcut, then the ReLU.")
@pytest.mark.parametrize("shape", [(1, 3, 4, 4), (2, 5, 7, 3)], ids=str)
def test_residual_block_with_zero_residual_weights_is_relu_of_the_identity(student, shape):
    x = randn(*shape, seed=20)
    got = student.run(_zero_residual, shape[1], x)
    for mode in ("train", "eval"):
        assert_close(
            got[mode],
            F.relu(x),
            what=f"ResidualBlock({shape[1]}, {shape[1]}, 1) with zero bn2 weights, {mode} mode",
            mistakes={"no ReLU after the sum": x},
        )


@pytest.mark.points(1)
@pytest.mark.hint("conv1 and the projection both use the stride; padding 1 keeps a 3×3 convolution's size at stride 1.")
@pytest.mark.parametrize("shape, stride", [((1, 4, 28, 28), 2), ((2, 4, 57, 41), 2), ((2, 4, 1, 1), 1)], ids=str)
def test_residual_block_output_shape(student, shape, stride):
    x = randn(*shape, seed=21)
    got = student.run(_randomized_run, "ResidualBlock", (4, 6, stride), [x, x], 22)
    want = [shape[0], 6, (shape[2] - 1) // stride + 1, (shape[3] - 1) // stride + 1]
    if list(got["eval"].shape) != want:
        fail(f"ResidualBlock(4, 6, {stride}) on {shape}: output shape {tuple(got['eval'].shape)}, expected {tuple(want)}")


# --- FCNClassifier ------------------------------------------------------------------------------

FCN_ARGS = [(1, 10, 16), (3, 7, 8), (2, 4, 6)]


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "stem (3×3 conv without bias, batch norm, ReLU), two residual blocks (the second doubles the width with "
    "stride 2) and a 1×1 convolution head with a bias; no Linear layer."
)
@pytest.mark.parametrize("args", FCN_ARGS, ids=lambda a: "in{}_classes{}_width{}".format(*a))
def test_fcn_parameter_count_equals_the_formula(student, args):
    got = student.run(_structure, "FCNClassifier", args)
    want = fcn_params(*args)
    if got["linear"]:
        fail("FCNClassifier contains an nn.Linear: a fully-convolutional network uses a 1×1 convolution head")
    if got["count"] != want:
        fail(f"FCNClassifier{args} has {got['count']} parameters, expected {want}")


@pytest.mark.points(2)
@pytest.mark.hint("Global average pooling (the mean over H and W) turns per-pixel class scores into (N, num_classes) for any image size.")
@pytest.mark.parametrize("batch", [1, 3], ids=lambda b: f"batch{b}")
def test_fcn_output_shape_for_any_input_size(student, batch):
    sizes = [(28, 28), (32, 32), (57, 41), (1, 1), (5, 2)]
    got = student.run(_output_shapes, (3, 7, 8), sizes, batch)
    for (h, w), shape in zip(sizes, got):
        if shape != [batch, 7]:
            fail(f"a ({batch}, 3, {h}, {w}) image gave output shape {tuple(shape)}, expected ({batch}, 7)")


@pytest.mark.points(2)
@pytest.mark.hint("The head is a 1×1 convolution giving class scores at every pixel; the output is their mean over the pixels.")
@pytest.mark.parametrize("shape", [(1, 2, 9, 9), (3, 2, 12, 7)], ids=str)
def test_fcn_output_is_the_mean_of_the_1x1_head_scores(student, shape):
    x = randn(*shape, seed=30)
    got = student.run(_head_scores, (2, 5, 6), x)
    if list(got["weight"].shape) != [5, 12, 1, 1]:
        fail(f"head.weight has shape {tuple(got['weight'].shape)}, expected (5, 12, 1, 1): a 1×1 convolution")
    want = F.conv2d(got["features"], got["weight"], got["bias"]).mean(dim=(2, 3))
    max_pooled = F.conv2d(got["features"], got["weight"], got["bias"]).amax(dim=(2, 3))
    assert_close(
        got["out"], want, what="FCNClassifier output",
        mistakes={"the scores were max-pooled: the classifier uses global AVERAGE pooling": max_pooled},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Batch norm normalizes with the batch's statistics in training and with its running statistics in eval mode.")
def test_fcn_batch_norm_in_train_and_eval_mode(student):
    x = randn(4, 2, 8, 8, seed=40)
    got = student.run(_batch_independence, (2, 3, 4), x)
    assert_close(got["together"], got["alone"], what="eval outputs of a batch vs each example alone")
    if torch.allclose(got["train_together"], got["train_alone"]):
        fail("in train mode an example's output did not depend on the rest of the batch: is batch norm in the network?")
    if torch.allclose(got["tracked"], torch.zeros_like(got["tracked"])):
        fail("the stem's batch norm did not update its running mean in training")


class _Reference:
    """The layer names the docstring asks for, built with nn (for the expected state_dict keys)."""

    @staticmethod
    def ResidualBlock(in_ch, out_ch, stride):  # noqa: N802 - named like the class it stands in for
        block = nn.Module()
        block.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        block.bn1 = nn.BatchNorm2d(out_ch)
        block.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        block.bn2 = nn.BatchNorm2d(out_ch)
        if in_ch != out_ch or stride != 1:
            block.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
        else:
            block.shortcut = nn.Identity()
        return block
