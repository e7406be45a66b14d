"""Claim checks for the notebooks: a notebook checks its key claims on its own results.

A claim holds (printed), is skipped with a printed reason where the profile is too small or the
machine too busy for it to mean anything, or does not hold. What happens then depends on who runs
the notebook (``HFF_EDU_CLAIMS``, set by the notebook runner and CI):

- ``strict`` (the notebook runner, ``make notebooks``, CI; also whenever ``CI`` is set): a claim
  that does not hold raises :class:`ClaimFailed`, so the run fails when the science breaks, not
  only when the code crashes;
- ``friendly`` (the default: a student or a teacher in JupyterLab): a box says what was expected,
  what this run got and why that can happen, and the notebook goes on;
- ``record`` (``make claims-sweep``): one line per failed claim, the notebook goes on, so that a
  sweep over seeds sees every claim.

Never a threshold that always passes: skip instead, and say why. Comparisons of two accuracies
use the paired tests of :mod:`hff_edu.core.stats` (McNemar on the same test set); timing claims are
judged against the load measured *during* the measurement (:class:`hff_edu.measuring.load.LoadMeter`).

    claims = Claims(PROFILE)
    claims.check("HFF beats chance", stats.binomial_above(correct, 0.1).resolved(), "...")
    claims.check_better("tau = 0.1 beats tau = 1", stats.mcnemar(c01, c1, "tau = 0.1", "tau = 1"),
                        skip_in={"smoke": "500 images cannot resolve it"})
    claims.check_timing("HFF predicts faster than FF", t_hff < t_ff, f"{t_ff / t_hff:.1f}x", load)
    claims.summary()

Printed lines (what tests, the claim sweep and the teacher's guide count):
``[claim] <name>: holds (<detail>)``, ``[claim] <name>: skipped in <profile>: <reason>``,
``[claim] <name>: FAILED (<detail>)``.
"""
from __future__ import annotations

import html
import os
from ..measuring.load import LoadMeter
from ..core.stats import ALPHA, Comparison, accuracy_noise

HOLDS, SKIPPED, FAILED = "holds", "skipped", "failed"
#: who runs the notebook: how a claim that does not hold is reported (see the module docstring)
MODE_ENV = "HFF_EDU_CLAIMS"
MODES = ("strict", "friendly", "record")

#: why a claim can fail to hold on one run, by kind (the friendly box's last line)
WHY = {
    "result": ("A claim is checked on this run's numbers: another seed, a smaller profile or a change you made "
               "to the code above can move them. Try the next cells, then rerun with SEED = 1 to see whether it "
               "is this run or the claim; tell your teacher if it fails again."),
    "timing": ("Timings depend on the machine: other programs (a browser, a video call, another notebook) take "
               "cores from the measurement, and laptops slow down when hot or on battery. Close other programs "
               "and rerun the cell."),
}


class ClaimFailed(AssertionError):
    """A notebook's claim does not hold on its own results (raised in strict mode)."""


def mode() -> str:
    """How failed claims are reported now: ``HFF_EDU_CLAIMS``, else ``strict`` under CI, else ``friendly``."""
    value = os.environ.get(MODE_ENV, "").strip().lower()
    if value:
        if value not in MODES:
            raise ValueError(f"{MODE_ENV}={value!r}: choose one of {', '.join(MODES)}.")
        return value
    return "strict" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "friendly"


