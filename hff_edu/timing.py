"""Timing honestly: timers, inference speed against the number of classes, training
time per epoch, profiles and FLOP counts (memory is in ``memory.py``).

Taught in 05_timing; the scripts in ``benchmarks/`` call the same functions.

How a time is taken here (the rules every number obeys):

- predictions run under ``torch.inference_mode`` with the model in eval mode;
- every timed function is first run ``warmup`` times (lazy initialisation,
  allocator and cache warm-up), then timed ``repeats`` times; we report the
  **median** (robust to a background process stealing a core now and then);
- a very short call (batch 1) is repeated ``number`` times inside one timed
  block, so the clock's resolution and its own overhead do not matter;
- the methods being compared are timed **interleaved** (round robin, the order
  rotated every round), so a change in machine load hits all of them alike and
  a ratio is measured in one run on the same machine;
- on CUDA, ``torch.cuda.synchronize()`` brackets every timed block (kernels
  run asynchronously: without it we would time the launch, not the work).

Work is also *counted*, independent of the machine: :func:`count_flops` gives
the floating-point operations of the matrix products (forward and backward),
:func:`matmul_peak` measures what this machine does with them at best (a
square float32 matrix product), so that a training step's FLOP rate can be
read as a fraction of the machine's peak, and :func:`matmul_replay` times a
step's own matrix products alone: what the step would cost if nothing but
its arithmetic took time.

The clock is the wall clock by default; ``clock="cpu"`` takes the process's CPU
time instead (all its threads): with one thread, the time the work would take
with a core to itself, not counting what the OS or the hypervisor gave to
other programs meanwhile. On a shared machine that is the steadier number.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import platform
import statistics
import sys
import time
from typing import Callable

import torch

from .compile import model_of
from .models import METHODS
from .protocol import LocalModel
from .train import make_optimizer, train_step
from .version import __version__

#: what we time at inference: name -> (method, predict keyword arguments)
INFERENCE_VARIANTS = {
    "ff goodness": ("ff", dict(mode="goodness")),
    "ff softmax": ("ff", dict(mode="softmax")),
    "hff last": ("hff", dict(rule="last")),
    "hff sum": ("hff", dict(rule="sum")),
    "local-ce": ("local-ce", {}),
    "bp": ("bp", {}),
}


# ----------------------------------------------------------------------------
# where and how we measure

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


def time_inference(model: LocalModel, x: torch.Tensor, repeats: int = 7, warmup: int = 2,
                   min_block_s: float = 0.05, **predict_kwargs) -> dict:
    """Samples per second of ``model.predict(x, **predict_kwargs)``: median over ``repeats``.

    Runs under ``torch.inference_mode`` in eval mode on the model's device.
    Returns ``summarise(...)`` (``samples_per_s``, ``ms_per_batch``, ...).
    """
    model.eval()
    x = x.to(model.device)
    with torch.inference_mode():
        times = time_calls({"f": lambda: model.predict(x, **predict_kwargs)}, repeats, warmup,
                           model.device, min_block_s)["f"]
    return summarise(times, x.shape[0])


def count_forward_passes(model: LocalModel, x: torch.Tensor, **predict_kwargs) -> int:
    """How many times one ``predict`` runs the first layer's weights: a forward hook counts them.

    FF's goodness mode runs the whole net once per candidate label (C passes);
    FF's one-pass softmax, HFF and the baselines run it once. The hook sits on
    the first ``Linear`` (not the layer module), so it counts however the layer is entered.
    """
    calls = [0]

    def hook(module, inputs, output):
        calls[0] += 1

    first = next(m for m in model.layers[0].modules() if isinstance(m, torch.nn.Linear))
    handle = first.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            model.eval().predict(x.to(model.device), **predict_kwargs)
    finally:
        handle.remove()
    return calls[0]


# ----------------------------------------------------------------------------
# inference against the number of classes

def make_model(method: str, in_features: int, widths, num_classes: int, seed: int = 0) -> LocalModel:
    """A model of kind ``method`` for synthetic data (FF's label overwrites the first C
    inputs when there are more inputs than classes, else it is appended)."""
    kwargs = dict(seed=seed)
    if method == "ff":
        kwargs["label_mode"] = "overwrite" if in_features > 4 * num_classes else "append"
    return METHODS[method](in_features, list(widths), num_classes, **kwargs)


def inference_vs_classes(classes=(2, 5, 10, 20, 50, 100), batch_sizes=(1, 256), in_features: int = 784,
                         widths=(500, 500, 500), variants=None, repeats: int = 7, warmup: int = 2,
                         device=None, seed: int = 0, progress: bool = False,
                         min_block_s: float = 0.05) -> list[dict]:
    """Time every inference variant for every number of classes C and batch size.

    Synthetic inputs (standard normal, ``in_features`` wide): the cost of a
    forward pass does not depend on the values. For each batch size, all
    (C, variant) pairs are timed interleaved in one :func:`time_calls`, so the
    machine's load is spread over all of them alike and points at different C
    are comparable. Returns one row per (C, batch, variant) with ``passes``
    (forward passes per predict, counted by :func:`count_forward_passes`) and
    the :func:`summarise` fields.
    """
    variants = list(variants or INFERENCE_VARIANTS)
    unknown = [v for v in variants if v not in INFERENCE_VARIANTS]
    if unknown:
        raise ValueError(f"Unknown variant(s) {unknown}: choose from {', '.join(INFERENCE_VARIANTS)}.")
    device = torch.device(device) if device is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    methods = list(dict.fromkeys(INFERENCE_VARIANTS[v][0] for v in variants))
    models = {(m, c): make_model(m, in_features, widths, c, seed).to(device).eval()
              for c in classes for m in methods}
    rows = []
    batches = batch_sizes
    if progress:
        from tqdm.auto import tqdm
        batches = tqdm(batch_sizes, desc="inference vs C (batch sizes)", leave=False)
    for b in batches:
        x = torch.randn(b, in_features, generator=gen).to(device)
        fns = {(c, v): _predictor(models[(INFERENCE_VARIANTS[v][0], c)], x, INFERENCE_VARIANTS[v][1])
               for c in classes for v in variants}
        with torch.inference_mode():
            times = time_calls(fns, repeats, warmup, device, min_block_s)
        for c in classes:
            for v in variants:
                method, kw = INFERENCE_VARIANTS[v]
                model = models[(method, c)]
                with torch.inference_mode():  # the arithmetic, per sample (it is linear in the batch)
                    flops = count_flops(lambda: model.predict(x[:1], **kw))["total"]
                rows.append(dict(num_classes=c, batch_size=b, variant=v, method=method,
                                 passes=count_forward_passes(model, x, **kw), flops_per_sample=flops,
                                 **summarise(times[(c, v)], b)))
    return rows


def _predictor(model, x, kwargs):
    return lambda: model.predict(x, **kwargs)


def speedups(rows: list[dict], slow: str = "ff goodness", fast: str = "hff last") -> list[dict]:
    """The measured ratio time(slow) / time(fast) for every (C, batch), beside the pass-count
    limit C and, when the rows have FLOP counts, the ratio of arithmetic ``flop_ratio``."""
    index = {(r["num_classes"], r["batch_size"], r["variant"]): r for r in rows}
    out = []
    for (c, b, v), r in index.items():
        if v != slow or (c, b, fast) not in index:
            continue
        other = index[(c, b, fast)]
        ratio = r["median_s"] / other["median_s"]
        out.append(dict(num_classes=c, batch_size=b, slow=slow, fast=fast, ratio=ratio, ratio_over_C=ratio / c))
        if r.get("flops_per_sample") and other.get("flops_per_sample"):
            out[-1]["flop_ratio"] = r["flops_per_sample"] / other["flops_per_sample"]
    return sorted(out, key=lambda d: (d["batch_size"], d["num_classes"]))


# ----------------------------------------------------------------------------
# profiles: where the time goes

#: the operators that do the matrix products (the FLOPs) of an MLP
MATMUL_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear")


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send the C++ side's stderr (file descriptor 2) to /dev/null for a moment: the
    profiler's Kineto backend logs a few status lines ("profiler_start", a harmless
    "gpuGetDeviceCount failed" on CPU-only builds) that no setting turns off.
    Python exceptions are unaffected."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (some embedded consoles)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def profile_ops(fn: Callable, calls: int = 3, device="cpu", top: int = 10) -> dict:
    """Run ``fn`` ``calls`` times under ``torch.profiler`` and return where the time went.

    Returns ``total_ms`` (self time summed over all ops, per call), ``ops``: the
    ``top`` operators by self time, each ``name``, ``ms`` per call, ``calls``
    per call and ``share`` of the total; and ``table``, torch's own text table.
    """
    from torch.profiler import ProfilerActivity, profile
    device = torch.device(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    fn()  # warm up outside the profile
    with _quiet_native_stderr():
        with profile(activities=activities) as prof:
            for _ in range(calls):
                fn()
            synchronize(device)
        prof.key_averages()  # post-processing logs too
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    everything = prof.key_averages()
    averages = [e for e in everything if getattr(e, attr, 0) > 0]
    total = sum(getattr(e, attr) for e in averages) / calls / 1e3
    matmul = sum(getattr(e, attr) for e in averages if e.key in MATMUL_OPS) / calls / 1e3
    averages.sort(key=lambda e: getattr(e, attr), reverse=True)
    ops = [dict(name=e.key, ms=getattr(e, attr) / calls / 1e3, calls=e.count / calls,
                share=getattr(e, attr) / calls / 1e3 / max(total, 1e-12)) for e in averages[:top]]
    # Regions marked with record_function (e.g. "Optimizer.step#Adam.step"): their total
    # time, children included, says how long a whole phase took.
    regions = {e.key: e.cpu_time_total / calls / 1e3 for e in everything if "#" in e.key}
    table = everything.table(sort_by=attr, row_limit=min(top, 30))
    return dict(total_ms=total, matmul_ms=matmul, ops=ops, regions=regions, table=table)


def profile_interleaved(fns: dict, rounds: int = 5, calls: int = 2, device="cpu", top: int = 10) -> dict:
    """:func:`profile_ops` of several functions (name -> callable), taken in turns.

    A single profile on a busy machine mostly measures the load of the moment. Here
    every function is profiled ``rounds`` times, ``calls`` calls each time, the order
    rotated every round (as :func:`time_calls` does), and each number is the
    **median over rounds**. Returns name -> dict like :func:`profile_ops`'s.
    """
    names = list(fns)
    runs = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            runs[name].append(profile_ops(fns[name], calls, device, top=10**6))
    out = {}
    for name, profs in runs.items():
        med = statistics.median
        keys = {op["name"] for p in profs for op in p["ops"]}
        ops = []
        for k in keys:
            per = [next((op for op in p["ops"] if op["name"] == k), None) for p in profs]
            ops.append(dict(name=k, ms=med([op["ms"] if op else 0.0 for op in per]),
                            calls=max(op["calls"] if op else 0.0 for op in per)))
        total = med([p["total_ms"] for p in profs])
        ops.sort(key=lambda op: op["ms"], reverse=True)
        for op in ops:
            op["share"] = op["ms"] / max(total, 1e-12)
        regions = {k: med([p["regions"].get(k, 0.0) for p in profs]) for k in profs[0]["regions"]}
        out[name] = dict(total_ms=total, matmul_ms=med([p["matmul_ms"] for p in profs]), ops=ops[:top],
                         regions=regions, rounds=rounds, table=profs[len(profs) // 2]["table"])
    return out


def format_profile(name: str, prof: dict) -> str:
    """A short text table of :func:`profile_ops`'s top operators."""
    lines = [f"{name}: {prof['total_ms']:.2f} ms of op self time per call, "
             f"{prof['matmul_ms']:.2f} ms of it in matrix products"]
    for op in prof["ops"]:
        lines.append(f"  {op['name']:<32} {op['ms']:9.3f} ms  {100 * op['share']:5.1f}%  "
                     f"{op['calls']:7.1f} calls")
    return "\n".join(lines)


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


