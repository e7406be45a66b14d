"""Layer pipelining: the layers cut into stages, one process each, activations sent forward only.

:func:`pipeline_fit` takes ``train.fit``'s arguments and computes what ``fit`` computes (tested for
HFF, local cross-entropy and FF, MLP and conv): with ``fit``'s step order every layer's forward on
batch t uses the weights after batch t-1, which is what each stage has when batch t reaches it.
Every stage runs the model's own ``step`` (the protocol's stepping, ``core/protocol.py``) on its
units; :func:`plan_stages` cuts the network;
:func:`simulated_timeline` draws the ideal schedules of backprop and of a pipeline. Taught in
08_parallel_training.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn

from ...core.data import DataBundle
from ...core.protocol import LocalModel
from ..trainer import (History, _active_losses, _eval_splits, _set_lr, accuracy, default_lr, evaluate,
                       make_optimizer, seed_everything, train_eval_subset)
from .processes import DEFAULT_TIMEOUT, Comm, ParallelError, _report, _timedelta, launch

# ----------------------------------------------------------------------------
# 3. which models run as pipeline stages: those that step unit by unit (the protocol's begin/step/end)

def check_pipelinable(model: LocalModel) -> None:
    """Raise, saying why, for a model whose units cannot run apart (backprop; FF's hard negatives).

    Every stage runs the model's own ``step`` on its units, with the state ``begin(..., carry=True)``
    made on stage 0 and sent on from stage to stage: the pipeline holds no copy of any method's
    arithmetic, so a pipelined run computes what ``fit`` computes.
    """
    reason = model.pipeline_refusal()
    if reason:
        raise ValueError(reason)
    if type(model).step is LocalModel.step:
        raise ValueError(f"{type(model).__name__} does not step unit by unit (begin, step, end of the "
                         "protocol), so its layers cannot run as separate stages.")


# ----------------------------------------------------------------------------
# 4. the plan: which units each stage trains, what it sends

@dataclass
class StagePlan:
    """Where the pipeline is cut, what each unit costs, and what travels between stages.

    ``units[s]`` = (first, stop) unit indices of stage s; ``modules[s]`` the module paths it trains;
    ``messages[s]`` the layout of what stage s sends to stage s+1: (key, rows per sample, shape per
    row, dtype); ``costs`` the forward multiply-adds of every unit on one sample.
    """
    units: list
    modules: list
    messages: list
    costs: list
    loss_names: list

    @property
    def num_stages(self) -> int:
        return len(self.units)

    @property
    def stage_costs(self) -> list[float]:
        return [float(sum(self.costs[a:b])) for a, b in self.units]

    @property
    def ideal_speedup(self) -> float:
        """Sequential cost / cost of the slowest stage: the most a pipeline of these stages can gain."""
        return float(sum(self.costs)) / max(self.stage_costs)

    def floats_per_sample(self, s: int) -> int:
        """Numbers stage s sends stage s+1 per sample (activations, head features, labels)."""
        return int(sum(k * _numel(shape) for _, k, shape, _ in self.messages[s]))


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def split_units(costs: Sequence[float], stages: int) -> list[int]:
    """Units per stage: the contiguous split of ``costs`` into ``stages`` parts whose largest sum is
    smallest (the slowest stage sets a pipeline's pace)."""
    n = len(costs)
    prefix = [0.0]
    for c in costs:
        prefix.append(prefix[-1] + float(c))
    best = {(0, 0): (0.0, [])}  # (stages used, units used) -> (max stage cost, sizes)
    for s in range(1, stages + 1):
        for j in range(s, n - (stages - s) + 1):
            options = [(max(best[(s - 1, i)][0], prefix[j] - prefix[i]), best[(s - 1, i)][1] + [j - i])
                       for i in range(s - 1, j) if (s - 1, i) in best]
            best[(s, j)] = min(options, key=lambda o: (o[0], o[1][::-1]))
    return best[(stages, n)][1]


def _check_stages(stages, n_units: int, model) -> list[int]:
    what = "blocks" if hasattr(model, "blocks") else "layers"
    if isinstance(stages, int):
        if stages < 1:
            raise ValueError(f"stages={stages}: give the number of pipeline stages (>= 1).")
        if stages > n_units:
            raise ValueError(f"stages={stages} but {type(model).__name__} has only {n_units} {what}: a stage needs "
                             f"at least one; use stages <= {n_units}.")
        return []
    sizes = [int(s) for s in stages]
    if not sizes or any(s < 1 for s in sizes) or sum(sizes) != n_units:
        raise ValueError(f"stages={list(stages)}: give the {what} per stage, each >= 1, summing to the model's "
                         f"{n_units} {what} (e.g. {[n_units // 2, n_units - n_units // 2]}), or a number of stages.")
    return sizes


def plan_stages(model: LocalModel, input_shape, stages=2) -> StagePlan:
    """Cut ``model`` into ``stages`` pipeline stages (a number: balanced by cost; or units per stage).

    One dry forward pass of two zero samples (eval mode, no gradient) counts each unit's
    multiply-adds (of its linear and conv layers, by forward hooks) and the shapes of the messages.
    """
    check_pipelinable(model)
    n_units = model.num_layers
    sizes = _check_stages(stages, n_units, model)
    was, macs = model.training, [0.0]

    def count(module, inputs, out):  # multiply-adds of one call: weight size x output positions
        macs[0] += module.weight.numel() * out.numel() / out.shape[1]

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    model.eval()
    costs, layouts = [], []
    try:
        with torch.no_grad():
            x = model.model_input(torch.zeros(2, *input_shape, device=model.device))
            y = torch.zeros(2, dtype=torch.long, device=model.device)
            st = model.begin(x, y, torch.Generator(device=model.device).manual_seed(0), carry=True)
            for i in range(n_units):
                macs[0] = 0.0
                model.step(i, st)
                costs.append(macs[0] / 2)
                layouts.append([(k, v.shape[0] // 2, tuple(v.shape[1:]), str(v.dtype).replace("torch.", ""))
                                for k, v in st.items()])
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    sizes = sizes or split_units([max(c, 1.0) for c in costs], stages)
    bounds, start = [], 0
    for n in sizes:
        bounds.append((start, start + n))
        start += n
    modules = [[m for i in range(a, b) for m in model.unit_modules(i)] for a, b in bounds]
    modules[-1] += list(model.extra_modules)
    plan = StagePlan(bounds, modules, [layouts[b - 1] for a, b in bounds[:-1]], costs, list(model.loss_names))
    _check_ownership(model, plan)
    return plan


def _check_ownership(model, plan: StagePlan) -> None:
    owned = [p for mods in plan.modules for m in mods for p in model.get_submodule(m).parameters()]
    if len({id(p) for p in owned}) != len(owned) or {id(p) for p in owned} != {id(p) for p in model.parameters()}:
        raise ValueError(f"The stage plan of {type(model).__name__} does not give every parameter to exactly one "
                         "stage: fix its unit_modules / extra_modules.")


def _state_keys(model, modules: list[str]) -> list[str]:
    keys = model.state_dict().keys()
    return [k for m in modules for k in keys if k.startswith(m + ".")]


def _stage_losses(plan: StagePlan, s: int) -> list[int]:
    """Indices (in ``loss_names``) of the losses stage s computes: its units', and the extras' on the last."""
    a, b = plan.units[s]
    extra = range(plan.units[-1][1], len(plan.loss_names)) if s == plan.num_stages - 1 else range(0)
    return list(range(a, b)) + list(extra)


def _pack(st: dict, layout) -> torch.Tensor:
    return torch.cat([st[k].detach().reshape(-1).to(torch.float32) for k, *_ in layout])


def _unpack(buf: torch.Tensor, layout, n: int, device) -> dict:
    st, start = {}, 0
    for key, rows, shape, dtype in layout:
        size = rows * n * _numel(shape)
        st[key] = buf[start:start + size].reshape(rows * n, *shape).to(device, getattr(torch, dtype))
        start += size
    return st


# ----------------------------------------------------------------------------
# 5. the pipeline

#: what a stage's time goes to, in the timeline
KINDS = ("recv", "forward", "send", "backward", "step", "evaluate")

#: batches a stage may run ahead of the next one (sent, not yet taken); also how many it receives ahead
IN_FLIGHT = 4


def _tag(step: int) -> int:
    """The message tag of batch ``step``: distinct among the batches in flight, apart from the
    epoch reports (tags 1-4)."""
    return 16 + step % 1024


@dataclass
class PipelineRun:
    """What :func:`pipeline_fit` measured.

    ``history``: the same :class:`~hff_edu.training.trainer.History` as ``train.fit`` (``seconds`` = training
    time of the epoch from stage 0's start to the last stage's end, evaluation excluded; each
    record also holds ``stage_cpu_seconds``, the CPU time each stage process used in the epoch);
    ``timeline``: one dict per interval a stage spent (``stage``, ``kind`` in :data:`KINDS`,
    ``step``, ``start``, ``end``; seconds since the common start); ``plan``: the :class:`StagePlan`.
    """
    history: History
    timeline: list
    plan: StagePlan
    train_size: int
    epochs: int

    @property
    def train_seconds(self) -> float:
        return float(sum(self.history.column("seconds")))

    @property
    def samples_per_s(self) -> float:
        """Training samples per second over the whole run (pipeline fill and drain included)."""
        return self.train_size * self.epochs / self.train_seconds


def pipeline_fit(model: LocalModel, ds: DataBundle, stages=2, epochs: int = 10, batch_size: int = 100,
                 lr: float | None = None, weight_decay: float = 0.0, optimizer: str = "adam",
                 schedule: str = "simultaneous", cooldown: bool = True, seed: int = 0, progress: bool = True,
                 device=None, eval_batch_size: int = 1000, train_eval_samples: int = 2000,
                 augment: Callable | None = None, evaluate_every_epoch: bool = True, threads: int | None = 1,
                 timeout: float = DEFAULT_TIMEOUT, max_timeline_steps: int | None = None,
                 eval_on: str = "auto") -> PipelineRun:
    """Train ``model`` like ``train.fit`` (same arguments, same result), its layers pipelined over processes.

    Args:
        stages: number of stages (the layers are split to balance their multiply-adds), or the
            number of layers (blocks) per stage, e.g. ``[2, 2]``. One process per stage.
        device: one device for every stage, or one per stage (e.g. ``["cuda:0", "cuda:1"]``);
            default CPU (stages on one GPU run as separate processes, each with its own stream).
        evaluate_every_epoch: ``False`` skips the per-epoch evaluation (throughput runs): the
            records then hold NaN accuracies.
        eval_on: the splits scored every epoch, as in ``train.fit`` (``"auto"``: the validation
            split when there is one, else the test split).
        threads: torch threads per stage process.
        timeout: seconds any message between stages may take (also the wait while stage 0
            evaluates at the end of an epoch).
        max_timeline_steps: record the timeline of the first steps only (default: all).

    Stage 0 holds the data, shuffles and draws FF's negatives with the generator ``fit`` uses, and
    sends each batch's labels with its activations; each stage has its own optimiser over its own
    layers (and heads, prototypes); at the end of an epoch the stages send their losses and weights
    to stage 0, which evaluates as ``fit`` does. ``model`` gets the trained weights and is left in
    eval mode. Returns a :class:`PipelineRun` with the history and the timeline.
    """
    plan, cfg = prepare_pipeline(model, ds, stages, epochs=epochs, batch_size=batch_size, lr=lr,
                                 weight_decay=weight_decay, optimizer=optimizer, schedule=schedule,
                                 cooldown=cooldown, seed=seed, device=device, eval_batch_size=eval_batch_size,
                                 train_eval_samples=train_eval_samples, augment=augment,
                                 evaluate_every_epoch=evaluate_every_epoch, timeout=timeout,
                                 max_timeline_steps=max_timeline_steps)
    backend = "nccl" if _distinct_gpus(cfg["devices"]) else "gloo"
    total = cfg["epochs"] * max(1, -(-cfg["n_train"] // cfg["batch_size"]))
    out = launch(_pipeline_worker, plan.num_stages, model, ds, plan, cfg, threads=threads, timeout=timeout,
                 backend=backend, progress=dict(total=total, desc=f"{type(model).__name__} x{plan.num_stages} stages")
                 if progress else None)
    return finish_pipeline(model, out, plan, cfg)


def prepare_pipeline(model: LocalModel, ds: DataBundle, stages=2, epochs: int = 10, batch_size: int = 100,
                     lr: float | None = None, weight_decay: float = 0.0, optimizer: str = "adam",
                     schedule: str = "simultaneous", cooldown: bool = True, seed: int = 0, device=None,
                     eval_batch_size: int = 1000, train_eval_samples: int = 2000, augment: Callable | None = None,
                     evaluate_every_epoch: bool = True, timeout: float = DEFAULT_TIMEOUT,
                     max_timeline_steps: int | None = None, eval_on: str = "auto") -> tuple[StagePlan, dict]:
    """The plan and the settings every stage runs with (:func:`pipeline_fit`'s arguments, checked as
    ``fit`` checks them). With :func:`run_stage` and :func:`finish_pipeline` it runs a pipeline in
    processes started some other way (torchrun, or several pipelines in one :func:`launch`)."""
    if ds.num_classes != model.num_classes:
        raise ValueError(f"The dataset has {ds.num_classes} classes but the model was built for "
                         f"{model.num_classes}: build it with num_classes=ds.num_classes.")
    if epochs < 0 or int(epochs) != epochs:
        raise ValueError(f"epochs={epochs}: must be a non-negative integer.")
    if batch_size <= 0:
        raise ValueError(f"batch_size={batch_size}: must be positive.")
    lr = default_lr(model) if lr is None else lr  # fit's default: the rate the model's method declares
    if not lr > 0:
        raise ValueError(f"lr={lr}: the learning rate must be > 0.")
    if schedule not in ("simultaneous", "greedy"):
        raise ValueError(f"Unknown schedule {schedule!r}: choose 'simultaneous' or 'greedy'.")
    if optimizer not in ("adam", "adamw", "sgd"):
        raise ValueError(f"Unknown optimizer {optimizer!r}: choose 'adam', 'adamw' or 'sgd'.")
    _timedelta(timeout)
    splits = list(_eval_splits(eval_on, ds))  # checked here, as fit checks it
    plan = plan_stages(model, ds.input_shape, stages)
    devices = list(device) if isinstance(device, (list, tuple)) else [device or "cpu"] * plan.num_stages
    if len(devices) != plan.num_stages:
        raise ValueError(f"{len(devices)} devices for {plan.num_stages} stages: give one device, or one per stage.")
    devices = [str(torch.device(d)) for d in devices]
    if any(torch.device(d).type == "cuda" for d in devices) and not torch.cuda.is_available():
        raise ValueError(f"devices {devices}: torch sees no CUDA device here; use device='cpu'.")
    return plan, dict(epochs=int(epochs), batch_size=int(batch_size), lr=lr, weight_decay=weight_decay,
                      optimizer=optimizer, schedule=schedule, cooldown=cooldown, seed=seed, devices=devices,
                      eval_batch_size=eval_batch_size, train_eval_samples=train_eval_samples, augment=augment,
                      evaluate=bool(evaluate_every_epoch), splits=splits, timeout=float(timeout),
                      n_train=len(ds.train),
                      max_timeline_steps=max_timeline_steps, method=type(model).__name__, dataset=ds.name)


def _distinct_gpus(devices) -> bool:
    ds = [torch.device(d) for d in devices]
    return all(d.type == "cuda" for d in ds) and len({d.index for d in ds}) == len(ds) and len(ds) > 1


def finish_pipeline(model, out: dict, plan: StagePlan, cfg: dict) -> PipelineRun:
    """Load stage 0's result (what :func:`run_stage` returned on rank 0) into ``model``."""
    model.load_state_dict(out["state_dict"])
    model.to(cfg["devices"][0]).eval()
    timeline = [dict(stage=int(s), kind=KINDS[int(k)], step=int(t), start=float(a), end=float(b))
                for s, k, t, a, b in out["timeline"].tolist()]
    return PipelineRun(History.from_dict(out["history"]), timeline, plan, cfg["n_train"], cfg["epochs"])


def _pipeline_worker(rank, world_size, model, ds, plan, cfg):
    return run_stage(rank, world_size, model, ds if rank == 0 else None, plan, cfg)


class _Stage:
    """One stage's process: its units, optimiser, messages and timeline."""

    def __init__(self, rank: int, model: LocalModel, plan: StagePlan, cfg: dict):
        self.s, self.last = rank, rank == plan.num_stages - 1
        self.model, self.plan, self.cfg = model, plan, cfg
        check_pipelinable(model)
        self.device = torch.device(cfg["devices"][rank % len(cfg["devices"])])
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)  # before the first NCCL message
        self.comm = Comm(cfg["timeout"])
        if self.comm.world_size != plan.num_stages:
            raise ParallelError(f"rank {rank}: the process group has {self.comm.world_size} processes but the "
                                f"pipeline has {plan.num_stages} stages: start one process per stage "
                                f"(torchrun --nproc-per-node {plan.num_stages}), or pass stages={self.comm.world_size}.")
        self.units = range(*plan.units[rank])
        self.loss_ids = _stage_losses(plan, rank)
        seed_everything(cfg["seed"])
        model.to(self.device).train()
        owned = nn.ModuleDict({m.replace(".", "_"): model.get_submodule(m) for m in plan.modules[rank]})
        self.opt = make_optimizer(owned, cfg["optimizer"], cfg["lr"], cfg["weight_decay"])
        n, bs = cfg["n_train"], cfg["batch_size"]
        self.steps_per_epoch = max(1, -(-n // bs))
        self.total_steps = cfg["epochs"] * self.steps_per_epoch
        self.sizes = [min(bs, n - i) for i in range(0, n, bs)]  # the batch sizes of one epoch, in order
        self.events, self.sends, self.recvs, self.next_recv = [], deque(), deque(), 0
        self.t0 = 0.0

    # -- timeline ------------------------------------------------------------------
    def mark(self, kind: str, step: int, start: float) -> None:
        limit = self.cfg["max_timeline_steps"]
        if limit is None or step < limit:
            self.events.append((self.s, KINDS.index(kind), step, start - self.t0, time.perf_counter() - self.t0))

    # -- messages --------------------------------------------------------------------
    def take(self, step: int) -> dict:
        """Batch ``step`` from the previous stage. Up to ``IN_FLIGHT`` batches ahead are received while
        this stage computes, so a stage that is briefly late (the OS gave its core to someone else)
        does not stall the one before it."""
        while self.next_recv < min(step + IN_FLIGHT, self.total_steps):
            n = self.sizes[self.next_recv % self.steps_per_epoch]
            buf = torch.empty(n * self.plan.floats_per_sample(self.s - 1), device=self.comm.device)
            self.recvs.append((n, buf, dist.irecv(buf, self.s - 1, tag=_tag(self.next_recv))))
            self.next_recv += 1
        n, buf, work = self.recvs.popleft()
        start = time.perf_counter()
        self.comm.wait(work, f"receiving batch {step} from stage {self.s - 1}")
        self.mark("recv", step, start)
        return _unpack(buf, self.plan.messages[self.s - 1], n, self.device)

    def send(self, st: dict, step: int) -> None:
        """Send the state on without waiting; at most ``IN_FLIGHT`` sends are in flight."""
        if len(self.sends) >= IN_FLIGHT:
            self.wait_send(step)
        buf = self.comm.staged(_pack(st, self.plan.messages[self.s]))
        self.sends.append((dist.isend(buf, self.s + 1, tag=_tag(step)), buf, step))

    def wait_send(self, step: int) -> None:
        work, _, sent = self.sends.popleft()
        start = time.perf_counter()
        self.comm.wait(work, f"sending batch {sent} to stage {self.s + 1}")
        if time.perf_counter() - start > 1e-4:
            self.mark("send", step, start)

    # -- one training step, in train.train_step's order --------------------------------
    def step(self, st: dict, step: int, active) -> torch.Tensor:
        """zero_grad; each unit's forward and local backward, as ``backward_local`` runs them (each
        unit's graph freed before the next runs), except that the last unit's output is sent on
        before its backward: the next stage can start, our backward and update change nothing it
        reads; then the optimiser step."""
        self.opt.zero_grad(set_to_none=True)
        losses = []
        for n, i in enumerate(self.units):
            final = n == len(self.units) - 1
            start = time.perf_counter()
            new = [self.model.step(i, st)]
            if final and self.last:
                new += self.model.end(st)  # FF's softmax head, on the last stage
            self.mark("forward", step, start)
            if final and not self.last:
                self.send(st, step)
            start = time.perf_counter()
            for j, loss in zip(self.loss_ids[len(losses):], new):
                if j in active:
                    loss.backward()
            self.mark("backward", step, start)
            losses += [loss.detach() for loss in new]
        start = time.perf_counter()
        self.opt.step()
        self.mark("step", step, start)
        return torch.stack(losses)

    # -- end of an epoch: losses and weights go to stage 0 --------------------------------
    def report(self, sums: torch.Tensor, cpu: float, t_end: float, weights: bool) -> None:
        info = torch.cat([sums.double().cpu(), torch.tensor([cpu, t_end - self.t0], dtype=torch.float64)])
        self.comm.send(info, 0, 1, "sending the epoch's losses to stage 0")
        if weights:
            sd = self.model.state_dict()
            for key in _state_keys(self.model, self.plan.modules[self.s]):
                self.comm.send(sd[key], 0, 2, f"sending {key} to stage 0")

    def collect(self, sums: torch.Tensor, cpu: float, t_start: float, t_end: float, weights: bool):
        """Stage 0: every stage's loss sums (in loss order), CPU seconds and epoch end, and its weights."""
        all_sums, cpus, end = [sums.double().cpu()], [cpu], t_end - self.t0
        sd = self.model.state_dict()
        for r in range(1, self.plan.num_stages):
            info = torch.empty(len(_stage_losses(self.plan, r)) + 2, dtype=torch.float64)
            self.comm.recv(info, r, 1, f"waiting for stage {r}'s epoch report")
            all_sums.append(info[:-2])
            cpus.append(float(info[-2]))
            end = max(end, float(info[-1]))
            if weights:
                with torch.no_grad():
                    for key in _state_keys(self.model, self.plan.modules[r]):
                        sd[key].copy_(self.comm.recv(torch.empty_like(sd[key]), r, 2, f"waiting for {key} from stage {r}"))
        return torch.cat(all_sums).float(), cpus, end - (t_start - self.t0)  # float32 sums, as fit's

    def gather_timeline(self) -> torch.Tensor | None:
        mine = torch.tensor(self.events, dtype=torch.float64).reshape(-1, 5)
        if self.s > 0:
            self.comm.send(torch.tensor([mine.shape[0]]), 0, 3, "sending the timeline to stage 0")
            self.comm.send(mine, 0, 4, "sending the timeline to stage 0")
            return None
        parts = [mine]
        for r in range(1, self.plan.num_stages):
            count = self.comm.recv(torch.zeros(1, dtype=torch.long), r, 3, f"waiting for stage {r}'s timeline")
            parts.append(self.comm.recv(torch.empty(int(count), 5, dtype=torch.float64), r, 4,
                                        f"waiting for stage {r}'s timeline"))
        return torch.cat(parts)


def run_stage(rank: int, world_size: int, model: LocalModel, ds: DataBundle | None, plan: StagePlan,
              cfg: dict) -> dict | None:
    """The training loop of stage ``rank`` in a process group of one process per stage (only stage 0
    needs ``ds``); stage 0 returns the trained weights, the history and the timeline, the others None."""
    stage = _Stage(rank, model, plan, cfg)
    device, epochs, bs = stage.device, cfg["epochs"], cfg["batch_size"]
    if rank == 0:
        train = ds.train.to(device)
        gen = torch.Generator(device=device).manual_seed(cfg["seed"])  # shuffling and FF's negatives, as fit
        probe = train_eval_subset(train, cfg["train_eval_samples"], torch.Generator().manual_seed(cfg["seed"]))
        history = History(cfg["method"], list(model.loss_names), list(model.layer_names), config=dict(
            epochs=epochs, batch_size=bs, lr=cfg["lr"], weight_decay=cfg["weight_decay"],
            optimizer=cfg["optimizer"], schedule=cfg["schedule"], cooldown=cfg["cooldown"], seed=cfg["seed"],
            device=str(device), dataset=cfg["dataset"], train_size=cfg["n_train"],
            stages=[list(u) for u in plan.units], devices=cfg["devices"]))
    stage.comm.barrier("meeting the other stages before training")
    # One clock for the timeline: rank 0's. perf_counter is the system-wide monotonic clock on
    # Linux and macOS, so every stage's intervals land on the same axis.
    stage.t0 = float(stage.comm.broadcast(torch.tensor([time.perf_counter()], dtype=torch.float64), 0,
                                      "sharing the start time"))
    step, last_report = 0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        active = set(_active_losses(model, cfg["schedule"], epoch, epochs))
        sums = torch.zeros(len(stage.loss_ids), device=device)
        t_start, cpu_start = time.perf_counter(), time.process_time()
        if rank == 0:
            perm = torch.randperm(cfg["n_train"], device=device, generator=gen)
        for i in range(0, cfg["n_train"], bs):
            if cfg["cooldown"]:
                _set_lr(stage.opt, cfg["lr"] * min(1.0, 2.0 * (1.0 - step / max(stage.total_steps, 1))))
            if rank == 0:
                idx = perm[i:i + bs]
                xb = train.x[idx] if cfg["augment"] is None else cfg["augment"](train.x[idx])
                state = model.begin(xb, train.y[idx], gen, carry=True)
            else:
                state = stage.take(step)
            sums += stage.step(state, step, active)
            step += 1
            if stage.last and time.perf_counter() - last_report > 0.25:
                _report("progress", step)
                last_report = time.perf_counter()
        while stage.sends:  # the epoch's last batches have reached the next stage
            stage.wait_send(step)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t_end, cpu = time.perf_counter(), time.process_time() - cpu_start
        weights = cfg["evaluate"] or epoch == epochs
        if rank > 0:
            stage.report(sums, cpu, t_end, weights)
            continue
        all_sums, cpus, seconds = stage.collect(sums, cpu, t_start, t_end, weights)
        mean_losses = (all_sums / stage.steps_per_epoch).tolist()
        if not all(math.isfinite(v) for v in mean_losses):
            raise FloatingPointError(f"Epoch {epoch}: a loss became NaN/Inf ({mean_losses}): lower the "
                                     "learning rate or check the inputs.")
        nan = float("nan")
        record = dict(epoch=epoch, seconds=seconds, train_loss=mean_losses, train_acc=nan, stage_cpu_seconds=cpus)
        for name in cfg["splits"]:
            record.update({f"{name}_acc": nan, f"layer_{name}_acc": [nan] * len(model.layer_names)})
        if cfg["evaluate"]:
            start = time.perf_counter()
            record["train_acc"] = accuracy(model, probe, cfg["eval_batch_size"])
            for name in cfg["splits"]:  # as fit: the test split only when asked for
                ev = evaluate(model, getattr(ds, name), cfg["eval_batch_size"])
                record[f"{name}_acc"], record[f"layer_{name}_acc"] = ev["acc"], ev["layer_acc"]
            stage.mark("evaluate", step, start)
        history.records.append(record)
    _report("progress", step)
    timeline = stage.gather_timeline()
    if rank > 0:
        return None
    model.eval()
    return dict(state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                history=history.to_dict(), timeline=timeline)


# ----------------------------------------------------------------------------
# 8. what the locks cost: a simulated schedule (for the notebook's first figure)

def simulated_timeline(num_stages: int, num_batches: int, method: str = "local", forward: float = 1.0,
                       backward: float = 2.0) -> list[dict]:
    """An idealised timeline (no communication cost) of ``num_batches`` batches on ``num_stages`` workers.

    ``method="backprop"``: every batch runs forward through the stages, then backward through them in
    reverse; the next batch starts only when the update is done (all three locks).
    ``method="local"``: stage s works on batch t as soon as stage s-1 has sent it and stage s has
    finished batch t-1: only the forward lock remains, and the pipeline hides it.
    The same dicts as :attr:`PipelineRun.timeline`, for :func:`hff_edu.viz.parallel_views.plot_timeline`.
    """
    if method not in ("local", "backprop"):
        raise ValueError(f"Unknown method {method!r}: choose 'local' or 'backprop'.")
    events, t = [], 0.0
    if method == "backprop":
        for b in range(num_batches):
            for s in range(num_stages):
                events.append(dict(stage=s, kind="forward", step=b, start=t, end=t + forward))
                t += forward
            for s in reversed(range(num_stages)):
                events.append(dict(stage=s, kind="backward", step=b, start=t, end=t + backward))
                t += backward
        return events
    free = [0.0] * num_stages
    for b in range(num_batches):
        ready = 0.0
        for s in range(num_stages):
            start = max(ready, free[s])
            events.append(dict(stage=s, kind="forward", step=b, start=start, end=start + forward))
            events.append(dict(stage=s, kind="backward", step=b, start=start + forward, end=start + forward + backward))
            ready, free[s] = start + forward, start + forward + backward
    return events
