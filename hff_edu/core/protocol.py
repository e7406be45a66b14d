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

Inputs are checked on the way in: wrong size, NaN/Inf, values beyond float32,
an empty batch and labels out of range raise a ``ValueError`` that says what to
fix. The prediction methods (``predict``, ``layer_predictions``,
``predict_and_layers``) always run in eval mode and restore the mode the model
was in: a subclass's own definitions are wrapped once, here (``in_eval_mode``).

The argument checks every entry point uses (``check_int``, ``check_positive``,
``check_choice``, ``check_device`` ...) live here too, at the bottom of the layers;
each raises a ``ValueError`` whose message names the problem and the fix.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Iterator

import numpy as np
import torch
from torch import nn

#: the protocol's prediction methods: run in eval mode whatever mode the model is in
EVAL_METHODS = ("predict", "layer_predictions", "predict_and_layers")


def in_eval_mode(fn):
    """Run ``fn(model, ...)`` with ``model`` in eval mode, then restore every submodule's mode.

    Predicting in train mode would use (and update) BatchNorm's batch statistics:
    the prediction for a sample would depend on the rest of its batch, and a batch
    of one image could not be normalised at all. Free in eval mode (one flag read).
    """
    if getattr(fn, "runs_in_eval_mode", False):
        return fn

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if not self.training:
            return fn(self, *args, **kwargs)
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            return fn(self, *args, **kwargs)
        finally:
            for m, mode in modes:
                m.training = mode

    wrapper.runs_in_eval_mode = True
    return wrapper


class LocalModel(nn.Module):
    """Base class: input checks and the shared bookkeeping of the protocol."""

    def __init_subclass__(cls, **kwargs):
        # Every model kind's prediction methods run in eval mode (one place for all kinds);
        # a method borrowed from another class (``predict = FFNet.predict``) is wrapped already.
        super().__init_subclass__(**kwargs)
        for name in EVAL_METHODS:
            if name in cls.__dict__:
                setattr(cls, name, in_eval_mode(cls.__dict__[name]))

    #: forward passes one ``predict`` call costs (overridden where it differs)
    passes_per_prediction: int = 1
    #: can this model be trained greedily, one layer after the other?
    supports_greedy: bool = True

    def __init__(self, num_classes: int, config: dict):
        super().__init__()
        self.num_classes = check_int("num_classes", num_classes, 2,
                                     "Classification needs at least 2 classes (data bundles give ds.num_classes).")
        if "seed" in config:
            check_int("seed", config["seed"], 0, "It seeds the initialisation.")
        self.config = dict(config)

    # -- stepping unit by unit: each method's training arithmetic, written once ----------------
    #: modules trained by ``end`` rather than by a unit (FF's softmax head), as paths in the model
    extra_modules: tuple = ()

    def begin(self, x: torch.Tensor, y: torch.Tensor, generator=None, carry: bool = False) -> dict:
        """The *state* entering unit 0: the checked batch, the labels and whatever the units read.

        A state is a dict of tensors that goes through the units in order (``step``). ``carry=True``
        asks the state to carry forward everything ``end`` needs, because the units run apart
        (the stages of a pipeline, ``training.parallel``) and nothing can be recomputed from the
        input at the end; ``carry=False`` (one process) may recompute instead, to save memory.
        """
        raise NotImplementedError(f"{type(self).__name__} does not step unit by unit: it overrides iter_losses.")

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Run unit ``i`` (a layer or block) on the state, its input detached; advance the state in
        place and return unit i's local loss."""
        raise NotImplementedError

    def end(self, state: dict) -> list[torch.Tensor]:
        """The losses of :attr:`extra_modules`, once every unit has run (none by default)."""
        return []

    def unit_modules(self, i: int) -> list[str]:
        """The modules unit ``i`` trains, as paths in the model (``"layers.0"``, ``"heads.0"``)."""
        raise NotImplementedError

    def pipeline_refusal(self) -> str | None:
        """Why this model cannot be trained as a pipeline of stages that only send activations
        forward; ``None`` when it can (every method that steps unit by unit)."""
        return None

    def skip_draws(self, generator, n: int) -> None:
        """Draw from ``generator`` what ``begin`` draws for ``n`` samples (nothing by default): a
        data-parallel rank skips the draws of the samples before its slice (``training.parallel``)."""

    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None) -> Iterator[torch.Tensor]:
        """Yield the losses one trained unit at a time, in ``loss_names`` order: ``begin``, each
        unit's ``step``, then ``end``.

        Each loss is yielded as soon as its layer has run, and the next layer
        only sees a detached input, so a consumer may call ``backward()`` on it
        straight away and free that layer's activations (``backward_local``).
        A model that does not learn unit by unit (backprop) overrides this.
        """
        state = self.begin(x, y, generator)
        for i in range(self.num_layers):
            yield self.step(i, state)
        yield from self.end(state)

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
    def check_finite(x: torch.Tensor, original: torch.Tensor | None = None) -> None:
        """NaN/Inf in a float32 batch raise; ``original`` (before the float32 cast) tells
        an overflow of the cast (float64 values beyond 3.4e38) from NaN/Inf in the data."""
        # One reduction first: any NaN/Inf makes the sum non-finite. Only then the full
        # element-wise check (a finite sum can still overflow, so it decides).
        if tracing() or torch.isfinite(x.sum()):
            return
        if not torch.isfinite(x).all():
            if original is not None and original is not x and torch.isfinite(original).all():
                big = float(original.abs().max())
                raise ValueError(f"The input batch holds values up to {big:.3g}, beyond float32's range "
                                 "(3.4e38), which the models compute in: standardise the inputs "
                                 "(ds.transform(x) applies the training statistics).")
            raise ValueError("The input batch contains NaN or Inf values: clean the data "
                             "(or lower the learning rate if activations blew up).")

    def as_batch(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as a float32 tensor on the model's device, checked for an empty batch and finite values."""
        if not torch.is_tensor(x):
            raise TypeError(f"Expected a torch.Tensor input, got {type(x).__name__}: "
                            "convert with torch.as_tensor(x, dtype=torch.float32).")
        if x.dim() >= 1 and x.shape[0] == 0:
            raise ValueError(f"The input batch is empty (shape {tuple(x.shape)}): pass at least one sample.")
        out = x.to(self.device, torch.float32)
        self.check_finite(out, x)
        return out


class MLPModel(LocalModel):
    """An MLP: accepts (N, in_features) or any (N, ...) that flattens to it."""

    def __init__(self, in_features: int, widths, num_classes: int, config: dict):
        """``config`` holds the subclass's own constructor arguments; the shared three are added here."""
        widths = check_widths(widths)
        check_int("in_features", in_features, 1, "It is the flattened input size (data bundles give ds.in_features).")
        super().__init__(num_classes, dict(in_features=in_features, widths=widths,
                                           num_classes=num_classes, **config))
        self.in_features = int(in_features)
        self.widths = widths

    @property
    def num_layers(self) -> int:
        return len(self.widths)

    @property
    def layer_names(self) -> list[str]:
        return [f"layer {i + 1}" for i in range(self.num_layers)]

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check a batch (N, in_features), or (N, ...) that flattens to it, and move it to the device."""
        if torch.is_tensor(x) and x.dim() < 2:
            raise ValueError(f"Input of shape {tuple(x.shape)} has no batch dimension: "
                             f"pass (N, {self.in_features}); use x.unsqueeze(0) for one sample.")
        x = self.as_batch(x).flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"Input has {x.shape[1]} features per sample but the model expects "
                             f"{self.in_features}: build the model with in_features={x.shape[1]} "
                             "(data bundles give it as .in_features) or reshape the input.")
        return x


def tracing() -> bool:
    """True while ``torch.compile`` traces the code. A check that reads tensor values
    (label range, NaN/Inf) would split the compiled graph, so it is skipped there:
    the fast path (``compile.py``) runs the same checks eagerly before the compiled step."""
    return _is_compiling()


_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None) or torch._dynamo.is_compiling


# ----------------------------------------------------------------------------
# argument checks: each returns the clean value or raises a ValueError naming problem and fix

def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name: str, value, minimum: int | None = None, hint: str = "") -> int:
    """``value`` as an int: Python or numpy integers only (not bools, not 100.0, as scikit-learn)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        fix = f" (an int, e.g. {name}={int(value)})" if _is_number(value) and math.isfinite(value) \
            and int(value) == value else ""
        raise ValueError(f"{name}={value!r}: must be a whole number{fix}"
                         + (f" >= {minimum}" if minimum is not None else "") + f". {hint}".rstrip())
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value!r}: must be >= {minimum}. {hint}".strip())
    return int(value)


