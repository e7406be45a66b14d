"""Callbacks for ``train.fit``: snapshots of what a network looks like during training.

A callback is any ``cb(model, epoch, history)``; ``fit`` calls it once before
training (epoch 0) and after every epoch. These keep what the notebooks plot
(taught in 01_forward_forward and 04_hypersphere_views).
"""
from __future__ import annotations

import torch

from ..methods.ff import goodness, wrong_labels
from ..core.protocol import LocalModel


class EmbeddingSnapshots:
    """Per-layer embeddings of a fixed probe batch (and HFF prototypes) at every ``every``-th epoch.

    After training, ``snapshots`` is a list of dicts with ``epoch``,
    ``embeddings`` (list per layer of (N, d) CPU tensors) and ``prototypes``
    (list per layer of (C, K, d), HFF only, else None); ``y`` holds the probe labels.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int = 1):
        if every < 1:
            raise ValueError(f"every={every}: snapshot at least every epoch (every >= 1).")
        self.x, self.y, self.every = x, y.cpu(), every
        self.snapshots: list[dict] = []

    def __call__(self, model: LocalModel, epoch: int, history) -> None:
        if epoch % self.every:
            return
        was_training = model.training
        model.eval()
        embeddings = [e.cpu() for e in model.embeddings(self.x.to(model.device))]
        get_protos = getattr(model, "prototypes", None)  # HFF models only
        protos = [p.cpu() for p in get_protos()] if callable(get_protos) else None
        model.train(was_training)
        self.snapshots.append(dict(epoch=epoch, embeddings=embeddings, prototypes=protos))

    @property
    def epochs(self) -> list[int]:
        return [s["epoch"] for s in self.snapshots]


class GoodnessSnapshots:
    """FF only: per-layer goodness of positive and negative data on a probe batch, every epoch.

    ``snapshots`` holds dicts with ``epoch``, ``pos`` and ``neg``: lists per
    layer of (N,) goodness values, negatives drawn uniformly with a fixed seed.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int = 1, seed: int = 0):
        self.x, self.y, self.every, self.seed = x, y, every, seed
        self.snapshots: list[dict] = []

    @torch.no_grad()
    def __call__(self, model, epoch: int, history) -> None:
        if epoch % self.every:
            return
        x = model.model_input(self.x)
        y = self.y.to(x.device)
        g = torch.Generator(device=x.device).manual_seed(self.seed)
        y_neg = wrong_labels(y, model.num_classes, g)
        pos = [goodness(h).cpu() for h in model.activities(x, y)]
        neg = [goodness(h).cpu() for h in model.activities(x, y_neg)]
        self.snapshots.append(dict(epoch=epoch, pos=pos, neg=neg))


def hoyer_sparsity(a: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Hoyer's sparsity of every row of ``a`` (N, n): ``(sqrt(n) - |a|_1 / |a|_2) / (sqrt(n) - 1)``.

    0 when every unit is equally active, 1 when a single unit is; a row of zeros counts as 1
    (every unit off). Scale-free, so it reads the same on ``h``, ``n(h)`` or ``h / ||h||``.
    """
    n = a.shape[1]
    if n < 2:
        return torch.zeros(a.shape[0])
    l1, l2 = a.abs().sum(1), a.norm(dim=1)
    ratio = torch.where(l2 > eps, l1 / l2.clamp_min(eps), torch.ones_like(l1))
    return (n ** 0.5 - ratio) / (n ** 0.5 - 1)


class LayerStats:
    """Per-layer statistics of a fixed probe batch at every ``every``-th epoch, for any model kind.

    ``records`` holds one dict per snapshot: ``epoch``; ``sparsity`` (mean Hoyer sparsity of
    each layer's activity, :func:`hoyer_sparsity`); ``active`` (the fraction of each layer's
    units that respond to at least one probe sample: 1 - the dead units); and for FF models
    ``goodness_pos`` / ``goodness_neg`` (mean goodness per layer of positive data and of
    negative data with uniform wrong labels from a fixed seed) and ``separated`` (the fraction
    of samples whose positive goodness exceeds the negative one). The activities are the
    model's ``embeddings`` (FF: ``n(h)``, HFF: ``z``, baselines: ``h``; conv models: pooled).
    Taught in 01_forward_forward; like the hooks of the peer library fflib.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int = 1, seed: int = 0):
        if every < 1:
            raise ValueError(f"every={every}: record at least every epoch (every >= 1).")
        self.x, self.y, self.every, self.seed = x, y, every, seed
        self.records: list[dict] = []

    @torch.no_grad()
    def __call__(self, model: LocalModel, epoch: int, history) -> None:
        if epoch % self.every:
            return
        was_training = model.training
        model.eval()
        acts = [e.reshape(e.shape[0], -1).cpu() for e in model.embeddings(self.x.to(model.device))]
        record = dict(epoch=epoch, sparsity=[float(hoyer_sparsity(a).mean()) for a in acts],
                      active=[float((a.abs() > 0).any(0).float().mean()) for a in acts])
        if hasattr(model, "layer_goodness"):  # FF: goodness of positive and negative data
            x = model.model_input(self.x)
            y = self.y.to(x.device)
            y_neg = wrong_labels(y, model.num_classes, torch.Generator(device=x.device).manual_seed(self.seed))
            pos = [model.layer_goodness(h) for h in model.activities(x, y)]
            neg = [model.layer_goodness(h) for h in model.activities(x, y_neg)]
            record.update(goodness_pos=[float(g.mean()) for g in pos], goodness_neg=[float(g.mean()) for g in neg],
                          separated=[float((p > q).float().mean()) for p, q in zip(pos, neg)])
        model.train(was_training)
        self.records.append(record)

    def series(self, key: str) -> list[list[float]]:
        """``key`` per layer over the snapshots: one list per layer."""
        if not self.records or key not in self.records[0]:
            raise KeyError(f"No {key!r} recorded: choose one of {sorted(self.records[0]) if self.records else []}.")
        return [list(v) for v in zip(*(r[key] for r in self.records))]

    @property
    def epochs(self) -> list[int]:
        return [r["epoch"] for r in self.records]
