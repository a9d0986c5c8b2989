"""Inverted dropout: drop each activation with probability p while training, rescale the rest.

During training every element of x is kept with probability 1 - p and zeroed with probability
p (p is the *drop* probability, as in torch's nn.Dropout; some course notes call the keep
probability p). The kept elements are divided by 1 - p, so that the expected output equals x:
E[mask / (1 - p)] = 1. Because the rescaling happens at training time ("inverted" dropout),
evaluation needs nothing at all: in eval mode dropout is the identity.

The mask is drawn from the `generator` you are given, so a run is reproducible from its seed.
"""

from __future__ import annotations

import torch


def dropout(
    x: torch.Tensor, p: float, training: bool = True, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverted dropout of x with drop probability p; returns (output, mask).

    x: any shape, floating point. p: the probability of *dropping* an element, in [0, 1].
    training: when False, dropout does nothing (the output is x and the mask keeps everything).
    generator: the source of randomness for the mask (None means torch's global generator).
    Returns:
      output: x's shape and dtype, equal to x * mask / (1 - p); all zeros (never NaN) when p = 1.
      mask: a boolean tensor of x's shape, True where the element was kept.
    Raises ValueError if p is outside [0, 1].
    The output must be built from x with torch operations, so its gradient is mask / (1 - p).
    """
    # TODO: check p; in eval mode (or when p = 0) nothing is dropped.
    # TODO: keep each element with probability 1 - p, using `generator` (torch.rand takes one).
    # TODO: rescale the kept values so that the expected output is x; p = 1 must not divide by 0.
    ### BEGIN SOLUTION
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return x * 1.0, torch.ones_like(x, dtype=torch.bool)
    if p == 1.0:
        return x * 0.0, torch.zeros_like(x, dtype=torch.bool)
    mask = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) >= p
    return x * mask / (1.0 - p), mask
    ### END SOLUTION
