"""The one protocol every model kind follows, so one trainer serves them all.

A model (FF, HFF, backprop, local cross-entropy; MLP or conv) offers:

- ``local_losses(x, y)``: a list of loss tensors, one per trained unit
  (``loss_names`` says which). For the local methods each loss reaches only
  its own layer's parameters; summing them and calling ``backward()`` once
  therefore trains every layer on its own objective (taught in 00_local_learning).
  ``iter_losses`` yields the same losses layer by layer and ``backward_local``
  uses it to free each layer's activations early (what the trainer calls).
- ``predict(x)``: class indices.
- ``layer_predictions(x)``: one tensor of class indices per layer that can
  classify on its own (``layer_names`` says which).
- ``passes_per_prediction``: forward passes through the network that one
  ``predict`` costs (C for FF's goodness mode, 1 otherwise).
- ``config``: the constructor arguments, enough to rebuild the model (used by
  checkpoints and the training cache).

Inputs are checked on the way in: wrong size, NaN/Inf and labels out of range
raise a ``ValueError`` that says what to fix.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn


class LocalModel(nn.Module):
    """Base class: input checks and the shared bookkeeping of the protocol."""

    #: forward passes one ``predict`` call costs (overridden where it differs)
    passes_per_prediction: int = 1
    #: can this model be trained greedily, one layer after the other?
    supports_greedy: bool = True

    def __init__(self, num_classes: int, config: dict):
        super().__init__()
        if int(num_classes) < 2:
            raise ValueError(f"num_classes={num_classes}: classification needs at least 2 classes.")
        self.num_classes = int(num_classes)
        self.config = dict(config)

    # -- protocol (implemented by subclasses) ---------------------------------
    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None) -> Iterator[torch.Tensor]:
        """Yield the losses one trained unit at a time, in ``loss_names`` order.

        Each loss is yielded as soon as its layer has run, and the next layer
        only sees a detached input, so a consumer may call ``backward()`` on it
        straight away and free that layer's activations (``backward_local``).
        """
        raise NotImplementedError

    def local_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None) -> list[torch.Tensor]:
        """Every loss of one batch, as a list (``loss_names`` says which is which)."""
        return list(self.iter_losses(x, y, generator))

    def backward_local(self, x: torch.Tensor, y: torch.Tensor, active=None,
                       generator=None) -> list[torch.Tensor]:
        """Accumulate gradients of the ``active`` losses (all when None), one layer at a time.

        Same gradients as ``sum(local_losses).backward()``, but each layer's graph
        is freed before the next layer runs: a local method's peak activation
        memory then stays flat as the network gets deeper. Returns the detached losses.
        """
        out = []
        for i, loss in enumerate(self.iter_losses(x, y, generator)):
            if active is None or i in active:
                loss.backward()
            out.append(loss.detach())
        return out

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check a batch of inputs (shape, finite values) and move it to the model's device."""
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def predict_and_layers(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(predict(x), layer_predictions(x))``; models whose two share work override it."""
        return self.predict(x), self.layer_predictions(x)

    @property
    def loss_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def layer_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def num_layers(self) -> int:
        """Number of trained layers (blocks); losses beyond these belong to heads."""
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_labels(self, y: torch.Tensor, n: int) -> torch.Tensor:
        if not torch.is_tensor(y):
            y = torch.as_tensor(y)
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise ValueError(f"Labels have dtype {y.dtype}: pass integer class indices (torch.long).")
        y = y.reshape(-1).long()
        if y.shape[0] != n:
            raise ValueError(f"Got {n} inputs but {y.shape[0]} labels: give one label per input.")
        if n and not tracing() and (y.min() < 0 or y.max() >= self.num_classes):
            raise ValueError(f"Labels must lie in [0, {self.num_classes}) but range over "
                             f"[{int(y.min())}, {int(y.max())}]: check the dataset's num_classes "
                             "matches the model's.")
        return y.to(self.device)

    @staticmethod
    def check_finite(x: torch.Tensor) -> None:
        # One reduction first: any NaN/Inf makes the sum non-finite. Only then the full
        # element-wise check (a finite sum can still overflow, so it decides).
        if tracing() or torch.isfinite(x.sum()):
            return
        if not torch.isfinite(x).all():
            raise ValueError("The input batch contains NaN or Inf values: clean the data "
                             "(or lower the learning rate if activations blew up).")


class MLPModel(LocalModel):
    """An MLP: accepts (N, in_features) or any (N, ...) that flattens to it."""

    def __init__(self, in_features: int, widths, num_classes: int, config: dict):
        """``config`` holds the subclass's own constructor arguments; the shared three are added here."""
        widths = check_widths(widths)
        super().__init__(num_classes, dict(in_features=in_features, widths=widths,
                                           num_classes=num_classes, **config))
        self.in_features = int(in_features)
        if self.in_features <= 0:
            raise ValueError(f"in_features={in_features}: must be a positive input size.")
        self.widths = widths

    @property
    def num_layers(self) -> int:
        return len(self.widths)

    @property
    def layer_names(self) -> list[str]:
        return [f"layer {i + 1}" for i in range(self.num_layers)]

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check a batch (N, in_features), or (N, ...) that flattens to it, and move it to the device."""
        if not torch.is_tensor(x):
            raise TypeError(f"Expected a torch.Tensor input, got {type(x).__name__}: "
                            "convert with torch.as_tensor(x, dtype=torch.float32).")
        if x.dim() < 2:
            raise ValueError(f"Input of shape {tuple(x.shape)} has no batch dimension: "
                             f"pass (N, {self.in_features}); use x.unsqueeze(0) for one sample.")
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"Input has {x.shape[1]} features per sample but the model expects "
                             f"{self.in_features}: build the model with in_features={x.shape[1]} "
                             "(data bundles give it as .in_features) or reshape the input.")
        self.check_finite(x)
        return x.to(self.device, torch.float32)


def tracing() -> bool:
    """True while ``torch.compile`` traces the code. A check that reads tensor values
    (label range, NaN/Inf) would split the compiled graph, so it is skipped there:
    the fast path (``compile.py``) runs the same checks eagerly before the compiled step."""
    return _is_compiling()


_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None) or torch._dynamo.is_compiling


def check_widths(widths) -> list[int]:
    if isinstance(widths, int):
        widths = [widths]
    widths = list(widths)
    if not widths:
        raise ValueError("widths is empty: give at least one layer width, e.g. widths=[500, 500].")
    if any(int(w) != w or w <= 0 for w in widths):
        raise ValueError(f"widths={widths}: every layer width must be a positive integer.")
    return [int(w) for w in widths]


def check_positive(name: str, value: float, hint: str = "") -> float:
    if not value > 0:  # also catches NaN
        raise ValueError(f"{name}={value}: must be > 0. {hint}".strip())
    return float(value)
