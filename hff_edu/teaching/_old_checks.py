"""The old exercise checks (check_close, check_equal, ...), kept only while the notebooks move to
:func:`hff_edu.teaching.exercises.check`; deleted when the last one has moved. A wrong answer raises
:class:`ExerciseError` here as before."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from .exercises import CORRECT, RESULTS, UNSOLVED, ExerciseError



class _Unsolved(Exception):
    """Raised inside a check when the answer is a stub (None, or it raises NotImplementedError)."""


def _value(answer: Any) -> Any:
    """The answer itself: a callable is called (a stub's NotImplementedError means unsolved)."""
    if callable(answer) and not torch.is_tensor(answer):
        try:
            answer = answer()
        except NotImplementedError:
            raise _Unsolved from None
    if answer is None:
        raise _Unsolved
    return answer


def _to_array(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def _fail(name: str, message: str, hint: str) -> None:
    raise ExerciseError(f"[{name}] not yet: {message}" + (f"\n  hint: {hint}" if hint else ""))


def _ok(name: str, quiet: bool) -> bool:
    RESULTS[name] = CORRECT
    if not quiet:
        print(f"[{name}] {CORRECT}")
    return True


def _unsolved(name: str, hint: str) -> bool:
    RESULTS[name] = UNSOLVED
    print(f"[{name}] {UNSOLVED}: write your answer where it says `raise NotImplementedError`"
          + (f" (hint: {hint})" if hint else "") + ".")
    return False


def _checked(check: Callable) -> Callable:
    """Turn a stub answer into "not solved yet" instead of an error."""
    def wrapper(name: str, *args, hint: str = "", **kwargs) -> bool:
        try:
            return check(name, *args, hint=hint, **kwargs)
        except _Unsolved:
            return _unsolved(name, hint)
    wrapper.__doc__, wrapper.__name__, wrapper.__wrapped__ = check.__doc__, check.__name__, check
    return wrapper


@_checked
def check_close(name: str, answer: Any, expected: Any, rtol: float = 1e-3, atol: float = 1e-6,
                hint: str = "", quiet: bool = False) -> bool:
    """Answer equals ``expected`` (scalars or arrays, same shape) within the tolerances."""
    a, e = _to_array(_value(answer)), _to_array(expected)
    if a.shape != e.shape:
        _fail(name, f"expected shape {e.shape}, got {a.shape}.", hint)
    if not np.all(np.isfinite(a)):
        _fail(name, "the answer contains NaN or Inf.", hint)
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e)))
        shown = f"{float(e):.6g}, got {float(a):.6g}" if e.size == 1 else f"values off by up to {worst:.3g}"
        _fail(name, f"expected {shown}.", hint)
    return _ok(name, quiet)


@_checked
def check_equal(name: str, answer: Any, expected: Any, hint: str = "", quiet: bool = False) -> bool:
    """Exact equality (ints, strings, tuples, integer tensors)."""
    answer = _value(answer)
    if torch.is_tensor(answer) or torch.is_tensor(expected):
        same = torch.equal(torch.as_tensor(answer).cpu(), torch.as_tensor(expected).cpu())
    else:
        same = answer == expected
    if not same:
        _fail(name, f"expected {expected!r}, got {answer!r}.", hint)
    return _ok(name, quiet)


@_checked
def check_true(name: str, condition: Any, message: str, hint: str = "", quiet: bool = False) -> bool:
    """A claim about the answer holds; ``message`` says what should be true. ``condition``
    must come from the student's answer (e.g. ``lambda: f(x) > 0``), never be set by hand."""
    if not bool(_value(condition)):
        _fail(name, message, hint)
    return _ok(name, quiet)


@_checked
def check_range(name: str, answer: Any, low: float, high: float, hint: str = "",
                quiet: bool = False) -> bool:
    """``low <= answer <= high``: for measured quantities (accuracies, angles) that vary a little."""
    answer = _value(answer)
    if not math.isfinite(float(answer)):
        _fail(name, f"expected a number in [{low}, {high}], got {answer!r}.", hint)
    if not low <= float(answer) <= high:
        _fail(name, f"expected a value in [{low:.4g}, {high:.4g}], got {float(answer):.4g}.", hint)
    return _ok(name, quiet)


@_checked
def check_function(name: str, fn: Callable, reference: Callable, inputs: list, rtol: float = 1e-4,
                   atol: float = 1e-6, hint: str = "", quiet: bool = False) -> bool:
    """A student's function agrees with the reference on every input (each a tuple of arguments)."""
    if fn is None:
        raise _Unsolved
    for args in inputs:
        args = args if isinstance(args, tuple) else (args,)
        try:
            got = fn(*args)
        except NotImplementedError:
            raise _Unsolved from None
        except Exception as exc:  # show the student's error as the exercise's
            _fail(name, f"calling it raised {type(exc).__name__}: {exc}", hint)
        if got is None:
            raise _Unsolved
        check_close.__wrapped__(name, got, reference(*args), rtol=rtol, atol=atol, hint=hint, quiet=True)
    return _ok(name, quiet)
