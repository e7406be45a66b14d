"""Inference speed against the number of classes C, and profiles of where the time goes.

FF's goodness readout runs the network once per class (C passes); HFF's readouts run it once. Every
method's readouts are the ones it declares (``methods/``: ``MethodSpec.readouts``); predictions run
under ``torch.inference_mode`` with the model in eval mode, timed with ``clocks.time_calls``.
Taught in 05_timing.
"""
from __future__ import annotations

import os
import contextlib
import inspect
import statistics
import sys
from typing import Callable

import torch

from ..core.protocol import LocalModel
from ..methods import METHODS, SPECS
from .clocks import summarise, synchronize, time_calls
from .flops import count_flops


def _variants() -> dict:
    """Every readout of every method with an MLP: ``"hff last"``, ``"ff goodness"``, ``"bp"`` ... ->
    (method, predict keyword arguments), from what each method declares (``MethodSpec.readouts``)."""
    out = {}
    for spec in SPECS.values():
        if spec.mlp is None:
            continue
        for r in spec.readouts:
            out[spec.name if len(spec.readouts) == 1 else f"{spec.name} {r.name}"] = (spec.name, dict(r.kwargs))
    return out


#: what can be timed at inference: name -> (method, predict keyword arguments)
INFERENCE_VARIANTS = _variants()
#: what inference_vs_classes times unless told: FF's two readouts, HFF's two, and the one-pass baselines
DEFAULT_VARIANTS = ("ff goodness", "ff softmax", "hff last", "hff sum", "local-ce", "bp")


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


def make_model(method: str, in_features: int, widths, num_classes: int, seed: int = 0) -> LocalModel:
    """A model of kind ``method`` for synthetic data (a label written into the input, FF's, overwrites
    the first C inputs when there are more inputs than classes, else it is appended)."""
    kwargs = dict(seed=seed)
    if "label_mode" in inspect.signature(METHODS[method]).parameters:
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
    variants = list(variants or DEFAULT_VARIANTS)
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
