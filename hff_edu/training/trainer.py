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

import math
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..methods import DEFAULT_LR, method_of
from .compile import stepper
from ..core.data import DataBundle, Split
from ..core.protocol import (LocalModel, check_bool, check_choice, check_device, check_int, check_non_negative,
                       check_positive)

Callback = Callable[[LocalModel, int, "History"], None]

#: ``fit(epochs=None)``: 10 epochs, or more on a small training set so that training
#: takes at least this many optimiser steps. At batch 100 the 124 training samples of
#: scikit-learn's wine are 2 steps an epoch: 10 epochs (20 Adam steps at lr 1e-3) leave
#: FF 11 points behind logistic regression on wine and 13 on iris (``python
#: benchmarks/tabular.py --epochs 10 --seeds 0 --no-global --tag epochs10``); 200 steps
#: bring HFF and BP within 2 points and FF within 5 on all three tables
#: (``python benchmarks/tabular.py``). Datasets of 2,000 samples or more keep 10 epochs.
DEFAULT_EPOCHS = 10
MIN_DEFAULT_STEPS = 200

#: what ``fit(eval_on=...)`` may evaluate after every epoch
EVAL_ON = ("auto", "val", "test", "both", "none")


class TrainingWarning(RuntimeWarning):
    """A training run ended at chance level, or its loss exploded (``History.notes`` says so too)."""


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
    ``train_loss`` (mean per loss, in ``loss_names`` order), ``train_acc`` (on a
    fixed sample of the training set) and, for each evaluated split (``eval_on``),
    ``val_acc`` / ``layer_val_acc`` and ``test_acc`` / ``layer_test_acc`` (per layer,
    in ``layer_names`` order). ``notes`` holds warnings about the run (e.g. that it
    ended at chance level).
    """
    method: str
    loss_names: list
    layer_names: list
    records: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def column(self, key: str) -> list:
        return [r[key] for r in self.records]

    @property
    def final(self) -> dict:
        return self.records[-1] if self.records else {}

    @property
    def test_acc(self) -> float:
        """The last epoch's test accuracy (NaN when the test split was not evaluated)."""
        return self.final.get("test_acc", float("nan"))

    @property
    def val_acc(self) -> float:
        """The last epoch's validation accuracy (NaN when no validation split was evaluated)."""
        return self.final.get("val_acc", float("nan"))

    @property
    def seconds_per_epoch(self) -> float:
        secs = self.column("seconds")
        return float(np.mean(secs)) if secs else float("nan")

    def table(self) -> str:
        """The per-epoch table the CLI prints: the accuracy columns of the splits that were evaluated."""
        splits = [s for s in ("val", "test") if self.records and f"{s}_acc" in self.records[0]]
        head = (["epoch", "sec"] + [f"loss:{n}" for n in self.loss_names] + ["train acc"]
                + [f"{s} acc" for s in splits]
                + [f"{s}:{n}" if len(splits) > 1 else f"acc:{n}" for s in splits for n in self.layer_names])
        rows = [head]
        for r in self.records:
            rows.append([str(r["epoch"]), f"{r['seconds']:.1f}"] + [f"{v:.4f}" for v in r["train_loss"]]
                        + [f"{r['train_acc']:.4f}"] + [f"{r[f'{s}_acc']:.4f}" for s in splits]
                        + [f"{v:.4f}" for s in splits for v in r[f"layer_{s}_acc"]])
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)

    def to_dict(self) -> dict:
        return dict(method=self.method, loss_names=self.loss_names, layer_names=self.layer_names,
                    records=self.records, config=self.config, notes=self.notes)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(d["method"], d["loss_names"], d["layer_names"], d["records"], d.get("config", {}),
                   list(d.get("notes", [])))


@torch.no_grad()
def evaluate(model: LocalModel, split: Split, batch_size: int = 1000) -> dict:
    """Accuracy of ``predict`` (the model's default mode/rule) and of every layer's own
    prediction on ``split``."""
    right, layers = correct_by_layer(model, split, batch_size)
    return dict(acc=float(right.double().mean()), layer_acc=[float(c.double().mean()) for c in layers])


