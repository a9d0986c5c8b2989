"""Hidden tests of week 6, finetuning.py: freeze, param_groups and GradReverse.

Probes build one small model, the same in every probe:

    backbone.fc (Linear 4→8) → backbone.bn (BatchNorm1d 8) → backbone.act (ReLU) → backbone.fc2 (Linear 8→6)
    → head (Linear 6→3) → head2 (Linear 3→3)

so that prefixes can be confused: "head" must not cover "head2", "backbone.fc" must not cover
"backbone.fc2", and "fc" covers nothing at the top level. Optimizer behaviour is checked with
torch.optim.SGD itself (momentum and weight decay included); BatchNorm behaviour against the
module's own running statistics and F.batch_norm in eval mode; gradient reversal against
autograd of the same graph without it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels, randn

pytestmark = pytest.mark.exercise("finetuning")

NAMES = [
    "backbone.fc.weight", "backbone.fc.bias", "backbone.bn.weight", "backbone.bn.bias",
    "backbone.fc2.weight", "backbone.fc2.bias", "head.weight", "head.bias", "head2.weight", "head2.bias",
]  # fmt: skip


def expected_trainable(prefixes):
    return {name: any(name == p or name.startswith(p + ".") for p in prefixes) for name in NAMES}


def _requires_grad_after(m, calls):
    torch.manual_seed(0)
    backbone = nn.Sequential()
    backbone.add_module("fc", nn.Linear(4, 8))
    backbone.add_module("bn", nn.BatchNorm1d(8))
    backbone.add_module("act", nn.ReLU())
    backbone.add_module("fc2", nn.Linear(8, 6))
    model = nn.Sequential()
    model.add_module("backbone", backbone)
    model.add_module("head", nn.Linear(6, 3))
    model.add_module("head2", nn.Linear(3, 3))
    out = []
    for trainable in calls:
        m.freeze(model, trainable)
        out.append({name: p.requires_grad for name, p in model.named_parameters()})
    return out


def _train_frozen(m, trainable, x, y, steps):
    torch.manual_seed(0)
    backbone = nn.Sequential()
    backbone.add_module("fc", nn.Linear(4, 8))
    backbone.add_module("bn", nn.BatchNorm1d(8))
    backbone.add_module("act", nn.ReLU())
    backbone.add_module("fc2", nn.Linear(8, 6))
    model = nn.Sequential()
    model.add_module("backbone", backbone)
    model.add_module("head", nn.Linear(6, 3))
    model.add_module("head2", nn.Linear(3, 3))
    bn = backbone.bn
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    m.freeze(model, trainable)
    model.train()  # the fine-tuning loop puts the model in training mode for the head
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    with torch.no_grad():
        features = backbone(x)
        h = F.batch_norm(backbone.fc(x), bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)
        eval_features = backbone.fc2(F.relu(h))
    return {
        "before": before,
        "after": {k: v.clone() for k, v in model.state_dict().items()},
        "features": features,
        "eval_features": eval_features,
    }


def _groups(m, head_lr, base_lr, frozen):
    torch.manual_seed(0)
    backbone = nn.Sequential()
    backbone.add_module("fc", nn.Linear(4, 8))
    backbone.add_module("bn", nn.BatchNorm1d(8))
    backbone.add_module("act", nn.ReLU())
    backbone.add_module("fc2", nn.Linear(8, 6))
    model = nn.Sequential()
    model.add_module("backbone", backbone)
    model.add_module("head", nn.Linear(6, 3))
    model.add_module("head2", nn.Linear(3, 3))
    for name, p in model.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
    names = {id(p): name for name, p in model.named_parameters()}
    groups = m.param_groups(model, head_lr, base_lr)
    described = [{"names": [names.get(id(p), "?") for p in g["params"]], "lr": g.get("lr")} for g in groups]
    optimizer = torch.optim.SGD(groups, lr=1000.0)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    steps = {name: (before[name] - p.detach()).mean().item() for name, p in model.named_parameters()}
    return {"groups": described, "steps": steps}


def _grad_reverse(m, x, w, lambd):
    x = x.clone().requires_grad_()
    y = m.GradReverse.apply(x, lambd)
    (y * w).sum().backward()
    return {"y": y.detach(), "grad": x.grad}


def _domain_adversarial(m, x, y, d, features, label_head, domain_head, lambd):
    W_f = features.clone().requires_grad_()
    W_l = label_head.clone().requires_grad_()
    W_d = domain_head.clone().requires_grad_()
    f = torch.tanh(x @ W_f.T)
    loss = F.cross_entropy(f @ W_l.T, y) + F.cross_entropy(m.grad_reverse(f, lambd) @ W_d.T, d)
    loss.backward()
    return {"loss": loss.detach(), "features": W_f.grad, "label_head": W_l.grad, "domain_head": W_d.grad}


# --- freeze ---------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "A prefix names a sub-tree: it matches a name that equals it or continues with '.', whole path components only "
    "(named_parameters gives the names)."
)
@pytest.mark.parametrize(
    "trainable", [["head"], ["backbone.fc", "head"], ["fc", "head2"], []], ids=lambda t: "+".join(t) or "nothing"
)
def test_freeze_sets_requires_grad_by_whole_name_prefix(student, trainable):
    (got,) = student.run(_requires_grad_after, [trainable])
    want = expected_trainable(trainable)
    for name in NAMES:
        if got.get(name) != want[name]:
            state = "trainable" if want[name] else "frozen"
            fail(f"freeze(model, {trainable}): {name} should be {state} (a prefix matches whole path components, not substrings)")


@pytest.mark.points(1)
@pytest.mark.hint("freeze decides every parameter each time it is called: trainable ones get requires_grad=True again.")
def test_freeze_called_again_unfreezes(student):
    calls = [["head"], ["backbone", "head"]]
    first, second = student.run(_requires_grad_after, calls)
    if second != expected_trainable(calls[1]):
        wrong = sorted(name for name in NAMES if second.get(name) != expected_trainable(calls[1])[name])
        fail(f"after freeze(model, ['head']) then freeze(model, ['backbone', 'head']), these are wrong: {wrong}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "A parameter with requires_grad=False gets no .grad, and SGD skips it (even with momentum and weight decay); "
    "the trainable ones still learn."
)
def test_frozen_parameters_are_unchanged_after_optimizer_steps(student):
    x, y = randn(16, 4, seed=1, dtype=torch.float32), rand_labels(16, num_classes=3, seed=2)
    out = student.run(_train_frozen, ["head"], x, y, 3)
    for name in NAMES:
        changed = not torch.equal(out["before"][name], out["after"][name])
        if name.startswith("head.") and not changed:
            fail(f"{name} did not change after 3 SGD steps, but 'head' is trainable")
        if not name.startswith("head.") and changed:
            fail(f"{name} changed after optimizer.step(), but it should be frozen")


@pytest.mark.points(2)
@pytest.mark.hint(
    "model.train() reaches every sub-module, and a BatchNorm in training mode updates its running statistics on "
    "each forward pass even when its parameters are frozen. Make the frozen BatchNorms ignore train()."
)
def test_frozen_batchnorm_keeps_its_running_stats_after_model_train(student):
    x, y = randn(16, 4, seed=3, dtype=torch.float32), rand_labels(16, num_classes=3, seed=4)
    out = student.run(_train_frozen, ["head"], x, y, 3)
    for key in ("backbone.bn.running_mean", "backbone.bn.running_var", "backbone.bn.num_batches_tracked"):
        if not torch.equal(out["before"][key], out["after"][key]):
            fail(f"{key} changed while the backbone was frozen: model.train() turned the BatchNorm's statistics updates back on")


@pytest.mark.points(1)
@pytest.mark.hint("A frozen BatchNorm behaves as in eval mode: it normalizes with its running statistics, not the batch's.")
def test_frozen_batchnorm_normalizes_with_its_running_stats(student):
    x, y = randn(16, 4, seed=5, dtype=torch.float32), rand_labels(16, num_classes=3, seed=6)
    out = student.run(_train_frozen, ["head"], x, y, 1)
    assert_close(out["features"], out["eval_features"], what="backbone output after freeze and model.train()")


@pytest.mark.points(1)
@pytest.mark.hint("Only the BatchNorms outside the trainable prefixes stay in eval mode; a trainable one trains as usual.")
def test_trainable_batchnorm_still_updates_its_running_stats(student):
    x, y = randn(16, 4, seed=7, dtype=torch.float32), rand_labels(16, num_classes=3, seed=8)
    out = student.run(_train_frozen, ["backbone.bn", "head"], x, y, 2)
    if torch.equal(out["before"]["backbone.bn.running_mean"], out["after"]["backbone.bn.running_mean"]):
        fail("backbone.bn is under a trainable prefix, but its running_mean did not change in training mode")
    for name in ("backbone.bn.weight", "head.weight"):
        if torch.equal(out["before"][name], out["after"][name]):
            fail(f"{name} is trainable but did not change")


# --- param_groups ---------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Two groups, each a dict with 'params' and 'lr': the parameters under the head prefix at head_lr, every other "
    "trainable parameter at base_lr. 'head2' is not under 'head'."
)
def test_param_groups_give_torch_sgd_the_right_learning_rates(student):
    head_lr, base_lr = 0.1, 0.01
    out = student.run(_groups, head_lr, base_lr, [])
    swapped = all(abs(out["steps"][n] - (base_lr if n.startswith("head.") else head_lr)) < 1e-6 for n in NAMES)
    if swapped:
        fail("the head moved with base_lr and the rest with head_lr: head_lr and base_lr are swapped")
    for name in NAMES:
        want = head_lr if name.startswith("head.") else base_lr
        got = out["steps"][name]
        if abs(got - head_lr) < 1e-6 and want == base_lr:
            fail(f"SGD moved {name} with lr {got:.3g}, expected base_lr {base_lr}: is it sorted into the head's group?")
        if abs(got - base_lr) < 1e-6 and want == head_lr:
            fail(f"SGD moved {name} with lr {got:.3g}, expected head_lr {head_lr}: is it sorted into the base group?")
        if abs(got - want) > 1e-6:
            fail(f"SGD moved {name} with lr {got:.3g}, expected {want} (a group without 'lr' gets the optimizer's default)")
    counts = [name for group in out["groups"] for name in group["names"]]
    if sorted(counts) != sorted(NAMES):
        fail(f"every trainable parameter must appear in exactly one group; the groups hold {sorted(counts)}")


@pytest.mark.points(1)
@pytest.mark.hint("Leave out parameters with requires_grad=False, and leave out a group that ends up with no parameters.")
def test_param_groups_leave_out_frozen_parameters_and_empty_groups(student):
    frozen = [name for name in NAMES if not name.startswith("head.")]
    out = student.run(_groups, 0.1, 0.01, frozen)
    held = sorted(name for group in out["groups"] for name in group["names"])
    if held != ["head.bias", "head.weight"]:
        fail(f"with everything but the head frozen, the groups hold {held}, expected only the head's two parameters")
    if len(out["groups"]) != 1:
        fail(f"{len(out['groups'])} groups returned; a group with no parameters must be left out")


# --- GradReverse ----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "forward returns x unchanged (a new tensor equal to x); backward returns -λ times the incoming gradient for x, "
    "and None for λ."
)
@pytest.mark.parametrize("lambd", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("shape", [(1, 3), (7, 5), (2, 3, 4)], ids=str)
def test_grad_reverse_is_the_identity_forward_and_minus_lambda_backward(student, lambd, shape):
    x, w = randn(*shape, seed=9), randn(*shape, seed=10)
    out = student.run(_grad_reverse, x, w, lambd)
    assert_close(out["y"], x, what="GradReverse forward", mistakes={"the forward pass negated x: only the gradient is reversed": -x})
    if out["grad"] is None:
        fail("no gradient reached x through GradReverse")
    assert_close(
        out["grad"],
        -lambd * w,
        what=f"gradient through GradReverse with λ = {lambd}",
        mistakes={  # at λ = 1 "not scaled" is right and "not negated" is "unchanged": named only where they differ
            "the gradient was passed through unchanged: it must be reversed": w,
            **({"the gradient was negated but not scaled by λ": -w} if lambd != 1 else {}),
            **({"the gradient was scaled by λ but not negated": lambd * w} if lambd != 1 else {}),
        },
    )


@pytest.mark.points(1)
@pytest.mark.hint("With λ = 0 the layers below receive no signal at all from above: -0·g.")
def test_grad_reverse_with_lambda_zero_blocks_the_gradient(student):
    x, w = randn(4, 3, seed=11), randn(4, 3, seed=12)
    out = student.run(_grad_reverse, x, w, 0.0)
    if out["grad"] is None:
        fail("no gradient tensor reached x with λ = 0; expected zeros")
    assert_close(out["grad"], torch.zeros_like(w), what="gradient through GradReverse with λ = 0")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Only what lies below the reversal sees -λ times the domain gradient; the domain classifier above it still "
    "gets its ordinary gradient, and the label head is untouched."
)
def test_grad_reverse_in_a_domain_adversarial_model(student):
    x = randn(10, 4, seed=13)
    y, d = rand_labels(10, num_classes=3, seed=14), rand_labels(10, num_classes=2, seed=15)
    W_f, W_l, W_d = randn(5, 4, seed=16), randn(3, 5, seed=17), randn(2, 5, seed=18)
    lambd = 0.7
    leaves = [t.clone().requires_grad_() for t in (W_f, W_l, W_d)]
    f = torch.tanh(x @ leaves[0].T)
    label_loss, domain_loss = F.cross_entropy(f @ leaves[1].T, y), F.cross_entropy(f @ leaves[2].T, d)
    g_label = torch.autograd.grad(label_loss, leaves, allow_unused=True, retain_graph=True)
    g_domain = torch.autograd.grad(domain_loss, leaves, allow_unused=True)
    out = student.run(_domain_adversarial, x, y, d, W_f, W_l, W_d, lambd)
    assert_close(out["loss"], (label_loss + domain_loss).detach(), what="total loss (the forward pass must be the identity)")
    assert_close(out["domain_head"], g_domain[2], what="gradient of the domain classifier (above the reversal)",
                 mistakes={"the domain classifier's own gradient was reversed too": -lambd * g_domain[2]})
    assert_close(out["label_head"], g_label[1], what="gradient of the label head")
    assert_close(
        out["features"],
        g_label[0] - lambd * g_domain[0],
        what="gradient of the feature extractor (below the reversal)",
        mistakes={"the feature extractor got the domain gradient unreversed": g_label[0] + g_domain[0]},
    )
