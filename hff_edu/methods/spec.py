"""What a learning rule declares about itself, once, in its own module: :class:`MethodSpec`.

timm's registry is the model: a model registers itself with everything known about it, and nothing
else keeps a list. Here each method module (``ff.py``, ``hff.py``, ...) ends with ``SPECS``, one
:class:`MethodSpec` per learning rule it defines; the registry (``methods/__init__.py``) collects
them, and the command line, ``fit``'s default learning rate, the benchmarks, the figures' colours,
the timing experiments, the memory measurement and the parallel trainers all read them.

How a method *steps* layer by layer is not declared here: it is the model's own code, the
protocol's ``begin``/``step``/``end`` (``core/protocol.py``), which the trainer, the compiled path
and the pipeline all run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Readout:
    """One way a trained model predicts: ``predict(x, **kwargs)``, costing ``passes`` forward passes
    (``"C"``: one per class, FF's goodness; else a number). The first readout is the model's default."""

    name: str
    kwargs: dict = field(default_factory=dict)
    passes: Any = 1

    def passes_for(self, num_classes: int) -> int:
        return num_classes if self.passes == "C" else int(self.passes)


@dataclass(frozen=True)
class Option:
    """A constructor argument the command line exposes: ``--flag`` -> ``kwarg=value``.

    ``kind`` says how the text is read: ``"float"``, ``"positive"`` (> 0), ``"non-negative"``,
    ``"int"`` (>= 1), ``"choice"`` (one of ``choices``), ``"true"`` / ``"false"`` (a switch that
    sets ``kwarg`` to True / False). ``arch`` is where it applies (``"mlp"``, ``"conv"`` or both);
    ``None`` (the default value) means "the model's own default". Two methods may declare the same
    flag (``--head-dim``): they must agree on its meaning.
    """

    flag: str
    kwarg: str
    help: str
    kind: str = "float"
    choices: tuple = ()
    default: Any = None
    arch: tuple = ("mlp", "conv")
    dest: str = ""  # the argparse destination, when two switches set one kwarg

    @property
    def destination(self) -> str:
        return self.dest or self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class MethodSpec:
    """Everything the package knows about one learning rule, declared in the rule's own module.

    ``name`` is the command-line name of the MLP (``"hff"``); the conv model is ``name + "-conv"``;
    ``label`` is how tables, legends and the notebooks' prose write it (``"HFF"``, ``"backprop"``).
    ``mlp`` / ``conv`` are the model classes (either may be ``None``); ``lr`` / ``conv_lr`` the
    Adam learning rates ``fit`` uses by default; ``readouts`` the prediction readouts (the first is
    the default); ``options`` the command-line options; ``color`` and ``linestyle`` how every
    figure draws it; ``local`` whether each unit learns from a loss of its own (no gradient crosses
    a layer: flat activation memory, pipelines); ``order`` its place in tables and legends;
    ``tuning`` / ``tuning_defaults`` what the fair race's tuning study searches.
    """

    name: str
    label: str
    title: str
    mlp: type | None
    conv: type | None
    lr: float
    conv_lr: float
    readouts: tuple
    color: str
    linestyle: str = "-"
    local: bool = True
    options: tuple = ()
    order: int = 100
    taught_in: str = ""
    reference: str = ""
    #: the validation-split tuning study's search space beyond the learning rate (benchmarks/tune.py):
    #: ``tuning(space, width) -> (model kwargs, fit kwargs)`` where ``space.float(name, low, high, log)``,
    #: ``space.int(name, low, high)`` and ``space.choice(name, options)`` draw one value each
    tuning: Any = None
    #: the package's defaults in the search space's terms: ``tuning_defaults(width, C, in_features) -> dict``
    #: (the study's first trial, so that a gain is measured against them)
    tuning_defaults: Any = None

    @property
    def conv_name(self) -> str:
        return f"{self.name}-conv"

    def kinds(self) -> dict:
        """Command-line name -> model class, for the architectures this method has."""
        out = {}
        if self.mlp is not None:
            out[self.name] = self.mlp
        if self.conv is not None:
            out[self.conv_name] = self.conv
        return out

    def lr_for(self, kind: str) -> float:
        return self.conv_lr if kind.endswith("-conv") else self.lr

    def readout(self, name: str | None = None) -> Readout:
        """The readout called ``name`` (default: the first, the model's default)."""
        if name is None:
            return self.readouts[0]
        for r in self.readouts:
            if r.name == name:
                return r
        raise ValueError(f"{self.name} has no readout {name!r}: choose one of {', '.join(r.name for r in self.readouts)}.")