@torch.no_grad()
def correct_by_layer(model: LocalModel, split: Split, batch_size: int = 1000) -> tuple[torch.Tensor, list]:
    """Right or wrong per sample (bool tensors on the CPU) for ``predict`` and for every layer's own
    prediction, from one pass per batch: what paired comparisons of layers need."""
    was_training = model.training
    model.eval()
    right, layers = [], []
    for i in range(0, len(split), batch_size):
        x = split.x[i:i + batch_size].to(model.device)
        y = split.y[i:i + batch_size].to(model.device)
        pred, per_layer = model.predict_and_layers(x)
        right.append((pred == y).cpu())
        layers.append([(p == y).cpu() for p in per_layer])
    model.train(was_training)
    return torch.cat(right), [torch.cat(col) for col in zip(*layers)]


@torch.no_grad()
def correct(model: LocalModel, split: Split, batch_size: int = 1000, **predict_kwargs) -> torch.Tensor:
    """Right or wrong per sample: ``model.predict(x) == y`` over ``split`` (a bool tensor on the CPU).

    What a paired comparison of two models on one test set needs (``stats.mcnemar``)."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(split), batch_size):
        x = split.x[i:i + batch_size].to(model.device)
        out.append((model.predict(x, **predict_kwargs) == split.y[i:i + batch_size].to(model.device)).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def accuracy(model: LocalModel, split: Split, batch_size: int = 1000, **predict_kwargs) -> float:
    """Accuracy of ``model.predict`` on ``split`` (no per-layer pass)."""
    return float(correct(model, split, batch_size, **predict_kwargs).double().mean())


def fit(model: LocalModel, ds: DataBundle, epochs: int | None = None, batch_size: int = 100,
        lr: float | None = None, weight_decay: float = 0.0, optimizer: str = "adam",
        schedule: str = "simultaneous", cooldown: bool = True, seed: int = 0,
        progress: bool = True, callbacks: Sequence[Callback] = (), device=None,
        eval_batch_size: int = 1000, train_eval_samples: int = 2000,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        eval_on: str = "auto", compile: bool | dict = False) -> History:
    """Train ``model`` on ``ds.train``, evaluating after every epoch.

    Args:
        epochs: passes over the training split; ``None`` (default) = 10, raised on
            a small training set to reach ``MIN_DEFAULT_STEPS`` (200) optimiser steps
            (see :func:`default_epochs`). 0 trains nothing and returns an empty history.
        lr: the learning rate; ``None`` (default) = the one the model's method declares
            (``methods.DEFAULT_LR``: 1e-3 for HFF, FF's tuned 7e-4, 2e-3 for conv models),
            1e-3 for a model of your own.
        schedule: ``"simultaneous"`` updates every layer on every minibatch (as in
            Hinton's code); ``"greedy"`` trains layer 1 for its share of the epochs,
            then layer 2, ... (heads are trained throughout; needs epochs >= layers).
            Not for backprop.
        cooldown: linear learning-rate decay to 0 over the second half of training
            (Hinton's recipe); ``False`` keeps ``lr`` constant.
        callbacks: called as ``cb(model, epoch, history)`` once before training
            (epoch 0) and after every epoch, e.g. to snapshot embeddings.
        device: where to train; default CUDA when present, else CPU.
        augment: applied to every training batch of inputs (e.g. random crops and
            flips for images); evaluation never sees it.
        eval_on: which split every epoch is scored on: ``"val"`` (``ds.val``: records
            ``val_acc``, ``layer_val_acc``), ``"test"`` (``test_acc``, ``layer_test_acc``),
            ``"both"`` or ``"none"``; ``"auto"`` (default) is ``"val"`` when the bundle
            has a validation split, else ``"test"``. With ``"val"`` or ``"none"`` the
            test split is never touched: score it once, at the end, yourself.

    A last minibatch of a single sample is merged into the one before it (one
    batch of ``batch_size + 1``), so no step sees one sample alone: BatchNorm has
    no batch statistics for it, and it would be the noisiest step of the epoch.

    Training stops with a ``FloatingPointError`` naming the epoch, the layer and the
    learning rate when a loss or a parameter becomes NaN or Inf. A run whose final
    accuracy is at chance level, or whose loss ends 100x above where it started
    (diverging without overflowing), gets a note in ``History.notes`` and a
    :class:`TrainingWarning`.
        compile: train on the fast path (``compile.CompiledModel``: the losses compiled
            by ``torch.compile``, one backward per step; a dict gives torch.compile's
            options); same gradients to float tolerance, activation memory no longer
            flat in depth. Prediction stays eager.

    Returns a :class:`History`; the model is left in eval mode on ``device``.
    """
    run = check_fit_arguments(model, ds, epochs, batch_size, lr, weight_decay, optimizer, schedule, cooldown,
                              seed, callbacks, device, eval_batch_size, train_eval_samples, augment, eval_on)
    seed_everything(seed)
    model.to(run.device).train()
    run.step_model = stepper(model, compile)
    run.train = ds.train.to(run.device)
    run.gen = torch.Generator(device=run.device).manual_seed(seed)  # shuffling and FF's negatives
    probe = train_eval_subset(run.train, train_eval_samples, torch.Generator().manual_seed(seed))
    run.opt = make_optimizer(model, optimizer, run.lr, weight_decay)
    run.batches = batch_bounds(len(run.train), run.batch_size)
    history = History(_method_name(model), list(model.loss_names), list(model.layer_names),
                      config=dict(epochs=run.epochs, batch_size=run.batch_size, lr=run.lr, weight_decay=weight_decay,
                                  optimizer=optimizer, schedule=schedule, cooldown=cooldown, seed=seed,
                                  device=str(run.device), dataset=ds.name, train_size=len(run.train),
                                  eval_on={0: "none", 1: next(iter(run.splits), ""), 2: "both"}[len(run.splits)],
                                  compile=compile, **{f"{k}_size": len(v) for k, v in run.splits.items()}))
    for cb in run.callbacks:
        cb(model, 0, history)
    bar = _progress(run.epochs * len(run.batches), progress, history.method)
    for epoch in range(1, run.epochs + 1):
        record = _train_epoch(model, run, epoch, bar)
        record["train_acc"] = accuracy(model, probe, eval_batch_size)
        for name, split in run.splits.items():
            ev = evaluate(model, split, eval_batch_size)
            record[f"{name}_acc"], record[f"layer_{name}_acc"] = ev["acc"], ev["layer_acc"]
        history.records.append(record)
        if bar is not None:
            bar.set_postfix(epoch=epoch, **{f"{k}_acc": f"{record[f'{k}_acc']:.4f}" for k in run.splits})
        for cb in run.callbacks:
            cb(model, epoch, history)
    if bar is not None:
        bar.close()
    model.eval()
    if history.records:
        _note_run(history, run.splits, probe, run.lr, run.first_losses)
    return history


class _FitRun:
    """What one ``fit`` call works with: its checked arguments, then its data, optimiser and step count."""

    def __init__(self, **values):
        self.__dict__.update(values, step=0, first_losses=None)


def check_fit_arguments(model, ds, epochs, batch_size, lr, weight_decay, optimizer, schedule, cooldown, seed,
                        callbacks, device, eval_batch_size, train_eval_samples, augment, eval_on) -> _FitRun:
    """Every argument of :func:`fit` checked (a ``ValueError`` names the problem and the fix) and
    normalised: the default epochs and learning rate filled in, the splits to score, the device."""
    if not isinstance(model, LocalModel):
        raise ValueError(f"model is a {type(model).__name__}: fit trains hff_edu models (hff.HFFNet, ff.FFNet, "
                         "methods.build(...), or your own protocol.LocalModel subclass).")
    if not isinstance(ds, DataBundle):
        raise ValueError(f"ds is a {type(ds).__name__}, not a DataBundle: wrap your arrays with "
                         "hff_edu.core.data.from_arrays(x_train, y_train, x_test, y_test), or use data.load(name).")
    batch_size = check_int("batch_size", batch_size, 1, "It is the number of samples per step, e.g. 100.")
    epochs = (default_epochs(len(ds.train), batch_size) if epochs is None
              else check_int("epochs", epochs, 0, "It is the number of passes over the training data."))
    lr = default_lr(model) if lr is None else check_positive("lr", lr, "It is the learning rate; 1e-3 suits Adam.")
    check_non_negative("weight_decay", weight_decay, "0 turns it off.")
    check_choice("optimizer", optimizer, ("adam", "adamw", "sgd"))
    check_choice("schedule", schedule, ("simultaneous", "greedy"))
    check_bool("cooldown", cooldown)
    check_int("seed", seed, 0, "It seeds the shuffling, FF's negatives and the probe sample.")
    check_int("eval_batch_size", eval_batch_size, 1)
    check_int("train_eval_samples", train_eval_samples, 1, "It is the size of the probe for train accuracy.")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment={augment!r}: give a function of a batch of inputs (e.g. "
                         "hff_edu.core.augment.for_dataset(name)), or None.")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"callbacks holds {cb!r}, which is not callable: each callback is cb(model, epoch, history).")
    if schedule == "greedy" and not model.supports_greedy:
        raise ValueError(f"{type(model).__name__} is trained end to end and cannot be trained greedily: "
                         "use schedule='simultaneous'.")
    if schedule == "greedy" and 0 < epochs < model.num_layers:
        raise ValueError(f"schedule='greedy' with epochs={epochs} but {model.num_layers} layers: layers after "
                         f"the first {epochs} would never train. Give epochs >= {model.num_layers} (one share "
                         "per layer) or use schedule='simultaneous'.")
    if ds.num_classes != model.num_classes:
        raise ValueError(f"The dataset has {ds.num_classes} classes but the model was built for "
                         f"{model.num_classes}: build it with num_classes=ds.num_classes.")
    return _FitRun(epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule, cooldown=cooldown, augment=augment,
                   callbacks=callbacks, splits=_eval_splits(eval_on, ds),
                   device=check_device(device) if device is not None else default_device())


def _train_epoch(model: LocalModel, run: _FitRun, epoch: int, bar) -> dict:
    """One pass over the shuffled training split, a step per minibatch; the epoch's record so far."""
    model.train()
    active = _active_losses(model, run.schedule, epoch, run.epochs)
    sums = torch.zeros(len(model.loss_names), device=run.device)
    total_steps = run.epochs * len(run.batches)
    start = time.perf_counter()
    perm = torch.randperm(len(run.train), device=run.device, generator=run.gen)
    for i, j in run.batches:
        idx = perm[i:j]
        if run.cooldown:
            _set_lr(run.opt, run.lr * min(1.0, 2.0 * (1.0 - run.step / max(total_steps, 1))))
        xb = run.train.x[idx] if run.augment is None else run.augment(run.train.x[idx])
        losses = train_step(run.step_model, run.opt, xb, run.train.y[idx], run.gen, active)
        if run.first_losses is None:
            run.first_losses = losses.tolist()  # where the losses start, to tell a divergence
        sums += losses
        run.step += 1
        if bar is not None:
            bar.update(1)
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    mean_losses = (sums / len(run.batches)).tolist()
    check_diverged(model, mean_losses, epoch, run.lr)
    return dict(epoch=epoch, seconds=seconds, train_loss=mean_losses)


def default_lr(model: LocalModel) -> float:
    """The learning rate the model's method declares (``methods.DEFAULT_LR``), 1e-3 for a model of your own."""
    return DEFAULT_LR.get(method_of(getattr(model, "module", model)), 1e-3)


def default_epochs(n_train: int, batch_size: int = 100) -> int:
    """``fit``'s default number of epochs: ``DEFAULT_EPOCHS`` (10), or as many as it takes to
    reach ``MIN_DEFAULT_STEPS`` (200) optimiser steps on a small training set."""
    steps = len(batch_bounds(n_train, batch_size))
    return max(DEFAULT_EPOCHS, math.ceil(MIN_DEFAULT_STEPS / steps))


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of every minibatch of an epoch over ``n`` samples; a last batch of
    one sample is merged into the one before it (see :func:`fit`), unless every batch is one."""
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if batch_size > 1 and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _eval_splits(eval_on: str, ds: DataBundle) -> dict:
    """The splits ``fit`` scores every epoch, by name (``ds.test`` is only read when asked for)."""
    check_choice("eval_on", eval_on, EVAL_ON)
    if eval_on == "auto":
        eval_on = "val" if ds.val is not None else "test"
    names = {"val": ["val"], "test": ["test"], "both": ["val", "test"], "none": []}[eval_on]
    if "val" in names and ds.val is None:
        raise ValueError(f"eval_on={eval_on!r} but {ds.name} has no validation split: load it with val=... "
                         "(e.g. data.load(name, val=0.1) or from_arrays(..., val=0.1)), or use eval_on='test'.")
    return {name: getattr(ds, name) for name in names}


def check_diverged(model: LocalModel, mean_losses: list, epoch: int, lr: float) -> None:
    """Raise a ``FloatingPointError`` naming epoch, layer and learning rate if a loss or a
    parameter is NaN/Inf (one reduction over the parameters when all is well)."""
    for name, value in zip(model.loss_names, mean_losses):
        if not math.isfinite(value):
            raise FloatingPointError(
                f"Training diverged in epoch {epoch}: the loss of {name} became {value} (lr={lr:g}). "
                f"Lower the learning rate (e.g. lr={lr / 10:g}) or check the inputs for extreme values.")
    params = [p for p in model.parameters()]
    if params and not bool(torch.isfinite(torch.stack([p.detach().sum() for p in params])).all()):
        for pname, p in model.named_parameters():
            if not bool(torch.isfinite(p.detach()).all()):
                raise FloatingPointError(
                    f"Training diverged in epoch {epoch}: parameter {pname} ({_layer_of(pname)}) holds "
                    f"NaN or Inf (lr={lr:g}). Lower the learning rate (e.g. lr={lr / 10:g}).")


def _layer_of(param_name: str) -> str:
    """``"layers.1.linear.weight"`` -> ``"layer 2"``; ``"heads.0.conv.weight"`` -> ``"head of block 1"``."""
    parts = param_name.split(".")
    if len(parts) > 1 and parts[1].isdigit():
        i = int(parts[1]) + 1
        return {"layers": f"layer {i}", "blocks": f"block {i}", "heads": f"head of block {i}"}.get(
            parts[0], f"{parts[0]} {i}")
    return parts[0]


def chance_level(split: Split) -> float:
    """The accuracy of always predicting the most frequent class of ``split``."""
    return float(torch.bincount(split.y.cpu()).max()) / len(split)


def _note_run(history: History, splits: dict, probe: Split, lr: float, first_losses: list) -> None:
    """Note (and warn) when the final accuracy is within two binomial standard errors of chance,
    when a loss ends more than 100x above its first step's value, or when every loss ends above
    where it started (training went backwards: a learning rate far too high does that to HFF,
    whose bounded cosines never let the loss blow up)."""
    notes = []
    pairs = list(zip(history.loss_names, first_losses, history.final["train_loss"]))
    for name, first, last in pairs:
        if last > 100 * max(first, 1e-2):
            notes.append(f"{history.method}'s loss of {name} rose from {first:.3g} at the first step to {last:.3g} "
                         f"in the last epoch: training diverged (lr={lr:g}). Lower the learning rate "
                         f"(e.g. lr={lr / 10:g}).")
    if not notes and pairs and all(last > 1.05 * first for _, first, last in pairs):
        notes.append(f"Every loss of {history.method} ended above where it started (e.g. {pairs[-1][0]}: "
                     f"{pairs[-1][1]:.3g} at the first step, {pairs[-1][2]:.3g} in the last epoch): training went "
                     f"backwards. The learning rate (lr={lr:g}) is likely far too high; 1e-3 suits Adam.")
    name, split = next(iter(splits.items()), ("train", probe))
    acc = history.final[f"{name}_acc"]
    chance = chance_level(split)
    if acc <= chance + 2 * math.sqrt(chance * (1 - chance) / len(split)):
        notes.append(f"{history.method} ended at chance level: {name} accuracy {acc:.4f}, chance {chance:.4f} "
                     f"(always the most frequent class). Nothing was learned: try another learning rate "
                     f"(lr={lr:g} now; 1e-3 suits Adam), more epochs, or check that inputs and labels match.")
    for note in notes:
        history.notes.append(note)
        warnings.warn(note, TrainingWarning, stacklevel=3)


def _method_name(model) -> str:
    """The model's class name; a wrapper (``parallel.DataParallel``) names the model it wraps."""
    return type(getattr(model, "module", model)).__name__


def train_step(model: LocalModel, opt, x: torch.Tensor, y: torch.Tensor, generator=None,
               active=None) -> torch.Tensor:
    """One training step, the one ``fit`` takes: every active local loss back-propagated
    within its own layer (``backward_local``), then one optimiser step. Returns the losses.
    ``model`` may be a ``compile.CompiledModel`` (the fast path)."""
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
    check_choice("optimizer", name, ("adam", "adamw", "sgd"))
    groups = param_groups(model, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
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
