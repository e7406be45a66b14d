"""Answers to 01's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import torch
import torch.nn.functional as F

from hff_edu.methods import ff

SAMPLES = {
    "01.1": dict(
        right={"sum of squares": lambda h: (h ** 2).sum(dim=1), "einsum": lambda h: torch.einsum("nd,nd->n", h, h)},
        wrong={"keepdim=True": lambda h: (h ** 2).sum(dim=1, keepdim=True),
               "mean instead of sum": lambda h: (h ** 2).mean(dim=1),
               "sum over the batch": lambda h: (h ** 2).sum(dim=0),
               "norm, not squared": lambda h: h.norm(dim=1)},
        package={"ff.goodness": lambda h: ff.goodness(h)},
    ),
    "01.2": dict(
        right={"softplus": lambda p, n, th: F.softplus(th - p).mean() + F.softplus(n - th).mean()},
        wrong={"naive -log(sigmoid)": lambda p, n, th: -(torch.sigmoid(p - th).log().mean()
                                                         + torch.sigmoid(th - n).log().mean()),
               "signs swapped": lambda p, n, th: F.softplus(p - th).mean() + F.softplus(th - n).mean(),
               "sum, not mean": lambda p, n, th: F.softplus(th - p).sum() + F.softplus(n - th).sum(),
               "no reduction": lambda p, n, th: F.softplus(th - p) + F.softplus(n - th)},
        package={"ff.ff_loss": lambda p, n, th: ff.ff_loss(p, n, th)},
    ),
}