def check_optional_int(name: str, value, minimum: int = 1, hint: str = "") -> int | None:
    """``None`` or :func:`check_int`."""
    return None if value is None else check_int(name, value, minimum, hint)


def check_widths(widths, name: str = "widths") -> list[int]:
    """Layer widths (or block channels) as a non-empty list of positive ints."""
    if _is_number(widths):
        widths = [widths]
    try:
        widths = list(widths)
    except TypeError:
        raise ValueError(f"{name}={widths!r}: give a list of layer sizes, e.g. {name}=[500, 500].") from None
    if not widths:
        raise ValueError(f"{name} is empty: give at least one layer size, e.g. {name}=[500, 500].")
    if any(not isinstance(w, numbers.Integral) or isinstance(w, bool) or w <= 0 for w in widths):
        raise ValueError(f"{name}={widths}: every layer size must be a positive integer, e.g. {name}=[500, 500].")
    return [int(w) for w in widths]


def check_positive(name: str, value, hint: str = "") -> float:
    """A finite number > 0 (NaN, inf and bools are refused)."""
    if not _is_number(value) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name}={value!r}: must be > 0 and finite. {hint}".strip())
    return float(value)


def check_non_negative(name: str, value, hint: str = "") -> float:
    """A finite number >= 0."""
    if not _is_number(value) or not value >= 0 or not math.isfinite(value):
        raise ValueError(f"{name}={value!r}: must be >= 0 and finite. {hint}".strip())
    return float(value)


def check_bool(name: str, value) -> bool:
    """``True`` or ``False`` (also numpy's bools), not 0/1 or a string."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r}: must be True or False.")
    return bool(value)


def check_choice(name: str, value, choices) -> str:
    """One of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Unknown {name} {value!r}: choose one of {', '.join(map(repr, choices))}.")
    return value


def check_device(device) -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine (CUDA/MPS only when available)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a device torch knows: use 'cpu' or 'cuda' "
                         "(or 'cuda:0', 'mps').") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available on this machine (no GPU, or a "
                             "CPU-only torch build): use device='cpu' or leave it unset.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but this machine has {torch.cuda.device_count()} CUDA "
                             "device(s): pick one of them.")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} but Apple's MPS is not available here: use device='cpu'.")
    return dev
