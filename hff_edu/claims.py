"""Claim checks for the notebooks: a notebook asserts its key claims on its own results.

A claim either holds (printed), fails (an ``AssertionError``: the papermill run fails when
the science breaks, not only when the code crashes), or is skipped with a printed reason
where the profile is too small for it to mean anything. Never a threshold that always
passes: skip instead, and say why.

    claims = Claims(PROFILE)
    claims.check("HFF beats chance", hff_acc > 2 * chance, f"HFF {hff_acc:.3f}, chance {chance:.3f}")
    claims.check("HFF within 2 points of backprop", abs(hff_acc - bp_acc) <= 0.02,
                 f"HFF {hff_acc:.3f}, BP {bp_acc:.3f}",
                 skip_in={"smoke": "a few seconds of training on 500 images cannot rank methods"})
    claims.summary()

Printed lines (what tests and the teacher's guide count):
``[claim] <name>: holds (<detail>)``, ``[claim] <name>: skipped in <profile>: <reason>``.
:func:`gap_sentence` turns two measured numbers into the one-line conclusion a run
supports ("... not visible at this size" included), so prose never states an outcome the
run contradicts.
"""
from __future__ import annotations

from typing import Callable

HOLDS, SKIPPED = "holds", "skipped"


class ClaimFailed(AssertionError):
    """A notebook's claim does not hold on its own results."""


class Claims:
    """The claim checks of one notebook run in profile ``profile``; ``results`` maps name -> state."""

    def __init__(self, profile: str):
        self.profile = profile
        self.results: dict[str, str] = {}

    def check(self, name: str, condition, detail: str = "", skip_in: dict | None = None) -> bool:
        """Assert ``condition`` (a bool or a zero-argument callable), unless this profile is in
        ``skip_in`` (profile -> the reason the claim cannot be meaningful there)."""
        reason = (skip_in or {}).get(self.profile)
        if reason:
            self.results[name] = SKIPPED
            print(f"[claim] {name}: {SKIPPED} in {self.profile}: {reason}")
            return False
        holds = bool(condition() if isinstance(condition, Callable) else condition)
        if not holds:
            self.results[name] = "failed"
            raise ClaimFailed(f"[claim] {name}: does not hold in this run ({detail})")
        self.results[name] = HOLDS
        print(f"[claim] {name}: {HOLDS}" + (f" ({detail})" if detail else ""))
        return True

    def summary(self) -> dict:
        """Print and return how many claims held and how many were skipped."""
        counts = {HOLDS: 0, SKIPPED: 0}
        for state in self.results.values():
            counts[state] = counts.get(state, 0) + 1
        print(f"claims ({self.profile}): {counts[HOLDS]} held, {counts[SKIPPED]} skipped")
        return counts


def gap_sentence(name_a: str, a: float, name_b: str, b: float, noise: float, unit: str = "",
                 scale: float = 1.0) -> str:
    """One line saying what this run shows about ``a`` against ``b``.

    ``noise`` is the smallest difference the run can resolve (e.g. 2 standard errors of an
    accuracy on the test subset, see :func:`accuracy_noise`): a gap below it is reported
    as "not visible at this size", never as a ranking.
    """
    gap = a - b
    fa, fb, fg = f"{a * scale:.3g}{unit}", f"{b * scale:.3g}{unit}", f"{abs(gap) * scale:.2g}{unit}"
    if abs(gap) <= noise:
        return (f"{name_a} ({fa}) and {name_b} ({fb}) differ by {fg}, less than this run can resolve "
                f"({noise * scale:.2g}{unit}): a difference is not visible at this size.")
    better, worse = (name_a, name_b) if gap > 0 else (name_b, name_a)
    return f"In this run {better} is ahead of {worse} by {fg} ({name_a} {fa}, {name_b} {fb})."


def accuracy_noise(acc: float, n: int, z: float = 2.0) -> float:
    """``z`` standard errors of an accuracy measured on ``n`` samples: ``z * sqrt(p (1 - p) / n)``
    (with p clipped away from 0 and 1 so a perfect score still has an error bar). The gap
    between two accuracies on the same samples is resolved when it exceeds about this."""
    if n < 1:
        raise ValueError(f"n={n}: an accuracy needs at least one sample.")
    p = min(max(acc, 1.0 / n), 1.0 - 1.0 / n) if n > 1 else 0.5
    return z * (p * (1 - p) / n) ** 0.5
