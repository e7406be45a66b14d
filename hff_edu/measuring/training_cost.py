"""Training cost: seconds per step of every method on the same data, timed interleaved, split into
its phases (forward and local backward, optimiser step), as FLOP rates against the machine's matmul
peak (``flops.py``), and profiled. Taught in 05_timing; ``benchmarks/training_cost.py`` calls it.
"""
from __future__ import annotations

import copy
import statistics
from typing import Callable

import torch

from ..core.protocol import LocalModel
from ..training.compile import model_of
from ..training.trainer import make_optimizer, train_step
from .clocks import _block_seconds, calls_per_block, clock_fn, synchronize, time_calls
from .flops import count_flops, matmul_replay
from .inference import profile_interleaved


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
