"""Timing honestly: the clocks, and the rules every number obeys (taught in 05_timing; the scripts in
``benchmarks/`` call the same functions).

- every timed function is first run ``warmup`` times (lazy initialisation, allocator and cache
  warm-up), then timed ``repeats`` times; we report the **median** (robust to a background process
  stealing a core now and then);
- a very short call (batch 1) is repeated ``number`` times inside one timed block, so the clock's
  resolution and its own overhead do not matter;
- the things being compared are timed **interleaved** (round robin, the order rotated every round),
  so a change in machine load hits all of them alike and a ratio is measured in one run on the
  same machine;
- on CUDA, ``torch.cuda.synchronize()`` brackets every timed block (kernels run asynchronously:
  without it we would time the launch, not the work).

The clock is the wall clock by default; ``clock="cpu"`` takes the process's CPU time instead (all its
threads): with one thread, the time the work would take with a core to itself, not counting what
the OS or the hypervisor gave to other programs meanwhile. On a shared machine that is the steadier
number. What else the machine did meanwhile is measured by ``load.py``.
"""
from __future__ import annotations

import math
import os
import platform
import statistics
import time
from typing import Callable

import torch

from ..version import __version__


def machine_info(device=None) -> dict:
    """What a timing depends on: machine, CPU, torch version, device, threads, load."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    cpu = platform.processor() or ""
    try:  # the model name says more than platform.processor() on Linux
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = dict(machine=platform.platform(), cpu=cpu, logical_cpus=os.cpu_count(),
                python=platform.python_version(), torch=torch.__version__, hff_edu=__version__,
                device=str(device), threads=torch.get_num_threads(),
                interop_threads=torch.get_num_interop_threads())
    if hasattr(os, "getloadavg"):
        info["load_avg_1_5_15min"] = [round(v, 2) for v in os.getloadavg()]
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def synchronize(device) -> None:
    """Wait for queued CUDA kernels (a no-op on CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: what a time is measured with (see the module docstring)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def clock_fn(clock: str) -> Callable[[], float]:
    """The timer of ``clock``: ``"wall"`` (``time.perf_counter``) or ``"cpu"`` (``time.process_time``)."""
    if clock not in CLOCKS:
        raise ValueError(f"Unknown clock {clock!r}: choose 'wall' (elapsed time) or 'cpu' (the process's CPU time).")
    return CLOCKS[clock]


def _block_seconds(fn: Callable, number: int, device, clock: str = "wall") -> float:
    now = clock_fn(clock)
    synchronize(device)
    start = now()
    for _ in range(number):
        fn()
    synchronize(device)
    return (now() - start) / number


def time_calls(fns: dict, repeats: int = 7, warmup: int = 2, device="cpu",
               min_block_s: float = 0.05, clock: str = "wall") -> dict:
    """Seconds per call of every function in ``fns`` (name -> no-argument callable).

    Interleaved: round ``r`` times each function once (order rotated by ``r``),
    so every function sees the same machine load. A call faster than
    ``min_block_s`` is repeated inside its timed block. Returns
    ``name -> list of repeats`` seconds per call.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats={repeats}, warmup={warmup}: need repeats >= 1 and warmup >= 0.")
    clock_fn(clock)
    names = list(fns)
    number = {}
    for name in names:
        for _ in range(warmup):
            fns[name]()
        number[name] = calls_per_block(fns[name], min_block_s, device, clock)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(_block_seconds(fns[name], number[name], device, clock))
    return times


def calls_per_block(fn: Callable, min_block_s: float, device="cpu", clock: str = "wall") -> int:
    """How many calls of ``fn`` fill a timed block of at least ``min_block_s`` (one calibration call)."""
    once = _block_seconds(fn, 1, device, clock)
    return max(1, math.ceil(min_block_s / max(once, 1e-9)))


def summarise(seconds: list, batch_size: int) -> dict:
    """Median, quartiles and samples per second of a list of per-call times."""
    s = sorted(seconds)
    q1, q3 = (statistics.quantiles(s, n=4)[0::2] if len(s) >= 2 else (s[0], s[0]))
    med = statistics.median(s)
    return dict(median_s=med, q1_s=q1, q3_s=q3, min_s=s[0], repeats=len(s),
                ms_per_batch=1e3 * med, samples_per_s=batch_size / med)
