"""Data parallelism: one replica per rank, every global batch split across the ranks, gradients summed.

:class:`DataParallel` wraps any model (backprop included) for ``train.fit`` in a process group;
:func:`data_parallel_fit` starts the processes itself. The result equals one process on the whole
batch up to float rounding (tested): each rank's loss is weighted by its share of the batch,
BatchNorm uses the whole batch's statistics, and FF's negatives are those one process would draw.
Taught in 08_parallel_training.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

from ...core.data import DataBundle
from ...core.protocol import LocalModel
from ..trainer import History, fit
from .processes import DEFAULT_TIMEOUT, Comm, _report, launch

# ----------------------------------------------------------------------------
# 6. data parallelism: one replica per rank, each global batch split across the ranks

def weights_apart(a: nn.Module, b: nn.Module) -> float:
    """How far apart two models' weights are, relative to the first's: ``||w_a - w_b|| / ||w_a||``
    over every parameter and buffer together (float64). Taught in 08_parallel_training."""
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys():
        raise ValueError("The two models have different parameters: compare a model with a copy of itself.")
    keys = [k for k in sa if sa[k].is_floating_point()]
    diff = sum(float((sa[k].double() - sb[k].double().to(sa[k].device)).pow(2).sum()) for k in keys)
    norm = sum(float(sa[k].double().pow(2).sum()) for k in keys)
    return (diff / norm) ** 0.5 if norm else float(diff > 0)


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


def _sync_class(module: nn.Module):
    """The synchronised class for a BatchNorm module (any subclass of ``nn.BatchNorm1d/2d``), else None."""
    if isinstance(module, _SyncBatchNorm):
        return None
    return next((sync for plain, sync in _SYNC_BN.items() if isinstance(module, plain)), None)


class _Wrapped(LocalModel):
    """The protocol of the wrapped ``module``, delegated (what :class:`DataParallel` and
    :class:`ShardedSteps` share)."""

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



class ShardedSteps(_Wrapped):
    """One process that takes :class:`DataParallel`'s steps: every batch split into ``shards`` slices as
    the ranks split it, each slice's local losses back-propagated with weight n_r / N, the gradients
    summed (gradient accumulation), one optimiser step. The same sums in the same order as a
    data-parallel run on ``shards`` processes, so the two agree to the bit: what separates data
    parallelism from one process on the whole batch is only the order of the sums. Taught in
    08_parallel_training. FF's wrong labels are drawn slice after slice, as the ranks draw them.
    Models with BatchNorm are refused: the ranks share the whole batch's statistics
    (:class:`SyncBatchNorm2d`), a slice alone would not.
    """

    def __init__(self, model: LocalModel, shards: int = 2):
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise ValueError(f"{type(model).__name__} has BatchNorm layers: one slice's statistics are not the "
                             "whole batch's that DataParallel synchronises. Use a model without BatchNorm (an MLP).")
        if not isinstance(shards, int) or shards < 1:
            raise ValueError(f"shards={shards!r}: give the number of slices (ranks) per batch, >= 1.")
        super().__init__(model.num_classes, model.config)
        self.module, self.shards = model, shards

    def backward_local(self, x, y, active=None, generator=None):
        n, total = x.shape[0], None
        for r in range(self.shards):
            lo, hi = shard_bounds(n, r, self.shards)
            if hi == lo:
                continue
            scale = (hi - lo) / n
            losses = []
            for i, loss in enumerate(self.module.iter_losses(x[lo:hi], y[lo:hi], generator)):
                if active is None or i in active:
                    (loss * scale).backward()
                losses.append(loss.detach() * scale)
            total = torch.stack(losses) if total is None else total + torch.stack(losses)
        return list(total.unbind())

    def predict(self, x, **kwargs):
        return self.module.predict(x, **kwargs)

    def layer_predictions(self, x):
        return self.module.layer_predictions(x)

    def predict_and_layers(self, x):
        return self.module.predict_and_layers(x)


class DataParallel(_Wrapped):
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

    At the first step (once ``fit`` has moved the model to its device) rank 0's parameters and
    buffers are broadcast to every rank, as DDP does, so the replicas start equal.
    :meth:`unwrap` returns the plain model.
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
            sync = _sync_class(m)
            if sync is not None:  # nn.BatchNorm* or a subclass (blocks.BatchNorm2d): given back by unwrap
                m._plain_class, m.__class__, m._sync_comm = type(m), sync, comm

    def unwrap(self) -> LocalModel:
        """The plain model, its BatchNorm layers back to ``nn.BatchNorm*``."""
        for m in self.module.modules():
            if isinstance(m, _SyncBatchNorm):
                m.__class__ = m.__dict__.pop("_plain_class")
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
        if generator is not None and self.world_size > 1:  # the model's draws (FF's negatives): as one process's
            mine = torch.Generator(device=generator.device)
            mine.set_state(generator.get_state())
            self.module.skip_draws(mine, lo)        # skip the samples before this slice
            self.module.skip_draws(generator, n)    # the shared generator moves on by the whole batch
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
    gets the trained weights (left in eval mode); returns rank 0's :class:`~hff_edu.training.trainer.History`.
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
        torch.cuda.set_device(device)
    replica = DataParallel(model, timeout)
    history = fit(replica, ds, device=device, progress=False,
                  callbacks=[_report_epoch] if rank == 0 else (), **fit_kwargs)
    plain = replica.unwrap()
    if rank > 0:
        return None
    return dict(state_dict={k: v.detach().cpu() for k, v in plain.state_dict().items()}, history=history.to_dict())
