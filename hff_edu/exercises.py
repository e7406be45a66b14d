"""Self-checking exercises for the notebooks.

Each check prints a short confirmation when the answer is right and raises
:class:`ExerciseError` (an ``AssertionError``) with a helpful message when it
is wrong, so a worked solution executed by papermill fails CI if it breaks.

    from hff_edu.exercises import check_close
    check_close("ETF cosine for 10 prototypes", my_answer, -1 / 9)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch


class ExerciseError(AssertionError):
    """A wrong answer to an exercise; the message says what was expected and a hint."""


def _to_array(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def _fail(name: str, message: str, hint: str) -> None:
    raise ExerciseError(f"[{name}] not yet: {message}" + (f"\n  hint: {hint}" if hint else ""))


def _ok(name: str, quiet: bool) -> bool:
    if not quiet:
        print(f"[{name}] correct")
    return True


def check_close(name: str, answer: Any, expected: Any, rtol: float = 1e-3, atol: float = 1e-6,
                hint: str = "", quiet: bool = False) -> bool:
    """Answer equals ``expected`` (scalars or arrays, same shape) within the tolerances."""
    if answer is None:
        _fail(name, "the answer is still None: replace the placeholder with your code.", hint)
    a, e = _to_array(answer), _to_array(expected)
    if a.shape != e.shape:
        _fail(name, f"expected shape {e.shape}, got {a.shape}.", hint)
    if not np.all(np.isfinite(a)):
        _fail(name, "the answer contains NaN or Inf.", hint)
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e)))
        shown = f"{float(e):.6g}, got {float(a):.6g}" if e.size == 1 else f"values off by up to {worst:.3g}"
        _fail(name, f"expected {shown}.", hint)
    return _ok(name, quiet)


def check_equal(name: str, answer: Any, expected: Any, hint: str = "", quiet: bool = False) -> bool:
    """Exact equality (ints, strings, tuples, integer tensors)."""
    if torch.is_tensor(answer) or torch.is_tensor(expected):
        same = torch.equal(torch.as_tensor(answer).cpu(), torch.as_tensor(expected).cpu())
    else:
        same = answer == expected
    if not same:
        _fail(name, f"expected {expected!r}, got {answer!r}.", hint)
    return _ok(name, quiet)


def check_true(name: str, condition: bool, message: str, hint: str = "", quiet: bool = False) -> bool:
    """A claim about the answer holds; ``message`` says what should be true."""
    if not bool(condition):
        _fail(name, message, hint)
    return _ok(name, quiet)


def check_range(name: str, answer: float, low: float, high: float, hint: str = "",
                quiet: bool = False) -> bool:
    """``low <= answer <= high``: for measured quantities (accuracies, angles) that vary a little."""
    if answer is None or not math.isfinite(float(answer)):
        _fail(name, f"expected a number in [{low}, {high}], got {answer!r}.", hint)
    if not low <= float(answer) <= high:
        _fail(name, f"expected a value in [{low:.4g}, {high:.4g}], got {float(answer):.4g}.", hint)
    return _ok(name, quiet)


def check_function(name: str, fn: Callable, reference: Callable, inputs: list, rtol: float = 1e-4,
                   atol: float = 1e-6, hint: str = "", quiet: bool = False) -> bool:
    """A student's function agrees with the reference on every input (each a tuple of arguments)."""
    if fn is None:
        _fail(name, "the function is still None: write it first.", hint)
    for args in inputs:
        args = args if isinstance(args, tuple) else (args,)
        try:
            got = fn(*args)
        except Exception as exc:  # show the student's error as the exercise's
            _fail(name, f"calling it raised {type(exc).__name__}: {exc}", hint)
        check_close(name, got, reference(*args), rtol=rtol, atol=atol, hint=hint, quiet=True)
    return _ok(name, quiet)
