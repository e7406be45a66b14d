"""Local learning in parallel: layers pipelined over processes, and data-parallel training, on torch.distributed.

Taught in 08_parallel_training. Jaderberg et al. (2017, "Decoupled Neural Interfaces using
Synthetic Gradients") name three locks that keep backprop's layers waiting for each other:

- **forward lock**: layer l cannot run on a batch before layers 1..l-1 have run on it;
- **update lock**: layer l cannot update before the forward pass has reached the loss at the top;
- **backward lock**: layer l cannot update before the gradient has come back down to it.

With a local loss per layer (HFF, local cross-entropy, FF) layer l's gradient comes from its own
loss on its own detached input, so the update and backward locks are gone. The forward lock stays,
and a pipeline hides it: while stage s works on batch t, stage s-1 already works on batch t+1.

- :func:`pipeline_fit`: the layers (blocks) are cut into S contiguous **stages**, one process each.
  Stage s receives the detached activations of batch t from stage s-1, runs its layers' local
  losses, sends its output to stage s+1 at once, back-propagates inside its own layers and steps
  its own optimiser. Nothing is ever sent backwards. With ``train.fit``'s step order (every
  layer's forward on batch t uses the weights after batch t-1) the pipelined run computes exactly
  what ``fit`` computes (tested). Backprop cannot be pipelined like this: its gradients would have
  to travel back up the pipe.
- :class:`DataParallel` (every model kind, backprop included): each process holds a replica, every
  global batch is split across the ranks, each rank's gradients are weighted by its share of the
  batch and summed by all-reduce as soon as each layer's local backward is done, and BatchNorm uses
  the statistics of the whole batch; the result is that of one process on the whole batch (tested).
  Run it with torchrun (``torchrun --standalone --nproc-per-node 2 -m hff_edu train ...``) or
  :func:`data_parallel_fit`.

Processes are started by the package (:func:`launch`: the ``spawn`` start method, a rendezvous on
127.0.0.1 at a free port), so both work from Jupyter. Every rendezvous, send, receive and collective
has a timeout, and a setup that cannot work raises :class:`ParallelError` saying why: never a hang.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import queue as queue_module
import socket
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from . import ff, hff
from .baselines import BPConvNet, BPNet, LocalCEConvNet, LocalCENet
from .data import DataBundle
from .protocol import LocalModel
from .train import (History, _active_losses, _set_lr, accuracy, default_device, evaluate, fit, make_optimizer,
                    seed_everything, train_eval_subset)

#: seconds any one rendezvous, message or collective may take before the run stops with an error
DEFAULT_TIMEOUT = 300.0


class ParallelError(RuntimeError):
    """A parallel run that cannot start or had to stop; the message names the rank, the cause and the fix."""


# ----------------------------------------------------------------------------
# 1. process groups and messages, every one with a timeout

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the operating system picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _timedelta(seconds: float) -> datetime.timedelta:
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"timeout={seconds!r}: give the seconds a rendezvous or message may take (> 0).")
    return datetime.timedelta(seconds=float(seconds))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def init_process_group(rank: int, world_size: int, port: int, host: str = "127.0.0.1",
                       backend: str = "gloo", timeout: float = DEFAULT_TIMEOUT) -> None:
    """Join the default process group at ``tcp://host:port`` as ``rank`` of ``world_size``.

    Raises :class:`ParallelError` when the other processes do not all arrive within ``timeout`` s.
    """
    if dist.is_initialized():
        raise ParallelError("This process already belongs to a torch.distributed process group: call "
                            "torch.distributed.destroy_process_group() first.")
    if not (int(world_size) == world_size and world_size >= 1 and 0 <= rank < world_size):
        raise ValueError(f"rank={rank}, world_size={world_size}: need world_size >= 1 and 0 <= rank < world_size.")
    try:
        dist.init_process_group(backend, init_method=f"tcp://{host}:{port}", rank=rank,
                                world_size=world_size, timeout=_timedelta(timeout))
    except (RuntimeError, ValueError) as e:
        raise ParallelError(
            f"rank {rank} of {world_size}: the rendezvous at tcp://{host}:{port} did not complete within "
            f"{timeout:g} s ({_first_line(e)}). All {world_size} processes must start and reach it: start "
            f"them together (torchrun --nproc-per-node {world_size} ...), and check that nothing else "
            "uses the port.") from None


def under_torchrun() -> bool:
    """Was this process started by torchrun (or another launcher that sets RANK and WORLD_SIZE)?"""
    return "TORCHELASTIC_RUN_ID" in os.environ or all(v in os.environ for v in ("RANK", "WORLD_SIZE"))


def init_from_env(device=None, timeout: float = DEFAULT_TIMEOUT) -> torch.device:
    """Join the process group that torchrun describes in the environment; returns this rank's device.

    The backend is gloo on the CPU and NCCL on CUDA when every rank has a GPU of its own
    (rank ``LOCAL_RANK`` takes ``cuda:LOCAL_RANK``); ranks sharing a GPU talk through gloo.
    """
    needed = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    missing = [v for v in needed if v not in os.environ]
    if missing:
        raise ParallelError(f"torch.distributed's environment is incomplete ({', '.join(missing)} not set): "
                            "start the processes with torchrun, e.g. "
                            "`torchrun --standalone --nproc-per-node 2 -m hff_edu train ...`.")
    local, local_world = int(os.environ["LOCAL_RANK"]), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    device = torch.device(device) if device else default_device()
    backend = "gloo"
    if device.type == "cuda":
        n_gpus = torch.cuda.device_count()
        if device.index is None:
            device = torch.device("cuda", local % max(n_gpus, 1))
        torch.cuda.set_device(device)
        backend = "nccl" if local_world <= n_gpus else "gloo"
    if dist.is_initialized():
        return device
    try:
        dist.init_process_group(backend, timeout=_timedelta(timeout))
    except (RuntimeError, ValueError) as e:
        raise ParallelError(f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: the rendezvous at "
                            f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} did not complete within "
                            f"{timeout:g} s ({_first_line(e)}): start all the processes with one torchrun "
                            "command.") from None
    return device


def is_main_process() -> bool:
    """True outside a process group and on rank 0 inside one: the process that prints and saves."""
    return not dist.is_initialized() or dist.get_rank() == 0


class Comm:
    """This process's sends, receives and collectives, each waited for with a timeout.

    A message that does not arrive in time, or a peer that stopped, raises :class:`ParallelError`
    naming this rank and what it was waiting for. With gloo, CUDA tensors travel through host memory.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        if not dist.is_initialized():
            raise ParallelError("No torch.distributed process group: start the processes with torchrun, "
                                "call parallel.init_process_group(...) or parallel.init_from_env() first, or "
                                "use parallel.pipeline_fit / parallel.data_parallel_fit, which start them.")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.timeout = float(timeout)
        self._timeout = _timedelta(timeout)
        self.gloo = dist.get_backend() == "gloo"

    def staged(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` where this backend can send it: host memory for gloo."""
        return t.cpu() if self.gloo and t.is_cuda else t

    def wait(self, work, what: str) -> None:
        try:
            work.wait(self._timeout)
        except RuntimeError as e:
            raise ParallelError(self.explain(what, e)) from None

    def explain(self, what: str, e: BaseException) -> str:
        msg = _first_line(e)
        low = msg.lower()
        if "closed" in low or "reset" in low or "broken pipe" in low:
            cause = "another process stopped (its own error, reported with this one, says why)"
        elif "timed out" in low or "timeout" in low:
            cause = (f"no answer within {self.timeout:g} s: another process crashed, is stuck, or is slower "
                     "than that (pass a larger timeout= if its work really takes longer)")
        else:
            cause = msg
        return f"rank {self.rank}: {what} failed: {cause}. [{msg}]"

    def send(self, t: torch.Tensor, dst: int, tag: int, what: str) -> None:
        self.wait(dist.isend(self.staged(t).contiguous(), dst, tag=tag), what)

    def recv(self, t: torch.Tensor, src: int, tag: int, what: str) -> torch.Tensor:
        buf = self.staged(t)
        self.wait(dist.irecv(buf, src, tag=tag), what)
        if buf is not t:
            t.copy_(buf)
        return t

    def all_reduce(self, t: torch.Tensor, what: str) -> torch.Tensor:
        buf = self.staged(t)
        self.wait(dist.all_reduce(buf, async_op=True), what)
        if buf is not t:
            t.copy_(buf)
        return t

    def all_gather(self, t: torch.Tensor, what: str) -> list[torch.Tensor]:
        buf = self.staged(t.contiguous())
        out = [torch.empty_like(buf) for _ in range(self.world_size)]
        self.wait(dist.all_gather(out, buf, async_op=True), what)
        return [o.to(t.device) for o in out]

    def broadcast(self, t: torch.Tensor, src: int, what: str) -> torch.Tensor:
        buf = self.staged(t)
        self.wait(dist.broadcast(buf, src, async_op=True), what)
        if buf is not t:
            t.copy_(buf)
        return t

    def barrier(self, what: str) -> None:
        try:
            if self.gloo:  # names the rank that did not arrive
                dist.monitored_barrier(timeout=self._timeout)
            else:
                dist.barrier(async_op=True).wait(self._timeout)
        except RuntimeError as e:
            raise ParallelError(self.explain(what, e)) from None


# ----------------------------------------------------------------------------
# 2. starting processes from Python (and from Jupyter)

_REPORT: Callable | None = None  # set in a worker: puts progress messages on the parent's queue


def _report(*message) -> None:
    if _REPORT is not None:
        _REPORT(message)


def _worker(fn, rank, world_size, port, backend, timeout, threads, job_path, result_path, messages):
    global _REPORT
    failed_at = None  # when fn failed: before leaving the group makes the peers fail too (the root cause is first)
    try:
        if threads:
            torch.set_num_threads(threads)
        _REPORT = messages.put
        args = torch.load(job_path, map_location="cpu", weights_only=False, mmap=True)
        init_process_group(rank, world_size, port, backend=backend, timeout=timeout)
        try:
            out = fn(rank, world_size, *args)
        except BaseException:
            failed_at = time.time()
            raise
        finally:
            dist.destroy_process_group()  # peers still waiting on this rank fail at once, not at their timeout
        if rank == 0:
            torch.save(out, result_path)
        messages.put(("done", rank))
    except BaseException as e:  # noqa: BLE001 - every failure is reported to the parent, then the process exits
        messages.put(("error", rank, failed_at or time.time(), f"{type(e).__name__}: {e}", traceback.format_exc()))
        sys.exit(1)


def launch(fn: Callable, world_size: int, *args, threads: int | None = 1, timeout: float = DEFAULT_TIMEOUT,
           backend: str = "gloo", progress: dict | None = None):
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` new processes joined in one process group.

    The processes are started with the ``spawn`` method (so this works from Jupyter: ``fn`` must be a
    module-level function, ``args`` picklable), meet at 127.0.0.1 on a free port, and run with
    ``threads`` torch threads each. Returns rank 0's return value. If a rank fails, the others are
    stopped and :class:`ParallelError` reports the first failure with its traceback.
    ``progress=dict(total=..., desc=...)`` shows a bar fed by the workers' ``("progress", n)`` messages.
    """
    _timedelta(timeout)
    if int(world_size) != world_size or world_size < 1:
        raise ValueError(f"world_size={world_size}: give the number of processes (>= 1).")
    ctx = torch.multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="hff_edu_parallel_") as tmp:
        job, result = os.path.join(tmp, "job.pt"), os.path.join(tmp, "result.pt")
        try:
            torch.save(args, job)
        except Exception as e:  # noqa: BLE001 - say what could not be sent
            raise ParallelError(f"The arguments cannot be sent to the worker processes ({_first_line(e)}): "
                                "models, datasets and callables must be picklable, and their classes "
                                "defined in an importable module (not in a notebook cell).") from None
        port = free_port()
        procs = [ctx.Process(target=_worker, name=f"hff_edu rank {r}", daemon=True,
                             args=(fn, r, world_size, port, backend, timeout, threads, job, result, messages))
                 for r in range(world_size)]
        bar = _bar(progress)
        try:
            for p in procs:
                p.start()
            errors = _supervise(procs, messages, bar)
        finally:
            for p in procs:
                if p.pid is None:  # never started
                    continue
                if p.is_alive():
                    p.terminate()
                p.join(5)
            if bar is not None:
                bar.close()
            messages.close()
        if errors:
            raise ParallelError(_failure_report(errors, world_size))
        return torch.load(result, map_location="cpu", weights_only=False)


def _bar(progress: dict | None):
    if not progress or not progress.get("total"):
        return None
    from tqdm.auto import tqdm
    return tqdm(total=progress["total"], desc=progress.get("desc"), unit=progress.get("unit", "batch"), leave=False)


def _supervise(procs, messages, bar, grace: float = 3.0) -> dict:
    """Collect messages until every rank is done or one failed (then wait ``grace`` s for the others' errors)."""
    done, errors, first_error, dead_since = set(), {}, None, {}
    while len(done) + len(errors) < len(procs):
        try:
            msg = messages.get(timeout=0.1)
        except queue_module.Empty:
            msg = None
        if msg is not None:
            if msg[0] == "done":
                done.add(msg[1])
            elif msg[0] == "error":
                errors[msg[1]] = msg[2:]
                first_error = first_error or time.time()
            elif msg[0] == "progress" and bar is not None:
                bar.update(msg[1] - bar.n)
            continue
        now = time.time()
        for rank, p in enumerate(procs):  # a process killed from outside never reports: notice it
            if p.exitcode is not None and rank not in done and rank not in errors:
                if now - dead_since.setdefault(rank, now) > 1.0:
                    errors[rank] = (now, f"the process exited with code {p.exitcode} without a Python error "
                                         "(killed, out of memory, or a crash in native code)", "")
                    first_error = first_error or now
        if first_error is not None and now - first_error > grace:
            break
    return errors


def _failure_report(errors: dict, world_size: int) -> str:
    first = min(errors, key=lambda r: errors[r][0])
    _, message, tb = errors[first]
    lines = [f"rank {first} of {world_size} failed first: {message}"]
    lines += [f"rank {r} then: {errors[r][1]}" for r in sorted(errors) if r != first]
    if tb:
        lines.append(f"traceback of rank {first}:\n{tb.rstrip()}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# 3. how each model kind runs as pipeline stages

class StageKind:
    """How one model kind runs in stages: the modules unit i trains, and unit i's forward on its
    detached input, the same arithmetic as the model's ``iter_losses`` (the equality test checks it).

    A *state* is a dict of tensors that travels down the pipe: the activations, the labels ``y``
    (and whatever else later units read). ``start`` makes it from the checked batch on stage 0;
    ``run`` advances it through unit i and returns unit i's loss; ``finish`` returns the losses of
    modules the last stage trains beyond the units (FF's softmax head).
    """

    #: modules trained by the last stage besides its units
    extras: tuple = ()

    def check(self, model) -> None:
        """Raise if this model's settings cannot be pipelined."""

    def unit_modules(self, model, i: int) -> list[str]:
        raise NotImplementedError

    def start(self, model, x, y, generator) -> dict:
        return {"a": x, "y": y}

    def run(self, model, i: int, st: dict) -> torch.Tensor:
        raise NotImplementedError

    def finish(self, model, st: dict) -> list[torch.Tensor]:
        return []


class _HFFMLP(StageKind):
    def unit_modules(self, model, i):
        return [f"layers.{i}"]

    def run(self, model, i, st):
        st["a"], s = model.layers[i](st["a"].detach())
        return hff.hff_loss(s, st["y"], model.tau, model.margin)


class _HFFConv(StageKind):
    def unit_modules(self, model, i):
        return [f"blocks.{i}", f"heads.{i}"]

    def run(self, model, i, st):
        st["a"] = model.blocks[i](st["a"].detach())
        return hff.hff_loss(model.heads[i](st["a"])[1], st["y"], model.tau, model.margin)


class _LocalCE(StageKind):
    def unit_modules(self, model, i):
        return [f"{'blocks' if hasattr(model, 'blocks') else 'layers'}.{i}", f"heads.{i}"]

    def run(self, model, i, st):
        st["a"] = model.unit(i, st["a"].detach())
        return F.cross_entropy(model.heads[i](st["a"]), st["y"])


class _FFBase(StageKind):
    """FF's softmax head reads the neutral pass of every layer >= 2, so it cannot belong to one stage's
    layers: it is trained by the **last** stage, and each stage adds its layers' head features
    ``n(h_l)`` (N x width, no gradient) to the message it sends on. The message grows by those
    features, and nothing goes backwards. Hard negatives are refused: they need the head's
    prediction, i.e. a pass through every stage, before layer 1 can run (a forward lock)."""

    extras = ("head",)

    def check(self, model):
        if model.negatives == "hard":
            raise ValueError(f"{type(model).__name__} with negatives='hard' cannot be pipelined: its negative "
                             "labels come from the softmax head's prediction, which needs a pass through every "
                             "stage before the first layer may run on the batch (a forward lock). Use "
                             "negatives='uniform', or data parallelism (parallel.data_parallel_fit).")

    def unit_modules(self, model, i):
        return [f"{'blocks' if hasattr(model, 'blocks') else 'layers'}.{i}"]

    def finish(self, model, st):
        feats = [st[f"f{i}"] for i in range(model.first_scored, model.num_layers)]
        return [F.cross_entropy(model.head(torch.cat(feats, dim=1)), st["y"])]


class _FFMLP(_FFBase):
    def start(self, model, x, y, generator):
        y_neg = ff.wrong_labels(y, model.num_classes, generator)
        code = dict(mode=model.label_mode, scale=model.label_scale)
        return {"pos": ff.overlay_label(x, y, model.num_classes, **code),
                "neg": ff.overlay_label(x, y_neg, model.num_classes, **code),
                "neu": ff.overlay_label(x, None, model.num_classes, **code), "y": y}

    def run(self, model, i, st):
        layer = model.layers[i]
        st["pos"], st["neg"] = layer(st["pos"].detach()), layer(st["neg"].detach())
        with torch.no_grad():  # the head's neutral pass (StreamedHeadCE's features)
            st["neu"] = layer(st["neu"])
            if i >= model.first_scored:
                st[f"f{i}"] = ff.rms_norm(st["neu"])
        return ff.ff_loss(ff.goodness(st["pos"]), ff.goodness(st["neg"]), model.thetas[i])


class _FFConv(_FFBase):
    def start(self, model, x, y, generator):
        y_neg = ff.wrong_labels(y, model.num_classes, generator)
        a = torch.cat([ff.label_planes(x, lab, model.num_classes, model.label_mode) for lab in (y, y_neg, None)])
        return {"a": a, "y": y, "y_neg": y_neg}

    def run(self, model, i, st):
        y, n, c = st["y"], st["y"].shape[0], model.num_classes
        every = torch.cat([F.one_hot(y, c).float(), F.one_hot(st["y_neg"], c).float(),
                           torch.full((n, c), 1.0 / c, device=y.device)])
        st["a"] = a = model.blocks[i](model._block_input(i, st["a"].detach(), every))
        g = ff.conv_goodness(a[:2 * n], model.goodness_kind)
        if i >= model.first_scored:
            st[f"f{i}"] = model.head_vector(a[2 * n:].detach())
        return model._loss(g[:n], g[n:], model.thetas[i])


#: model class -> how it runs in stages (add your own with ``STAGE_KINDS[MyNet] = MyKind()``)
STAGE_KINDS: dict[type, StageKind] = {
    hff.HFFNet: _HFFMLP(), hff.HFFConvNet: _HFFConv(), LocalCENet: _LocalCE(), LocalCEConvNet: _LocalCE(),
    ff.FFNet: _FFMLP(), ff.FFConvNet: _FFConv(),
}


def stage_kind(model: LocalModel) -> StageKind:
    """How ``model`` runs as pipeline stages; raises with the reason for backprop and unknown kinds."""
    if isinstance(model, (BPNet, BPConvNet)):
        raise ValueError(
            f"{type(model).__name__} is trained end to end by backprop and cannot be pipelined: layer l's "
            "gradient needs the gradient of every layer above it, so each stage would have to wait for the "
            "stages after it to send gradients back (the backward lock), and a pipeline here only sends "
            "activations forward. Train backprop with data parallelism (parallel.data_parallel_fit, or "
            "torchrun ... -m hff_edu train without --stages), or pipeline a local method (hff, local-ce, ff).")
    kind = next((STAGE_KINDS[c] for c in type(model).__mro__ if c in STAGE_KINDS), None)
    if kind is None:
        raise ValueError(f"No stage plan for {type(model).__name__}: add a parallel.StageKind for it to "
                         "parallel.STAGE_KINDS.")
    kind.check(model)
    return kind


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
    kind = stage_kind(model)
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
            st = kind.start(model, x, y, torch.Generator(device=model.device).manual_seed(0))
            for i in range(n_units):
                macs[0] = 0.0
                kind.run(model, i, st)
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
    modules = [[m for i in range(a, b) for m in kind.unit_modules(model, i)] for a, b in bounds]
    modules[-1] += list(kind.extras)
    plan = StagePlan(bounds, modules, [layouts[b - 1] for a, b in bounds[:-1]], costs, list(model.loss_names))
    _check_ownership(model, plan)
    return plan


def _check_ownership(model, plan: StagePlan) -> None:
    owned = [p for mods in plan.modules for m in mods for p in model.get_submodule(m).parameters()]
    if len({id(p) for p in owned}) != len(owned) or {id(p) for p in owned} != {id(p) for p in model.parameters()}:
        raise ValueError(f"The stage plan of {type(model).__name__} does not give every parameter to exactly one "
                         "stage: fix its StageKind.unit_modules / extras.")


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


@dataclass
class PipelineRun:
    """What :func:`pipeline_fit` measured.

    ``history``: the same :class:`~hff_edu.train.History` as ``train.fit`` (``seconds`` = training
    time of the epoch from stage 0's start to the last stage's end, evaluation excluded);
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
                 lr: float = 1e-3, weight_decay: float = 0.0, optimizer: str = "adam",
                 schedule: str = "simultaneous", cooldown: bool = True, seed: int = 0, progress: bool = True,
                 device=None, eval_batch_size: int = 1000, train_eval_samples: int = 2000,
                 augment: Callable | None = None, evaluate_every_epoch: bool = True, threads: int | None = 1,
                 timeout: float = DEFAULT_TIMEOUT, max_timeline_steps: int | None = None) -> PipelineRun:
    """Train ``model`` like ``train.fit`` (same arguments, same result), its layers pipelined over processes.

    Args:
        stages: number of stages (the layers are split to balance their multiply-adds), or the
            number of layers (blocks) per stage, e.g. ``[2, 2]``. One process per stage.
        device: one device for every stage, or one per stage (e.g. ``["cuda:0", "cuda:1"]``);
            default CPU (stages on one GPU run as separate processes, each with its own stream).
        evaluate_every_epoch: ``False`` skips the per-epoch evaluation (throughput runs): the
            records then hold NaN accuracies.
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
                     lr: float = 1e-3, weight_decay: float = 0.0, optimizer: str = "adam",
                     schedule: str = "simultaneous", cooldown: bool = True, seed: int = 0, device=None,
                     eval_batch_size: int = 1000, train_eval_samples: int = 2000, augment: Callable | None = None,
                     evaluate_every_epoch: bool = True, timeout: float = DEFAULT_TIMEOUT,
                     max_timeline_steps: int | None = None) -> tuple[StagePlan, dict]:
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
    if not lr > 0:
        raise ValueError(f"lr={lr}: the learning rate must be > 0.")
    if schedule not in ("simultaneous", "greedy"):
        raise ValueError(f"Unknown schedule {schedule!r}: choose 'simultaneous' or 'greedy'.")
    if optimizer not in ("adam", "adamw", "sgd"):
        raise ValueError(f"Unknown optimizer {optimizer!r}: choose 'adam', 'adamw' or 'sgd'.")
    _timedelta(timeout)
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
                      evaluate=bool(evaluate_every_epoch), timeout=float(timeout), n_train=len(ds.train),
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
        self.kind = stage_kind(model)
        self.comm = Comm(cfg["timeout"])
        if self.comm.world_size != plan.num_stages:
            raise ParallelError(f"rank {rank}: the process group has {self.comm.world_size} processes but the "
                                f"pipeline has {plan.num_stages} stages: start one process per stage "
                                f"(torchrun --nproc-per-node {plan.num_stages}), or pass stages={self.comm.world_size}.")
        self.device = torch.device(cfg["devices"][rank])
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
        self.events, self.sends = [], deque()
        self.t0 = 0.0

    # -- timeline ------------------------------------------------------------------
    def mark(self, kind: str, step: int, start: float) -> None:
        limit = self.cfg["max_timeline_steps"]
        if limit is None or step < limit:
            self.events.append((self.s, KINDS.index(kind), step, start - self.t0, time.perf_counter() - self.t0))

    # -- messages --------------------------------------------------------------------
    def post_recv(self, step: int):
        """Post the receive of batch ``step`` from the previous stage, to be filled while this one computes."""
        if self.s == 0 or step >= self.total_steps:
            return None
        n = self.sizes[step % self.steps_per_epoch]
        layout = self.plan.messages[self.s - 1]
        buf = torch.empty(n * sum(k * _numel(shape) for _, k, shape, _ in layout),
                          device=self.device if not self.comm.gloo else "cpu")
        return n, buf, dist.irecv(buf, self.s - 1, tag=0)

    def take(self, pending, step: int) -> dict:
        n, buf, work = pending
        start = time.perf_counter()
        self.comm.wait(work, f"receiving batch {step} from stage {self.s - 1}")
        self.mark("recv", step, start)
        return _unpack(buf, self.plan.messages[self.s - 1], n, self.device)

    def send(self, st: dict, step: int) -> None:
        """Send the state on without waiting; at most two sends are in flight (the receiver pre-posts one)."""
        if len(self.sends) >= 2:
            self.wait_send(step)
        buf = self.comm.staged(_pack(st, self.plan.messages[self.s]))
        self.sends.append((dist.isend(buf, self.s + 1, tag=0), buf, step))

    def wait_send(self, step: int) -> None:
        work, _, sent = self.sends.popleft()
        start = time.perf_counter()
        self.comm.wait(work, f"sending batch {sent} to stage {self.s + 1}")
        if time.perf_counter() - start > 1e-4:
            self.mark("send", step, start)

    # -- one training step, in train.train_step's order --------------------------------
    def step(self, st: dict, step: int, active) -> torch.Tensor:
        start = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        losses = [self.kind.run(self.model, i, st) for i in self.units]
        if self.last:
            losses += self.kind.finish(self.model, st)
        self.mark("forward", step, start)
        if not self.last:  # the next stage can start now: our backward and update do not change what we sent
            self.send(st, step)
        start = time.perf_counter()
        for j, loss in zip(self.loss_ids, losses):
            if j in active:
                loss.backward()
        self.mark("backward", step, start)
        start = time.perf_counter()
        self.opt.step()
        self.mark("step", step, start)
        return torch.stack([loss.detach() for loss in losses])

    # -- end of an epoch: losses and weights go to stage 0 --------------------------------
    def report(self, sums: torch.Tensor, t_start: float, t_end: float, weights: bool) -> None:
        info = torch.cat([sums.double().cpu(), torch.tensor([t_start - self.t0, t_end - self.t0], dtype=torch.float64)])
        self.comm.send(info, 0, 1, "sending the epoch's losses to stage 0")
        if weights:
            sd = self.model.state_dict()
            for key in _state_keys(self.model, self.plan.modules[self.s]):
                self.comm.send(sd[key], 0, 2, f"sending {key} to stage 0")

    def collect(self, sums: torch.Tensor, t_start: float, t_end: float, weights: bool):
        """Stage 0: every stage's loss sums (in loss order), the epoch's end, and its weights."""
        all_sums, end = [sums.double().cpu()], t_end - self.t0
        sd = self.model.state_dict()
        for r in range(1, self.plan.num_stages):
            info = torch.empty(len(_stage_losses(self.plan, r)) + 2, dtype=torch.float64)
            self.comm.recv(info, r, 1, f"waiting for stage {r}'s epoch report")
            all_sums.append(info[:-2])
            end = max(end, float(info[-1]))
            if weights:
                with torch.no_grad():
                    for key in _state_keys(self.model, self.plan.modules[r]):
                        sd[key].copy_(self.comm.recv(torch.empty_like(sd[key]), r, 2, f"waiting for {key} from stage {r}"))
        return torch.cat(all_sums), end - (t_start - self.t0)

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
    st_ = _Stage(rank, model, plan, cfg)
    device, epochs, bs = st_.device, cfg["epochs"], cfg["batch_size"]
    if rank == 0:
        train = ds.train.to(device)
        gen = torch.Generator(device=device).manual_seed(cfg["seed"])  # shuffling and FF's negatives, as fit
        probe = train_eval_subset(train, cfg["train_eval_samples"], torch.Generator().manual_seed(cfg["seed"]))
        history = History(cfg["method"], list(model.loss_names), list(model.layer_names), config=dict(
            epochs=epochs, batch_size=bs, lr=cfg["lr"], weight_decay=cfg["weight_decay"],
            optimizer=cfg["optimizer"], schedule=cfg["schedule"], cooldown=cfg["cooldown"], seed=cfg["seed"],
            device=str(device), dataset=cfg["dataset"], train_size=cfg["n_train"],
            stages=[list(u) for u in plan.units], devices=cfg["devices"]))
    st_.comm.barrier("meeting the other stages before training")
    # One clock for the timeline: rank 0's. perf_counter is the system-wide monotonic clock on
    # Linux and macOS, so every stage's intervals land on the same axis.
    st_.t0 = float(st_.comm.broadcast(torch.tensor([time.perf_counter()], dtype=torch.float64), 0,
                                      "sharing the start time"))
    pending, step, last_report = st_.post_recv(0), 0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        active = set(_active_losses(model, cfg["schedule"], epoch, epochs))
        sums = torch.zeros(len(st_.loss_ids), device=device)
        t_start = time.perf_counter()
        if rank == 0:
            perm = torch.randperm(cfg["n_train"], device=device, generator=gen)
        for i in range(0, cfg["n_train"], bs):
            if cfg["cooldown"]:
                _set_lr(st_.opt, cfg["lr"] * min(1.0, 2.0 * (1.0 - step / max(st_.total_steps, 1))))
            if rank == 0:
                idx = perm[i:i + bs]
                xb = train.x[idx] if cfg["augment"] is None else cfg["augment"](train.x[idx])
                x = model.model_input(xb)
                state = st_.kind.start(model, x, model.check_labels(train.y[idx], x.shape[0]), gen)
            else:
                state = st_.take(pending, step)
                pending = st_.post_recv(step + 1)
            sums += st_.step(state, step, active)
            step += 1
            if st_.last and time.perf_counter() - last_report > 0.25:
                _report("progress", step)
                last_report = time.perf_counter()
        while st_.sends:  # the epoch's last batches have reached the next stage
            st_.wait_send(step)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t_end = time.perf_counter()
        weights = cfg["evaluate"] or epoch == epochs
        if rank > 0:
            st_.report(sums, t_start, t_end, weights)
            continue
        all_sums, seconds = st_.collect(sums, t_start, t_end, weights)
        mean_losses = (all_sums / st_.steps_per_epoch).tolist()
        if not all(v == v and abs(v) != float("inf") for v in mean_losses):
            raise FloatingPointError(f"Epoch {epoch}: a loss became NaN/Inf ({mean_losses}): lower the "
                                     "learning rate or check the inputs.")
        record = dict(epoch=epoch, seconds=seconds, train_loss=mean_losses, train_acc=float("nan"),
                      test_acc=float("nan"), layer_test_acc=[float("nan")] * len(model.layer_names))
        if cfg["evaluate"]:
            start = time.perf_counter()
            ev = evaluate(model, ds.test, cfg["eval_batch_size"])
            record.update(train_acc=accuracy(model, probe, cfg["eval_batch_size"]), test_acc=ev["acc"],
                          layer_test_acc=ev["layer_acc"])
            st_.mark("evaluate", step, start)
        history.records.append(record)
    _report("progress", step)
    timeline = st_.gather_timeline()
    if rank > 0:
        return None
    model.eval()
    return dict(state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                history=history.to_dict(), timeline=timeline)


# ----------------------------------------------------------------------------
# 6. data parallelism: one replica per rank, each global batch split across the ranks

def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous slice [lo, hi) of a batch of ``n``: sizes differ by at most one."""
    return rank * n // world_size, (rank + 1) * n // world_size


class _SyncBatchNormFunction(torch.autograd.Function):
    """BatchNorm in training mode with the mean and variance of the whole global batch (all ranks).

    Forward all-reduces the per-channel sum and count, then the sum of squared deviations (two
    passes: no cancellation); backward all-reduces sum(dy) and sum(dy * x_hat), which the input
    gradient of a batch statistic needs. A ``ghost`` rank (no samples this step) adds nothing.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, comm, ghost):
        c, dims = x.shape[1], [0] + list(range(2, x.dim()))
        shape = [1, c] + [1] * (x.dim() - 2)
        w = 0.0 if ghost else 1.0
        s1 = torch.cat([x.sum(dims).double() * w, torch.tensor([w * x.numel() / c], dtype=torch.float64, device=x.device)])
        comm.all_reduce(s1, "synchronising a BatchNorm's batch mean")
        count = float(s1[-1])
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got {count:.0f} over all "
                             "ranks: use a larger batch.")
        mean = (s1[:-1] / count).to(x.dtype)
        xc = x - mean.view(shape)
        s2 = xc.pow(2).sum(dims).double() * w
        comm.all_reduce(s2, "synchronising a BatchNorm's batch variance")
        var = (s2 / count).to(x.dtype)
        invstd = torch.rsqrt(var + eps)
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
            running_var.mul_(1 - momentum).add_(var * (count / (count - 1)), alpha=momentum)
        xhat = xc * invstd.view(shape)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.comm, ctx.count, ctx.w, ctx.dims, ctx.shape = comm, count, w, dims, shape
        return xhat * weight.view(shape) + bias.view(shape) if weight is not None else xhat

    @staticmethod
    def backward(ctx, dy):
        xhat, invstd, weight = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        sum_dy, sum_dy_xhat = dy.sum(dims), (dy * xhat).sum(dims)
        g = torch.cat([sum_dy, sum_dy_xhat]).double() * ctx.w
        ctx.comm.all_reduce(g, "synchronising a BatchNorm's gradient")
        mean_dy, mean_dy_xhat = (g / ctx.count).to(dy.dtype).chunk(2)
        scale = invstd * weight if weight is not None else invstd
        dx = (dy - mean_dy.view(shape) - xhat * mean_dy_xhat.view(shape)) * (scale * ctx.w).view(shape)
        has_affine = weight is not None
        return (dx, sum_dy_xhat if has_affine else None, sum_dy if has_affine else None,
                None, None, None, None, None, None)


