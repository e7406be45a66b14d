"""Callbacks for ``train.fit``: snapshots of what a network looks like during training.

A callback is any ``cb(model, epoch, history)``; ``fit`` calls it once before
training (epoch 0) and after every epoch. These keep what the notebooks plot
(taught in 01_forward_forward and 04_hypersphere_views).
"""
from __future__ import annotations

import torch

from .ff import goodness, wrong_labels
from .protocol import LocalModel


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
