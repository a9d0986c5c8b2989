"""Learning-rate schedules as plain functions of the step (or epoch) number.

A schedule answers "which learning rate does epoch e (or step s) use?", counting from 0: the
first epoch trains with the value at 0. This is what torch's schedulers give when you read
`scheduler.get_last_lr()` during an epoch and call `scheduler.step()` at its end.

    step_lr:        base_lr · γ^⌊epoch / step_size⌋                 (torch.optim.lr_scheduler.StepLR)
    warmup_cosine:  a linear warm-up over the first `warmup_steps` steps, from base_lr/(warmup_steps+1)
                    up to base_lr at step `warmup_steps`, then half a cosine from base_lr down to
                    min_lr, reached exactly at the last step, total_steps - 1; after that it stays
                    at min_lr. (torch: SequentialLR of LinearLR(start_factor=1/(warmup_steps+1),
                    total_iters=warmup_steps) and CosineAnnealingLR(T_max=total_steps-1-warmup_steps,
                    eta_min=min_lr), switching at milestone warmup_steps.)
"""

from __future__ import annotations

import math


def step_lr(epoch: int, base_lr: float, step_size: int, gamma: float) -> float:
    """The learning rate of epoch `epoch` (0, 1, ...): multiplied by gamma every step_size epochs."""
    # TODO: epoch 0 trains with base_lr; the first drop comes at epoch step_size.
    raise NotImplementedError("step_lr() is not implemented yet")


def warmup_cosine(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """The learning rate of step `step` (0, 1, ...): linear warm-up, then cosine decay to min_lr.

    Warm-up: step s < warmup_steps uses base_lr · (s + 1) / (warmup_steps + 1).
    Decay: from step warmup_steps (base_lr) to step total_steps - 1 (min_lr), along half a cosine.
    Steps past total_steps - 1 use min_lr. Requires 0 <= warmup_steps < total_steps - 1.
    """
    # TODO: step 0 is not 0 (a zero learning rate would waste the step).
    # TODO: count the cosine's progress from the end of the warm-up; it reaches 1 at the last step.
    raise NotImplementedError("warmup_cosine() is not implemented yet")
