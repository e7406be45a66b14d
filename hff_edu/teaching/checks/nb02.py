"""Exercises of 02_prototype_geometry: predict the ETF's cosine, explain the ReLU floor, choose a
temperature for C classes, and derive the gradient that reaches a layer's activity."""
from __future__ import annotations

import math

import torch

from ..exercises import digest, exercise

#: the package's prototype builders: predicting the ETF cosine by building one is measuring, not predicting
_BUILDERS = ["hff_edu.core.geometry.simplex_etf", "hff_edu.core.geometry.init_prototypes",
             "hff_edu.core.geometry.separate", "hff_edu.core.geometry.helmert_basis"]


@exercise("02.1", "predict the ETF's cosine", kind="predict", level=2, minutes=8, forbid=_BUILDERS)
def _etf_cosine(t, etf_cosine):
    for C, what in ((3, "C = 3"), (10, "C = 10"), (100, "C = 100"), (2, "a hidden C"), (7, "a hidden C"),
                    (1000, "a hidden C")):
        got = t.number(t.call(etf_cosine, C), f"etf_cosine({C})" if "hidden" not in what else "the prediction")
        t.require(-1.0 <= got <= 1.0, f"for {what} the prediction is not a cosine: a cosine lies in [-1, 1].")
        if C == 100 and abs(got) < 1e-3:
            t.fail("for C = 100 you predict orthogonal prototypes (cosine 0). Orthogonal is what random "
                   "vectors in many dimensions are; spread on purpose, the prototypes can do a little better.")
        t.close(got, -1.0 / (C - 1), f"{what} (the common cosine of C prototypes spread as far apart as possible)",
                rtol=1e-3, atol=1e-5)


@exercise("02.2", "why ReLU embeddings miss the ETF floor", kind="explain", level=2, minutes=5)
def _why_relu(t, answer):
    t.choice(answer, digest("b"), {
        "a": "more steps do not help: both runs above stopped changing long before their last step, and the "
             "free run reached its floor with the same number of steps. The limit is in what z can be.",
        "c": "the prototypes have no ReLU: they can point anywhere, and 10 prototypes need only 9 dimensions "
             "for an ETF (the run has more). Look at the cosines between the embeddings instead.",
        "d": "true at tau = 1, but the floor is computed at the same tau: it already includes that the softmax "
             "cannot reach probability 1. The question is why the ReLU run stops above that floor.",
    })


def _q_best(C: int, tau: float) -> float:
    """The best case's probability of the true class for ReLU embeddings (margin sqrt(C/(C-1)))."""
    return 1.0 / (1.0 + (C - 1) * math.exp(-math.sqrt(C / (C - 1)) / tau))


@exercise("02.3", "choose a temperature for C classes", kind="design", level=2, minutes=10,
          forbid=["hff_edu.viz.geometry_views.best_case_loss", "hff_edu.viz.geometry_views.best_case_margin"])
def _choose_tau(t, choose_tau):
    cases = [(10, 0.95, "C = 10, q = 0.95"), (100, 0.95, "C = 100, q = 0.95"),
             (2, 0.99, "a hidden case"), (37, 0.9, "a hidden case"), (1000, 0.99, "a hidden case")]
    for C, q, what in cases:
        tau = t.number(t.call(choose_tau, C, q), "the temperature")
        t.require(tau > 0, f"for {what} the temperature is {tau:g}: it must be above 0.")
        reached = _q_best(C, tau)
        if reached < q - 1e-6:
            t.fail(f"for {what}, at your tau even the best ReLU embedding puts only {reached:.3f} on its class: "
                   "tau is too high. Which margin can ReLU embeddings keep (section 3)?")
        if _q_best(C, 1.01 * tau) >= q:
            t.fail(f"for {what} your tau works, but a tau 1% higher would still work: the question asks for "
                   "the largest one (a lower tau than needed makes the softmax sharper than it has to be).")


@exercise("02.4", "the gradient that reaches h", kind="compute", level=3, minutes=15,
          forbid=["hff_edu.methods.hff.hff_loss", "hff_edu.methods.hff.sphere", "hff_edu.core.geometry.normalise",
                  "hff_edu.core.geometry.cosine_matrix", "torch.autograd.grad", "torch.autograd.backward",
                  "torch.func.grad", "torch.func.vjp", "torch.func.jacrev"])
def _grad_h(t, grad_h):
    g = torch.Generator().manual_seed(2024)
    cases = []
    for d, C, length, tau, what in ((2, 3, 1.0, 0.5, "h of length 1 in R^2, 3 prototypes"),
                                    (16, 10, 0.3, 0.1, "a hidden case (h shorter than 1)"),
                                    (16, 10, 7.0, 1.0, "a hidden case (h longer than 1)"),
                                    (5, 4, 2.5, 0.05, "a hidden case (low temperature)")):
        h = torch.randn(d, generator=g, dtype=torch.float64)
        h = h / h.norm() * length
        P = torch.randn(C, d, generator=g, dtype=torch.float64) * (0.5 + 2 * torch.rand(C, 1, generator=g,
                                                                                         dtype=torch.float64))
        y = int(torch.randint(0, C, (1,), generator=g))
        cases.append((h, P, y, tau, what))
    for h, P, y, tau, what in cases:
        hh = h.clone().requires_grad_(True)
        z = hh / hh.norm()
        s = (P / P.norm(dim=1, keepdim=True)) @ z
        loss = torch.logsumexp(s / tau, 0) - s[y] / tau
        expected, = torch.autograd.grad(loss, hh)
        got = t.call(grad_h, h.clone().float(), P.clone().float(), y, tau)
        t.require(torch.is_tensor(got) and tuple(got.shape) == tuple(h.shape),
                  f"for {what} the answer should be a tensor of h's shape {tuple(h.shape)}.")
        got = got.detach().double()
        if not torch.isfinite(got).all():
            t.fail(f"for {what} the gradient has NaN or infinite entries.")
        along = float((got @ h) / (h.norm() * got.norm().clamp_min(1e-12)))
        if abs(along) > 1e-3 and got.norm() > 1e-9:
            t.fail(f"for {what} your gradient has a part along h (cosine {along:+.3f} with h). Making h longer "
                   "does not change z = h/||h||, so the loss cannot change along h.")
        if torch.allclose(-got, expected, rtol=1e-3, atol=1e-6):
            t.fail(f"for {what} your vector is minus the gradient: the descent direction -dL/dh. Return dL/dh.")
        t.close(got, expected, what, rtol=1e-3, atol=1e-6)