# ----------------------------------------------------------------------------
# training cost

def time_training(models: dict, split, batch_size: int = 100, lr: float = 1e-3, steps: int | None = None,
                  blocks: int = 10, warmup_steps: int = 2, seed: int = 0, device=None,
                  cooldown: bool = True, progress: bool = False, probes: dict | None = None,
                  probe_block_s: float = 0.2, clock: str = "wall") -> dict:
    """Training time per epoch of each model (name -> model) on ``split``, timed interleaved.

    Each model gets its own Adam optimiser and the trainer's loop (shuffled
    minibatches, learning-rate cool-down, ``zero_grad``, ``backward_local``,
    ``step``, loss bookkeeping: what ``train.fit`` runs, without its per-epoch
    evaluation). A model given as a ``compile.CompiledModel`` takes the fast
    path's step. The ``steps`` timed steps (default: one full epoch) are cut
    into ``blocks`` blocks, and the models take turns block by block.
    ``probes`` (name -> no-argument callable, e.g. :func:`square_matmul`) take
    their turn in every round too, each block at least ``probe_block_s`` long,
    so a step can be compared with them under the same load.

    Returns name -> dict with ``epoch_s`` (median seconds per step times the
    steps of one epoch: robust to load spikes), ``epoch_s_sum`` (the summed
    block times, scaled to one epoch), ``step_s`` (median seconds per step),
    ``samples_per_s`` (from ``epoch_s``), ``steps_timed``, ``steps_per_epoch`` and
    ``warmup_s`` (the untimed warm-up steps: on the fast path, mostly compiling);
    and for each probe ``call_s`` (median seconds per call) and ``block_call_s``.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    now = clock_fn(clock)
    train = split.to(device)
    n = len(train)
    steps_per_epoch = max(1, -(-n // batch_size))
    steps = steps_per_epoch if steps is None else max(1, min(int(steps), steps_per_epoch))
    blocks = max(1, min(blocks, steps))
    probes = dict(probes or {})
    clash = set(probes) & set(models)
    if clash:
        raise ValueError(f"{sorted(clash)} name both a model and a probe: give them distinct names.")
    state, warmup_s = {}, {}
    # Warm-up: Adam's state, lazy initialisation, compilation; a timed epoch that ends in a
    # smaller minibatch gets one warm-up step of that size too (a compiled model compiles it once).
    sizes = [batch_size] * warmup_steps + ([n % batch_size] if steps == steps_per_epoch and n % batch_size else [])
    for name, stepper in models.items():
        model = model_of(stepper)
        model.to(device).train()
        opt = make_optimizer(model, "adam", lr)
        gen = torch.Generator(device=device).manual_seed(seed)
        perm = torch.randperm(n, device=device, generator=gen)
        sums = torch.zeros(len(model.loss_names), device=device)
        start = now()
        for i, size in enumerate(sizes):
            idx = perm[(i * batch_size) % n:][:size]
            train_step(stepper, opt, train.x[idx], train.y[idx], gen)
        warmup_s[name] = now() - start
        state[name] = (stepper, opt, gen, perm, sums)
    number = {name: calls_per_block(fn, probe_block_s, device, clock) for name, fn in probes.items()}
    edges = [round(i * steps / blocks) for i in range(blocks + 1)]
    per_step = {name: [] for name in [*models, *probes]}
    total = {name: 0.0 for name in models}
    names = [*models, *probes]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=blocks * len(names), desc="training cost", leave=False)
    for b in range(blocks):
        for name in names[b % len(names):] + names[:b % len(names)]:
            if bar is not None:
                bar.update(1)
            if name in probes:
                per_step[name].append(_block_seconds(probes[name], number[name], device, clock))
                continue
            stepper, opt, gen, perm, sums = state[name]
            synchronize(device)
            start = now()
            for step in range(edges[b], edges[b + 1]):
                if cooldown:
                    for group in opt.param_groups:
                        group["lr"] = lr * min(1.0, 2.0 * (1.0 - step / steps_per_epoch))
                idx = perm[step * batch_size:(step + 1) * batch_size]
                sums += train_step(stepper, opt, train.x[idx], train.y[idx], gen)
            synchronize(device)
            seconds = now() - start
            total[name] += seconds
            per_step[name].append(seconds / max(1, edges[b + 1] - edges[b]))
    if bar is not None:
        bar.close()
    out = {}
    for name in models:
        step_s = statistics.median(per_step[name])
        epoch_s = step_s * steps_per_epoch
        out[name] = dict(epoch_s=epoch_s, epoch_s_sum=total[name] * steps_per_epoch / steps, step_s=step_s,
                         samples_per_s=n / epoch_s, steps_timed=steps, steps_per_epoch=steps_per_epoch,
                         train_size=n, batch_size=batch_size, block_step_s=per_step[name],
                         warmup_s=warmup_s[name])
        model_of(state[name][0]).eval()
    for name in probes:
        out[name] = dict(call_s=statistics.median(per_step[name]), block_call_s=per_step[name],
                         calls_per_block=number[name])
    return out


def _step_setup(models: dict, split, batch_size: int, lr: float, device):
    """One batch on ``device``, every model moved there in train mode, and its optimiser as ``fit`` makes it."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    x, y = split.x[:batch_size].to(device), split.y[:batch_size].to(device)
    opts = {name: make_optimizer(model_of(m).to(device).train(), "adam", lr) for name, m in models.items()}
    return x, y, opts


