"""Work counted, independent of the machine: the floating-point operations of the matrix products
(:func:`count_flops`, forward and backward), what this machine does with them at best
(:func:`matmul_peak`, a square float32 product), and a step's own matrix products replayed alone
(:func:`matmul_replay`): what it would cost if nothing but its arithmetic took time. Taught in 05_timing.
"""
from __future__ import annotations

import statistics
from typing import Callable

import torch

from .clocks import time_calls


def square_matmul(n: int, device=None, seed: int = 0) -> tuple[Callable, int]:
    """``(fn, flops)``: ``fn()`` multiplies two fixed n x n float32 matrices, ``flops = 2 n^3``.

    The best a machine does with the arithmetic a training step is made of: a
    large square product keeps the cores busy with multiply-adds and hides the
    memory traffic. Timed at the same thread count as the step it is compared to.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n={n}: the matrix size must be a positive integer.")
    n = int(n)
    gen = torch.Generator().manual_seed(seed)
    a, b = (torch.randn(n, n, generator=gen).to(device or "cpu") for _ in range(2))
    return (lambda: torch.mm(a, b)), 2 * n ** 3


def matmul_peak(sizes=(1000, 2000), repeats: int = 5, device=None, min_block_s: float = 0.2,
                clock: str = "wall") -> dict:
    """This machine's matmul peak at the current thread count: GFLOP/s of square float32
    products of each size in ``sizes`` (timed interleaved, medians), and the best of them.

    Returns ``gflops`` (the peak), ``size`` (where it was reached), ``by_size``
    (n -> GFLOP/s) and ``threads``. :func:`time_training` can time the same
    products interleaved with the training steps (its ``probes``), which is what
    a ratio "step FLOP rate / peak" should use on a shared machine.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    probes = {n: square_matmul(n, device) for n in sizes}
    if not probes:
        raise ValueError("sizes is empty: give at least one matrix size, e.g. sizes=(1000, 2000).")
    times = time_calls({n: fn for n, (fn, _) in probes.items()}, repeats, 1, device, min_block_s, clock)
    return peak_of({n: statistics.median(t) for n, t in times.items()},
                   {n: flops for n, (_, flops) in probes.items()})


def peak_of(seconds: dict, flops: dict) -> dict:
    """The best FLOP rate among probes: ``seconds`` and ``flops`` per call, keyed alike."""
    by_size = {k: flops[k] / seconds[k] / 1e9 for k in seconds}
    best = max(by_size, key=by_size.get)
    return dict(gflops=by_size[best], size=best, by_size=by_size, threads=torch.get_num_threads())


#: the aten matrix products a training step of an MLP is made of (what :func:`matmul_replay` replays)
_MATMULS = ("mm", "addmm", "bmm", "baddbmm")


def matmul_replay(fn: Callable, seed: int = 0) -> tuple[Callable, int]:
    """``(replay, flops)``: ``replay()`` runs the matrix products of one call of ``fn`` alone.

    ``fn`` runs once under a dispatch mode that records every matrix product
    (aten ``mm``, ``addmm``, ``bmm``, ``baddbmm``: forward and backward alike)
    with its operands' shapes and memory layouts; ``replay`` repeats those
    products, in order, on random operands laid out the same way. Its time is
    the step's arithmetic at this machine's rate for exactly those shapes:
    what the step would cost if nothing but its matrix products took time.
    ``flops`` counts them (2 per multiply-add), as :func:`count_flops` does.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    calls = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func.overloadpacket.__name__ in _MATMULS and not kwargs:
                calls.append((func, [(tuple(a.shape), a.stride(), a.dtype, a.device) if torch.is_tensor(a) else a
                                     for a in args]))
            return func(*args, **kwargs)

    with Recorder():
        fn()
    gen = torch.Generator().manual_seed(seed)

    def operand(spec):
        if not isinstance(spec, tuple) or len(spec) != 4 or not isinstance(spec[2], torch.dtype):
            return spec
        shape, stride, dtype, device = spec
        room = 1 + sum((n - 1) * st for n, st in zip(shape, stride))  # storage the strides reach
        return torch.randn(room, generator=gen).to(dtype).to(device).as_strided(shape, stride)

    ops = [(func, [operand(a) for a in args]) for func, args in calls]
    flops = sum(_matmul_flops(func.overloadpacket.__name__, args) for func, args in ops)

    def replay():
        for func, args in ops:
            func(*args)
    return replay, flops


def _matmul_flops(name: str, args) -> int:
    a, b = (args[0], args[1]) if name in ("mm", "bmm") else (args[1], args[2])
    batch = a.shape[0] if a.dim() == 3 else 1
    return 2 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]


def count_flops(fn: Callable) -> dict:
    """Floating-point operations of one call of ``fn``, counted op by op (matrix products:
    2 per multiply-add) by ``torch.utils.flop_counter.FlopCounterMode``, backward included.

    Unlike a time, the count does not depend on the machine or its load: it says how
    much arithmetic a method *needs*. Returns ``total`` and ``by_op`` (op name -> FLOPs).
    """
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return dict(total=int(counter.get_total_flops()), by_op=by_op)
