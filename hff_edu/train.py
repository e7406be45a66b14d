"""One trainer for every model kind: ``fit`` back-propagates every local loss, then steps once.

For the local methods (FF, HFF, local-CE) each loss reaches only its own
layer, so the gradients equal those of a single ``backward()`` on the sum of
the losses: every layer gets exactly its own local gradient. The trainer calls
``model.backward_local``, which does each layer's ``backward()`` as soon as
its loss exists and so frees its activations early; for backprop the one loss
reaches every layer. Taught in
00_local_learning and 03_hff_training.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from .data import DataBundle, Split
from .protocol import LocalModel

Callback = Callable[[LocalModel, int, "History"], None]


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class History:
    """What ``fit`` measured. ``records`` has one dict per epoch:

    ``epoch``, ``seconds`` (training time of the epoch, evaluation excluded),
    ``train_loss`` (mean per loss, in ``loss_names`` order), ``test_acc``,
    ``layer_test_acc`` (in ``layer_names`` order) and ``train_acc`` (on a
    fixed sample of the training set).
    """
    method: str
    loss_names: list
    layer_names: list
    records: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def column(self, key: str) -> list:
        return [r[key] for r in self.records]

    @property
    def final(self) -> dict:
        return self.records[-1] if self.records else {}

    @property
    def test_acc(self) -> float:
        return self.final.get("test_acc", float("nan"))

    @property
    def seconds_per_epoch(self) -> float:
        secs = self.column("seconds")
        return float(np.mean(secs)) if secs else float("nan")

    def table(self) -> str:
        """The per-epoch table the CLI prints."""
        head = (["epoch", "sec"] + [f"loss:{n}" for n in self.loss_names]
                + ["train acc", "test acc"] + [f"acc:{n}" for n in self.layer_names])
        rows = [head]
        for r in self.records:
            rows.append([str(r["epoch"]), f"{r['seconds']:.1f}"] + [f"{v:.4f}" for v in r["train_loss"]]
                        + [f"{r['train_acc']:.4f}", f"{r['test_acc']:.4f}"]
                        + [f"{v:.4f}" for v in r["layer_test_acc"]])
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)

    def to_dict(self) -> dict:
        return dict(method=self.method, loss_names=self.loss_names, layer_names=self.layer_names,
                    records=self.records, config=self.config)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(d["method"], d["loss_names"], d["layer_names"], d["records"], d.get("config", {}))


@torch.no_grad()
def evaluate(model: LocalModel, split: Split, batch_size: int = 1000) -> dict:
    """Accuracy of ``predict`` (the model's default mode/rule) and of every layer's own
    prediction on ``split``."""
    was_training = model.training
    model.eval()
    correct, layer_correct, n = 0, None, len(split)
    for i in range(0, n, batch_size):
        x = split.x[i:i + batch_size].to(model.device)
        y = split.y[i:i + batch_size].to(model.device)
        pred, layers = model.predict_and_layers(x)
        correct += int((pred == y).sum())
        per_layer = [int((p == y).sum()) for p in layers]
        layer_correct = per_layer if layer_correct is None else [a + b for a, b in zip(layer_correct, per_layer)]
    model.train(was_training)
    return dict(acc=correct / n, layer_acc=[c / n for c in layer_correct])


@torch.no_grad()
def accuracy(model: LocalModel, split: Split, batch_size: int = 1000, **predict_kwargs) -> float:
    """Accuracy of ``model.predict`` on ``split`` (no per-layer pass)."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(split), batch_size):
        x = split.x[i:i + batch_size].to(model.device)
        correct += int((model.predict(x, **predict_kwargs) == split.y[i:i + batch_size].to(model.device)).sum())
    model.train(was_training)
    return correct / len(split)


def fit(model: LocalModel, ds: DataBundle, epochs: int = 10, batch_size: int = 100,
        lr: float = 1e-3, weight_decay: float = 0.0, optimizer: str = "adam",
        schedule: str = "simultaneous", cooldown: bool = True, seed: int = 0,
        progress: bool = True, callbacks: Sequence[Callback] = (), device=None,
        eval_batch_size: int = 1000, train_eval_samples: int = 2000,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> History:
    """Train ``model`` on ``ds.train``, evaluating on ``ds.test`` after every epoch.

    Args:
        schedule: ``"simultaneous"`` updates every layer on every minibatch (as in
            Hinton's code); ``"greedy"`` trains layer 1 for its share of the epochs,
            then layer 2, ... (heads are trained throughout). Not for backprop.
        cooldown: linear learning-rate decay to 0 over the second half of training
            (Hinton's recipe); ``False`` keeps ``lr`` constant.
        callbacks: called as ``cb(model, epoch, history)`` once before training
            (epoch 0) and after every epoch, e.g. to snapshot embeddings.
        device: where to train; default CUDA when present, else CPU.
        augment: applied to every training batch of inputs (e.g. random crops and
            flips for images); evaluation never sees it.

    Returns a :class:`History`; the model is left in eval mode on ``device``.
    """
    if epochs < 0 or int(epochs) != epochs:
        raise ValueError(f"epochs={epochs}: must be a non-negative integer.")
    if batch_size <= 0:
        raise ValueError(f"batch_size={batch_size}: must be positive.")
    if not lr > 0:
        raise ValueError(f"lr={lr}: the learning rate must be > 0.")
    if schedule not in ("simultaneous", "greedy"):
        raise ValueError(f"Unknown schedule {schedule!r}: choose 'simultaneous' or 'greedy'.")
    if schedule == "greedy" and not model.supports_greedy:
        raise ValueError(f"{type(model).__name__} is trained end to end and cannot be trained greedily: "
                         "use schedule='simultaneous'.")
    if ds.num_classes != model.num_classes:
        raise ValueError(f"The dataset has {ds.num_classes} classes but the model was built for "
                         f"{model.num_classes}: build it with num_classes=ds.num_classes.")
    seed_everything(seed)
    device = torch.device(device) if device is not None else default_device()
    model.to(device).train()
    train, test = ds.train.to(device), ds.test
    gen = torch.Generator(device=device).manual_seed(seed)  # shuffling and FF's negatives
    cpu_gen = torch.Generator().manual_seed(seed)
    probe = train_eval_subset(train, train_eval_samples, cpu_gen)

    opt = make_optimizer(model, optimizer, lr, weight_decay)
    steps_per_epoch = max(1, -(-len(train) // batch_size))
    total_steps = epochs * steps_per_epoch

    history = History(_method_name(model), list(model.loss_names), list(model.layer_names),
                      config=dict(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                  optimizer=optimizer, schedule=schedule, cooldown=cooldown, seed=seed,
                                  device=str(device), dataset=ds.name, train_size=len(train)))
    for cb in callbacks:
        cb(model, 0, history)

    bar = _progress(total_steps, progress, history.method)
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        active = _active_losses(model, schedule, epoch, epochs)
        sums = torch.zeros(len(model.loss_names), device=device)
        start = time.perf_counter()
        perm = torch.randperm(len(train), device=device, generator=gen)
        for i in range(0, len(train), batch_size):
            idx = perm[i:i + batch_size]
            if cooldown:
                _set_lr(opt, lr * min(1.0, 2.0 * (1.0 - step / max(total_steps, 1))))
            xb = train.x[idx] if augment is None else augment(train.x[idx])
            sums += train_step(model, opt, xb, train.y[idx], gen, active)
            step += 1
            if bar is not None:
                bar.update(1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        mean_losses = (sums / steps_per_epoch).tolist()
        if not all(np.isfinite(mean_losses)):
            raise FloatingPointError(f"Epoch {epoch}: a loss became NaN/Inf ({mean_losses}): lower the "
                                     "learning rate or check the inputs.")
        ev = evaluate(model, test, eval_batch_size)
        record = dict(epoch=epoch, seconds=seconds, train_loss=mean_losses,
                      train_acc=accuracy(model, probe, eval_batch_size),
                      test_acc=ev["acc"], layer_test_acc=ev["layer_acc"])
        history.records.append(record)
        if bar is not None:
            bar.set_postfix(epoch=epoch, test_acc=f"{ev['acc']:.4f}")
        for cb in callbacks:
            cb(model, epoch, history)
    if bar is not None:
        bar.close()
    model.eval()
    return history


def _method_name(model) -> str:
    """The model's class name; a wrapper (``parallel.DataParallel``) names the model it wraps."""
    return type(getattr(model, "module", model)).__name__


def train_step(model: LocalModel, opt, x: torch.Tensor, y: torch.Tensor, generator=None,
               active=None) -> torch.Tensor:
    """One training step, the one ``fit`` takes: every active local loss back-propagated
    within its own layer (``backward_local``), then one optimiser step. Returns the losses."""
    opt.zero_grad(set_to_none=True)
    losses = model.backward_local(x, y, active=active, generator=generator)
    opt.step()
    return torch.stack(losses)


def train_eval_subset(train: Split, n: int, generator) -> Split:
    """A fixed random sample of the training set, for a cheap train accuracy."""
    if len(train) <= n:
        return train
    idx = torch.randperm(len(train), generator=generator)[:n].to(train.y.device)
    return Split(train.x[idx], train.y[idx])


def _active_losses(model: LocalModel, schedule: str, epoch: int, epochs: int) -> list[int]:
    """Which entries of ``local_losses`` are optimised this epoch."""
    n_losses = len(model.loss_names)
    if schedule == "simultaneous":
        return list(range(n_losses))
    n_layers = model.num_layers
    layer = min(n_layers - 1, (epoch - 1) * n_layers // max(epochs, 1))
    return [layer] + list(range(n_layers, n_losses))  # heads train throughout


def param_groups(model: LocalModel, weight_decay: float) -> list[dict]:
    """Trainable parameters, with weight decay on everything but the prototypes
    (they are normalised on use, so decaying them only changes their step size).
    One group when there is no weight decay: every group costs the optimiser a pass."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if "prototypes" in name else decay).append(p)
    if not weight_decay:
        return [dict(params=decay + no_decay, weight_decay=0.0)]
    return [g for g in (dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0))
            if g["params"]]


def make_optimizer(model: LocalModel, name: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0):
    """The optimiser ``fit`` uses: Adam, AdamW or SGD (momentum 0.9) over :func:`param_groups`.

    Adam and AdamW use torch's fused kernel where it exists (float parameters on
    CPU or CUDA): one kernel per step instead of a dozen small ops per
    parameter, 2.6x faster on this project's CPU for a 3x500 MLP, same update rule.
    """
    groups = param_groups(model, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    if name not in ("adam", "adamw"):
        raise ValueError(f"Unknown optimizer {name!r}: choose 'adam', 'adamw' or 'sgd'.")
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    params = [p for g in groups for p in g["params"]]
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return cls(groups, lr=lr, fused=fused or None)


def _set_lr(opt, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _progress(total: int, enabled: bool, desc: str):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="batch", leave=False)