def training_phases(models: dict, split, batch_size: int = 100, lr: float = 1e-3, repeats: int = 9,
                    min_block_s: float = 0.5, device=None, clock: str = "wall") -> dict:
    """Median milliseconds of the phases of one training step, every model and phase timed
    interleaved (:func:`time_calls`): ``forward_ms`` (the losses, autograd graph built),
    ``forward_backward_ms`` (``zero_grad`` + ``backward_local``) and ``step_ms`` (Adam's
    ``step``). A robust, coarse profile: it says which phase makes one method slower.
    A ``compile.CompiledModel`` is timed on its fast path (compiled losses)."""
    x, y, opts = _step_setup(models, split, batch_size, lr, device)
    fns = {}
    for name, model in models.items():
        opt = opts[name]
        train_step(model, opt, x, y, None)  # Adam's state
        fns[(name, "forward_ms")] = (lambda m: lambda: m.local_losses(x, y))(model)
        fns[(name, "forward_backward_ms")] = (
            lambda m, o: lambda: (o.zero_grad(set_to_none=True), m.backward_local(x, y)))(model, opt)
        fns[(name, "step_ms")] = opt.step  # same gradients every time: timing only
    times = time_calls(fns, repeats, 1, device, min_block_s, clock)
    out = {name: {} for name in models}
    for (name, phase), t in times.items():
        out[name][phase] = 1e3 * statistics.median(t)
    for model in models.values():
        model_of(model).eval()
    return out


