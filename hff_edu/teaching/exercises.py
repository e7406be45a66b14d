"""The notebooks' exercises: declared once, checked without giving the answer away.

Every exercise is declared in ``hff_edu/teaching/checks/`` (one module per notebook) with its key,
title, kind, difficulty and minutes, and the function that checks an answer::

    @exercise("01.1", "goodness", kind="compute", level=1, minutes=5,
              forbid=["hff_edu.methods.ff.goodness"])
    def _(t, my_goodness):
        for h in hidden_batches():                       # cases the student never sees
            t.close(t.call(my_goodness, h), (h ** 2).sum(1), f"a batch of shape {tuple(h.shape)}")

The notebook holds the student's answer, a function whose body is the worked solution between
nbgrader's markers (the student edition has ``raise NotImplementedError`` there), and one line::

    check("01.1", my_goodness)

What a check does, and does not do:

- it tests properties and hidden cases, and its messages say *what* is wrong ("the loss is not
  finite for goodness values in the thousands"), never the expected value;
- while it calls the answer, the functions the exercise rebuilds are forbidden
  (:mod:`hff_edu.teaching.forbid`): an answer that calls the package's own is wrong;
- a wrong answer prints what is wrong and the notebook goes on: Run All never stops on a
  student's answer. Only the notebook runner, which executes the teacher's solutions, stops on one
  (``HFF_EDU_EXERCISES=strict``), because there a wrong answer is a bug of the course;
- hints are not printed: they sit under each exercise in collapsed ``<details>`` blocks, in
  stages, for the student to open when stuck.

Kinds (:data:`KINDS`): *compute* (write the function), *predict* (commit to a prediction, then
measure), *debug* (find and fix the bug in given code), *design* (choose something the way a study
would, e.g. on a validation split), *explain* (pick the explanation the evidence supports; each
wrong option gets its own feedback). :func:`summary` prints ``exercises: A correct, B wrong, C not
solved yet``.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .forbid import ForbiddenCall, forbidden

CORRECT, WRONG, UNSOLVED = "correct", "wrong", "not solved yet"
#: name -> state (correct, wrong, not solved yet) of every check run in this session
RESULTS: dict[str, str] = {}
#: the kinds of exercise, as the notebooks' headers name them
KINDS = ("compute", "predict", "debug", "design", "explain")
STARS = {1: "★", 2: "★★", 3: "★★★"}
#: who runs the notebook: ``strict`` (the notebook runner, on the teacher's solutions: a wrong answer
#: raises) or ``friendly`` (everyone else: a wrong answer prints what is wrong and the notebook goes on)
MODE_ENV = "HFF_EDU_EXERCISES"
STUCK = "Stuck? Open the hints under the exercise, one at a time. The notebook goes on either way."


class ExerciseError(AssertionError):
    """A wrong answer where wrong answers must stop the run (strict mode: the teacher's solutions)."""


class Unsolved(Exception):
    """The answer is still the stub (``raise NotImplementedError``, or None)."""


class Wrong(Exception):
    """The answer is wrong; the message says what is wrong (never the expected value)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what kind, how hard, how long, and the function that checks it."""
    key: str
    title: str
    kind: str
    level: int
    minutes: int
    checker: Callable = field(repr=False, compare=False)
    forbid: tuple[str, ...] = ()

    @property
    def notebook(self) -> str:
        """The notebook's number: ``"02b"`` for ``"02b.3"``."""
        return self.key.split(".")[0]

    def header(self) -> str:
        """The exercise's heading in its notebook (``tests/test_exercises.py`` keeps the two in step)."""
        return (f"**Exercise {self.key} · {self.title}** · {self.kind} · {STARS[self.level]} · "
                f"~{self.minutes} min")


#: key -> Exercise, for every exercise of the course (filled by hff_edu.teaching.checks)
REGISTRY: dict[str, Exercise] = {}


def exercise(key: str, title: str, *, kind: str, level: int, minutes: int, forbid=()) -> Callable:
    """Declare an exercise; decorates its checker ``checker(t, answer, **context)``."""
    if kind not in KINDS:
        raise ValueError(f"exercise {key}: kind {kind!r} is not one of {KINDS}.")
    if level not in STARS:
        raise ValueError(f"exercise {key}: level must be 1, 2 or 3, got {level!r}.")
    if not (isinstance(minutes, int) and 1 <= minutes <= 120):
        raise ValueError(f"exercise {key}: minutes must be a whole number from 1 to 120, got {minutes!r}.")

    def register(checker: Callable) -> Callable:
        if key in REGISTRY and REGISTRY[key].checker.__qualname__ != checker.__qualname__:
            raise ValueError(f"exercise {key} is declared twice ({REGISTRY[key].title!r} and {title!r}).")
        REGISTRY[key] = Exercise(key, title, kind, level, minutes, checker, tuple(forbid))
        return checker
    return register


def lookup(key: str) -> Exercise:
    """The exercise with this key (loading the declarations on first use)."""
    from . import checks  # noqa: F401  (registers every notebook's exercises)
    if key not in REGISTRY:
        same = sorted(k for k in REGISTRY if k.split(".")[0] == key.split(".")[0])
        raise KeyError(f"no exercise {key!r}; this notebook's are {same or 'none'} "
                       "(declared in hff_edu/teaching/checks/).")
    return REGISTRY[key]


# ----------------------------------------------------------------------------
# what a checker uses


def digest(answer: Any) -> str:
    """A short fingerprint of a normalised answer: how a checker stores the right option of a choice
    without writing it in the package's source."""
    text = str(answer).strip().lower()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _array(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=float)


class Tester:
    """What a checker is given: calls of the answer under the exercise's rules, and comparisons
    whose messages describe the problem without the expected value."""

    def __init__(self, ex: Exercise):
        self.exercise = ex

    def fail(self, message: str):
        raise Wrong(message)

    def require(self, condition: Any, message: str) -> None:
        """``message`` (what is wrong) unless ``condition`` holds."""
        if not bool(condition):
            raise Wrong(message)

    def call(self, fn: Any, *args, **kwargs) -> Any:
        """The answer's result for these arguments, with the exercise's forbidden functions forbidden.
        A stub is "not solved yet"; an error in the answer is a wrong answer that says which call raised."""
        if fn is None:
            raise Unsolved
        if not callable(fn):
            raise Wrong(f"the answer should be a function; it is a {type(fn).__name__}.")
        with forbidden(self.exercise.forbid) as seen:
            try:
                result = fn(*args, **kwargs)
            except NotImplementedError:
                raise Unsolved from None
            except ForbiddenCall:
                result = None
            except (Wrong, Unsolved):
                raise
            except Exception as exc:  # the student's error, reported as the exercise's
                name = getattr(fn, "__name__", "the answer")
                raise Wrong(f"calling `{name}` raised {type(exc).__name__}: {exc}") from None
        if seen:
            raise Wrong(f"the answer calls `{seen[0]}`, which is what this exercise asks you to write "
                        "yourself. Use plain torch operations instead.")
        if result is None:
            raise Unsolved
        return result

    def value(self, answer: Any) -> Any:
        """A value answer, or a zero-argument function's result (a stub is "not solved yet")."""
        return self.call(answer) if callable(answer) and not torch.is_tensor(answer) else \
            self._not_none(answer)

    @staticmethod
    def _not_none(answer):
        if answer is None or answer is Ellipsis:
            raise Unsolved
        return answer

    def number(self, value: Any, what: str = "the answer") -> float:
        """``value`` as a finite float, or a wrong answer saying it is not one."""
        try:
            number = float(_array(value).reshape(-1)[0]) if np.size(_array(value)) == 1 else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise Wrong(f"{what} should be a single number; it is {type(value).__name__} {value!r:.60}.")
        if not math.isfinite(number):
            raise Wrong(f"{what} is {number}, not a finite number.")
        return number

    def close(self, got: Any, expected: Any, what: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
        """``got`` equals ``expected`` within the tolerances; the message gives the shape and which
        entries differ, never the expected values."""
        g, e = _array(got), _array(expected)
        if g.shape != e.shape:
            raise Wrong(f"for {what} the result has shape {g.shape}; it should have one value per "
                        f"{'entry' if e.ndim else 'call'}: shape {e.shape}.")
        if not np.all(np.isfinite(g)):
            bad = int(np.sum(~np.isfinite(g)))
            raise Wrong(f"for {what} the result has {bad} NaN or infinite value(s).")
        off = ~np.isclose(g, e, rtol=rtol, atol=atol)
        if off.any():
            if e.ndim == 0:
                raise Wrong(f"for {what} the value is not right (beyond a relative tolerance of {rtol:g}).")
            first = tuple(int(i) for i in np.argwhere(off)[0])
            raise Wrong(f"for {what}, {int(off.sum())} of {off.size} values are not right (the first at "
                        f"index {first if len(first) > 1 else first[0]}).")

    def equal(self, got: Any, expected: Any, what: str) -> None:
        """Exact equality (ints, strings, sets, integer tensors), without showing ``expected``."""
        if torch.is_tensor(got) or torch.is_tensor(expected):
            same = torch.equal(torch.as_tensor(got).cpu(), torch.as_tensor(expected).cpu())
        else:
            same = got == expected
        if not same:
            raise Wrong(f"{what} is not right.")

    def choice(self, answer: Any, right: str, feedback: dict[str, str], options: str = "abcd") -> None:
        """A multiple-choice answer: ``right`` is the :func:`digest` of the right option, ``feedback`` maps
        each wrong option to what it overlooks (the answer key's "common wrong answers")."""
        picked = str(self.value(answer)).strip().lower()
        if picked not in options:
            raise Wrong(f"answer with one of {', '.join(repr(o) for o in options)}; got {picked!r}.")
        if digest(picked) != right:
            raise Wrong(feedback.get(picked, "that option does not fit the evidence; reread the section."))

    def choices(self, answers: Any, table: dict[str, tuple[str, dict[str, str]]], part: str = "question",
                options: str = "abcd") -> None:
        """A multiple-choice answer in several parts: ``answers`` (a dict, or a function returning one) gives
        one option letter per key of ``table``, which maps each part to ``(right, feedback)`` as :meth:`choice`
        takes them. ``part`` names what a key is ("question", "limit") in the messages.

        A missing part or an answer that is not a dict is wrong and says which keys are expected; every part
        is checked with :meth:`choice`, in ``table``'s order, and the first wrong one is reported with its key
        and its option's feedback, never the right option. Extra keys are ignored."""
        given = self.value(answers)
        if not isinstance(given, dict):
            raise Wrong(f"return a dict with one option letter per {part}: keys {sorted(table)}; "
                        f"the answer is a {type(given).__name__}.")
        missing = sorted(set(table) - set(given))
        if missing:
            raise Wrong(f"return a dict with one option letter per {part}: keys {sorted(table)}; "
                        f"{', '.join(repr(k) for k in missing)} {'is' if len(missing) == 1 else 'are'} missing.")
        for key, (right, feedback) in table.items():
            try:
                self.choice(given[key], right, feedback, options)
            except Wrong as wrong:
                raise Wrong(f"{part} {key!r}: {wrong}") from None


# ----------------------------------------------------------------------------
# what the notebook calls


def mode() -> str:
    """``strict`` under the notebook runner (``HFF_EDU_EXERCISES=strict``), else ``friendly``."""
    value = os.environ.get(MODE_ENV, "friendly").strip().lower()
    if value not in ("strict", "friendly"):
        raise ValueError(f"{MODE_ENV}={value!r}: use 'strict' (a wrong answer raises) or 'friendly'.")
    return value


def _report(ex: Exercise, state: str, message: str = "") -> None:
    head = f"[{ex.key} {ex.title}] {state}"
    if state == CORRECT:
        print(head)
    elif state == UNSOLVED:
        print(f"{head}: write your answer where it says `raise NotImplementedError`.")
    else:
        print(f"{head}: {message}\n    {STUCK}")


def check(key: str, answer: Any, **context) -> None:
    """Check ``answer`` to exercise ``key``: prints correct, wrong (what is wrong) or not solved yet and
    records it in :data:`RESULTS` (returns nothing, so a check cell shows no stray ``True``).
    ``context`` is what the checker needs from the notebook (a model, a measurement)."""
    ex = lookup(key)
    try:
        ex.checker(Tester(ex), answer, **context)
        state, message = CORRECT, ""
    except Unsolved:
        state, message = UNSOLVED, ""
    except Wrong as wrong:
        state, message = WRONG, str(wrong)
    RESULTS[key] = state
    if state == WRONG and mode() == "strict":
        raise ExerciseError(f"[{key} {ex.title}] {message}")
    _report(ex, state, message)


def summary() -> dict:
    """Print and return how many of this session's exercises are correct, wrong and not solved yet."""
    counts = {CORRECT: 0, WRONG: 0, UNSOLVED: 0}
    for state in RESULTS.values():
        counts[state] += 1
    print(f"exercises: {counts[CORRECT]} correct, {counts[WRONG]} wrong, {counts[UNSOLVED]} not solved yet")
    return counts


def catalogue(notebook: str | None = None) -> list[Exercise]:
    """Every declared exercise (of one notebook), in course order."""
    from . import checks  # noqa: F401
    order = lambda ex: (ex.notebook, [int(p) if p.isdigit() else p for p in ex.key.split(".")[1:]])  # noqa: E731
    return sorted((ex for ex in REGISTRY.values() if notebook in (None, ex.notebook)), key=order)
