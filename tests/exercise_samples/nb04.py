"""Answers to 04's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import math

import torch
import torch.nn.functional as F

from hff_edu.core import geometry
from hff_edu.viz import embedding_views as ev

from ._common import given_samples


# ----------------------------------------------------------------------------
# 04.2: the given function has two bugs (the own class among the others; no normalisation)


def _margin(z, P, y):
    S = F.normalize(z, dim=1) @ F.normalize(P, dim=1).T
    own = S[torch.arange(len(y)), y]
    others = S.clone()
    others[torch.arange(len(y)), y] = float("-inf")
    return own - others.max(dim=1).values


def _margin_top2(z, P, y):
    S = (z / z.norm(dim=1, keepdim=True)) @ (P / P.norm(dim=1, keepdim=True)).T
    own = S.gather(1, y[:, None]).squeeze(1)
    top2 = S.topk(2, dim=1).values
    best_other = torch.where(own >= top2[:, 0], top2[:, 1], top2[:, 0])
    return own - best_other


def _buggy(z, P, y):  # the function as given
    S = z @ P.T
    own = S[torch.arange(len(y)), y]
    return own - S.max(dim=1).values


def _only_mask(z, P, y):  # the own class masked, but no normalisation
    S = z @ P.T
    own = S[torch.arange(len(y)), y]
    others = S.clone()
    others[torch.arange(len(y)), y] = float("-inf")
    return own - others.max(dim=1).values


def _only_normalise(z, P, y):
    S = F.normalize(z, dim=1) @ F.normalize(P, dim=1).T
    return S[torch.arange(len(y)), y] - S.max(dim=1).values


def _mask_with_zero(z, P, y):
    S = F.normalize(z, dim=1) @ F.normalize(P, dim=1).T
    own = S[torch.arange(len(y)), y]
    others = S.clone()
    others[torch.arange(len(y)), y] = 0.0
    return own - others.max(dim=1).values


def _normalise_wrong_dim(z, P, y):
    S = F.normalize(z, dim=1) @ F.normalize(P, dim=0).T
    own = S[torch.arange(len(y)), y]
    others = S.clone()
    others[torch.arange(len(y)), y] = float("-inf")
    return own - others.max(dim=1).values


def _mean_other(z, P, y):
    S = F.normalize(z, dim=1) @ F.normalize(P, dim=1).T
    own = S[torch.arange(len(y)), y]
    mask = F.one_hot(y, P.shape[0]).bool()
    return own - S.masked_fill(mask, 0.0).sum(1) / (P.shape[0] - 1)


# ----------------------------------------------------------------------------
# 04.3


def _au(z, y):
    z = z / z.norm(dim=1, keepdim=True)
    d2 = torch.cdist(z, z).pow(2)
    i, j = torch.triu_indices(len(z), len(z), offset=1)
    pair = d2[i, j]
    same = y[i] == y[j]
    alignment = pair[same].mean()
    uniformity = torch.log(torch.exp(-2 * pair).mean())
    return alignment.item(), uniformity.item(), (alignment / pair.mean()).item()


def _au_pdist(z, y):
    z = F.normalize(z, dim=1)
    sq = torch.pdist(z).pow(2)
    i, j = torch.triu_indices(len(z), len(z), offset=1)
    same = y[i] == y[j]
    return float(sq[same].mean()), float(torch.logsumexp(-2 * sq, 0) - math.log(len(sq))), \
        float(sq[same].mean() / sq.mean())


def _au_raw(z, y, normalise=False, self_pairs=False, per_class=False, squared=True, t=2.0, mean_log=False):
    if normalise:
        z = F.normalize(z, dim=1)
    d = torch.cdist(z, z)
    d2 = d.pow(2) if squared else d
    n = len(z)
    if self_pairs:
        same = (y[:, None] == y[None, :])
        pairs = torch.ones(n, n, dtype=torch.bool)
    else:
        same = (y[:, None] == y[None, :]) & ~torch.eye(n, dtype=torch.bool)
        pairs = ~torch.eye(n, dtype=torch.bool)
    if per_class:
        means = [d2[(y[:, None] == c) & (y[None, :] == c) & ~torch.eye(n, dtype=torch.bool)].mean()
                 for c in y.unique() if (y == c).sum() > 1]
        align = torch.stack(means).mean()
    else:
        align = d2[same].mean()
    uni = (-t * d2[pairs]).mean() if mean_log else torch.log(torch.exp(-t * d2[pairs]).mean())
    return align.item(), uni.item(), (align / d2[pairs].mean()).item()


def _au_with(**options):
    """An answer that is :func:`_au_raw` with these options (the samples differ only in them)."""
    return lambda z, y: _au_raw(z, y, **options)


SAMPLES = {
    "04.1": given_samples(
        right={"all, then dead": {"octant": "c", "dead": "a"}},
        wrong={"an eighth": {"octant": "a", "dead": "a"},
               "half": {"octant": "b", "dead": "a"},
               "depends on training": {"octant": "d", "dead": "a"},
               "a dead sample still goes to its prototype": {"octant": "c", "dead": "b"},
               "a dead sample gets a large gradient": {"octant": "c", "dead": "c"},
               "a dead sample's loss is infinite": {"octant": "c", "dead": "d"},
               "no dict": "c"},
    ),
    "04.2": dict(
        right={"mask with -inf, normalise": _margin, "top two": _margin_top2},
        wrong={"as given": _buggy, "only the mask": _only_mask, "only the normalisation": _only_normalise,
               "own class masked with 0": _mask_with_zero, "prototypes normalised over the wrong axis": _normalise_wrong_dim,
               "mean of the other cosines": _mean_other},
        package={"geometry.prototype_margin": lambda z, P, y: geometry.prototype_margin(z, P, y)},
    ),
    "04.3": dict(
        right={"cdist": _au, "pdist": _au_pdist, "self pairs excluded, normalised": _au_with(normalise=True)},
        wrong={"not normalised": _au_with(),
               "self pairs counted": _au_with(normalise=True, self_pairs=True),
               "mean over classes, not over pairs": _au_with(normalise=True, per_class=True),
               "distance, not squared": _au_with(normalise=True, squared=False),
               "t = 1": _au_with(normalise=True, t=1.0),
               "mean of the log": _au_with(normalise=True, mean_log=True)},
        package={"geometry functions": lambda z, y: (geometry.class_alignment(z, y), geometry.uniformity(z), 0.5),
                 "ev.spread": lambda z, y: (_au(z, y)[0], _au(z, y)[1], _au(z, y)[0] / ev.spread(z))},
    ),
}