class Claims:
    """The claim checks of one notebook run in profile ``profile``; ``results`` maps name -> state."""

    def __init__(self, profile: str):
        self.profile = profile
        self.results: dict[str, str] = {}

    def check(self, name: str, condition, detail: str = "", skip_in: dict | None = None,
              why: str = WHY["result"], expected: str = "") -> bool:
        """Check ``condition`` (a bool or a zero-argument callable), unless this profile is in
        ``skip_in`` (profile -> the reason the claim cannot be meaningful there). ``expected``
        and ``why`` are for the friendly box: what the claim says, why it can fail on one run."""
        reason = (skip_in or {}).get(self.profile)
        if reason:
            return self.skip(name, reason)
        holds = bool(condition() if callable(condition) else condition)
        if holds:
            self.results[name] = HOLDS
            print(f"[claim] {name}: {HOLDS}" + (f" ({detail})" if detail else ""))
            return True
        self.results[name] = FAILED
        self._report_failure(name, detail, why, expected or name)
        return False

    def skip(self, name: str, reason: str) -> bool:
        """Record ``name`` as skipped in this profile, with the reason printed."""
        self.results[name] = SKIPPED
        print(f"[claim] {name}: {SKIPPED} in {self.profile}: {reason}")
        return False

    def check_better(self, name: str, comparison: Comparison, better: str | None = None,
                     skip_in: dict | None = None, alpha: float = ALPHA) -> bool:
        """Claim that ``better`` (default: the comparison's A) beats the other, resolved by the
        comparison's paired test at level ``alpha``."""
        better = better or comparison.name_a
        return self.check(name, comparison.favours(better, alpha), comparison.sentence(alpha), skip_in,
                          expected=f"{better} ahead, by more than chance differences on this test set explain "
                                   f"(p < {alpha})")

    def check_timing(self, name: str, condition, detail: str, load: LoadMeter,
                     skip_in: dict | None = None) -> bool:
        """A timing claim: skipped (with the measured load) when the machine did not give the
        measurement the cores it needed; otherwise as :meth:`check`."""
        skip = dict(skip_in or {})
        if self.profile not in skip and load.reason():
            skip[self.profile] = f"{load.reason()} (measured: {detail})"
        return self.check(name, condition, f"{detail}; {load}", skip, why=WHY["timing"])

    def expect(self, what: str, value: float, low: float, high: float, fmt: str = "{:.3f}",
               skip_in: dict | None = None, note: str = "") -> bool:
        """A "What you should see" box beside an experiment: the range runs of this profile land in, for
        any seed (``make claims-sweep`` checks it on five), and this run's value. A value outside the
        range is a claim that does not hold (strict under the runner, a friendly box for a student)."""
        if not low <= high:
            raise ValueError(f"expect({what!r}): low {low} is above high {high}.")
        reason = (skip_in or {}).get(self.profile)
        shown = f"between {fmt.format(low)} and {fmt.format(high)}"
        _see_box(what, shown, None if reason else fmt.format(value), note or reason or "")
        return self.check(f"what you should see: {what} {shown}", low <= value <= high, f"this run: {fmt.format(value)}",
                          skip_in, expected=f"{what} {shown}")

    def _report_failure(self, name: str, detail: str, why: str, expected: str) -> None:
        how = mode()
        line = f"[claim] {name}: FAILED ({detail})"
        if how == "strict":
            raise ClaimFailed(f"[claim] {name}: does not hold in this run ({detail})")
        print(line)
        if how == "friendly":
            _friendly_box(name, expected, detail, why)

    def summary(self) -> dict:
        """Print and return how many claims held, were skipped and failed."""
        counts = {HOLDS: 0, SKIPPED: 0, FAILED: 0}
        for state in self.results.values():
            counts[state] += 1
        extra = f", {counts[FAILED]} did not hold" if counts[FAILED] else ""
        print(f"claims ({self.profile}): {counts[HOLDS]} held, {counts[SKIPPED]} skipped{extra}")
        return counts


def _friendly_box(name: str, expected: str, got: str, why: str) -> None:
    """Show a claim that did not hold as a box in the notebook (text where there is no display)."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        print(f"  expected: {expected}\n  this run: {got}\n  why this can happen: {why}\n  (the notebook goes on)")
        return
    esc = html.escape
    display(HTML(
        '<div class="hff-claim-box" role="note" style="border:2px solid #E69F00;border-radius:6px;'
        'padding:8px 12px;margin:6px 0;background:#FFF8E6;color:#222">'
        f"<b>This run does not show: {esc(name)}</b><br>"
        f"<b>Expected:</b> {esc(expected)}<br><b>This run got:</b> {esc(got)}<br>"
        f"<b>Why that can happen:</b> {esc(why)}<br><i>The notebook goes on.</i></div>"))


def _see_box(what: str, shown: str, value: str | None, note: str) -> None:
    """The "What you should see" box (plain text where there is no display)."""
    run = f"this run: {value}" if value is not None else f"not checked in this profile: {note}"
    try:
        from IPython import get_ipython
        from IPython.display import display
        shell = get_ipython()
    except ImportError:
        shell = None
    text = f"What you should see: {what} {shown} ({run})."
    if shell is None:
        print(text)
        return
    esc = html.escape
    extra = f"<br><i>{esc(note)}</i>" if note and value is not None else ""
    display({"text/html": ('<div class="hff-see-box" role="note" style="border-left:4px solid #0072B2;'
                           'padding:6px 12px;margin:6px 0;background:#EEF5FB;color:#222">'
                           f"<b>What you should see:</b> {esc(what)} {esc(shown)}.<br>{esc(run[0].upper() + run[1:])}."
                           f"{extra}</div>"), "text/plain": text}, raw=True)


def gap_sentence(comparison: Comparison, alpha: float = ALPHA) -> str:
    """The one-line conclusion a paired comparison supports (see :meth:`Comparison.sentence`)."""
    return comparison.sentence(alpha)


__all__ = ["Claims", "ClaimFailed", "gap_sentence", "accuracy_noise", "mode", "MODE_ENV", "WHY"]
