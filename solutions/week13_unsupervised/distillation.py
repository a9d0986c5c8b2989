"""Knowledge distillation: a student network learns from a teacher's softened predictions.

The teacher's probabilities carry more than its argmax: how much it confuses a 3 with an 8. A
temperature T > 1 softens both distributions, p_T = softmax(teacher_logits / T) and
q_T = softmax(student_logits / T), and the student minimises KL(p_T ‖ q_T), averaged over the
batch (F.kl_div with reduction batchmean; "mean" would also divide by the number of classes).
The gradient of that term shrinks like 1/T², so it is multiplied by T² to keep its weight
roughly the same whatever T. It is mixed with the ordinary cross-entropy on the true labels
(at temperature 1):

    loss = α · T² · KL(p_T ‖ q_T) + (1 − α) · CE(student_logits, target).

The teacher is fixed: no gradient reaches its logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, T: float, alpha: float
) -> torch.Tensor:
    """Hinton et al.'s distillation loss (module docstring). Returns a 0-d tensor.

    student_logits, teacher_logits: (N, C); target: (N,) class indices; T > 0; alpha in [0, 1].
    """
    # TODO: log-probabilities of the student and probabilities of the (detached) teacher at T.
    # TODO: KL averaged over the batch, times T², mixed with the cross-entropy at T = 1.
    ### BEGIN SOLUTION
    log_q = F.log_softmax(student_logits / T, dim=-1)
    p = F.softmax(teacher_logits.detach() / T, dim=-1)
    soft = F.kl_div(log_q, p, reduction="batchmean") * T**2
    hard = F.cross_entropy(student_logits, target)
    return alpha * soft + (1 - alpha) * hard
    ### END SOLUTION
