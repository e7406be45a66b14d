"""Answers to 02's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import math

import torch

from hff_edu import geometry, hff
from hff_edu.viz import geometry_views as gv


def _grad_h_right(h, P, y, tau):
    z = h / h.norm()
    p = P / P.norm(dim=1, keepdim=True)
    q = torch.softmax(p @ z / tau, 0)
    g_z = (q @ p - p[y]) / tau                       # dL/dz
    return (g_z - (g_z @ z) * z) / h.norm()          # (I - z z^T) dL/dz / ||h||


def _grad_h_jacobian(h, P, y, tau):
    n = h.norm()
    z = h / n
    p = torch.nn.functional.normalize(P, dim=1)
    q = torch.softmax(p @ z / tau, 0)
    jac = (torch.eye(len(h)) - torch.outer(z, z)) / n  # dz/dh
    return jac @ ((q @ p - p[y]) / tau)


def _grad_z_only(h, P, y, tau):                      # forgets the normalisation of h
    p = P / P.norm(dim=1, keepdim=True)
    z = h / h.norm()
    q = torch.softmax(p @ z / tau, 0)
    return (q @ p - p[y]) / tau


def _no_length(h, P, y, tau):                        # projects, but forgets the 1/||h||
    g = _grad_h_right(h, P, y, tau)
    return g * h.norm()


def _grad_h_unnormalised(h, P, y, tau):
    z = h / h.norm()
    q = torch.softmax(P @ z / tau, 0)
    g_z = (q @ P - P[y]) / tau
    return (g_z - (g_z @ z) * z) / h.norm()


def _descent(h, P, y, tau):                          # the descent direction, -dL/dh
    return -_grad_h_right(h, P, y, tau)


def _no_tau(h, P, y, tau):                           # forgets the 1/tau of the chain rule
    return _grad_h_right(h, P, y, tau) * tau


def _autograd(h, P, y, tau):                         # what the exercise asks not to do
    h = h.clone().requires_grad_(True)
    z = h / h.norm()
    s = (P / P.norm(dim=1, keepdim=True)) @ z
    (torch.logsumexp(s / tau, 0) - s[y] / tau).backward()
    return h.grad


def _package_loss(h, P, y, tau):
    h = h.clone().requires_grad_(True)
    s = hff.sphere(h[None]) @ geometry.normalise(P).T
    g, = torch.autograd.grad(hff.hff_loss(s, torch.tensor([y]), tau), h)
    return g


def _tau_from_margin(margin_of):
    return lambda C, q: margin_of(C) / math.log((C - 1) * q / (1 - q))


def _tau_bisect(C, q):
    lo, hi = 1e-4, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        p = 1 / (1 + (C - 1) * math.exp(-math.sqrt(C / (C - 1)) / mid))
        lo, hi = (mid, hi) if p >= q else (lo, mid)
    return lo


def _tau_package(C, q):
    taus = torch.logspace(-3, 1, 4000).tolist()
    return max(t for t in taus if math.exp(-gv.best_case_loss(C, t, relu=True)) >= q)


SAMPLES = {
    "02.1": dict(
        right={"-1/(C-1)": lambda C: -1 / (C - 1), "from ||sum p||^2 >= 0": lambda C: -C / (C * (C - 1))},
        wrong={"orthogonal (0)": lambda C: 0.0, "-1/C": lambda C: -1 / C, "antipodal (-1)": lambda C: -1.0,
               "a regular polygon, cos(2 pi / C)": lambda C: math.cos(2 * math.pi / C),
               "-1/(C+1)": lambda C: -1 / (C + 1)},
        package={"measured on geometry.simplex_etf": lambda C: geometry.cosine_matrix(
            geometry.simplex_etf(C, C))[0, 1].item()},
    ),
    "02.2": dict(
        right={"b": lambda: "b", "B (upper case)": lambda: "B"},
        wrong={"a: not converged": lambda: "a", "c: prototypes": lambda: "c", "d: tau = 1": lambda: "d",
               "not an option": lambda: "e"},
    ),
    "02.3": dict(
        right={"closed form": _tau_from_margin(lambda C: math.sqrt(C / (C - 1))), "bisection": _tau_bisect},
        wrong={"ETF margin (embeddings anywhere)": _tau_from_margin(lambda C: C / (C - 1)),
               "margin 1 (orthogonal prototypes)": _tau_from_margin(lambda C: 1.0),
               "forgets the C - 1 other classes": lambda C, q: math.sqrt(C / (C - 1)) / math.log(q / (1 - q)),
               "q/(1-q) written as 1/(1-q)": lambda C, q: math.sqrt(C / (C - 1)) / math.log((C - 1) / (1 - q)),
               "the default tau, whatever C": lambda C, q: 0.1 if C <= 10 else 0.05},
        package={"searches with gv.best_case_loss": _tau_package},
    ),
    "02.4": dict(
        right={"projection / ||h||": _grad_h_right, "Jacobian of h/||h||": _grad_h_jacobian},
        wrong={"dL/dz (no normalisation)": _grad_z_only, "no 1/||h||": _no_length,
               "prototypes not normalised": _grad_h_unnormalised, "descent direction": _descent,
               "forgets 1/tau": _no_tau},
        package={"autograd": _autograd, "hff.hff_loss with autograd": _package_loss},
    ),
}