class _SyncBatchNorm:
    """Mixed into a BatchNorm class while a :class:`DataParallel` trains it: training-mode statistics
    of the global batch; evaluation (running averages) is unchanged."""

    _sync_comm = None
    _ghost = False

    def forward(self, x):
        if not self.training or self._sync_comm is None or not self.track_running_stats:
            return super().forward(x)
        self._check_input_dim(x)
        self.num_batches_tracked.add_(1)
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        return _SyncBatchNormFunction.apply(x, self.weight, self.bias, self.running_mean, self.running_var,
                                            momentum, self.eps, self._sync_comm, self._ghost)


class SyncBatchNorm1d(_SyncBatchNorm, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` with global-batch statistics (any backend, CPU included)."""


class SyncBatchNorm2d(_SyncBatchNorm, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with global-batch statistics (any backend, CPU included)."""


_SYNC_BN = {nn.BatchNorm1d: SyncBatchNorm1d, nn.BatchNorm2d: SyncBatchNorm2d}


def _draws_negatives(model) -> bool:
    return isinstance(model, (ff.FFNet, ff.FFConvNet))


def _advance_negatives(model, generator: torch.Generator, n: int) -> None:
    """Draw from ``generator`` what FF draws for ``n`` samples' wrong labels (``ff.wrong_labels``)."""
    if n <= 0:
        return
    c, dev = model.num_classes, generator.device
    if model.negatives == "uniform":
        torch.randint(1, c, (n,), device=dev, generator=generator)
    else:
        torch.multinomial(torch.ones(n, c, device=dev), 1, generator=generator)


class DataParallel(LocalModel):
    """A replica of ``model`` on this rank that trains on its share of every global batch.

    Use it like ``DistributedDataParallel``: in every process of a group (torchrun, or
    :func:`init_process_group`), ``train.fit(DataParallel(model), ds, ...)`` with the *global*
    batch size. Every rank sees the same shuffled global batch (``fit``'s seeded generator) and
    takes its slice [lo, hi) of n = hi - lo samples out of N. ``backward_local`` back-propagates
    each local loss scaled by n / N and, as soon as a layer's loss is back-propagated, all-reduces
    (sums) that layer's gradients in the background while the next layer computes: the sum of the
    ranks' gradients is the gradient of one process on the whole batch. BatchNorm layers use the
    global batch's statistics (:class:`SyncBatchNorm2d`) while wrapped. Predictions are split the
    same way and gathered, so ``fit``'s evaluation is shared by the ranks and every rank gets the
    same numbers.

    FF's wrong labels: on a CPU generator each rank skips the draws of the samples before its
    slice and the shared generator moves on by the whole batch's draws, so the negatives are those
    of one process. On CUDA generators draws are not sequential: each rank then gets its own
    negatives (a valid FF run, not the one-process one).

    At construction the parameters and buffers of rank 0 are broadcast (as DDP does) at the first
    step, so every replica starts equal. :meth:`unwrap` returns the plain model.
    """

    def __init__(self, model: LocalModel, timeout: float = DEFAULT_TIMEOUT):
        if isinstance(model, DataParallel):
            raise ValueError("The model is already wrapped in DataParallel.")
        comm = Comm(timeout)
        super().__init__(model.num_classes, model.config)
        self.module = model
        self.comm, self.rank, self.world_size = comm, comm.rank, comm.world_size
        self._synced = False
        for m in model.modules():
            if type(m) in _SYNC_BN:
                m.__class__ = _SYNC_BN[type(m)]
                m._sync_comm = comm

    # -- the protocol, delegated --------------------------------------------------------
    @property
    def loss_names(self):
        return self.module.loss_names

    @property
    def layer_names(self):
        return self.module.layer_names

    @property
    def num_layers(self):
        return self.module.num_layers

    @property
    def supports_greedy(self):
        return self.module.supports_greedy

    @property
    def passes_per_prediction(self):
        return self.module.passes_per_prediction

    def model_input(self, x):
        return self.module.model_input(x)

    def iter_losses(self, x, y, generator=None):
        """This replica's losses on the batch it is given (no communication)."""
        return self.module.iter_losses(x, y, generator)

    def unwrap(self) -> LocalModel:
        """The plain model, its BatchNorm layers back to ``nn.BatchNorm*``."""
        plain = {v: k for k, v in _SYNC_BN.items()}
        for m in self.module.modules():
            if type(m) in plain:
                m.__class__ = plain[type(m)]
                m.__dict__.pop("_sync_comm", None)
                m.__dict__.pop("_ghost", None)
        return self.module

    def _sync_replicas(self) -> None:
        if self._synced:
            return
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            with torch.no_grad():
                self.comm.broadcast(t.data, 0, "broadcasting rank 0's weights")
        self._synced = True

    # -- training ---------------------------------------------------------------------
    def backward_local(self, x, y, active=None, generator=None):
        self._sync_replicas()
        n = x.shape[0]
        lo, hi = shard_bounds(n, self.rank, self.world_size)
        ghost = hi == lo  # fewer samples than ranks: compute on one sample with weight 0, so the collectives match
        xs, ys = (x[:1], y[:1]) if ghost else (x[lo:hi], y[lo:hi])
        scale = (hi - lo) / n
        if generator is not None and _draws_negatives(self.module) and self.world_size > 1:
            mine = torch.Generator(device=generator.device)
            mine.set_state(generator.get_state())
            _advance_negatives(self.module, mine, lo)         # skip the samples before this slice
            _advance_negatives(self.module, generator, n)     # the shared generator moves on as one process's would
            generator = mine
        self._set_ghost(ghost)
        reducer = _GradReducer(self.comm, [p for p in self.module.parameters() if p.requires_grad])
        losses = []
        try:
            for i, loss in enumerate(self.module.iter_losses(xs, ys, generator)):
                if active is None or i in active:
                    (loss * scale).backward()
                    reducer.launch()  # this layer's gradients are final: sum them while the next layer runs
                losses.append(loss.detach() * scale)
            total = self.comm.all_reduce(torch.stack(losses), "summing the losses")
            reducer.wait()
        finally:
            self._set_ghost(False)
        return list(total.unbind())

    def _set_ghost(self, ghost: bool) -> None:
        for m in self.module.modules():
            if isinstance(m, _SyncBatchNorm):
                m._ghost = ghost

    # -- prediction: each rank predicts its slice, then all gather ----------------------------
    def _gathered(self, x: torch.Tensor, fn: Callable) -> torch.Tensor:
        """``fn`` (x -> LongTensor (k, n)) on the whole batch, computed slice by slice across the ranks."""
        self._sync_replicas()
        n = x.shape[0]
        if n < self.world_size:  # too few to share: every rank computes all of them
            return fn(x)
        lo, hi = shard_bounds(n, self.rank, self.world_size)
        part = fn(x[lo:hi])
        width = -(-n // self.world_size)
        padded = part.new_zeros(part.shape[0], width)
        padded[:, :hi - lo] = part
        pieces = self.comm.all_gather(padded, "gathering the predictions")
        return torch.cat([p[:, :b - a] for p, (a, b) in
                          zip(pieces, (shard_bounds(n, r, self.world_size) for r in range(self.world_size)))], dim=1)

    def predict(self, x, **kwargs):
        return self._gathered(x, lambda xs: self.module.predict(xs, **kwargs)[None])[0]

    def layer_predictions(self, x):
        return list(self._gathered(x, lambda xs: torch.stack(self.module.layer_predictions(xs))).unbind())

    def predict_and_layers(self, x):
        def both(xs):
            pred, layers = self.module.predict_and_layers(xs)
            return torch.stack([pred] + list(layers))
        out = self._gathered(x, both)
        return out[0], list(out[1:].unbind())


class _GradReducer:
    """Sums gradients across the ranks in the background, one layer's worth at a time.

    Large gradients are reduced in place; the small ones of a layer (biases, prototypes) travel
    together in one flat buffer, so a layer costs one or two collectives."""

    SMALL = 1 << 16

    def __init__(self, comm: Comm, params: list):
        self.comm, self.params = comm, params
        self.launched, self.pending = set(), []

    def launch(self) -> None:
        new = [p for p in self.params if p.grad is not None and id(p) not in self.launched]
        self.launched.update(id(p) for p in new)
        small = [p for p in new if p.numel() < self.SMALL]
        for p in new:
            if p.numel() >= self.SMALL:
                buf = self.comm.staged(p.grad)
                self.pending.append((dist.all_reduce(buf, async_op=True), buf, [p]))
        if small:
            buf = self.comm.staged(torch.cat([p.grad.reshape(-1) for p in small]))
            self.pending.append((dist.all_reduce(buf, async_op=True), buf, small))

    def wait(self) -> None:
        for work, buf, params in self.pending:
            self.comm.wait(work, "summing the gradients")
            if len(params) == 1 and buf.data_ptr() == params[0].grad.data_ptr():
                continue
            start = 0
            for p in params:
                p.grad.copy_(buf[start:start + p.numel()].view_as(p.grad))
                start += p.numel()
        self.pending = []


def data_parallel_fit(model: LocalModel, ds: DataBundle, world_size: int = 2, threads: int | None = 1,
                      timeout: float = DEFAULT_TIMEOUT, progress: bool = True, **fit_kwargs) -> History:
    """``train.fit(model, ds, **fit_kwargs)`` on ``world_size`` new processes, data parallel.

    Each process trains a :class:`DataParallel` replica on its slice of every global batch
    (``batch_size`` is the global batch); the result equals one process's (tested). ``model``
    gets the trained weights (left in eval mode); returns rank 0's :class:`~hff_edu.train.History`.
    ``device`` (in ``fit_kwargs``): default CPU; ``"cuda"`` gives rank r the GPU r mod #GPUs.
    """
    if fit_kwargs.get("callbacks"):
        raise ValueError("callbacks would run inside the worker processes: train with train.fit(DataParallel(model), "
                         "...) under torchrun to use them.")
    if "distributed" in fit_kwargs or "stages" in fit_kwargs:
        raise ValueError("data_parallel_fit takes train.fit's arguments; world_size= sets the processes.")
    device = torch.device(fit_kwargs.pop("device", None) or "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA device here; use device='cpu'.")
    n_gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    backend = "nccl" if device.type == "cuda" and n_gpus >= world_size else "gloo"
    epochs = fit_kwargs.get("epochs", 10)
    out = launch(_data_parallel_worker, world_size, model, ds, fit_kwargs, str(device), timeout, threads=threads,
                 timeout=timeout, backend=backend,
                 progress=dict(total=epochs, desc=f"{type(model).__name__} x{world_size} ranks", unit="epoch")
                 if progress else None)
    model.load_state_dict(out["state_dict"])
    model.to(device).eval()
    return History.from_dict(out["history"])


def _report_epoch(model, epoch, history) -> None:
    if epoch:
        _report("progress", epoch)


def _data_parallel_worker(rank, world_size, model, ds, fit_kwargs, device, timeout):
    device = torch.device(device)
    if device.type == "cuda":
        device = torch.device("cuda", rank % torch.cuda.device_count())
    replica = DataParallel(model, timeout)
    history = fit(replica, ds, device=device, progress=False,
                  callbacks=[_report_epoch] if rank == 0 else (), **fit_kwargs)
    plain = replica.unwrap()
    if rank > 0:
        return None
    return dict(state_dict={k: v.detach().cpu() for k, v in plain.state_dict().items()}, history=history.to_dict())


# ----------------------------------------------------------------------------
# 7. the command line: torchrun, --stages

@contextlib.contextmanager
def cli_session(args):
    """Around a command: under torchrun, join the process group (gloo on CPU, NCCL on GPUs), let only
    rank 0 print, and leave the group at the end. Outside torchrun, nothing."""
    if not under_torchrun():
        yield
        return
    device = init_from_env(getattr(args, "device", None), getattr(args, "timeout", None) or DEFAULT_TIMEOUT)
    if hasattr(args, "device"):
        args.device = str(device)
    quiet = dist.get_rank() != 0
    if quiet and hasattr(args, "quiet"):
        args.quiet = True
    stdout = sys.stdout
    try:
        with open(os.devnull, "w") as devnull:
            if quiet:
                sys.stdout = devnull
            yield
    finally:
        sys.stdout = stdout
        dist.destroy_process_group()


def cli_trainer(args) -> Callable[..., History]:
    """The training function of ``python -m hff_edu train|compare``: ``train.fit``; a data-parallel ``fit``
    when the process belongs to a group (torchrun); ``--stages S``: the layer pipeline over S
    processes, spawned here, or torchrun's processes (then one per stage)."""
    stages = getattr(args, "stages", None)
    timeout = getattr(args, "timeout", None) or DEFAULT_TIMEOUT
    if stages:
        def train_pipelined(model, ds, **kw):
            if dist.is_initialized():
                return _pipeline_in_group(model, ds, stages, timeout, kw)
            return pipeline_fit(model, ds, stages=stages, timeout=timeout, **kw).history
        return train_pipelined
    if dist.is_initialized():
        def train_data_parallel(model, ds, **kw):
            replica = DataParallel(model, timeout)
            try:
                return fit(replica, ds, **kw)
            finally:
                replica.unwrap()
        return train_data_parallel
    return fit


def _pipeline_in_group(model, ds, stages: int, timeout: float, kw: dict) -> History:
    """The pipeline in an existing group (torchrun): this process is stage ``rank``; every rank ends
    with the trained model and rank 0's history."""
    world = dist.get_world_size()
    if stages != world:
        raise ParallelError(f"torchrun started {world} processes but --stages {stages}: a pipeline needs one "
                            f"process per stage (torchrun --nproc-per-node {stages}), or drop --stages for data "
                            "parallelism.")
    kw = {k: v for k, v in kw.items() if k != "progress"}
    plan, cfg = prepare_pipeline(model, ds, stages, timeout=timeout, max_timeline_steps=0, **kw)
    box = [run_stage(dist.get_rank(), world, model, ds, plan, cfg)]
    dist.broadcast_object_list(box, src=0)
    return finish_pipeline(model, box[0], plan, cfg).history


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
