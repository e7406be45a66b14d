"""Exercises of 01_forward_forward: FF's goodness and loss, written from scratch."""
from __future__ import annotations

import torch

from ..exercises import exercise


def _batches(seed: int = 101) -> list[torch.Tensor]:
    """Hidden test batches: small and wide, signed and ReLU-like, one row only."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 7, generator=g), torch.relu(torch.randn(16, 300, generator=g)),
            torch.randn(1, 5, generator=g) * 30]


@exercise("01.1", "goodness", kind="compute", level=1, minutes=5,
          forbid=["hff_edu.methods.ff.goodness"])
def _goodness(t, my_goodness):
    for h in _batches():
        got = t.call(my_goodness, h.clone())
        t.require(torch.is_tensor(got), "the goodness should be a tensor (one value per row of the batch).")
        t.close(got, h.pow(2).sum(dim=1), f"a batch of {h.shape[0]} rows and {h.shape[1]} units", rtol=1e-5)


@exercise("01.2", "the FF loss", kind="compute", level=2, minutes=10,
          forbid=["hff_edu.methods.ff.ff_loss"])
def _ff_loss(t, my_ff_loss):
    g = torch.Generator().manual_seed(102)
    cases = [(torch.rand(8, generator=g) * 100, torch.rand(8, generator=g) * 100, 50.0, "goodness around theta"),
             (torch.tensor([0.0, 3000.0]), torch.tensor([2000.0, 0.0]), 500.0, "goodness in the thousands"),
             (torch.rand(5, generator=g), torch.rand(3, generator=g), 0.5, "batches of different sizes")]
    for g_pos, g_neg, theta, what in cases:
        got = t.call(my_ff_loss, g_pos.clone(), g_neg.clone(), theta)
        t.require(torch.is_tensor(got) and got.dim() == 0,
                  f"for {what} the loss should be one number (a 0-dimensional tensor): average over the batch.")
        expected = torch.nn.functional.softplus(theta - g_pos).mean() + \
            torch.nn.functional.softplus(g_neg - theta).mean()
        t.close(got, expected, what, rtol=1e-5)
