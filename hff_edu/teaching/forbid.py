"""Make named functions refuse to run for a while: how an exercise check tells a rebuilt function
from a call of the one it rebuilds.

An exercise such as "write the FF loss" is solved by ``return ff.ff_loss(...)`` unless the check
can see that call. :func:`forbidden` swaps the code of each named Python function for one that
raises :class:`ForbiddenCall` (so every alias is caught: ``ff.ff_loss``, ``from ... import
ff_loss``, a method that calls it), and watches C functions (``torch.cdist``'s kernel, say) with a
profile hook. Whatever the answer does with the exception (``try: ... except Exception``), the
call is recorded, so it cannot be hidden. Everything is put back when the block ends.
"""
from __future__ import annotations

import importlib
import inspect
import sys
import types
from contextlib import contextmanager
from typing import Iterator

#: one list per open :func:`forbidden` block: the forbidden calls seen in it
_ACTIVE: list[list[str]] = []


class ForbiddenCall(Exception):
    """The answer called a function the exercise asks the student to write themselves."""

    def __init__(self, name: str):
        super().__init__(f"`{name}` is what this exercise asks you to write yourself")
        self.name = name


def _trip(name: str):
    """Called by a swapped-out function: record the call, then raise."""
    for seen in _ACTIVE:
        seen.append(name)
    raise ForbiddenCall(name)


def resolve(name: str):
    """The object a dotted name such as ``hff_edu.methods.ff.ff_loss`` or ``torch.nn.functional.normalize``
    names (the longest importable module prefix, then attributes)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise ValueError(f"cannot forbid {name!r}: no such module attribute; give the full dotted name, "
                     "e.g. 'hff_edu.methods.ff.ff_loss'.")


def _target(name: str, obj):
    """The function whose code is swapped (a class's own ``__init__``; a decorated function's inner one),
    or the object to watch with the profile hook."""
    if inspect.isclass(obj):
        if "__init__" not in vars(obj):
            raise ValueError(f"cannot forbid class {name!r}: it has no __init__ of its own to swap; forbid "
                             "the function the exercise rebuilds instead.")
        obj = vars(obj)["__init__"]
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    return obj


def _raiser(name: str) -> types.CodeType:
    source = (f"def _forbidden(*args, **kwargs):\n"
              f"    __import__('hff_edu.teaching.forbid', fromlist=['_trip'])._trip({name!r})\n")
    space: dict = {}
    exec(compile(source, f"<forbidden {name}>", "exec"), space)
    return space["_forbidden"].__code__


@contextmanager
def forbidden(names) -> Iterator[list[str]]:
    """Within the block, calling any of ``names`` (dotted names) raises :class:`ForbiddenCall` (a plain
    Python function) or is recorded (a C function, or a closure, watched by a profile hook). Yields the
    list of forbidden calls seen: read it after the block, since a caught exception still counts."""
    targets = [(name, _target(name, resolve(name))) for name in names]
    seen: list[str] = []
    swapped, by_code, by_id, by_method = [], {}, {}, []
    for name, fn in targets:
        if isinstance(fn, types.FunctionType) and not fn.__code__.co_freevars:
            swapped.append((fn, fn.__code__, name))
        elif isinstance(fn, types.FunctionType):
            by_code[fn.__code__] = name
        else:
            by_id[id(fn)] = name
            if hasattr(fn, "__objclass__"):  # a C method such as torch.Tensor.log_softmax: x.log_softmax(...)
                by_method.append((fn.__objclass__, fn.__name__, name))

    def bound(arg):  # a C method called on an instance arrives bound, with another id than the descriptor
        owner = getattr(arg, "__self__", None)
        for cls, attr, name in by_method:
            if owner is not None and getattr(arg, "__name__", None) == attr and isinstance(owner, cls):
                return name
        return None

    def hook(frame, event, arg):
        if event == "c_call":
            name = by_id.get(id(arg)) or (bound(arg) if by_method else None)
        else:
            name = by_code.get(frame.f_code) if event == "call" else None
        if name is not None:
            seen.append(name)

    previous = sys.getprofile()
    try:
        for fn, _, name in swapped:
            fn.__code__ = _raiser(name)
        if by_code or by_id:
            sys.setprofile(hook)
        _ACTIVE.append(seen)
        yield seen
    finally:
        _ACTIVE[:] = [other for other in _ACTIVE if other is not seen]
        if by_code or by_id:
            sys.setprofile(previous)
        for fn, code, _ in swapped:
            fn.__code__ = code
