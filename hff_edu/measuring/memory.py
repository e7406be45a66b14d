"""Peak activation memory of one training step: every tensor storage torch creates, and when it
is freed. Taught in 05_timing; ``benchmarks/memory_vs_depth.py`` calls the same functions.

:class:`LiveTensors` is a dispatch mode that sees every tensor storage created by
a torch operation (forward, backward and optimiser alike) and when it is freed;
:func:`activation_memory` runs one step exactly as ``train.fit`` does under it,
and :func:`memory_vs_depth` repeats that for every method and depth.
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..core.protocol import LocalModel
from .clocks import synchronize
from .inference import make_model
from ..training.trainer import make_optimizer, train_step


def _storage_key(t: torch.Tensor):
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError, AttributeError):
        return None  # no storage (meta, some tensor subclasses)


class LiveTensors(TorchDispatchMode):
    """Account for every tensor storage that torch operations create while active.

    Every aten operation (forward, autograd's backward, optimiser) passes
    through ``__torch_dispatch__``. An output whose storage is new (not an
    input's: views and in-place ops reuse storage) is recorded with its size
    and the op that made it; a weak reference tells when it is freed (its last
    owner, a Python tensor or autograd's saved tensors, let go). Storage that
    existed before (parameters, optimiser state, the input batch) is never
    counted. Time is counted in operations; :meth:`phase` marks where a phase
    (e.g. the optimiser step) begins.

    Exact for what it sees: kernel-internal scratch memory and allocator
    rounding are not tensors and are not counted (use
    ``torch.cuda.max_memory_allocated`` on CUDA for those).
    """

    def __init__(self):
        super().__init__()
        self.clock = 0
        self.live = {}       # key -> (weakref, nbytes, born, op)
        self.seen_before = {}  # key -> weakref: storage that existed before; holding the weakref
        #                        keeps its address from being reused by a new storage
        self.records = []    # finished: dict(key, nbytes, born, died, op, ref)
        self.phases = [("start", 0)]

    def phase(self, name: str) -> None:
        self.phases.append((name, self.clock))

    def _sweep(self) -> None:
        dead = [k for k, v in self.live.items() if v[0].expired()]
        for k in dead:
            ref, nbytes, born, op = self.live.pop(k)
            # Alive at the last op's output, gone before this op runs. Keeping the weak
            # reference stops a later storage from reusing the address, i.e. the key.
            self.records.append(dict(key=k, nbytes=nbytes, born=born, died=self.clock + 1, op=op, ref=ref))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.multiprocessing.reductions import StorageWeakRef
        self._sweep()
        for t in tree_flatten((args, kwargs))[0]:
            if isinstance(t, torch.Tensor):
                k = _storage_key(t)
                if k is not None and k not in self.live and k not in self.seen_before:
                    self.seen_before[k] = StorageWeakRef(t.untyped_storage())
        out = func(*args, **(kwargs or {}))
        self.clock += 1
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                k = _storage_key(t)
                if k is None or k in self.live or k in self.seen_before:
                    continue
                st = t.untyped_storage()
                self.live[k] = (StorageWeakRef(st), st.nbytes(), self.clock, str(func.overloadpacket))
        return out

    def __exit__(self, *exc):
        out = super().__exit__(*exc)
        self._sweep()
        return out

    def all_records(self) -> list[dict]:
        """Every storage seen: finished ones and those still alive (``died=None``)."""
        alive = [dict(key=k, nbytes=v[1], born=v[2], died=None, op=v[3], ref=v[0]) for k, v in self.live.items()]
        return self.records + alive

    def peak(self, exclude=(), start: int = 0, stop: int | None = None) -> tuple[int, int]:
        """``(bytes, clock)``: the largest live total between ops ``start`` and ``stop``,
        leaving out storages whose key is in ``exclude`` (e.g. gradients)."""
        stop = self.clock + 1 if stop is None else stop
        delta = [0] * (self.clock + 3)
        for r in self.all_records():
            if r["key"] in exclude:
                continue
            delta[r["born"]] += r["nbytes"]
            if r["died"] is not None:
                delta[r["died"]] -= r["nbytes"]
        best, when, live = 0, start, 0
        for t in range(stop):
            live += delta[t]
            if t >= start and live > best:
                best, when = live, t
        return best, when

    def live_at(self, t: int, exclude=()) -> list[dict]:
        """The storages alive right after op ``t``, largest first."""
        alive = [r for r in self.all_records() if r["key"] not in exclude and r["born"] <= t
                 and (r["died"] is None or r["died"] > t)]
        return sorted(alive, key=lambda r: r["nbytes"], reverse=True)


def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def activation_memory(model: LocalModel, x: torch.Tensor, y: torch.Tensor, lr: float = 1e-3,
                      device=None, top: int = 5) -> dict:
    """Peak activation memory of one training step, run exactly as ``train.fit`` runs it.

    A first step creates Adam's state (so it is not counted as new), then one
    step (``zero_grad``, ``backward_local``, ``opt.step``) runs under
    :class:`LiveTensors`. Gradients are recognised afterwards (the storages
    ``p.grad`` ends up in) and left out, so the result is the peak of
    *activations and temporaries*: peak minus parameters, gradients, optimiser
    state and the input batch, which all exist outside the tracked storage.

    Returns bytes: ``activation_peak`` (during ``zero_grad`` + ``backward_local``,
    the forward and backward passes), ``optimizer_peak`` (temporaries of
    ``opt.step``), ``step_peak`` (the larger), ``grad_bytes``, ``param_bytes``,
    ``state_bytes``, ``left_after`` (non-gradient storage still alive after the
    step: should be ~0), ``at_peak`` (the ``top`` largest live storages at the
    activation peak, with the op that made them) and, on CUDA,
    ``cuda_peak_minus_base`` (``max_memory_allocated`` minus what was allocated
    before the step, gradients included).
    """
    device = torch.device(device) if device is not None else model.device
    model.to(device).train()
    x, y = x.to(device), y.to(device)
    opt = make_optimizer(model, "adam", lr)
    train_step(model, opt, x, y, None)  # creates the optimiser state
    opt.zero_grad(set_to_none=True)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    tracker = LiveTensors()
    with tracker:
        opt.zero_grad(set_to_none=True)
        model.backward_local(x, y)
        tracker.phase("opt.step")
        opt.step()
    synchronize(device)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    grad_keys = {_storage_key(g) for g in grads}
    step_start = tracker.phases[-1][1]
    act, when = tracker.peak(exclude=grad_keys, start=0, stop=step_start + 1)
    opt_peak, _ = tracker.peak(exclude=grad_keys, start=step_start + 1)
    left = sum(r["nbytes"] for r in tracker.all_records() if r["died"] is None and r["key"] not in grad_keys)
    state = [v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]
    out = dict(activation_peak=act, optimizer_peak=opt_peak, step_peak=max(act, opt_peak),
               grad_bytes=_nbytes(grads), param_bytes=_nbytes(model.parameters()),
               state_bytes=_nbytes(state), left_after=left,
               at_peak=[dict(op=r["op"], nbytes=r["nbytes"]) for r in tracker.live_at(when, grad_keys)[:top]])
    if device.type == "cuda":
        out["cuda_peak_minus_base"] = torch.cuda.max_memory_allocated(device) - base
    model.eval()
    return out


def memory_vs_depth(methods=("hff", "local-ce", "ff", "bp"), depths=(2, 4, 8, 16), width: int = 512,
                    batch_size: int = 2048, in_features: int = 784, num_classes: int = 10,
                    device=None, seed: int = 0, progress: bool = False) -> list[dict]:
    """:func:`activation_memory` for every method and depth (``depth`` layers of ``width``),
    on a synthetic batch (memory does not depend on the values)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, in_features, generator=gen)
    y = torch.randint(0, num_classes, (batch_size,), generator=gen)
    rows = []
    grid = [(m, d) for m in methods for d in depths]
    if progress:
        from tqdm.auto import tqdm
        grid = tqdm(grid, desc="memory vs depth", leave=False)
    for method, depth in grid:
        model = make_model(method, in_features, [width] * depth, num_classes, seed)
        mem = activation_memory(model, x, y, device=device)
        rows.append(dict(method=method, depth=depth, width=width, batch_size=batch_size,
                         one_layer_activation=batch_size * width * 4, **mem))
        del model
    return rows
