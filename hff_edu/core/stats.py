"""Comparing two accuracies the right way: paired tests on one test set, and seeds.

Two models scored on the *same* test images make correlated errors: most images both get right,
some both get wrong, and only the images where they disagree say which is better. A paired test
uses exactly those. Taught in 03_hff_training (Exercise 3) and used by every notebook's claims.

- :func:`mcnemar`: two classifiers, right/wrong per image, on one test set. Exact two-sided
  binomial test on the discordant images (``b`` = only A right, ``c`` = only B right).
- :func:`paired_bootstrap`: per-image scores in [0, 1] (e.g. the fraction of several draws that
  got an image right): resample the images, keep the pairs together.
- :func:`seed_test`: one accuracy per seed for each method (the same seeds for both): a paired t
  test over seeds, for claims about *methods* rather than about two trained models.
- :func:`difference_noise`: two standard errors of the difference of two *independent*
  accuracies, ``z sqrt(p1 q1 / n1 + p2 q2 / n2)``: about sqrt(2) times one accuracy's error.
- :func:`accuracy_noise`: two standard errors of *one* accuracy (an error bar, not a comparison).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: the significance level every claim and sentence uses
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """The outcome of a paired comparison of A against B (accuracies, their gap, a p-value)."""

    name_a: str
    name_b: str
    acc_a: float
    acc_b: float
    p_value: float
    test: str
    n: int
    detail: str = ""
    #: what ``n`` counts: test samples for McNemar and the bootstrap, seeds for :func:`seed_test`
    units: str = "test samples"

    @property
    def gap(self) -> float:
        return self.acc_a - self.acc_b

    def resolved(self, alpha: float = ALPHA) -> bool:
        """True when the test tells A and B apart at level ``alpha``."""
        return self.p_value < alpha

    def favours(self, name: str, alpha: float = ALPHA) -> bool:
        """True when ``name`` (A's or B's) is ahead and the gap is resolved."""
        if name not in (self.name_a, self.name_b):
            raise ValueError(f"{name!r} is neither {self.name_a!r} nor {self.name_b!r}.")
        ahead = self.name_a if self.gap > 0 else self.name_b
        return self.resolved(alpha) and self.gap != 0 and ahead == name

    def sentence(self, alpha: float = ALPHA, scale: float = 100.0, unit: str = " points") -> str:
        """One line saying what this comparison supports (a ranking only when it is resolved)."""
        fa, fb = f"{self.acc_a:.4f}", f"{self.acc_b:.4f}"
        gap = f"{abs(self.gap) * scale:.2g}{unit}"
        stats = f"{self.test}, {_p(self.p_value)}{', ' + self.detail if self.detail else ''}"
        if not self.resolved(alpha) or self.gap == 0:
            return (f"{self.name_a} ({fa}) and {self.name_b} ({fb}) differ by {gap}: not resolved on these "
                    f"{self.n} {self.units} ({stats}).")
        better, worse = (self.name_a, self.name_b) if self.gap > 0 else (self.name_b, self.name_a)
        return f"{better} is ahead of {worse} by {gap} ({self.name_a} {fa}, {self.name_b} {fb}; {stats})."

    def __str__(self) -> str:
        return self.sentence()


def _p(p: float) -> str:
    return f"p = {p:.2g}" if p >= 1e-4 else "p < 1e-4"


def _as_scores(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x).detach().cpu().reshape(-1)
    if t.dtype == torch.bool:
        return t.double()
    t = t.double()
    if t.numel() and (t.min() < 0 or t.max() > 1 or not torch.isfinite(t).all()):
        raise ValueError(f"{name} must hold per-sample scores in [0, 1] (True/False for right/wrong), "
                         f"got values from {float(t.min()):g} to {float(t.max()):g}.")
    return t


def _pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_scores(a, "a"), _as_scores(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"A paired comparison needs one score per test sample for both, on the same samples: "
                         f"got {a.numel()} and {b.numel()}.")
    if a.numel() == 0:
        raise ValueError("No test samples to compare on.")
    return a, b


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips (``min(1, 2 P(X <= min(k, n-k)))``)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    # sum in log space: exact enough for n in the tens of thousands
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, 2.0 * math.exp(top) * sum(math.exp(v - top) for v in logs))


def mcnemar(correct_a, correct_b, name_a: str = "A", name_b: str = "B") -> Comparison:
    """Exact McNemar test of two classifiers on one test set.

    ``correct_a``, ``correct_b``: True where the classifier got sample i right (same samples, same
    order). Only the discordant samples count: ``b`` (A right, B wrong) and ``c`` (B right, A wrong);
    under "equally good" each is a fair coin, so the p-value is the binomial test of b in b + c.
    """
    a, b = _pair(correct_a, correct_b)
    if not (set(a.unique().tolist()) <= {0.0, 1.0} and set(b.unique().tolist()) <= {0.0, 1.0}):
        raise ValueError("mcnemar needs right/wrong (True/False) per sample; use paired_bootstrap for scores.")
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    return Comparison(name_a, name_b, float(a.mean()), float(b.mean()), binomial_two_sided(only_a, only_a + only_b),
                      "McNemar", a.numel(), f"{only_a} only {name_a} right, {only_b} only {name_b} right")


def paired_bootstrap(score_a, score_b, name_a: str = "A", name_b: str = "B", resamples: int = 4000,
                     seed: int = 0) -> Comparison:
    """Paired bootstrap of the mean difference of per-sample scores in [0, 1] on the same samples.

    Resamples the samples with replacement (pairs kept together); the two-sided p-value is twice
    the share of resampled differences on the other side of zero. Seeded: the same inputs give
    the same p-value.
    """
    a, b = _pair(score_a, score_b)
    d = a - b
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(d.numel(), (resamples, d.numel()), generator=g)
    means = d[idx].mean(dim=1)
    gap = float(d.mean())
    if gap == 0:
        p = 1.0
    else:
        other_side = (means <= 0).double().mean() if gap > 0 else (means >= 0).double().mean()
        p = min(1.0, 2.0 * max(float(other_side), 1.0 / resamples))
    lo, hi = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return Comparison(name_a, name_b, float(a.mean()), float(b.mean()), p, "paired bootstrap", a.numel(),
                      f"95% interval of the gap [{lo * 100:+.2g}, {hi * 100:+.2g}] points")


def compare(a, b, name_a: str = "A", name_b: str = "B") -> Comparison:
    """:func:`mcnemar` when both are right/wrong per sample, else :func:`paired_bootstrap`."""
    ta, tb = _pair(a, b)
    binary = set(ta.unique().tolist()) <= {0.0, 1.0} and set(tb.unique().tolist()) <= {0.0, 1.0}
    return mcnemar(ta, tb, name_a, name_b) if binary else paired_bootstrap(ta, tb, name_a, name_b)


def seed_test(acc_a, acc_b, name_a: str = "A", name_b: str = "B") -> Comparison:
    """Paired t test over seeds: ``acc_a[i]`` and ``acc_b[i]`` come from the same seed i.

    For claims about methods: it asks whether A beats B whichever seed trains them, not whether
    one trained model beats another on this test set.
    """
    a, b = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (acc_a, acc_b))
    if a.shape != b.shape or a.numel() < 2:
        raise ValueError(f"seed_test needs the same seeds for both, at least 2: got {a.numel()} and {b.numel()}.")
    d = a - b
    sd = float(d.std(unbiased=True))
    n = d.numel()
    if sd == 0:
        p = 1.0 if float(d.mean()) == 0 else 0.0
    else:
        from scipy.stats import t as student_t
        p = float(2 * student_t.sf(abs(float(d.mean())) / (sd / math.sqrt(n)), n - 1))
    return Comparison(name_a, name_b, float(a.mean()), float(b.mean()), p, f"paired t over {n} seeds", n,
                      f"gap {float(d.mean()) * 100:+.2g} +- {sd / math.sqrt(n) * 100:.2g} points (s.e.)", units="seeds")


def binomial_above(correct, p0: float, name: str = "A", reference: str = "chance") -> Comparison:
    """One accuracy against a fixed level ``p0`` (e.g. chance): exact one-sided binomial test."""
    a = _as_scores(correct, "correct")
    n, k = a.numel(), int(a.sum())
    from scipy.stats import binom
    p = float(binom.sf(k - 1, n, p0))  # P(X >= k) under p0
    return Comparison(name, reference, k / n, p0, p, "binomial test", n)


def difference_noise(p1: float, n1: int, p2: float, n2: int, z: float = 2.0) -> float:
    """``z`` standard errors of ``p1 - p2`` for two accuracies on *independent* samples of sizes n1, n2."""
    return math.hypot(accuracy_noise(p1, n1, 1.0), accuracy_noise(p2, n2, 1.0)) * z


def accuracy_noise(acc: float, n: int, z: float = 2.0) -> float:
    """``z`` standard errors of *one* accuracy measured on ``n`` samples: ``z * sqrt(p (1 - p) / n)``
    (p clipped away from 0 and 1 so a perfect score still has an error bar). An error bar: to
    compare two accuracies use :func:`mcnemar` (same samples) or :func:`difference_noise`."""
    if n < 1:
        raise ValueError(f"n={n}: an accuracy needs at least one sample.")
    p = min(max(acc, 1.0 / n), 1.0 - 1.0 / n) if n > 1 else 0.5
    return z * (p * (1 - p) / n) ** 0.5
