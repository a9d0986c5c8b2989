"""Hidden tests of week 13, distillation.py: Hinton's knowledge-distillation loss.

Compared with α·T²·F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction="batchmean") +
(1 − α)·F.cross_entropy(s, y), the student's gradient with autograd's, no gradient may reach the
teacher, and the T² factor must keep the soft term's gradient the same size at T = 4 and T = 16.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.testing import assert_close, fail, rand_labels, rand_logits

pytestmark = pytest.mark.exercise("distillation")


def kd_ref(s, t, y, T, alpha, reduction="batchmean", t_squared=True, reverse=False, teacher_T=True, ce_T=False):
    log_q = F.log_softmax(s / T, dim=-1)
    p = F.softmax(t / T if teacher_T else t, dim=-1)
    soft = F.kl_div(p.log(), log_q.exp(), reduction="sum") if reverse else F.kl_div(log_q, p, reduction="sum")
    soft = soft / (s.numel() if reduction == "mean" else s.shape[0])
    if t_squared:
        soft = soft * T**2
    label_term = F.cross_entropy(s / T if ce_T else s, y)
    return alpha * soft + (1.0 - alpha) * label_term


def inputs(N, C, seed):
    return rand_logits(N, C, seed=seed), rand_logits(N, C, seed=seed + 1), rand_labels(N, num_classes=C, seed=seed + 2)


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Soft term: KL(teacher ‖ student) at temperature T, averaged over the batch (not over every element), times T²; "
    "hard term: cross-entropy at temperature 1; mix them with α and 1 − α."
)
@pytest.mark.parametrize("sizes", [(1, 3), (7, 5), (16, 10)], ids=str)
@pytest.mark.parametrize("T", [2.0, 4.0])
def test_distillation_loss_matches_torch(student, sizes, T):
    N, C = sizes
    s, t, y = inputs(N, C, seed=N + C)
    alpha = 0.7
    want = kd_ref(s, t, y, T, alpha)
    mistakes = {
        "the KL term was averaged over every element ('mean'): off by a factor of C": kd_ref(s, t, y, T, alpha, reduction="mean"),
        "the soft term is missing its T² factor": kd_ref(s, t, y, T, alpha, t_squared=False),
        "KL arguments reversed: this is KL(student ‖ teacher)": kd_ref(s, t, y, T, alpha, reverse=True),
        "the teacher's logits were not divided by T": kd_ref(s, t, y, T, alpha, teacher_T=False),
        "the cross-entropy on the labels was taken at temperature T, not 1": kd_ref(s, t, y, T, alpha, ce_T=True),
    }
    got = student.distillation_loss(s, t, y, T, alpha)
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        fail(f"the loss has shape {tuple(got.shape)}: a single number (0-d tensor) was expected")
    assert_close(got, want, what="distillation loss", mistakes=mistakes)


@pytest.mark.points(1)
@pytest.mark.hint("α weighs the soft (teacher) term and 1 − α the hard (label) term.")
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_distillation_loss_at_the_extreme_alphas(student, alpha):
    s, t, y = inputs(6, 4, seed=30)
    want = kd_ref(s, t, y, 3.0, alpha)
    assert_close(student.distillation_loss(s, t, y, 3.0, alpha), want, what=f"loss at alpha={alpha:g}",
                 mistakes={"α and 1 − α are swapped": kd_ref(s, t, y, 3.0, 1 - alpha)})


def _grads(m, s, t, y, T, alpha):
    s, t = s.clone().requires_grad_(), t.clone().requires_grad_()
    m.distillation_loss(s, t, y, T, alpha).backward()
    return {"student": s.grad, "teacher_has_grad": t.grad is not None and bool(t.grad.abs().sum() > 0)}


@pytest.mark.points(2)
@pytest.mark.hint("The teacher is a fixed target: detach its logits, so the loss trains only the student.")
def test_distillation_loss_sends_no_gradient_to_the_teacher(student):
    s, t, y = inputs(5, 4, seed=40)
    got = student.run(_grads, s, t, y, 3.0, 0.5)
    if got["teacher_has_grad"]:
        fail("the teacher's logits received a gradient: the teacher must be detached")
    leaf = s.clone().requires_grad_()
    kd_ref(leaf, t, y, 3.0, 0.5).backward()
    assert_close(got["student"], leaf.grad, what="gradient of the student logits")


@pytest.mark.points(2)
@pytest.mark.hint("The soft term's gradient shrinks like 1/T²; the T² factor keeps its size the same at every temperature.")
def test_distillation_gradient_size_is_roughly_invariant_in_T(student):
    s, t, y = inputs(8, 6, seed=50)
    norms = {}
    for T in (4.0, 16.0):
        norms[T] = float(student.run(_grads, s, t, y, T, 1.0)["student"].norm())
    ratio = norms[16.0] / norms[4.0]
    if ratio < 0.1:
        fail(f"the soft gradient is {1 / ratio:.0f}× smaller at T = 16 than at T = 4: the T² factor is missing")
    if not 0.5 < ratio < 2.0:
        fail(f"the soft gradient changes by a factor {ratio:.3g} between T = 4 and T = 16")
