"""The fast training path, opt in: every model's losses compiled by ``torch.compile``.

``train.fit(model, ds, compile=True)`` (CLI ``--compile``) trains on this path; the
readable path, which the notebooks teach from, stays the default. Timed against
it, method by method, in ``benchmarks/training_cost.py``.

What changes, and what does not:

- ``model.local_losses`` is compiled, the same way for every model kind, so a
  timing comparison between methods stays fair. On a CPU, inductor writes C++
  and builds it with the compiler present (gcc/g++); on CUDA it writes Triton.
  Matrix products still call the same BLAS kernels; what gets faster is the
  rest: the dozen small operators of HFF's per-layer head (ReLU, sphere
  projection, prototype normalisation, scores / tau, cross-entropy and their
  backward) become a few fused loops, with no Python between them.
- The batch is checked eagerly first (shape, NaN/Inf, label range), exactly as
  on the readable path; inside the compiled code those value checks are
  skipped (``protocol.tracing``), because a branch on a tensor's value would
  split the compiled graph.
- One ``backward()`` on the sum of the losses instead of one per layer.
  The gradients are the same (each local loss reaches only its own layer), but
  every layer's saved activations now live until the end of the step:
  activation memory grows with depth here, while the readable path keeps it flat.
  A step that trains only some layers (``schedule="greedy"``) runs eagerly.
- Shapes are static (``dynamic=False``): the first step compiles (seconds to a
  minute on a small CPU), a last, smaller minibatch compiles once more, and
  both are reused every epoch. Each compiled model keeps its own cache (torch
  keeps at most ``torch._dynamo.config.recompile_limit`` = 8 variants per
  function before it falls back to eager), so many models can be compiled in
  one program; ``torch.compiler.reset()`` frees them all.
- Numbers agree with the readable path to float tolerance, not bit for bit:
  fused kernels sum in another order (``tests/test_compile.py``). FF's random
  negatives are drawn eagerly (its generator splits the graph), so they are
  the same draws as on the readable path.
"""
from __future__ import annotations

import types

import torch

from ..core.protocol import LocalModel


class CompiledModel:
    """``model`` trained through compiled code: ``backward_local`` as the model's, faster.

    ``train.train_step`` takes it in place of the model (it only calls
    ``backward_local``); the model itself is ``.model``, unchanged, and
    predicts eagerly as before. ``mode``, ``backend``, ``dynamic`` and ``options``
    (the backend's settings, e.g. ``{"cpp_wrapper": True}`` for inductor) are passed
    to ``torch.compile``.
    """

    def __init__(self, model: LocalModel, mode: str | None = None, backend: str = "inductor",
                 dynamic: bool = False, options: dict | None = None):
        if isinstance(model, CompiledModel):
            raise TypeError("This model is compiled already: pass compiled.model to compile it again.")
        if not isinstance(model, LocalModel):
            raise TypeError(f"Expected an hff_edu model (a LocalModel), got {type(model).__name__}.")
        if mode is not None and options:
            raise ValueError(f"mode={mode!r} and options={options!r}: torch.compile takes one of them; "
                             "a mode is a named set of options, so put what it sets into options instead.")
        self.model = model
        self.options = dict(mode=mode, backend=backend, dynamic=dynamic, options=options or None)
        self._losses = torch.compile(_own_copy(model.local_losses), **self.options)

    def local_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None) -> list[torch.Tensor]:
        """``model.local_losses`` through the compiled code; the batch is checked eagerly first
        (the value checks the compiled code skips)."""
        x = self.model.model_input(x)
        return self._losses(x, self.model.check_labels(y, x.shape[0]), generator)

    def backward_local(self, x: torch.Tensor, y: torch.Tensor, active=None,
                       generator=None) -> list[torch.Tensor]:
        """The same gradients as ``model.backward_local`` (accumulated into ``.grad``), and
        the detached losses; one backward pass for all the ``active`` losses (all when None).

        A step that trains only some of the losses (the greedy schedule) takes the
        readable path: the compiled backward would hand the other layers zero
        gradients instead of none, and Adam would keep moving them by their momentum."""
        if active is not None and set(active) != set(range(len(self.model.loss_names))):
            return self.model.backward_local(x, y, active=active, generator=generator)
        losses = self.local_losses(x, y, generator)
        sum(losses).backward()
        return [loss.detach() for loss in losses]

    def __repr__(self) -> str:
        return f"CompiledModel({type(self.model).__name__}, {self.options})"


def _own_copy(method):
    """``method`` with a code object of its own. torch caches compiled code per code object,
    at most ``torch._dynamo.config.recompile_limit`` (8) variants: every model shares the
    protocol's ``local_losses``, so without a copy the ninth compiled model would run eagerly."""
    fn = method.__func__
    own = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    own.__kwdefaults__, own.__qualname__ = fn.__kwdefaults__, fn.__qualname__
    return types.MethodType(own, method.__self__)


def stepper(model: LocalModel, compile=False):
    """What ``train.fit`` steps: the model itself (``compile=False``), or a
    :class:`CompiledModel` of it (``True``, or a dict of ``torch.compile`` options,
    e.g. ``{"mode": "max-autotune-no-cudagraphs"}`` or ``{"options": {"cpp_wrapper": True}}``)."""
    if compile is False or compile is None:
        return model
    if compile is True:
        return CompiledModel(model)
    if isinstance(compile, dict):
        return CompiledModel(model, **compile)
    raise TypeError(f"compile={compile!r}: give True, False or a dict of torch.compile options "
                    "(mode, backend, dynamic, options).")


def model_of(model) -> LocalModel:
    """The model itself, whether given plain or as a :class:`CompiledModel`."""
    return model.model if isinstance(model, CompiledModel) else model
