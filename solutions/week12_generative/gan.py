"""GAN losses from logits: the discriminator's, the generator's (minimax and non-saturating), pix2pix.

The discriminator D outputs a logit l; D's probability that its input is real is σ(l). With
real data labelled 1 and generated data labelled 0:

- D minimizes −E[log σ(l_real)] − E[log(1 − σ(l_fake))] (a binary cross-entropy on each batch).
- The generator G of the original minimax game minimizes E[log(1 − σ(l_fake))]. Early in
  training D rejects fakes confidently (l_fake ≪ 0), where this curve is flat: G gets almost no
  gradient. The non-saturating generator loss −E[log σ(l_fake)] has the same fixed point and a
  strong gradient exactly there.
- pix2pix adds to the non-saturating loss an L1 term, lam·mean|fake − target|, that keeps the
  generated image close to the paired target.

Every loss is computed from logits with log σ(l) = −softplus(−l) (what
F.binary_cross_entropy_with_logits does): σ then log overflows or clamps at |l| ≈ 100.
Each expectation is a mean over the batch's entries; every loss is a 0-dim tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss: −mean log σ(real_logits) − mean log(1 − σ(fake_logits)).

    real_logits, fake_logits: D's logits on a real and on a generated batch (any shapes; each
    term is the mean over its own batch). Returns a 0-dim tensor.
    """
    # TODO: one binary cross-entropy per batch, each against its own label, from the logits.
    ### BEGIN SOLUTION
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_term + fake_term
    ### END SOLUTION


def g_loss(fake_logits: torch.Tensor, kind: Literal["nonsat", "minimax"] = "nonsat") -> torch.Tensor:
    """The generator's loss from D's logits on generated data; a 0-dim tensor.

    kind='nonsat': −mean log σ(fake_logits). kind='minimax': mean log(1 − σ(fake_logits)), the
    negative of D's fake term. Any other kind raises ValueError.
    """
    # TODO: both are binary cross-entropies from the logits, up to a sign.
    ### BEGIN SOLUTION
    if kind == "nonsat":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "minimax":
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    raise ValueError(f"unknown generator loss {kind!r}: use 'nonsat' or 'minimax'")
    ### END SOLUTION


def pix2pix_g_loss(
    fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, lam: float = 100.0
) -> torch.Tensor:
    """pix2pix's generator loss: the non-saturating loss + lam · mean |fake − target|.

    fake_logits: D's logits on the generated images; fake, target: images of the same shape.
    The L1 term is a mean over every entry. Returns a 0-dim tensor.
    """
    # TODO: the adversarial term plus the weighted L1 distance to the target.
    ### BEGIN SOLUTION
    return g_loss(fake_logits, "nonsat") + lam * (fake - target).abs().mean()
    ### END SOLUTION


def discriminator_loss(
    discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """d_loss of discriminator on a real batch and on a generated batch fake = G(z).

    The loss updates the discriminator only: its backward pass must not reach the generator
    that produced `fake` (after loss.backward() the generator's parameters have no .grad), while
    the discriminator's parameters get the gradients of both terms.
    """
    # TODO: cut the graph between fake and the generator before the discriminator sees it.
    ### BEGIN SOLUTION
    return d_loss(discriminator(real), discriminator(fake.detach()))
    ### END SOLUTION
