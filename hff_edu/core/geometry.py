"""Geometry on the unit hypersphere: prototypes, their spread, and embedding quality.

Notation of 02_prototype_geometry: ``n`` points (prototypes) in ``R^d``, each
of unit norm, i.e. on the sphere ``S^{d-1}``. Rows of a tensor are points.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F


def normalise(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Project rows onto the unit sphere: ``x / ||x||``."""
    return x / (x.norm(dim=-1, keepdim=True) + eps)


def cosine_matrix(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarity ``<a_i, b_j> / (||a_i|| ||b_j||)`` for all pairs (``b`` defaults to ``a``)."""
    a = normalise(a.reshape(a.shape[0], -1).float())
    b = a if b is None else normalise(b.reshape(b.shape[0], -1).float())
    return a @ b.T


def min_pairwise_angle(p: torch.Tensor) -> float:
    """Smallest angle (degrees) between two distinct rows of ``p``: what the Tammes problem maximises."""
    if p.shape[0] < 2:
        return 180.0
    cos = cosine_matrix(p)
    cos.fill_diagonal_(-1.0)
    return math.degrees(math.acos(float(cos.max().clamp(-1.0, 1.0))))


def random_prototypes(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """``n`` points drawn uniformly on ``S^{d-1}`` (normalised Gaussians)."""
    _check_nd(n, d)
    g = torch.Generator().manual_seed(seed)
    return normalise(torch.randn(n, d, generator=g))


def helmert_basis(n: int) -> torch.Tensor:
    """An orthonormal basis of the hyperplane ``sum(x) = 0`` in ``R^n``, in closed form: ``(n-1, n)``.

    Row ``k`` (k = 1 .. n-1) is ``(1, ..., 1, -k, 0, ..., 0) / sqrt(k (k + 1))`` with ``k``
    ones: the Helmert contrasts. Written out rather than taken from an SVD of
    ``I - 11^T/n``: all its singular values are equal, so any orthonormal basis of the span
    is a valid answer and LAPACK returns a different one on different CPUs.
    """
    h = torch.zeros(n - 1, n, dtype=torch.float64)
    for k in range(1, n):
        h[k - 1, :k] = 1.0
        h[k - 1, k] = -float(k)
        h[k - 1] /= math.sqrt(k * (k + 1))
    return h


def random_rotation(d: int, seed: int = 0) -> torch.Tensor:
    """A random orthogonal ``d x d`` matrix (Haar measure), the same on every CPU for a seed.

    QR of a Gaussian matrix with the signs fixed (``R``'s diagonal made positive), which
    makes the factorisation unique: without it, which columns come out negated is up to the
    LAPACK code path, and the rotation would differ between machines.
    """
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).masked_fill(torch.diagonal(r) == 0, 1.0)


def simplex_etf(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """Simplex equiangular tight frame: ``n`` unit vectors in ``R^d`` with pairwise cosine ``-1/(n-1)``.

    The most spread-out ``n`` points possible; needs ``d >= n - 1``. The centred standard
    basis ``e_i - 1/n`` written in the closed-form :func:`helmert_basis` of its (n-1)-dim
    span, then turned by :func:`random_rotation` into ``R^d``: both are CPU-independent, so a
    seed gives the same prototypes on every machine (to float rounding).
    """
    _check_nd(n, d)
    if n == 1:
        return random_prototypes(1, d, seed)
    if d < n - 1:
        raise ValueError(f"A simplex ETF of {n} points needs dimension d >= {n - 1}, got d={d}: "
                         "use init='separated' (Tammes optimiser) or widen the layer.")
    coords = helmert_basis(n).T  # (n, n-1): point i = e_i - 1/n in the Helmert basis
    points = coords @ random_rotation(d, seed)[: n - 1]  # rotate into R^d
    return normalise(points).float()


def separate(points: torch.Tensor | None = None, n: int | None = None, d: int | None = None,
             steps: int = 500, lr: float = 0.05, sharpness: float = 20.0, seed: int = 0,
             history: list | None = None) -> torch.Tensor:
    """Tammes-style separation: spread ``n`` points on ``S^{d-1}`` by gradient descent.

    Minimises a smooth maximum of the pairwise cosines,
    ``(1/s) * logsumexp_{i<j}(s * <p_i, p_j>)``, renormalising after every step.
    Starts from ``points`` or from random points. If ``history`` is a list, the
    minimum pairwise angle is appended to it every step (to plot the optimiser at work).
    """
    if points is None:
        if n is None or d is None:
            raise ValueError("Give either starting points or both n and d.")
        points = random_prototypes(n, d, seed)
    n, d = points.shape
    if n < 2:
        return normalise(points.detach().float().clone())
    p = normalise(points.detach().float().clone()).requires_grad_(True)
    opt = torch.optim.Adam([p], lr=lr)
    iu = torch.triu_indices(n, n, offset=1)
    for _ in range(steps):
        q = normalise(p)
        cos = (q @ q.T)[iu[0], iu[1]]
        loss = torch.logsumexp(sharpness * cos, 0) / sharpness
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            p.copy_(normalise(p))
        if history is not None:
            history.append(min_pairwise_angle(p.detach()))
    return normalise(p.detach())


def init_prototypes(num_classes: int, per_class: int, d: int, init: str = "etf",
                    seed: int = 0) -> torch.Tensor:
    """Initial prototypes, shape ``(C, K, d)``, unit norm: ``random``, ``etf`` or ``separated``.

    Works for every C, K and d: where an ETF cannot exist (``d < C*K - 1``) it
    falls back to the separation optimiser and warns.
    """
    n = num_classes * per_class
    _check_nd(n, d)
    if init == "random":
        p = random_prototypes(n, d, seed)
    elif init == "etf":
        if d < n - 1:
            warnings.warn(f"init='etf' needs d >= C*K - 1 = {n - 1} but d={d}; using 'separated' "
                          "(Tammes optimiser) instead.", stacklevel=2)
            p = separate(n=n, d=d, seed=seed)
        else:
            p = simplex_etf(n, d, seed)
    elif init == "separated":
        p = separate(n=n, d=d, seed=seed)
    else:
        raise ValueError(f"Unknown prototype init {init!r}: choose 'random', 'etf' or 'separated'.")
    return p.reshape(num_classes, per_class, d)


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola alignment: ``E ||z1 - z2||^alpha`` over positive pairs (lower is better)."""
    z1, z2 = normalise(z1.float()), normalise(z2.float())
    return float((z1 - z2).norm(dim=1).pow(alpha).mean())


def class_alignment(z: torch.Tensor, y: torch.Tensor, max_pairs: int = 20000, seed: int = 0) -> float:
    """Alignment with positive pairs = two random samples of the same class."""
    g = torch.Generator().manual_seed(seed)
    z, y = z.detach().cpu(), y.detach().cpu()
    i = torch.randint(len(y), (max_pairs,), generator=g)
    j = torch.randint(len(y), (max_pairs,), generator=g)
    same = (y[i] == y[j]) & (i != j)
    if not same.any():
        raise ValueError("No two samples share a class: alignment needs same-class pairs.")
    return alignment(z[i[same]], z[j[same]])


def uniformity(z: torch.Tensor, t: float = 2.0, max_points: int = 4000, seed: int = 0) -> float:
    """Wang & Isola uniformity: ``log E exp(-t ||z_i - z_j||^2)`` over distinct pairs (lower = more uniform)."""
    z = normalise(z.detach().float().cpu())
    if z.shape[0] > max_points:
        g = torch.Generator().manual_seed(seed)
        z = z[torch.randperm(z.shape[0], generator=g)[:max_points]]
    sq = torch.pdist(z).pow(2)
    return float(torch.logsumexp(-t * sq, 0) - math.log(sq.numel()))


def prototype_margin(z: torch.Tensor, prototypes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample margin ``max_k cos(z, p[y,k]) - max_{c != y, k} cos(z, p[c,k])``.

    Positive: the sample is closer to a prototype of its own class than to any
    other class's. ``prototypes`` is (C, d) or (C, K, d).
    """
    if prototypes.dim() == 2:
        prototypes = prototypes[:, None]
    c, k, d = prototypes.shape
    s = cosine_matrix(z, prototypes.reshape(c * k, d)).reshape(-1, c, k).amax(dim=2)
    y = y.to(s.device).long()
    own = s.gather(1, y[:, None]).squeeze(1)
    others = s.masked_fill(F.one_hot(y, c).bool(), float("-inf")).amax(dim=1)
    return own - others


def _check_nd(n: int, d: int) -> None:
    if n < 1 or d < 1:
        raise ValueError(f"Need at least one point in at least one dimension, got n={n}, d={d}.")