def training_flops(model: LocalModel, split, batch_size: int = 100, lr: float = 1e-3) -> dict:
    """:func:`count_flops` of one training step as ``train.fit`` runs it (forward, backward, Adam).
    The fast path (a ``compile.CompiledModel``) does the same arithmetic: it is counted on the model."""
    model = model_of(model)
    model.train()
    opt = make_optimizer(model, "adam", lr)
    x, y = split.x[:batch_size].to(model.device), split.y[:batch_size].to(model.device)
    out = count_flops(lambda: train_step(model, opt, x, y, None))
    model.eval()
    return out


def training_matmuls(model: LocalModel, split, batch_size: int = 100, lr: float = 1e-3) -> tuple[Callable, int]:
    """:func:`matmul_replay` of one training step as ``train.fit`` runs it (the readable
    path: the fast path does the same products), on a copy: ``model`` is left as it was.
    Returns ``(replay, flops)``."""
    model = copy.deepcopy(model_of(model)).train()
    opt = make_optimizer(model, "adam", lr)
    x, y = split.x[:batch_size].to(model.device), split.y[:batch_size].to(model.device)
    return matmul_replay(lambda: train_step(model, opt, x, y, None))


def profile_training(models: dict, split, batch_size: int = 100, lr: float = 1e-3, steps: int = 4,
                     rounds: int = 5, device=None, top: int = 10, seed: int = 0) -> dict:
    """Where the time of a training step goes, for several models (name -> model) profiled
    in turns (:func:`profile_interleaved`: ``rounds`` rounds of ``steps`` steps, medians).

    Each step is ``train.fit``'s step. Per model (per step, ms): ``total_ms`` (op self
    time), ``matmul_ms``, ``optimizer_ms`` (Adam's ``step``, its ops included) and
    ``forward_backward_ms`` (the rest), with the top operators."""
    x, y, opts = _step_setup(models, split, batch_size, lr, device)
    fns = {}
    for name, model in models.items():
        gen = torch.Generator(device=x.device).manual_seed(seed)
        fns[name] = (lambda m, o, g: lambda: train_step(m, o, x, y, g))(model, opts[name], gen)
    out = profile_interleaved(fns, rounds, steps, x.device, top)
    for name, prof in out.items():
        prof["optimizer_ms"] = sum(v for k, v in prof["regions"].items() if k.startswith("Optimizer.step"))
        prof["forward_backward_ms"] = prof["total_ms"] - prof["optimizer_ms"]
        model_of(models[name]).eval()
    return out
